/* SPDX-License-Identifier: MIT */
#pragma once
/* Allocation that aborts on out-of-memory: an OOM is not a recoverable error
 * for any wrenn process, so callers never check for NULL. */
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
