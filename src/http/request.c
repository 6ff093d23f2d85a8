/* SPDX-License-Identifier: MIT */
#include "http/server-internal.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <unistd.h>

#define DRAIN_MAX (1024 * 1024)

struct qparam {
	char *name, *value;
};

struct http_req {
	struct http_server *srv;
	const struct http_server_config *cfg;
	struct http_msg *m;
	const char *peer;
	char method[24];
	char *path;
	struct qparam *q;
	size_t nq;
	bool q_parsed;
	bool head_req;
	bool body_error; /* framing error / over limit while reading: close */
	/* "Expect: 100-continue": the client holds the body back until it sees
	 * a 100 (curl for uploads > 1 MiB, else it stalls ~1 s).  The 100 goes
	 * out on the first body read, so a handler that answers without reading
	 * (401, 413) sends none and the unsent body is never waited for. */
	bool expect_continue, continue_sent;

	/* response */
	struct http_hdr *rh;
	size_t nrh;
	bool started, ended, chunked, close_after, taken;
	int64_t resp_len, resp_sent;
	int status;
	bool write_failed;
	void *ctx; /* the handler's per-request context (borrowed) */
	/* http_req_buffer_body: the whole body, read once, served again to later reads */
	char *pre;
	size_t pre_len, pre_off;
	bool pre_done;
};

void http_req_set_ctx(struct http_req *req, void *ctx)
{
	req->ctx = ctx;
}

void *http_req_ctx(const struct http_req *req)
{
	return req->ctx;
}

/* -------------------------------------------------------------- accessors */

const char *http_req_method(const struct http_req *req)
{
	return req->method;
}

const char *http_req_target(const struct http_req *req)
{
	return req->m->url ? req->m->url : "";
}

const char *http_req_path(const struct http_req *req)
{
	return req->path;
}

static void parse_query(struct http_req *req)
{
	req->q_parsed = true;
	const char *t = strchr(http_req_target(req), '?');
	if (!t)
		return;
	t++;
	while (*t) {
		size_t n = strcspn(t, "&");
		const char *eq = memchr(t, '=', n);
		size_t kn = eq ? (size_t)(eq - t) : n;
		char *k = NULL, *v = NULL;
		if (http_unescape(t, kn, true, &k) == 0 &&
		    http_unescape(eq ? eq + 1 : "", eq ? n - kn - 1 : 0, true, &v) == 0) {
			req->q = xrealloc(req->q, sizeof(*req->q) * (req->nq + 1));
			req->q[req->nq].name = k;
			req->q[req->nq].value = v;
			req->nq++;
		} else {
			free(k);
			free(v);
		}
		t += n;
		if (*t == '&')
			t++;
	}
}

const char *http_req_query(struct http_req *req, const char *name)
{
	if (!req->q_parsed)
		parse_query(req);
	for (size_t i = 0; i < req->nq; i++)
		if (!strcmp(req->q[i].name, name))
			return req->q[i].value;
	return NULL;
}

const char *http_req_header(const struct http_req *req, const char *name)
{
	return http_msg_header(req->m, name);
}

size_t http_req_header_count(const struct http_req *req)
{
	return req->m->nhdrs;
}

void http_req_header_at(const struct http_req *req, size_t i, const char **ret_name,
			const char **ret_value)
{
	*ret_name = req->m->hdrs[i].name;
	*ret_value = req->m->hdrs[i].value;
}

int http_req_minor_version(const struct http_req *req)
{
	return llhttp_get_http_minor(&req->m->p);
}

int64_t http_req_content_length(const struct http_req *req)
{
	if (req->m->p.flags & F_CHUNKED)
		return -1;
	if (req->m->p.flags & F_CONTENT_LENGTH) {
		const char *v = http_req_header(req, "Content-Length");
		return v ? strtoll(v, NULL, 10) : 0;
	}
	return 0;
}

const char *http_req_peer(const struct http_req *req)
{
	return req->peer;
}

struct http_server *http_req_server(const struct http_req *req)
{
	return req->srv;
}

int http_req_socket(const struct http_req *req)
{
	return req->taken ? -EBADF : req->m->fd;
}

void http_req_set_body_limit(struct http_req *req, uint64_t max)
{
	req->m->body_limit = max;
}

ssize_t http_req_read(struct http_req *req, void *buf, size_t n)
{
	if (req->taken)
		return -EBADF;
	if (req->pre_done) {
		size_t k = req->pre_len - req->pre_off < n ? req->pre_len - req->pre_off : n;
		if (k)
			memcpy(buf, req->pre + req->pre_off, k);
		req->pre_off += k;
		return (ssize_t)k;
	}
	if (req->expect_continue && !req->continue_sent && !req->started) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		req->continue_sent = true;
		int w = http_send_all(req->m->fd, cont, sizeof(cont) - 1);
		if (w < 0) {
			req->write_failed = true;
			req->body_error = true;
			return w;
		}
	}
	ssize_t r = http_msg_read_body(req->m, buf, n);
	if (r < 0) {
		req->body_error = true;
		if (r == -E2BIG)
			r = -EBADMSG;
	}
	return r;
}

static ssize_t req_read(void *req, void *buf, size_t n)
{
	return http_req_read(req, buf, n);
}

int http_req_read_all(struct http_req *req, size_t max, char **ret_buf, size_t *ret_len)
{
	int r = http_read_all(req_read, req, max, ret_buf, ret_len);
	if (r > 0) {
		req->body_error = true;
		return -EFBIG;
	}
	return r;
}

int http_req_buffer_body(struct http_req *req, size_t max, const char **ret_buf, size_t *ret_len)
{
	if (!req->pre_done) {
		int r = http_req_read_all(req, max, &req->pre, &req->pre_len);
		if (r < 0)
			return r;
		req->pre_done = true;
		req->pre_off = 0;
	}
	*ret_buf = req->pre ? req->pre : "";
	*ret_len = req->pre_len;
	return 0;
}

/* --------------------------------------------------------------- response */

void http_resp_header(struct http_req *req, const char *name, const char *value)
{
	if (req->started)
		return;
	req->rh = xrealloc(req->rh, sizeof(*req->rh) * (req->nrh + 1));
	req->rh[req->nrh].name = xstrdup(name);
	req->rh[req->nrh].value = xstrdup(value);
	req->nrh++;
}

void http_resp_headerf(struct http_req *req, const char *name, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cleanup_free char *v = NULL;
	if (vasprintf(&v, fmt, ap) < 0)
		abort();
	va_end(ap);
	http_resp_header(req, name, v);
}

bool http_resp_started(const struct http_req *req)
{
	return req->started || req->taken;
}

void http_resp_close_after(struct http_req *req)
{
	req->close_after = true;
}

static bool want_close(const struct http_req *req)
{
	/* Answered before the client was told to send its body: it may send it
	 * (after its own timeout) or not at all, so the connection cannot be
	 * reused. */
	bool body_withheld = req->expect_continue && !req->continue_sent;
	return req->close_after || body_withheld || !llhttp_should_keep_alive(&req->m->p) ||
	       req->m->upgrade || http_server_stopping(req->srv);
}

static int send_head(struct http_req *req, int status, const char *ctype, int64_t len,
		     const void *body)
{
	if (req->taken)
		return -EBADF;
	if (req->started)
		return -EALREADY;
	req->started = true;
	req->status = status;
	req->chunked = len < 0;
	req->resp_len = len;
	/* 1xx/204/304 never carry a body nor a length. */
	bool bodyless = status / 100 == 1 || status == 204 || status == 304;
	if (req->chunked && req->m->p.http_minor == 0)
		req->close_after = true; /* no chunked for HTTP/1.0: body ends at close */

	size_t cap = 256, n = 0;
	for (size_t i = 0; i < req->nrh; i++)
		cap += strlen(req->rh[i].name) + strlen(req->rh[i].value) + 4;
	if (req->cfg->server_name)
		cap += strlen(req->cfg->server_name) + 16;
	if (ctype)
		cap += strlen(ctype) + 16;
	cleanup_free char *h = xmalloc(cap);
	n += (size_t)snprintf(h + n, cap - n, "HTTP/1.1 %d %s\r\n", status,
			      http_status_text(status));
	if (req->cfg->server_name)
		n += (size_t)snprintf(h + n, cap - n, "Server: %s\r\n", req->cfg->server_name);
	if (ctype)
		n += (size_t)snprintf(h + n, cap - n, "Content-Type: %s\r\n", ctype);
	for (size_t i = 0; i < req->nrh; i++)
		n += (size_t)snprintf(h + n, cap - n, "%s: %s\r\n", req->rh[i].name,
				      req->rh[i].value);
	if (!bodyless) {
		if (req->chunked && req->m->p.http_minor >= 1)
			n += (size_t)snprintf(h + n, cap - n, "Transfer-Encoding: chunked\r\n");
		else if (!req->chunked)
			n += (size_t)snprintf(h + n, cap - n, "Content-Length: %" PRId64 "\r\n",
					      len);
	} else {
		req->resp_len = 0;
		req->chunked = false;
	}
	if (want_close(req))
		n += (size_t)snprintf(h + n, cap - n, "Connection: close\r\n");
	n += (size_t)snprintf(h + n, cap - n, "\r\n");
	/* A whole response goes out in one send: no Nagle/delayed-ACK stall. */
	size_t blen = body && !bodyless && !req->head_req ? (size_t)len : 0;
	struct iovec iov[2] = {{h, n}, {(void *)body, blen}};
	int r = http_sendv_all(req->m->fd, iov, 2);
	if (r < 0)
		req->write_failed = true;
	else
		req->resp_sent = (int64_t)blen;
	return r;
}

int http_resp_begin(struct http_req *req, int status, const char *content_type,
		    int64_t content_length)
{
	return send_head(req, status, content_type, content_length < 0 ? -1 : content_length, NULL);
}

int http_resp_write(struct http_req *req, const void *data, size_t len)
{
	if (req->taken)
		return -EBADF;
	if (!req->started || req->ended)
		return -EINVAL;
	if (req->write_failed)
		return -EPIPE;
	if (len == 0 || req->head_req)
		return 0;
	int r;
	if (req->chunked && req->m->p.http_minor >= 1) {
		char pre[24];
		int pn = snprintf(pre, sizeof(pre), "%zx\r\n", len);
		struct iovec iov[3] = {{pre, (size_t)pn}, {(void *)data, len}, {"\r\n", 2}};
		r = http_sendv_all(req->m->fd, iov, 3);
	} else {
		if (!req->chunked && req->resp_sent + (int64_t)len > req->resp_len)
			return -EMSGSIZE;
		r = http_send_all(req->m->fd, data, len);
	}
	if (r < 0) {
		req->write_failed = true;
		return r;
	}
	req->resp_sent += (int64_t)len;
	return 0;
}

int http_resp_end(struct http_req *req)
{
	if (req->taken)
		return -EBADF;
	if (!req->started)
		return -EINVAL;
	if (req->ended)
		return 0;
	req->ended = true;
	if (req->write_failed)
		return -EPIPE;
	if (req->chunked && req->m->p.http_minor >= 1 && !req->head_req) {
		int r = http_send_all(req->m->fd, "0\r\n\r\n", 5);
		if (r < 0) {
			req->write_failed = true;
			return r;
		}
	} else if (!req->chunked && !req->head_req && req->resp_sent != req->resp_len) {
		req->write_failed = true; /* the client would wait for the rest */
		return -EPIPE;
	}
	return 0;
}

void http_resp_abort(struct http_req *req)
{
	if (req->taken || !req->started || req->ended)
		return;
	req->ended = true;
	req->write_failed = true; /* not kept alive, nothing more is sent */
}

int http_resp_send(struct http_req *req, int status, const char *content_type, const void *body,
		   size_t len)
{
	int r = send_head(req, status, content_type, (int64_t)len, body ? body : "");
	if (r < 0)
		return r;
	if (req->head_req)
		req->resp_sent = req->resp_len;
	return http_resp_end(req);
}

int http_resp_text(struct http_req *req, int status, const char *content_type, const char *body)
{
	return http_resp_send(req, status, content_type, body, body ? strlen(body) : 0);
}

int http_req_take_socket(struct http_req *req, int *ret_fd, char **ret_buf, size_t *ret_len)
{
	if (req->taken || req->started)
		return -EBUSY;
	struct http_msg *m = req->m;
	if (m->body_total > 0 || m->body_len > 0)
		return -EBUSY;
	size_t n = m->len - m->off;
	*ret_buf = NULL;
	if (n) {
		*ret_buf = xmalloc(n + 1); /* raw bytes, may hold NULs */
		memcpy(*ret_buf, m->in + m->off, n);
		(*ret_buf)[n] = '\0';
	}
	*ret_len = n;
	m->off = m->len;
	*ret_fd = m->fd;
	req->taken = true;
	return 0;
}

/* ------------------------------------------------------------------ serve */

static void req_done(struct http_req *req)
{
	free(req->pre);
	free(req->path);
	for (size_t i = 0; i < req->nq; i++) {
		free(req->q[i].name);
		free(req->q[i].value);
	}
	free(req->q);
	for (size_t i = 0; i < req->nrh; i++) {
		free(req->rh[i].name);
		free(req->rh[i].value);
	}
	free(req->rh);
}

static bool drain(struct http_req *req)
{
	if (req->body_error)
		return false;
	struct http_msg *m = req->m;
	if (m->upgrade)
		return false;
	m->body_limit = 0;
	uint64_t total = 0;
	char buf[16384];
	for (;;) {
		ssize_t r = http_msg_read_body(m, buf, sizeof(buf));
		if (r < 0)
			return false;
		if (r == 0)
			return true;
		total += (uint64_t)r;
		if (total > DRAIN_MAX)
			return false;
	}
}

bool http_serve_one(struct http_server *srv, const struct http_server_config *cfg,
		    struct http_msg *m, const char *peer, http_handler_fn handler, void *userdata,
		    bool *ret_taken)
{
	struct http_req req = {.srv = srv, .cfg = cfg, .m = m, .peer = peer};
	m->body_limit = cfg->max_body_bytes;
	snprintf(req.method, sizeof(req.method), "%s", llhttp_method_name(m->p.method));
	req.head_req = !strcmp(req.method, "HEAD");
	const char *expect = http_msg_header(m, "Expect");
	/* Never for HTTP/1.0 (RFC 9110 10.1.1), nor when no body follows. */
	req.expect_continue = expect && !strcasecmp(expect, "100-continue") &&
			      m->p.http_minor >= 1 && http_req_content_length(&req) != 0;
	const char *url = m->url ? m->url : "";
	size_t plen = strcspn(url, "?#");
	bool keep;
	if (http_unescape(url, plen, false, &req.path) < 0 || plen == 0) {
		req.close_after = true;
		http_resp_text(&req, 400, "text/plain", "bad request target\n");
	} else {
		handler(&req, userdata);
		if (!req.taken && !req.started)
			http_resp_text(&req, 500, "text/plain", "handler sent no response\n");
		if (!req.taken && req.started && !req.ended)
			http_resp_end(&req);
	}
	*ret_taken = req.taken;
	if (req.taken)
		keep = false;
	else
		keep = !req.write_failed && !want_close(&req) && drain(&req);
	req_done(&req);
	return keep;
}
