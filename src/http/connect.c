/* SPDX-License-Identifier: MIT */
#include "http/connect.h"
#include "http/json.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const code_names[] = {
	[CONNECT_OK] = "ok",
	[CONNECT_CANCELED] = "canceled",
	[CONNECT_UNKNOWN] = "unknown",
	[CONNECT_INVALID_ARGUMENT] = "invalid_argument",
	[CONNECT_DEADLINE_EXCEEDED] = "deadline_exceeded",
	[CONNECT_NOT_FOUND] = "not_found",
	[CONNECT_ALREADY_EXISTS] = "already_exists",
	[CONNECT_PERMISSION_DENIED] = "permission_denied",
	[CONNECT_RESOURCE_EXHAUSTED] = "resource_exhausted",
	[CONNECT_FAILED_PRECONDITION] = "failed_precondition",
	[CONNECT_ABORTED] = "aborted",
	[CONNECT_OUT_OF_RANGE] = "out_of_range",
	[CONNECT_UNIMPLEMENTED] = "unimplemented",
	[CONNECT_INTERNAL] = "internal",
	[CONNECT_UNAVAILABLE] = "unavailable",
	[CONNECT_DATA_LOSS] = "data_loss",
	[CONNECT_UNAUTHENTICATED] = "unauthenticated",
};

const char *connect_code_name(enum connect_code code)
{
	if ((unsigned)code >= sizeof(code_names) / sizeof(code_names[0]))
		return "unknown";
	return code_names[code];
}

enum connect_code connect_code_parse(const char *name)
{
	for (unsigned i = 0; name && i < sizeof(code_names) / sizeof(code_names[0]); i++)
		if (!strcmp(code_names[i], name))
			return (enum connect_code)i;
	return CONNECT_UNKNOWN;
}

int connect_code_http_status(enum connect_code code)
{
	switch (code) {
	case CONNECT_OK:
		return 200;
	case CONNECT_INVALID_ARGUMENT:
	case CONNECT_FAILED_PRECONDITION:
	case CONNECT_OUT_OF_RANGE:
		return 400;
	case CONNECT_UNAUTHENTICATED:
		return 401;
	case CONNECT_PERMISSION_DENIED:
		return 403;
	case CONNECT_NOT_FOUND:
		return 404;
	case CONNECT_ALREADY_EXISTS:
	case CONNECT_ABORTED:
		return 409;
	case CONNECT_RESOURCE_EXHAUSTED:
		return 429;
	case CONNECT_CANCELED:
		return 499;
	case CONNECT_UNIMPLEMENTED:
		return 501;
	case CONNECT_UNAVAILABLE:
		return 503;
	case CONNECT_DEADLINE_EXCEEDED:
		return 504;
	default:
		return 500;
	}
}

enum connect_code connect_code_from_errno(int err)
{
	switch (err < 0 ? -err : err) {
	case ENOENT:
		return CONNECT_NOT_FOUND;
	case EEXIST:
	case ENOTEMPTY:
		return CONNECT_ALREADY_EXISTS;
	case EACCES:
	case EPERM:
	case EROFS:
		return CONNECT_PERMISSION_DENIED;
	case EINVAL:
	case ENOTDIR:
	case EISDIR:
	case ENAMETOOLONG:
	case ELOOP:
	case EXDEV:
		return CONNECT_INVALID_ARGUMENT;
	case ENOSPC:
	case EDQUOT:
	case EMFILE:
	case ENFILE:
		return CONNECT_RESOURCE_EXHAUSTED;
	case ETIMEDOUT:
		return CONNECT_DEADLINE_EXCEEDED;
	case ESRCH:
		return CONNECT_NOT_FOUND;
	default:
		return CONNECT_INTERNAL;
	}
}

void connect_env_header(uint8_t out[CONNECT_ENV_HDR], uint8_t flags, uint32_t len)
{
	out[0] = flags;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
}

int connect_env_parse(const void *buf, size_t len, size_t max_payload, uint8_t *ret_flags,
		      const uint8_t **ret_payload, size_t *ret_plen)
{
	const uint8_t *b = buf;
	if (len < CONNECT_ENV_HDR)
		return -EAGAIN;
	uint32_t n = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
	if (n > max_payload)
		return -EMSGSIZE;
	if (len - CONNECT_ENV_HDR < n)
		return -EAGAIN;
	*ret_flags = b[0];
	*ret_payload = b + CONNECT_ENV_HDR;
	*ret_plen = n;
	return (int)(CONNECT_ENV_HDR + n);
}

/* The codec of the call this thread serves (connect_use_codec); JSON for any other request. */
static _Thread_local struct {
	const struct http_req *req;
	const struct connect_codec *codec;
	const void *in, *out;
} cur;

void connect_use_codec(struct http_req *req, const struct connect_codec *codec, const void *in,
		       const void *out)
{
	if (!codec) {
		if (cur.req == req)
			memset(&cur, 0, sizeof(cur));
		return;
	}
	cur.req = req;
	cur.codec = codec;
	cur.in = in;
	cur.out = out;
}

static const struct connect_codec *codec_of(const struct http_req *req)
{
	return cur.req == req ? cur.codec : NULL;
}

const char *connect_content_codec(const struct http_req *req, char *buf, size_t n, bool *ret_stream)
{
	const char *ct = http_req_header(req, "Content-Type");
	if (!ct || strncmp(ct, "application/", 12))
		return NULL;
	ct += 12;
	bool stream = !strncmp(ct, "connect+", 8);
	if (stream)
		ct += 8;
	size_t l = strcspn(ct, "; \t");
	if (!l || l >= n || (ct[l] && ct[l] != ';'))
		return NULL;
	memcpy(buf, ct, l);
	buf[l] = '\0';
	*ret_stream = stream;
	return buf;
}

bool connect_content_type_ok(const struct http_req *req, bool stream)
{
	char name[32];
	bool is_stream = false;
	const struct connect_codec *c = codec_of(req);
	const char *got = connect_content_codec(req, name, sizeof(name), &is_stream);
	return got && is_stream == stream && !strcmp(got, c ? c->name : "json");
}

static int read_exact(struct http_req *req, void *buf, size_t n)
{
	char *p = buf;
	while (n > 0) {
		ssize_t r = http_req_read(req, p, n);
		if (r < 0)
			return (int)r;
		if (r == 0)
			return -EAGAIN;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int parse_obj(const struct http_req *req, const char *buf, size_t len, json_t **ret,
		     enum connect_code *ret_code, struct wr_err *err)
{
	const struct connect_codec *c = codec_of(req);
	if (c) {
		int r = c->decode(cur.in, (const uint8_t *)buf, len, ret, err);
		if (r < 0)
			*ret_code = CONNECT_INVALID_ARGUMENT;
		return r;
	}
	char ebuf[200];
	cleanup_json json_t *j = wj_parse(buf, len, ebuf, sizeof(ebuf));
	if (!j) {
		*ret_code = CONNECT_INVALID_ARGUMENT;
		return wr_err_set(err, EINVAL, "invalid JSON: %s", ebuf);
	}
	if (!json_is_object(j)) {
		*ret_code = CONNECT_INVALID_ARGUMENT;
		return wr_err_set(err, EINVAL, "request message is not a JSON object");
	}
	*ret = TAKE_PTR(j);
	return 0;
}

int connect_read_env_json(struct http_req *req, size_t max, json_t **ret,
			  enum connect_code *ret_code, struct wr_err *err)
{
	uint8_t hdr[CONNECT_ENV_HDR];
	ssize_t first = http_req_read(req, hdr, 1);
	if (first == 0) {
		*ret_code = CONNECT_INVALID_ARGUMENT;
		return wr_err_set(err, ENODATA, "missing envelope in request body");
	}
	int r = first < 0 ? (int)first : read_exact(req, hdr + 1, sizeof(hdr) - 1);
	if (r < 0) {
		*ret_code = r == -EFBIG ? CONNECT_RESOURCE_EXHAUSTED : CONNECT_INVALID_ARGUMENT;
		return wr_err_set(err, r == -EAGAIN ? EINVAL : -r,
				  "truncated or missing envelope in request body");
	}
	uint8_t flags = hdr[0];
	size_t plen = (size_t)hdr[1] << 24 | (size_t)hdr[2] << 16 | (size_t)hdr[3] << 8 | hdr[4];
	if (plen > max) {
		*ret_code = CONNECT_RESOURCE_EXHAUSTED;
		return wr_err_set(err, EMSGSIZE, "request message larger than %zu bytes", max);
	}
	if (flags & CONNECT_FLAG_COMPRESSED) {
		*ret_code = CONNECT_INVALID_ARGUMENT;
		return wr_err_set(err, EINVAL, "compressed messages are not supported");
	}
	cleanup_free char *buf = xmalloc(plen + 1);
	r = read_exact(req, buf, plen);
	if (r < 0) {
		*ret_code = r == -EFBIG ? CONNECT_RESOURCE_EXHAUSTED : CONNECT_INVALID_ARGUMENT;
		return wr_err_set(err, EINVAL, "truncated envelope: want %zu bytes", plen);
	}
	return parse_obj(req, buf, plen, ret, ret_code, err);
}

int connect_read_json(struct http_req *req, size_t max, json_t **ret, enum connect_code *ret_code,
		      struct wr_err *err)
{
	cleanup_free char *buf = NULL;
	size_t len = 0;
	int r = http_req_read_all(req, max, &buf, &len);
	if (r < 0) {
		*ret_code = r == -EFBIG ? CONNECT_RESOURCE_EXHAUSTED : CONNECT_INVALID_ARGUMENT;
		return wr_err_set(err, -r,
				  r == -EFBIG ? "request body too large" : "bad request body");
	}
	if (len == 0 && !codec_of(req)) {
		*ret = json_object();
		return 0;
	}
	return parse_obj(req, buf ? buf : "", len, ret, ret_code, err);
}

/* msg in the codec of req (a new buffer), or -EPROTO with the reason in err. */
static int encode(const struct http_req *req, const json_t *msg, uint8_t **ret, size_t *ret_len,
		  struct wr_err *err)
{
	const struct connect_codec *c = codec_of(req);
	if (!c) {
		*ret = (uint8_t *)wj_dump(msg, ret_len);
		return 0;
	}
	int r = c->encode(cur.out, msg, ret, ret_len, err);
	return r < 0 ? -EPROTO : 0;
}

int connect_reply_json(struct http_req *req, json_t *msg)
{
	const struct connect_codec *c = codec_of(req);
	if (c) {
		struct wr_err err = {0};
		cleanup_free uint8_t *b = NULL;
		size_t n = 0;
		if (encode(req, msg, &b, &n, &err) < 0)
			return connect_reply_error(req, CONNECT_INTERNAL,
						   "cannot encode answer: %s", wr_err_msg(&err));
		char ct[64];
		snprintf(ct, sizeof(ct), "application/%s", c->name);
		return http_resp_send(req, 200, ct, b, n);
	}
	size_t len;
	cleanup_free char *s = wj_dump(msg, &len);
	return http_resp_send(req, 200, "application/json", s, len);
}

int connect_reply_error(struct http_req *req, enum connect_code code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cleanup_json json_t *j =
		json_pack("{s:s, s:s}", "code", connect_code_name(code), "message", msg);
	size_t len;
	cleanup_free char *s = wj_dump(j, &len);
	return http_resp_send(req, connect_code_http_status(code), "application/json", s, len);
}

int connect_stream_begin(struct http_req *req)
{
	const struct connect_codec *c = codec_of(req);
	char ct[64];
	snprintf(ct, sizeof(ct), "application/connect+%s", c ? c->name : "json");
	return http_resp_begin(req, 200, ct, HTTP_CHUNKED);
}

static int send_bytes(struct http_req *req, uint8_t flags, const uint8_t *s, size_t len)
{
	cleanup_free uint8_t *buf = xmalloc(CONNECT_ENV_HDR + len);
	connect_env_header(buf, flags, (uint32_t)len);
	if (len)
		memcpy(buf + CONNECT_ENV_HDR, s, len);
	return http_resp_write(req, buf, CONNECT_ENV_HDR + len);
}

/* The end-of-stream message is JSON whatever the codec (Connect protocol). */
static int send_env(struct http_req *req, uint8_t flags, json_t *msg)
{
	size_t len;
	cleanup_free char *s = wj_dump(msg, &len);
	return send_bytes(req, flags, (const uint8_t *)s, len);
}

int connect_stream_send(struct http_req *req, json_t *msg)
{
	struct wr_err err = {0};
	cleanup_free uint8_t *b = NULL;
	size_t n = 0;
	if (encode(req, msg, &b, &n, &err) < 0) {
		/* The answer cannot be told in the caller's codec: end the stream saying so;
		 * the handler sees a failed write and stops. */
		char why[WR_ERR_MSG_MAX + 32];
		snprintf(why, sizeof(why), "cannot encode message: %s", wr_err_msg(&err));
		connect_stream_end(req, CONNECT_INTERNAL, why);
		return -EPROTO;
	}
	return send_bytes(req, 0, b, n);
}

int connect_stream_end(struct http_req *req, enum connect_code code, const char *message)
{
	cleanup_json json_t *j = code == CONNECT_OK ? json_object()
						    : json_pack("{s:{s:s, s:s}}", "error", "code",
								connect_code_name(code), "message",
								message ? message : "");
	int r = send_env(req, CONNECT_FLAG_END, j);
	if (r < 0)
		return r;
	return http_resp_end(req);
}

int64_t connect_timeout_ms(const struct http_req *req)
{
	const char *v = http_req_header(req, "Connect-Timeout-Ms");
	if (!v)
		return 0;
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno || end == v || *end || n < 0 || strlen(v) > 10)
		return -EINVAL;
	return n;
}
