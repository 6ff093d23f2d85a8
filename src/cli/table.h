/* SPDX-License-Identifier: MIT */
#pragma once
/* Human output: aligned tables and short durations (unit-tested). */
#include <stdint.h>
#include <stdio.h>

struct table {
	int ncols;
	char **cells; /* rows * ncols, row 0 = header */
	int nrows;
};
void table_init(struct table *t, int ncols, const char *const *headers);
/* Exactly ncols strings (NULL prints "-"). */
void table_add(struct table *t, const char *const *cells);
/* Columns separated by two spaces, the last column not padded. */
void table_print(const struct table *t, FILE *f);
void table_done(struct table *t);

/* 42 -> "42s", 125 -> "2m", 7300 -> "2h", 200000 -> "2d"; negative -> "-". */
void fmt_duration(int64_t seconds, char *buf, size_t size);
/* RFC 3339 ("2026-01-02T03:04:05Z", optional fraction and offset) to unix seconds; -1 if bad. */
int64_t parse_rfc3339(const char *s);
/* 1536 -> "1.5K", bytes in powers of 1024. */
void fmt_bytes(int64_t n, char *buf, size_t size);
