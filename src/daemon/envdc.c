/* SPDX-License-Identifier: MIT */
#include "daemon/envdc.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "http/connect.h"
#include "http/json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENVDC_MAX_MSG (16u * 1024 * 1024)
#define ENVDC_MAX_BODY (4u * 1024 * 1024)
/* a unary RPC (files list/stat/mkdir/move/remove, process signal/input) as a whole */
#define ENVDC_UNARY_DEADLINE_MS 60000

int envdc_errno_for_code(const char *code)
{
	switch (connect_code_parse(code)) {
	case CONNECT_NOT_FOUND:
		return -ENOENT;
	case CONNECT_ALREADY_EXISTS:
		return -EEXIST;
	case CONNECT_INVALID_ARGUMENT:
	case CONNECT_FAILED_PRECONDITION:
	case CONNECT_OUT_OF_RANGE:
		return -EINVAL;
	case CONNECT_PERMISSION_DENIED:
	case CONNECT_UNAUTHENTICATED:
		return -EACCES;
	case CONNECT_RESOURCE_EXHAUSTED:
		return -ENOSPC;
	case CONNECT_DEADLINE_EXCEEDED:
		return -ETIMEDOUT;
	case CONNECT_UNAVAILABLE:
		return -EAGAIN;
	default:
		return -EPROTO;
	}
}

/* Headers common to every call; strings in hdr[] are malloc'd, freed by hdrs_free. */
struct hdrs {
	char *v[6];
	size_t n;
};
static void hdrs_free(struct hdrs *h)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->v[i]);
}

static void hdrs_auth(struct hdrs *h, const struct envdc_auth *a)
{
	if (a && a->token)
		h->v[h->n++] = xasprintf("X-Access-Token: %s", a->token);
	if (a && a->user) {
		cleanup_free char *up = xasprintf("%s:", a->user);
		cleanup_free char *b = wj_b64_encode(up, strlen(up));
		h->v[h->n++] = xasprintf("Authorization: Basic %s", b);
	}
}

/* error body {"code":"not_found","message":"..."} or plain {code:int, message} */
static int error_from_body(int status, const char *body, const char *what, struct wr_err *err)
{
	cleanup_json json_t *j = body ? json_loads(body, 0, NULL) : NULL;
	const char *msg = NULL, *code = NULL;
	if (json_is_object(j)) {
		json_t *m = json_object_get(j, "message"), *c = json_object_get(j, "code");
		msg = json_is_string(m) ? json_string_value(m) : NULL;
		code = json_is_string(c) ? json_string_value(c) : NULL;
	}
	int r;
	if (code)
		r = envdc_errno_for_code(code);
	else if (status == 404)
		r = -ENOENT;
	else if (status == 400)
		r = -EINVAL;
	else if (status == 401 || status == 403)
		r = -EACCES;
	else if (status == 409)
		r = -EEXIST;
	else if (status == 507)
		r = -ENOSPC;
	else
		r = -EPROTO;
	wr_err_set(err, r, "%s: %s", what, msg ? msg : (body && *body ? body : "error"));
	return r;
}

int envdc_unary(int fd, const struct envdc_auth *a, const char *rpc, const json_t *msg,
		json_t **ret, struct wr_err *err)
{
	struct http_client *c = http_client_new(fd, true);
	/* The guest is untrusted: a trickled or endless answer ends with the call. */
	http_client_set_deadline(c, ENVDC_UNARY_DEADLINE_MS);
	struct hdrs h = {0};
	h.v[h.n++] = xstrdup("Connect-Protocol-Version: 1");
	hdrs_auth(&h, a);
	size_t blen = 0;
	cleanup_free char *body = wj_dump(msg, &blen);
	struct http_creq rq = {.method = "POST",
			       .target = rpc,
			       .headers = (const char *const *)h.v,
			       .content_type = "application/json",
			       .body = body,
			       .body_len = blen};
	int status = 0;
	cleanup_free char *resp = NULL;
	int r = http_client_do(c, &rq, ENVDC_MAX_BODY, &status, &resp, NULL, err);
	hdrs_free(&h);
	http_client_free(c);
	if (r < 0)
		return wr_err_prefix(err, r, "envd %s", rpc);
	if (status != 200)
		return error_from_body(status, resp, rpc, err);
	cleanup_json json_t *j = json_loads(resp, 0, NULL);
	if (!json_is_object(j))
		return wr_err_set(err, EPROTO, "envd %s: malformed answer", rpc);
	*ret = TAKE_PTR(j);
	return 0;
}

struct envdc_stream {
	struct http_client *c;
	const char *rpc;
	uint8_t *buf;
	size_t len, cap;
	bool ended;
};

int envdc_stream_open(int fd, const struct envdc_auth *a, const char *rpc, const json_t *msg,
		      uint64_t timeout_ms, struct envdc_stream **ret, struct wr_err *err)
{
	struct envdc_stream *s = xcalloc(1, sizeof(*s));
	s->rpc = rpc;
	s->c = http_client_new(fd, true);
	/* A quiet command still yields a keepalive event every 5 s: the caller can notice a
	 * shutdown in time, and 60 s of silence means the VM is gone. */
	http_client_set_timeout(s->c, 60000);
	struct hdrs h = {0};
	h.v[h.n++] = xstrdup("Connect-Protocol-Version: 1");
	h.v[h.n++] = xstrdup("Keepalive-Ping-Interval: 5");
	if (timeout_ms)
		h.v[h.n++] = xasprintf("Connect-Timeout-Ms: %" PRIu64, timeout_ms);
	hdrs_auth(&h, a);
	size_t plen = 0;
	cleanup_free char *payload = wj_dump(msg, &plen);
	cleanup_free uint8_t *body = xmalloc(plen + CONNECT_ENV_HDR);
	connect_env_header(body, 0, (uint32_t)plen);
	memcpy(body + CONNECT_ENV_HDR, payload, plen);
	struct http_creq rq = {.method = "POST",
			       .target = rpc,
			       .headers = (const char *const *)h.v,
			       .content_type = "application/connect+json",
			       .body = body,
			       .body_len = plen + CONNECT_ENV_HDR};
	int r = http_client_send(s->c, &rq, err);
	if (r >= 0)
		r = http_client_read_head(s->c, false, err);
	hdrs_free(&h);
	if (r < 0) {
		envdc_stream_free(s);
		return wr_err_prefix(err, r, "envd %s", rpc);
	}
	int status = http_client_status(s->c);
	if (status != 200) {
		cleanup_free char *eb = NULL;
		if (http_client_read_all(s->c, ENVDC_MAX_BODY, &eb, NULL, NULL) < 0)
			eb = NULL;
		r = error_from_body(status, eb, rpc, err);
		envdc_stream_free(s);
		return r;
	}
	*ret = s;
	return 0;
}

int envdc_stream_next(struct envdc_stream *s, json_t **ret, struct wr_err *err)
{
	if (s->ended)
		return 0;
	for (;;) {
		uint8_t flags = 0;
		const uint8_t *p = NULL;
		size_t pl = 0;
		int n = s->len ? connect_env_parse(s->buf, s->len, ENVDC_MAX_MSG, &flags, &p, &pl)
			       : -EAGAIN;
		if (n == -EMSGSIZE)
			return wr_err_set(err, EMSGSIZE, "envd %s: message too large", s->rpc);
		if (n > 0) {
			cleanup_json json_t *j = json_loadb((const char *)p, pl, 0, NULL);
			memmove(s->buf, s->buf + n, s->len - (size_t)n);
			s->len -= (size_t)n;
			if (!json_is_object(j))
				return wr_err_set(err, EPROTO, "envd %s: malformed message",
						  s->rpc);
			if (flags & CONNECT_FLAG_END) {
				s->ended = true;
				json_t *e = json_object_get(j, "error");
				if (json_is_object(e)) {
					json_t *c = json_object_get(e, "code"),
					       *m = json_object_get(e, "message");
					int r = envdc_errno_for_code(
						json_is_string(c) ? json_string_value(c) : "");
					wr_err_set(err, r, "%s",
						   json_is_string(m) ? json_string_value(m)
								     : "stream failed");
					return r;
				}
				return 0;
			}
			*ret = TAKE_PTR(j);
			return 1;
		}
		if (s->cap - s->len < 65536) {
			s->cap = s->len + 65536;
			s->buf = xrealloc(s->buf, s->cap);
		}
		ssize_t r = http_client_read(s->c, s->buf + s->len, s->cap - s->len);
		if (r < 0)
			return wr_err_errno(err, (int)-r, "envd %s: read", s->rpc);
		if (r == 0)
			return wr_err_set(err, EPIPE, "envd %s: stream ended without an end frame",
					  s->rpc);
		s->len += (size_t)r;
	}
}

int envdc_stream_fd(const struct envdc_stream *s)
{
	return http_client_fd(s->c);
}

void envdc_stream_free(struct envdc_stream *s)
{
	if (!s)
		return;
	http_client_free(s->c);
	free(s->buf);
	free(s);
}

static char *files_target(const char *path, const struct envdc_auth *a)
{
	cleanup_free char *ep = http_escape(path, true);
	if (a && a->user) {
		cleanup_free char *eu = http_escape(a->user, false);
		return xasprintf("/files?path=%s&username=%s", ep, eu);
	}
	return xasprintf("/files?path=%s", ep);
}

int envdc_files_get(int fd, const struct envdc_auth *a, const char *path,
		    struct http_client **ret_client, int64_t *ret_len, struct wr_err *err)
{
	struct http_client *c = http_client_new(fd, true);
	http_client_set_timeout(c, 120000);
	struct hdrs h = {0};
	hdrs_auth(&h, a);
	cleanup_free char *target = files_target(path, a);
	struct http_creq rq = {
		.method = "GET", .target = target, .headers = (const char *const *)h.v};
	int r = http_client_send(c, &rq, err);
	if (r >= 0)
		r = http_client_read_head(c, false, err);
	hdrs_free(&h);
	if (r < 0) {
		http_client_free(c);
		return wr_err_prefix(err, r, "envd GET /files");
	}
	int status = http_client_status(c);
	if (status != 200) {
		cleanup_free char *eb = NULL;
		if (http_client_read_all(c, ENVDC_MAX_BODY, &eb, NULL, NULL) < 0)
			eb = NULL;
		http_client_free(c);
		return error_from_body(status, eb, path, err);
	}
	*ret_len = http_client_content_length(c);
	*ret_client = c;
	return 0;
}

int envdc_files_put(int fd, const struct envdc_auth *a, const char *path, int64_t len,
		    ssize_t (*read_fn)(void *ud, void *buf, size_t n), void *ud, json_t **ret,
		    struct wr_err *err)
{
	struct http_client *c = http_client_new(fd, true);
	http_client_set_timeout(c, 120000);
	struct hdrs h = {0};
	hdrs_auth(&h, a);
	/* len < 0: the client's body is chunked, and so is ours (envd reads both). */
	bool chunked = len < 0;
	h.v[h.n++] = chunked ? xstrdup("Transfer-Encoding: chunked")
			     : xasprintf("Content-Length: %" PRId64, len);
	cleanup_free char *target = files_target(path, a);
	/* The head is written by hand so the body can follow as it arrives, with the
	 * client's length: nothing is held in memory. */
	cleanup_free char *head = NULL;
	{
		size_t cap = 256 + strlen(target);
		for (size_t i = 0; i < h.n; i++)
			cap += strlen(h.v[i]) + 2;
		head = xmalloc(cap);
		size_t n = (size_t)snprintf(head, cap,
					    "POST %s HTTP/1.1\r\nHost: localhost\r\n"
					    "Content-Type: application/octet-stream\r\n",
					    target);
		for (size_t i = 0; i < h.n; i++)
			n += (size_t)snprintf(head + n, cap - n, "%s\r\n", h.v[i]);
		snprintf(head + n, cap - n, "\r\n");
	}
	hdrs_free(&h);
	int r = write_full(http_client_fd(c), head, strlen(head));
	uint8_t buf[65536];
	int64_t left = len;
	while (r >= 0 && (chunked || left > 0)) {
		ssize_t n = read_fn(ud, buf,
				    (size_t)(chunked || left >= (int64_t)sizeof(buf)
						     ? (int64_t)sizeof(buf)
						     : left));
		if (n < 0) {
			http_client_free(c);
			return n == -EFBIG
				       ? wr_err_set(err, EFBIG, "upload body over the size limit")
				       : wr_err_errno(err, (int)-n, "read upload body");
		}
		if (n == 0 && chunked) {
			r = write_full(http_client_fd(c), "0\r\n\r\n", 5);
			break;
		}
		if (n == 0) {
			http_client_free(c);
			return wr_err_set(err, EPIPE,
					  "upload body shorter than its Content-Length");
		}
		if (chunked) {
			char sz[24];
			int k = snprintf(sz, sizeof(sz), "%zx\r\n", (size_t)n);
			r = write_full(http_client_fd(c), sz, (size_t)k);
			if (r >= 0)
				r = write_full(http_client_fd(c), buf, (size_t)n);
			if (r >= 0)
				r = write_full(http_client_fd(c), "\r\n", 2);
		} else {
			r = write_full(http_client_fd(c), buf, (size_t)n);
			left -= n;
		}
	}
	if (r < 0) {
		http_client_free(c);
		return wr_err_errno(err, -r, "envd POST /files: send");
	}
	r = http_client_read_head(c, false, err);
	cleanup_free char *resp = NULL;
	if (r >= 0)
		r = http_client_read_all(c, ENVDC_MAX_BODY, &resp, NULL, err);
	int status = http_client_status(c);
	http_client_free(c);
	if (r < 0)
		return wr_err_prefix(err, r, "envd POST /files");
	if (status != 200)
		return error_from_body(status, resp, path, err);
	json_t *j = json_loads(resp, 0, NULL);
	*ret = j ? j : json_array();
	return 0;
}
