/* SPDX-License-Identifier: MIT */
#include "net/claim.h"
#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Lock an existing claim file and make sure the path still names the inode
 * we locked (a releasing owner unlinks while holding the lock). */
static int lock_existing(const char *path, int *ret_fd)
{
	for (int tries = 0; tries < 8; tries++) {
		cleanup_close int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX | LOCK_NB) < 0)
			return errno == EWOULDBLOCK ? -EBUSY : -errno;
		struct stat a, b;
		if (fstat(fd, &a) < 0)
			return -errno;
		if (stat(path, &b) < 0) {
			if (errno == ENOENT)
				return -ENOENT;
			return -errno;
		}
		if (a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
			/* a claim of an older agent may be 0644: tighten (see slot.c) */
			if ((a.st_mode & 077) && fchmod(fd, 0600) < 0)
				return -errno;
			*ret_fd = TAKE_FD(fd);
			return 0;
		}
	}
	return -EAGAIN;
}

static void write_owner(int fd)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0)
		(void)!pwrite(fd, buf, (size_t)n, 0);
}

int claim_take(const char *dir, unsigned int n, int *ret_fd, struct wr_err *err)
{
	cleanup_free char *path = xasprintf("%s/%u", dir, n);
	cleanup_free char *tmp = xasprintf("%s/.claim-%ld-%ld-%u", dir, (long)getpid(),
					   (long)syscall(SYS_gettid), n);
	for (int tries = 0; tries < 8; tries++) {
		cleanup_close int fd =
			open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return wr_err_errno(err, errno, "create %s", tmp);
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int e = errno;
			unlink(tmp);
			return wr_err_errno(err, e, "lock %s", tmp);
		}
		write_owner(fd);
		int lr = link(tmp, path);
		int le = errno;
		unlink(tmp);
		if (lr == 0) {
			*ret_fd = TAKE_FD(fd);
			return 0;
		}
		if (le != EEXIST)
			return wr_err_errno(err, le, "claim %s", path);
		int xfd = -1;
		int r = lock_existing(path, &xfd);
		if (r == 0) {
			/* stale claim of a dead owner: adopt it */
			write_owner(xfd);
			*ret_fd = xfd;
			return 0;
		}
		if (r == -EBUSY)
			return -EBUSY;
		if (r != -ENOENT && r != -EAGAIN)
			return wr_err_errno(err, -r, "lock %s", path);
		/* released meanwhile: try again */
	}
	return wr_err_set(err, EAGAIN, "claim %s: too much contention", path);
}

void claim_release(const char *dir, unsigned int n, int fd)
{
	if (fd < 0)
		return;
	cleanup_free char *path = xasprintf("%s/%u", dir, n);
	unlink(path);
	close(fd);
}

enum claim_state claim_probe(const char *dir, unsigned int n)
{
	cleanup_free char *path = xasprintf("%s/%u", dir, n);
	cleanup_close int fd = -1;
	int r = lock_existing(path, &fd);
	if (r == -ENOENT)
		return CLAIM_FREE;
	if (r == 0)
		return CLAIM_STALE;
	return CLAIM_LIVE;
}

int claim_remove_stale(const char *dir, unsigned int n)
{
	cleanup_free char *path = xasprintf("%s/%u", dir, n);
	int fd = -1;
	int r = lock_existing(path, &fd);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
	claim_release(dir, n, fd);
	return 0;
}
