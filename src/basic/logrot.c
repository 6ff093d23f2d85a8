/* SPDX-License-Identifier: MIT */
#include "basic/logrot.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* No log gets anywhere near this: a larger .base is corrupt. */
#define LOGROT_BASE_MAX (INT64_C(1) << 62)

int logrot_parse_size(const char *s, int64_t max, int64_t *ret)
{
	if (!s || !*s)
		return -EINVAL;
	int64_t v = 0;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		int d = *p - '0';
		if (v > (max - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*ret = v;
	return 0;
}

static int64_t read_base(const char *path)
{
	cleanup_free char *bp = xasprintf("%s" LOGROT_SUFFIX_BASE, path);
	cleanup_free char *txt = NULL;
	size_t n = 0;
	if (read_file(bp, 64, &txt, &n) < 0)
		return 0;
	while (n && (txt[n - 1] == '\n' || txt[n - 1] == ' '))
		txt[--n] = '\0';
	int64_t v = 0;
	return logrot_parse_size(txt, LOGROT_BASE_MAX, &v) < 0 ? 0 : v;
}

/* Replace <path>.base without fsync: every byte written until the truncate is lost, and a
 * crash may at worst reset the offsets (readers then start over). */
static int write_base(const char *path, const char *txt, size_t n, struct wr_err *err)
{
	cleanup_free char *bp = xasprintf("%s" LOGROT_SUFFIX_BASE, path);
	cleanup_free char *tmp = xasprintf("%s.tmp", bp);
	cleanup_close int fd =
		open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0)
		return wr_err_errno(err, errno, "create %s", tmp);
	int r = write_full(fd, txt, n);
	if (r < 0 || rename(tmp, bp) < 0) {
		int e = r < 0 ? -r : errno;
		unlink(tmp);
		return wr_err_errno(err, e, "write %s", bp);
	}
	return 0;
}

int logrot_cap(const char *path, int64_t max_bytes, struct wr_err *err)
{
	if (max_bytes <= 0)
		return wr_err_set(err, EINVAL, "log cap must be positive");
	cleanup_close int fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : wr_err_errno(err, errno, "open log %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return wr_err_errno(err, errno, "stat log %s", path);
	if (!S_ISREG(st.st_mode))
		return wr_err_set(err, EINVAL, "log %s is not a regular file", path);
	if (st.st_size <= max_bytes)
		return 0;
	int64_t size = st.st_size;
	int64_t keep = size < max_bytes ? size : max_bytes;
	cleanup_free char *old = xasprintf("%s" LOGROT_SUFFIX_OLD, path);
	cleanup_free char *tmp = xasprintf("%s" LOGROT_SUFFIX_OLD ".tmp", path);
	cleanup_close int out =
		open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, st.st_mode & 0777);
	if (out < 0)
		return wr_err_errno(err, errno, "create %s", tmp);
	off_t in_off = (off_t)(size - keep);
	int64_t left = keep;
	while (left > 0) {
		ssize_t c = copy_file_range(fd, &in_off, out, NULL, (size_t)left, 0);
		if (c < 0 && errno == EINTR)
			continue;
		if (c < 0) {
			int e = errno;
			unlink(tmp);
			return wr_err_errno(err, e, "copy %s to %s", path, tmp);
		}
		if (c == 0)
			break; /* shrank under us */
		left -= c;
	}
	if (rename(tmp, old) < 0) {
		int e = errno;
		unlink(tmp);
		return wr_err_errno(err, e, "rename %s", tmp);
	}
	/* Base before the truncate: a reader in between sees the end too far ahead for a
	 * moment rather than going backwards.  No fsync anywhere here: what the guest
	 * prints between the copy and the truncate is lost, so that window stays short. */
	int r;
	int64_t base = read_base(path) + size;
	char txt[32];
	int tl = snprintf(txt, sizeof(txt), "%lld\n", (long long)base);
	if ((r = write_base(path, txt, (size_t)tl, err)) < 0)
		return r;
	if (ftruncate(fd, 0) < 0)
		return wr_err_errno(err, errno, "truncate %s", path);
	return 1;
}

void logrot_view_close(struct logrot_view *v)
{
	if (v->fd_cur >= 0)
		close(v->fd_cur);
	if (v->fd_old >= 0)
		close(v->fd_old);
	*v = (struct logrot_view)LOGROT_VIEW_INIT;
}

int logrot_view_open(const char *path, struct logrot_view *v, struct wr_err *err)
{
	*v = (struct logrot_view)LOGROT_VIEW_INIT;
	/* Not atomic against a rotation: a read racing one may show a few bytes twice or
	 * miss some (offsets stay monotonic for a follower, who re-reads the end). */
	cleanup_free char *old = xasprintf("%s" LOGROT_SUFFIX_OLD, path);
	int64_t base = read_base(path);
	struct stat st;
	v->fd_old = open(old, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (v->fd_old >= 0 && fstat(v->fd_old, &st) == 0)
		v->size_old = st.st_size;
	v->fd_cur = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (v->fd_cur < 0) {
		int e = errno;
		logrot_view_close(v);
		return wr_err_errno(err, e, "open log %s", path);
	}
	if (fstat(v->fd_cur, &st) < 0) {
		int e = errno;
		logrot_view_close(v);
		return wr_err_errno(err, e, "stat log %s", path);
	}
	v->size_cur = st.st_size;
	v->base = base;
	if (v->size_old > base)
		v->size_old = base; /* a .1 without a matching .base: keep offsets >= 0 */
	return 0;
}

int64_t logrot_view_start(const struct logrot_view *v)
{
	return v->base - v->size_old;
}

int64_t logrot_view_end(const struct logrot_view *v)
{
	return v->base + v->size_cur;
}

ssize_t logrot_view_read(const struct logrot_view *v, int64_t off, void *buf, size_t n)
{
	int64_t start = logrot_view_start(v), end = logrot_view_end(v);
	if (off < start)
		off = start;
	if (off >= end || n == 0)
		return 0;
	int64_t avail = off < v->base ? v->base - off : end - off;
	if ((int64_t)n > avail)
		n = (size_t)avail;
	int fd = off < v->base ? v->fd_old : v->fd_cur;
	off_t pos = off < v->base ? (off_t)(off - start) : (off_t)(off - v->base);
	ssize_t r;
	do
		r = pread(fd, buf, n, pos);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}
