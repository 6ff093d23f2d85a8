/* SPDX-License-Identifier: MIT */
/*
 * The access token /init sets survives an envd restart inside the guest: it is kept in a
 * root-only file (directory 0700, file 0600) and read back at start.  Without it a restarted
 * envd of a secure sandbox would accept every request.
 */
#include "envd/envd.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_TOKEN 4096

int envd_token_load(const char *path, char **ret, struct wr_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			*ret = NULL;
			return 0;
		}
		return wr_err_errno(err, errno, "open %s", path);
	}
	struct stat st;
	if (fstat(fd, &st) < 0)
		return wr_err_errno(err, errno, "stat %s", path);
	/* A token others could have written (or read) is not trusted. */
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077))
		return wr_err_set(
			err, EPERM,
			"%s: not a regular file of uid %u with mode 0600 (mode %04o, uid %u)", path,
			(unsigned)geteuid(), (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
	char buf[MAX_TOKEN + 1];
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return wr_err_errno(err, errno, "read %s", path);
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == sizeof(buf))
			return wr_err_set(err, EFBIG, "%s: longer than %d bytes", path, MAX_TOKEN);
	}
	buf[n] = '\0';
	*ret = n ? xstrdup(buf) : NULL;
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

int envd_token_store(const char *path, const char *token, struct wr_err *err)
{
	if (!token || !*token) {
		if (unlink(path) < 0 && errno != ENOENT)
			return wr_err_errno(err, errno, "remove %s", path);
		return 0;
	}
	cleanup_free char *copy = xstrdup(path);
	const char *dir = dirname(copy);
	int r = mkdir_p(dir, 0700);
	if (r < 0)
		return wr_err_errno(err, -r, "create %s", dir);
	struct stat st;
	if (lstat(dir, &st) < 0)
		return wr_err_errno(err, errno, "stat %s", dir);
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		return wr_err_set(err, EPERM, "%s: not a directory of uid %u", dir,
				  (unsigned)geteuid());
	if ((st.st_mode & 07777) != 0700 && chmod(dir, 0700) < 0)
		return wr_err_errno(err, errno, "chmod %s", dir);
	r = write_file_atomic(path, token, strlen(token), 0600);
	if (r < 0)
		return wr_err_errno(err, -r, "write %s", path);
	return 0;
}
