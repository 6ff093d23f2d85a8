/* SPDX-License-Identifier: MIT */
#include "cli/codec.h"

#include "basic/base64.h"
#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

char *b64_encode(const void *data, size_t len)
{
	return base64_encode(data, len);
}

int b64_decode(const char *s, uint8_t **ret, size_t *ret_len)
{
	return base64_decode(s, ret, ret_len);
}

static int ndjson_line(char *line, size_t len, ndjson_cb cb, void *ud, struct wr_err *err)
{
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return 0; /* blank lines (keepalives) are allowed */
	json_error_t je;
	cleanup_json json_t *obj = json_loadb(line, len, 0, &je);
	if (!obj || !json_is_object(obj))
		return wr_err_set(err, EBADMSG, "bad line in event stream: %s",
				  obj ? "not an object" : je.text);
	return cb(obj, ud, err);
}

int ndjson_feed(struct ndjson *nd, const char *data, size_t len, ndjson_cb cb, void *ud,
		struct wr_err *err)
{
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;
		if (nd->len + take > NDJSON_MAX_LINE)
			return wr_err_set(err, E2BIG, "event stream line longer than %u bytes",
					  NDJSON_MAX_LINE);
		if (nd->len + take + 1 > nd->cap) {
			nd->cap = (nd->len + take + 1) * 2;
			nd->buf = xrealloc(nd->buf, nd->cap);
		}
		memcpy(nd->buf + nd->len, data, take);
		nd->len += take;
		if (!nl)
			break;
		int r = ndjson_line(nd->buf, nd->len, cb, ud, err);
		nd->len = 0;
		if (r < 0)
			return r;
		data = nl + 1;
		len -= take + 1;
	}
	return 0;
}

int ndjson_finish(struct ndjson *nd, ndjson_cb cb, void *ud, struct wr_err *err)
{
	if (nd->len == 0)
		return 0;
	int r = ndjson_line(nd->buf, nd->len, cb, ud, err);
	nd->len = 0;
	return r;
}

void ndjson_done(struct ndjson *nd)
{
	free(nd->buf);
	*nd = (struct ndjson){0};
}

int exec_event(json_t *obj, void *ud, struct wr_err *err)
{
	struct exec_sink *k = ud;
	const char *type = json_string_value(json_object_get(obj, "type"));
	if (!type)
		return wr_err_set(err, EBADMSG, "event without a type");
	bool out = strcmp(type, "stdout") == 0;
	if (out || strcmp(type, "stderr") == 0) {
		const char *data = json_string_value(json_object_get(obj, "data"));
		uint8_t *bytes = NULL;
		size_t n = 0;
		if (!data || b64_decode(data, &bytes, &n) < 0)
			return wr_err_set(err, EBADMSG, "%s event with bad base64 data", type);
		int r = write_full(out ? k->out_fd : k->err_fd, bytes, n);
		free(bytes);
		/* A closed pipe on our side (wrenn exec ... | head) is not an error. */
		if (r < 0 && r != -EPIPE)
			return wr_err_errno(err, -r, "write %s", type);
		return 0;
	}
	if (strcmp(type, "exit") == 0) {
		json_t *code = json_object_get(obj, "exitCode");
		if (!json_is_integer(code))
			return wr_err_set(err, EBADMSG, "exit event without exitCode");
		k->exit_code = (int)json_integer_value(code);
		return 0;
	}
	if (strcmp(type, "error") == 0) {
		const char *m = json_string_value(json_object_get(obj, "message"));
		free(k->error);
		k->error = xstrdup(m ? m : "unknown error");
		return 0;
	}
	return 0; /* start and future event types */
}

void pty_frame_put(uint8_t *out, uint8_t type, const void *payload, uint32_t len)
{
	out[0] = type;
	out[1] = (uint8_t)(len >> 24);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 8);
	out[4] = (uint8_t)len;
	if (len)
		memcpy(out + PTY_FRAME_HDR, payload, len);
}

void pty_resize_payload(uint8_t out[4], unsigned cols, unsigned rows)
{
	out[0] = (uint8_t)(cols >> 8);
	out[1] = (uint8_t)cols;
	out[2] = (uint8_t)(rows >> 8);
	out[3] = (uint8_t)rows;
}

int pty_decoder_feed(struct pty_decoder *d, const void *data, size_t len, pty_frame_cb cb, void *ud)
{
	if (d->len + len > d->cap) {
		d->cap = (d->len + len) * 2;
		d->buf = xrealloc(d->buf, d->cap);
	}
	memcpy(d->buf + d->len, data, len);
	d->len += len;
	size_t off = 0;
	int r = 0;
	while (d->len - off >= PTY_FRAME_HDR) {
		const uint8_t *h = d->buf + off;
		uint32_t n =
			(uint32_t)h[1] << 24 | (uint32_t)h[2] << 16 | (uint32_t)h[3] << 8 | h[4];
		if (n > PTY_FRAME_MAX) {
			r = -EPROTO;
			break;
		}
		if (d->len - off < PTY_FRAME_HDR + (size_t)n)
			break;
		r = cb(h[0], h + PTY_FRAME_HDR, n, ud);
		off += PTY_FRAME_HDR + n;
		if (r < 0)
			break;
	}
	memmove(d->buf, d->buf + off, d->len - off);
	d->len -= off;
	return r < 0 ? r : 0;
}

void pty_decoder_done(struct pty_decoder *d)
{
	free(d->buf);
	*d = (struct pty_decoder){0};
}
