/* SPDX-License-Identifier: MIT */
/*
 * multipart/form-data: the input's first line is the Content-Type header
 * value (boundary extraction), the rest the body, handed to the parser in
 * reads whose sizes cycle through a pattern taken from the input, so
 * delimiters get split across buffer refills.
 */
#include "envd/multipart.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct src {
	const uint8_t *p;
	size_t n, off;
	uint8_t step;
	unsigned reads;
};

static ssize_t rd(void *ctx, void *buf, size_t n)
{
	struct src *s = ctx;
	size_t left = s->n - s->off;
	/* 1..64 bytes, or everything asked for every 4th read */
	size_t want = (++s->reads % 4) ? (size_t)(s->step + s->reads) % 64 + 1 : n;
	if (want > n)
		want = n;
	if (want > left)
		want = left;
	memcpy(buf, s->p + s->off, want);
	s->off += want;
	return (ssize_t)want;
}

struct state {
	bool in_part;
	unsigned parts;
	size_t bytes;
};

static int begin(void *ud, const char *name, const char *filename)
{
	struct state *st = ud;
	if (st->in_part)
		abort(); /* begin without the previous part's end */
	if (name)
		(void)strlen(name);
	if (filename)
		(void)strlen(filename);
	st->in_part = true;
	st->parts++;
	/* A callback error must stop the parser cleanly. */
	return filename && !strcmp(filename, "reject") ? -EPERM : 0;
}

static int part_data(void *ud, const void *d, size_t n)
{
	struct state *st = ud;
	if (!st->in_part || n == 0)
		abort();
	volatile const uint8_t *b = d;
	(void)b[0];
	(void)b[n - 1];
	st->bytes += n;
	return 0;
}

static int end(void *ud)
{
	struct state *st = ud;
	if (!st->in_part)
		abort();
	st->in_part = false;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	if (!nl || size > 1 << 20)
		return 0;
	size_t hl = (size_t)(nl - data);
	char *ct = malloc(hl + 1);
	memcpy(ct, data, hl);
	ct[hl] = '\0';
	char boundary[128];
	int r = multipart_boundary(ct, boundary, sizeof(boundary));
	free(ct);
	if (r < 0)
		return 0;
	if (strlen(boundary) == 0 || strlen(boundary) > 70)
		abort();
	struct src s = {.p = nl + 1, .n = size - hl - 1, .step = hl ? data[0] : 0};
	struct state st = {0};
	struct mp_ops ops = {begin, part_data, end};
	struct wr_err err = {0};
	r = multipart_parse(boundary, rd, &s, &ops, &st, &err);
	if (r == 0 && (st.in_part || st.parts == 0))
		abort(); /* success means every part was closed */
	if (st.bytes > s.n)
		abort(); /* more data out than in */
	return 0;
}
