/* SPDX-License-Identifier: MIT */
#include "vm/memfile.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdlib.h>
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

static bool all_zero(const unsigned char *p, size_t n)
{
	/* p is page-aligned and n a multiple of 8 */
	const uint64_t *w = (const uint64_t *)(const void *)p;
	for (size_t i = 0; i < n / 8; i++)
		if (w[i])
			return false;
	return true;
}

int memfile_punch_zeros(const char *path, struct wr_err *err)
{
	enum { PAGE = 4096, CHUNK = 1 << 20 };
	cleanup_close int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return wr_err_errno(err, errno, "open %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return wr_err_errno(err, errno, "stat %s", path);
	cleanup_free unsigned char *buf = NULL;
	if (posix_memalign((void **)&buf, PAGE, CHUNK))
		return wr_err_set(err, ENOMEM, "punch %s: no memory", path);
	off_t pos = 0, run = -1; /* run: start of the current zero run, -1 none */
	while (pos < st.st_size) {
		off_t data = lseek(fd, pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)
			break;
		if (data < 0)
			return wr_err_errno(err, errno, "seek %s", path);
		off_t hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0)
			return wr_err_errno(err, errno, "seek %s", path);
		data &= ~(off_t)(PAGE - 1);
		run = -1;
		for (off_t off = data; off < hole;) {
			size_t want = (size_t)(hole - off < CHUNK ? hole - off : CHUNK);
			ssize_t n = pread(fd, buf, want, off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return wr_err_errno(err, errno, "read %s", path);
			if (n == 0)
				break;
			for (ssize_t i = 0; i + PAGE <= n; i += PAGE) {
				bool z = all_zero(buf + i, PAGE);
				if (z && run < 0)
					run = off + i;
				if (!z && run >= 0) {
					fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
						  run, off + i - run);
					run = -1;
				}
			}
			off += n;
			if (off >= hole && run >= 0) {
				fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, run,
					  off - run);
				run = -1;
			}
		}
		pos = hole;
	}
	return 0;
}

int file_sizes(const char *path, int64_t *ret_apparent, int64_t *ret_allocated)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	*ret_apparent = (int64_t)st.st_size;
	*ret_allocated = (int64_t)st.st_blocks * 512;
	return 0;
}
