/* SPDX-License-Identifier: MIT */
/* Aligned O_DIRECT writing of upload bodies (see dio.h for why). */
#include "envd/dio.h"

#include "basic/fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int dio_open(const char *path, int flags, mode_t mode, bool *ret_direct)
{
	int fd = open(path, flags | O_DIRECT, mode);
	*ret_direct = fd >= 0;
	if (fd < 0 && errno == EINVAL) /* no O_DIRECT here (tmpfs before 6.6, ...) */
		fd = open(path, flags, mode);
	return fd < 0 ? -errno : fd;
}

void dio_init(struct dio *w, int fd, bool direct)
{
	*w = (struct dio){.fd = fd, .direct = direct, .at_off = direct};
}

void dio_done(struct dio *w)
{
	free(w->buf);
	w->buf = NULL;
	w->len = 0;
}

/* Clear O_DIRECT: the writes from here on are buffered. */
static int plain(struct dio *w)
{
	int fl = fcntl(w->fd, F_GETFL);
	if (fl < 0 || fcntl(w->fd, F_SETFL, fl & ~O_DIRECT) < 0)
		return -errno;
	w->direct = false;
	return 0;
}

/* pwrite all n bytes at w->off.  A direct write the filesystem refuses (EINVAL: an alignment
 * it does not take) is retried buffered rather than failing the upload. */
static int put(struct dio *w, const char *p, size_t n)
{
	while (n) {
		ssize_t k = pwrite(w->fd, p, n, w->off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EINVAL && w->direct) {
			int r = plain(w);
			if (r < 0)
				return r;
			continue;
		}
		if (k < 0)
			return -errno;
		if (k == 0)
			return -EIO;
		p += k;
		n -= (size_t)k;
		w->off += k;
	}
	return 0;
}

static int alloc_buf(struct dio *w)
{
	if (w->buf)
		return 0;
	void *b = NULL;
	int r = posix_memalign(&b, DIO_ALIGN, DIO_CHUNK);
	if (r)
		return -r;
	w->buf = b;
	return 0;
}

int dio_write(struct dio *w, const void *data, size_t n)
{
	if (!w->direct) /* buffered from the start (any fd), or after a fallback (at off) */
		return w->at_off ? put(w, data, n) : write_full(w->fd, data, n);
	const char *p = data;
	/* Nothing buffered (so off is aligned) and data aligned: its whole blocks go to the file
	 * from where they are.  The multipart parser hands part bodies on that way (MP_PIECE at
	 * MP_ALIGN, envd/multipart.h), so an upload's bytes are not copied once more here: in a
	 * TCG guest a 50 MiB memcpy costs ~30 ms of the emulated CPU that also runs the TCP
	 * receive. */
	if (!w->len && !((uintptr_t)p & (DIO_ALIGN - 1)) && n >= DIO_ALIGN) {
		size_t k = n & ~(size_t)(DIO_ALIGN - 1);
		int r = put(w, p, k);
		if (r < 0)
			return r;
		p += k;
		n -= k;
		if (!w->direct) /* put fell back to buffered writes */
			return n ? put(w, p, n) : 0;
	}
	if (!n)
		return 0;
	int r = alloc_buf(w);
	if (r < 0)
		return r;
	while (n) {
		size_t k = DIO_CHUNK - w->len < n ? DIO_CHUNK - w->len : n;
		memcpy(w->buf + w->len, p, k);
		w->len += k;
		p += k;
		n -= k;
		if (w->len == DIO_CHUNK) {
			w->len = 0; /* put() moves off past it, or the upload fails */
			if ((r = put(w, w->buf, DIO_CHUNK)) < 0)
				return r;
		}
	}
	return 0;
}

int dio_flush(struct dio *w)
{
	if (!w->len)
		return 0;
	size_t whole = w->len & ~(size_t)(DIO_ALIGN - 1), tail = w->len - whole;
	w->len = 0;
	int r = whole ? put(w, w->buf, whole) : 0;
	if (r == 0 && tail && w->direct)
		r = plain(w);
	if (r == 0 && tail)
		r = put(w, w->buf + whole, tail);
	return r;
}

/*
 * The copy goes in 4 MiB steps: each step is one read and one write request the guest waits for,
 * and fewer, larger ones cost less.  50 MiB O_DIRECT tmpfile -> truncated file in a TCG guest
 * (9 rounds, medians): 1 MiB 93 ms, 4 MiB 65, 8 MiB 61, 16 MiB 94 (two threads of 4 MiB: 59).
 */
#define COPY_CHUNK (4 * DIO_CHUNK)

int dio_copy(int in, int out, bool out_direct, off_t len)
{
	struct dio w;
	dio_init(&w, out, out_direct);
	void *b = NULL;
	int r = -posix_memalign(&b, DIO_ALIGN, COPY_CHUNK);
	w.buf = b; /* dio_flush takes any len in it; dio_done frees it */
	/* in is read at aligned offsets into the aligned buffer, so its O_DIRECT (if any) holds */
	off_t at = 0;
	while (r == 0 && at < len) {
		size_t want = len - at < COPY_CHUNK ? (size_t)(len - at) : COPY_CHUNK;
		size_t ask = (want + DIO_ALIGN - 1) & ~(size_t)(DIO_ALIGN - 1);
		ssize_t k = pread(in, w.buf, ask, at);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EINVAL) { /* in's O_DIRECT refused: read it buffered */
			int fl = fcntl(in, F_GETFL);
			if (fl < 0 || !(fl & O_DIRECT) || fcntl(in, F_SETFL, fl & ~O_DIRECT) < 0)
				r = fl < 0 || (fl & O_DIRECT) ? -errno : -EINVAL;
			continue;
		}
		if (k < 0) {
			r = -errno;
			break;
		}
		if (k == 0) {
			r = -EIO; /* in shrank under us */
			break;
		}
		if ((size_t)k > want)
			k = (ssize_t)want;
		at += k;
		w.len = (size_t)k;
		/* a full chunk goes out whole; a short one (the end, or a short read) is flushed,
		 * which makes out buffered from then on if it was not block-sized */
		if (w.len == COPY_CHUNK) {
			w.len = 0;
			r = put(&w, w.buf, COPY_CHUNK);
		} else {
			r = dio_flush(&w);
		}
	}
	dio_done(&w);
	return r;
}

/* ------------------------------------------------------------------ reads */

int dio_reader_init(struct dio_reader *r, int fd, off_t size)
{
	*r = (struct dio_reader){.fd = fd, .dfd = -1};
	void *b = NULL;
	if (posix_memalign(&b, DIO_ALIGN, DIO_CHUNK))
		return -ENOMEM;
	r->buf = b;
	if (size < DIO_CHUNK)
		return 0;
	char p[64];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	r->dfd = open(p, O_RDONLY | O_DIRECT | O_CLOEXEC | O_NOCTTY);
	if (r->dfd < 0)
		return 0;
	r->map_len = (size_t)size;
	r->map = mmap(NULL, r->map_len, PROT_READ, MAP_SHARED, fd, 0);
	r->vec = malloc(DIO_CHUNK / DIO_ALIGN + 1);
	if (r->map == MAP_FAILED || !r->vec) {
		if (r->map == MAP_FAILED)
			r->map = NULL;
		close(r->dfd);
		r->dfd = -1;
	}
	return 0;
}

void dio_reader_done(struct dio_reader *r)
{
	if (r->map)
		munmap(r->map, r->map_len);
	if (r->dfd >= 0)
		close(r->dfd);
	free(r->vec);
	free(r->buf);
	*r = (struct dio_reader){.fd = -1, .dfd = -1};
}

/* Is every page of [off, off + n) in the page cache?  (Unknown counts as yes: read plainly.) */
static bool cached(struct dio_reader *r, off_t off, size_t n)
{
	if ((size_t)off >= r->map_len)
		return true;
	if (n > r->map_len - (size_t)off)
		n = r->map_len - (size_t)off;
	size_t pg = (size_t)off & ~(size_t)(DIO_ALIGN - 1);
	size_t len = (size_t)off + n - pg, pages = (len + DIO_ALIGN - 1) / DIO_ALIGN;
	if (mincore((char *)r->map + pg, len, r->vec) < 0)
		return true;
	for (size_t i = 0; i < pages; i++)
		if (!(r->vec[i] & 1))
			return false;
	return true;
}

ssize_t dio_reader_read(struct dio_reader *r, off_t off, size_t max, const char **ret)
{
	*ret = r->buf;
	if (r->dfd >= 0) {
		size_t skip = (size_t)off & (DIO_ALIGN - 1);
		size_t n = max < DIO_CHUNK - skip ? max : DIO_CHUNK - skip;
		if (!cached(r, off, n)) {
			size_t ask = (skip + n + DIO_ALIGN - 1) & ~(size_t)(DIO_ALIGN - 1);
			ssize_t k;
			do
				k = pread(r->dfd, r->buf, ask, off - (off_t)skip);
			while (k < 0 && errno == EINTR);
			if (k >= 0) {
				if ((size_t)k <= skip)
					return 0;
				*ret = r->buf + skip;
				return (size_t)k - skip < n ? (ssize_t)((size_t)k - skip)
							    : (ssize_t)n;
			}
			if (errno != EINVAL)
				return -errno;
			close(r->dfd); /* O_DIRECT refused after all: plain reads from here */
			r->dfd = -1;
		}
	}
	if (max > DIO_CHUNK)
		max = DIO_CHUNK;
	ssize_t k;
	do
		k = pread(r->fd, r->buf, max, off);
	while (k < 0 && errno == EINTR);
	return k < 0 ? -errno : k;
}
