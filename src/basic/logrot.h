/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Size-capped logs written by a process we do not trust (the VMM's stdout and
 * stderr, which carry the guest's serial console).  The writer keeps its own
 * O_APPEND descriptor, so rotation copies and truncates: the last max_bytes of
 * <path> replace <path>.1, then <path> is truncated to 0 (the writer's next
 * append lands at 0).  Bytes written between the copy and the truncate are
 * lost; that is the price of not owning the writer's descriptor.
 *
 * Offsets survive rotation: <path>.base holds the count of bytes rotated away
 * so far, so the byte at position p of <path> has the logical offset base + p,
 * and <path>.1 holds the logical range [base - size(.1), base).  Readers see
 * one growing stream whose start moves forward.
 */
#include "basic/err.h"

#include <stdint.h>
#include <sys/types.h>

#define LOGROT_SUFFIX_OLD ".1"
#define LOGROT_SUFFIX_BASE ".base"

/* Rotate when <path> is larger than max_bytes (> 0).  1 rotated, 0 not needed
 * (or no file), negative errno on failure. */
int logrot_cap(const char *path, int64_t max_bytes, struct wr_err *err);

/* A consistent-enough snapshot of the stream for one read. */
struct logrot_view {
	int fd_cur, fd_old; /* <path>, <path>.1; -1 when absent */
	int64_t base;	    /* logical offset of <path>'s first byte */
	int64_t size_cur, size_old;
};
#define LOGROT_VIEW_INIT                                                                           \
	{                                                                                          \
		.fd_cur = -1, .fd_old = -1                                                         \
	}

/* Open the stream; -ENOENT when <path> does not exist. */
int logrot_view_open(const char *path, struct logrot_view *v, struct wr_err *err);
void logrot_view_close(struct logrot_view *v);
/* Logical offsets of the first byte still kept and of the end. */
int64_t logrot_view_start(const struct logrot_view *v);
int64_t logrot_view_end(const struct logrot_view *v);
/* Read up to n bytes at logical offset off (clamped into [start, end]); returns the byte
 * count (0 at the end, or when the file shrank under us), negative errno on error. */
ssize_t logrot_view_read(const struct logrot_view *v, int64_t off, void *buf, size_t n);

/* Parse a decimal byte count in [0, max]: 0 or -EINVAL (also for trailing garbage,
 * signs other than none, empty text and overflow). */
int logrot_parse_size(const char *s, int64_t max, int64_t *ret);
