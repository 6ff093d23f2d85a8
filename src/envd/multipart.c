/* SPDX-License-Identifier: MIT */
#include "envd/multipart.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * A part's body is handed on in pieces of up to MP_PIECE bytes, each starting at an MP_ALIGN
 * aligned address (the buffer's start): an O_DIRECT writer (envd/dio.h) writes them from here
 * instead of copying them into an aligned buffer of its own.  The buffer holds one piece plus the
 * bytes read past it to tell whether a delimiter starts in its last dl - 1 bytes; reads stop at
 * that mark, so what is moved to the front after each piece is those dl - 1 bytes.
 */
#define BUF (MP_PIECE + 64 * 1024)
#define MAX_PART_HEAD (16 * 1024)

int multipart_boundary(const char *ct, char *out, size_t n)
{
	if (!ct || strncasecmp(ct, "multipart/form-data", 19))
		return -EINVAL;
	const char *p = ct + 19;
	while ((p = strchr(p, ';'))) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, "boundary=", 9))
			continue;
		p += 9;
		size_t k = 0;
		if (*p == '"') {
			p++;
			while (*p && *p != '"' && k + 1 < n)
				out[k++] = *p++;
			if (*p != '"')
				return -EINVAL;
		} else {
			while (*p && *p != ';' && *p != ' ' && k + 1 < n)
				out[k++] = *p++;
		}
		out[k] = '\0';
		return k > 0 && k <= 70 ? 0 : -EINVAL;
	}
	return -EINVAL;
}

struct mp {
	mp_read_fn rd;
	void *ctx;
	char *buf;
	size_t len;
	bool eof;
};

/* Read more, up to upto bytes in the buffer (compacting is done by callers consuming from the
 * front). */
static int more_upto(struct mp *m, size_t upto)
{
	if (m->eof)
		return 0;
	if (m->len >= upto)
		return -ENOBUFS;
	ssize_t r = m->rd(m->ctx, m->buf + m->len, upto - m->len);
	if (r < 0)
		return (int)r;
	if (r == 0)
		m->eof = true;
	m->len += (size_t)r;
	return (int)r;
}

static int more(struct mp *m)
{
	return more_upto(m, BUF);
}

/* Body bytes [0, n) of the buffer to the part, in pieces of at most MP_PIECE. */
static int deliver(struct mp *m, const struct mp_ops *ops, void *ud, size_t n)
{
	for (size_t at = 0; at < n;) {
		size_t k = n - at < MP_PIECE ? n - at : MP_PIECE;
		int r = ops->part_data(ud, m->buf + at, k);
		if (r)
			return r < 0 ? r : -ECANCELED;
		at += k;
	}
	return 0;
}

static void consume(struct mp *m, size_t n)
{
	memmove(m->buf, m->buf + n, m->len - n);
	m->len -= n;
}

/* Parameter value of a header like `form-data; name="file"; filename="/x"`. */
static char *param(const char *h, const char *key)
{
	size_t kl = strlen(key);
	const char *p = h;
	while ((p = strchr(p, ';'))) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (strncasecmp(p, key, kl) || p[kl] != '=')
			continue;
		p += kl + 1;
		char *out = xmalloc(strlen(p) + 1);
		size_t o = 0;
		if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1])
					p++;
				out[o++] = *p;
			}
		} else {
			while (*p && *p != ';' && *p != ' ')
				out[o++] = *p++;
		}
		out[o] = '\0';
		return out;
	}
	return NULL;
}

static int parse_part_head(char *head, const struct mp_ops *ops, void *ud)
{
	cleanup_free char *name = NULL, *filename = NULL;
	char *save = NULL;
	for (char *line = strtok_r(head, "\r\n", &save); line;
	     line = strtok_r(NULL, "\r\n", &save)) {
		if (strncasecmp(line, "Content-Disposition:", 20))
			continue;
		/* A repeated header replaces the earlier one (and must not leak it). */
		free(name);
		free(filename);
		name = param(line + 20, "name");
		filename = param(line + 20, "filename");
	}
	return ops->part_begin(ud, name, filename);
}

int multipart_parse(const char *boundary, mp_read_fn rd, void *rdctx, const struct mp_ops *ops,
		    void *ud, struct wr_err *err)
{
	cleanup_free char *delim = xasprintf("\r\n--%s", boundary);
	size_t dl = strlen(delim);
	struct mp m = {.rd = rd, .ctx = rdctx};
	cleanup_free char *buf = NULL;
	if (posix_memalign((void **)&buf, MP_ALIGN, BUF))
		return wr_err_set(err, ENOMEM, "multipart: out of memory");
	m.buf = buf;
	/* A virtual CRLF in front lets the first boundary match the delimiter. */
	memcpy(m.buf, "\r\n", 2);
	m.len = 2;
	int r;

	/* preamble */
	for (;;) {
		char *d = memmem(m.buf, m.len, delim, dl);
		if (d) {
			consume(&m, (size_t)(d - m.buf) + dl);
			break;
		}
		if (m.len > dl)
			consume(&m, m.len - dl);
		r = more(&m);
		if (r < 0)
			return wr_err_set(err, -r, "multipart: read failed");
		if (r == 0)
			return wr_err_set(err, EBADMSG, "multipart: no boundary found");
	}
	int parts = 0;
	for (;;) {
		/* after a delimiter: "--" ends, CRLF starts a part */
		while (m.len < 2) {
			r = more(&m);
			if (r < 0)
				return wr_err_set(err, -r, "multipart: read failed");
			if (r == 0)
				return wr_err_set(err, EBADMSG,
						  "multipart: truncated after boundary");
		}
		if (!memcmp(m.buf, "--", 2))
			return parts > 0 ? 0 : wr_err_set(err, EBADMSG, "multipart: no parts");
		if (memcmp(m.buf, "\r\n", 2))
			return wr_err_set(err, EBADMSG, "multipart: garbage after boundary");
		consume(&m, 2);
		/* part head */
		/* A part without headers starts with the blank line itself: test
		 * that first, or a body starting with CRLF loses it. */
		char *end = NULL;
		while (!(m.len >= 2 && !memcmp(m.buf, "\r\n", 2)) &&
		       !(end = memmem(m.buf, m.len, "\r\n\r\n", 4))) {
			if (m.len > MAX_PART_HEAD)
				return wr_err_set(err, EBADMSG, "multipart: part head too large");
			r = more(&m);
			if (r < 0)
				return wr_err_set(err, -r, "multipart: read failed");
			if (r == 0)
				return wr_err_set(err, EBADMSG, "multipart: truncated part head");
		}
		/* The whole head may arrive in one read: check the limit here too. */
		if (end && (size_t)(end - m.buf) > MAX_PART_HEAD)
			return wr_err_set(err, EBADMSG, "multipart: part head too large");
		size_t hl;
		cleanup_free char *head = NULL;
		if (!end) { /* no headers at all */
			head = xstrdup("");
			hl = 2;
		} else {
			head = xstrndup(m.buf, (size_t)(end - m.buf));
			hl = (size_t)(end - m.buf) + 4;
		}
		consume(&m, hl);
		r = parse_part_head(head, ops, ud);
		if (r)
			return r < 0 ? r : -ECANCELED;
		parts++;
		/* Part body up to the next delimiter; the body starts at m.buf[0] (aligned), each
		 * MP_PIECE of it is handed on from there once the dl - 1 bytes after it are in
		 * (no delimiter starts inside it). */
		size_t clear = 0; /* no delimiter starts in m.buf[0, clear) */
		for (;;) {
			char *d = m.len >= dl ? memmem(m.buf + clear, m.len - clear, delim, dl)
					      : NULL;
			if (d) {
				size_t n = (size_t)(d - m.buf);
				if ((r = deliver(&m, ops, ud, n)))
					return r;
				consume(&m, n + dl);
				break;
			}
			clear = m.len >= dl ? m.len - (dl - 1) : 0;
			if (clear >= MP_PIECE) {
				if ((r = deliver(&m, ops, ud, MP_PIECE)))
					return r;
				consume(&m, MP_PIECE);
				clear -= MP_PIECE;
			}
			r = more_upto(&m, MP_PIECE + dl - 1);
			if (r < 0)
				return wr_err_set(err, -r, "multipart: read failed");
			if (r == 0)
				return wr_err_set(err, EBADMSG, "multipart: truncated part body");
		}
		if ((r = ops->part_end(ud)))
			return r < 0 ? r : -ECANCELED;
	}
}
