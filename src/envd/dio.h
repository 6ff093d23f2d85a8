/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Upload bodies written past the guest's page cache (O_DIRECT), in aligned 1 MiB chunks.
 *
 * Why: in a TCG guest the page cache is the expensive part of a /files upload.  A buffered write
 * of a new 50 MiB file on the root ext4 cost 440-690 ms (a page allocated, delayed-allocation
 * bookkeeping and LRU work per 4 KiB, all emulated), an overwrite of cached pages 110-150 ms,
 * O_DIRECT 1 MiB writes 54-82 ms (virtio-blk hands the buffer to QEMU, which writes the host
 * file); the guest's TCP receive of the same 50 MiB was 150-300 ms.  Reading such a file back
 * later costs a cold read (110-130 ms vs 60 ms cached), once.
 *
 * A filesystem that refuses O_DIRECT (tmpfs before 6.6: EINVAL at open or at the first write)
 * gets plain buffered writes; the bytes written are the same either way.  The last partial
 * block is written after O_DIRECT is cleared on the fd, so a body of any length works.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define DIO_ALIGN 4096
#define DIO_CHUNK (1024 * 1024)

struct dio {
	int fd;	     /* borrowed: the caller closes it */
	bool direct; /* O_DIRECT is set on fd: writes go through buf */
	bool at_off; /* writes are pwrite(2) at off (a writer that started direct) */
	char *buf;   /* DIO_CHUNK bytes aligned to DIO_ALIGN, allocated on the first write */
	size_t len;  /* bytes waiting in buf */
	off_t off;   /* file offset of buf[0] */
};

/* open(2) with O_DIRECT added to flags; when the filesystem refuses it (EINVAL) the plain
 * open.  Returns the fd or -errno; *ret_direct says whether O_DIRECT is on. */
int dio_open(const char *path, int flags, mode_t mode, bool *ret_direct);
/* Start writing fd at offset 0 (a fresh or truncated file).  direct: fd has O_DIRECT. */
void dio_init(struct dio *w, int fd, bool direct);
/* Append n bytes.  0 / -errno (-ENOSPC, -EDQUOT, -EIO, ...). */
int dio_write(struct dio *w, const void *data, size_t n);
/* Write what is buffered: whole blocks direct, the tail buffered (O_DIRECT cleared on fd).
 * Afterwards fd holds every byte given to dio_write. */
int dio_flush(struct dio *w);
/* Release the buffer (not the fd). */
void dio_done(struct dio *w);
/* Copy in's bytes [0, len) to out at [0, len) through an aligned buffer, reading with O_DIRECT
 * when in has it and writing through dio (out_direct: out has O_DIRECT).  -EIO when in is
 * shorter than len. */
int dio_copy(int in, int out, bool out_direct, off_t len);

/*
 * Reads for a download.  A range the page cache holds (mincore) is read from it; one it does not
 * hold is read with O_DIRECT through a second descriptor of the same file (/proc/self/fd), so a
 * body dio wrote (never cached) is not pulled through the page cache to be sent once: 50 MiB in
 * the guest read cold 110-130 ms buffered, 70-80 ms O_DIRECT, 60 ms from the cache.  Files under
 * DIO_CHUNK, and any file where the mapping or the second open fails, are read plainly.
 */
struct dio_reader {
	int fd;	   /* borrowed */
	int dfd;   /* the same file with O_DIRECT, or -1 */
	void *map; /* fd mapped (never touched) for mincore, or NULL */
	size_t map_len;
	char *buf;	    /* DIO_CHUNK bytes aligned to DIO_ALIGN */
	unsigned char *vec; /* mincore's answer for one chunk */
};

/* size: the file's size now.  0 / -ENOMEM. */
int dio_reader_init(struct dio_reader *r, int fd, off_t size);
/* Up to max bytes (at most DIO_CHUNK) at off; *ret points into the reader's buffer, valid until
 * the next call.  0 at EOF, -errno on errors. */
ssize_t dio_reader_read(struct dio_reader *r, off_t off, size_t max, const char **ret);
void dio_reader_done(struct dio_reader *r);
