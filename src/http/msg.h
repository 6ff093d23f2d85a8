/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Internal: one side of an HTTP/1.1 connection as a stream of parsed
 * messages (requests on the server, responses in the client), on llhttp.
 *
 * The parser pauses at the end of every head and every message, so the head
 * can be handed to a handler before the body is read, and bytes of a
 * pipelined next message stay buffered for the next msg_read_head().
 */
#include "http/http.h"

#include <llhttp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct http_hdr {
	char *name;
	char *value;
};

struct http_msg {
	int fd;
	unsigned timeout_ms; /* per read; 0 = wait forever */
	/* Whole-head limit: once the first byte of a head has arrived, the rest
	 * of it must arrive within head_timeout_ms (0 = only the per-read limit).
	 * A peer trickling one byte per timeout_ms cannot hold a reader forever. */
	unsigned head_timeout_ms;
	/* Absolute CLOCK_MONOTONIC deadline in ms for every read (0 = none):
	 * set by callers that need a bound on a whole exchange (client calls). */
	int64_t deadline_ms;
	llhttp_t p;
	llhttp_settings_t st;

	char *in; /* received, not yet parsed: in[off..len) */
	size_t in_cap, off, len;
	bool eof; /* peer closed its side */

	/* head */
	size_t max_head, head_bytes;
	unsigned max_headers;
	char *url;
	size_t url_len;
	char *status;
	size_t status_len;
	struct http_hdr *hdrs;
	size_t nhdrs;
	char *cur_field, *cur_value;
	size_t cur_field_len, cur_value_len;
	bool in_value;
	bool head_done, msg_done, upgrade;
	bool no_body;	  /* client: response to HEAD */
	int limit_hit;	  /* -E2BIG (head) / -EFBIG (body) / -EPROTO (1xx) from a callback */
	unsigned interim; /* 1xx responses before this head (reset by the reader) */

	/* body: decoded bytes delivered by llhttp, not yet read by the user */
	char *body;
	size_t body_cap, body_off, body_len;
	/* the reader's buffer while http_msg_read_body parses: body bytes go there first (one
	 * copy fewer), the rest to body */
	char *dst;
	size_t dst_cap, dst_len;
	bool in_chunk; /* inside a chunk's data (llhttp's content_length: what is left of it) */
	uint64_t body_total, body_limit;
};

/* CLOCK_MONOTONIC now in ms (for deadline_ms). */
int64_t http_mono_ms(void);

void http_msg_init(struct http_msg *m, int fd, llhttp_type_t type);
void http_msg_done(struct http_msg *m);
/* Prepare for the next message: drops the previous head. */
void http_msg_reset_head(struct http_msg *m);
/* Read and parse until the head is complete.  -ENODATA when the peer closed
 * cleanly before sending any byte of a new message; -E2BIG over the head
 * limits; -EBADMSG malformed; -ETIMEDOUT; -ECONNRESET. */
int http_msg_read_head(struct http_msg *m);
/* Decoded body bytes; 0 at the end of the message. */
ssize_t http_msg_read_body(struct http_msg *m, void *buf, size_t n);
const char *http_msg_header(const struct http_msg *m, const char *name);
/* Raw read with the message's timeout and deadline: > 0 bytes, 0 EOF, -errno. */
ssize_t http_msg_recv(struct http_msg *m, void *buf, size_t n);
/* Write all bytes (MSG_NOSIGNAL). */
/* Read a whole body with `read` (a body reader of a request or response) into a malloc'd,
 * NUL-terminated buffer: 0, the reader's negative errno, or 1 when the body passes max bytes
 * (kept apart from the reader's own errors, so each caller words its limit itself). */
int http_read_all(ssize_t (*read)(void *ctx, void *buf, size_t n), void *ctx, size_t max,
		  char **ret_buf, size_t *ret_len);
int http_send_all(int fd, const void *buf, size_t n);
int http_sendv_all(int fd, struct iovec *iov, int iovcnt);
