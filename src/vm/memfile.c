/* SPDX-License-Identifier: MIT */
#include "vm/memfile.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

bool memfile_same(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

static int copy_extents(int in, int out, off_t size)
{
	off_t pos = 0;
	while (pos < size) {
		off_t data = lseek(in, pos, SEEK_DATA);
		if (data < 0)
			return errno == ENXIO ? 0 : -errno; /* only a hole is left */
		off_t hole = lseek(in, data, SEEK_HOLE);
		if (hole < 0)
			return -errno;
		off_t off_in = data, off_out = data;
		while (off_in < hole) {
			ssize_t n = copy_file_range(in, &off_in, out, &off_out,
						    (size_t)(hole - off_in), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -errno;
			if (n == 0)
				return -EIO;
		}
		pos = hole;
	}
	return 0;
}

int memfile_copy(const char *src, const char *dst, struct wr_err *err)
{
	cleanup_close int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return wr_err_errno(err, errno, "open %s", src);
	struct stat st;
	if (fstat(in, &st) < 0)
		return wr_err_errno(err, errno, "stat %s", src);
	cleanup_free char *tmp = xasprintf("%s.tmp", dst);
	cleanup_close int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		return wr_err_errno(err, errno, "create %s", tmp);
	int r = 0;
	if (ioctl(out, FICLONE, in) < 0) {
		if (ftruncate(out, st.st_size) < 0)
			r = -errno;
		if (r == 0)
			r = copy_extents(in, out, st.st_size);
	}
	if (r == 0 && fsync(out) < 0)
		r = -errno;
	if (r == 0 && rename(tmp, dst) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return wr_err_errno(err, r, "copy %s to %s", src, dst);
	}
	return 0;
}

int memfile_ensure(const char *path, uint64_t size, struct wr_err *err)
{
	cleanup_close int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return wr_err_errno(err, errno, "open %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return wr_err_errno(err, errno, "stat %s", path);
	if (st.st_size == 0 && ftruncate(fd, (off_t)size) < 0)
		return wr_err_errno(err, errno, "size %s", path);
	if (st.st_size != 0 && (uint64_t)st.st_size != size)
		return wr_err_set(err, EINVAL, "%s is %lld bytes, guest RAM is %llu", path,
				  (long long)st.st_size, (unsigned long long)size);
	return 0;
}
