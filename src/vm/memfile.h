/* SPDX-License-Identifier: MIT */
#pragma once
/* Guest RAM files: sparse copies (reflink when the filesystem can). */
#include "basic/err.h"

#include <stdbool.h>
#include <stdint.h>

/* Copy src to dst (replaced): FICLONE first, else only the data extents
 * (SEEK_DATA/SEEK_HOLE), so holes stay holes. */
int memfile_copy(const char *src, const char *dst, struct wr_err *err);
/* True when both paths name the same inode. */
bool memfile_same(const char *a, const char *b);
/* Create or check a file of exactly size bytes (sparse when created). */
int memfile_ensure(const char *path, uint64_t size, struct wr_err *err);
/* Punch holes over page-aligned all-zero runs of a memory file (after a
 * snapshot: guest RAM that was touched but is zero again costs no disk). */
int memfile_punch_zeros(const char *path, struct wr_err *err);
/* Apparent size and allocated bytes of a file; 0 and -errno on failure. */
int file_sizes(const char *path, int64_t *ret_apparent, int64_t *ret_allocated);
