/* SPDX-License-Identifier: MIT */
#pragma once
/* Whole-buffer I/O on fds and small-file helpers.  All return 0 / -errno. */
#include <stddef.h>
#include <sys/types.h>

/* Read exactly n bytes; -EPIPE if EOF comes first. Retries EINTR. */
int read_full(int fd, void *buf, size_t n);
/* Write all n bytes. Retries EINTR and short writes. */
int write_full(int fd, const void *buf, size_t n);
/* Read a whole (small) file into a NUL-terminated malloc'd buffer. */
int read_file(const char *path, size_t max, char **ret, size_t *ret_len);
/* Write data to path atomically (temp file + fsync + rename). */
int write_file_atomic(const char *path, const void *data, size_t n, mode_t mode);
/* mkdir -p */
int mkdir_p(const char *path, mode_t mode);
/* rm -rf that stays on one filesystem and never follows symlinks. */
int rm_rf(const char *path);
