/* SPDX-License-Identifier: MIT */
/*
 * Connect framing and JSON request decoding as the envd handlers do it.
 * The first input byte picks the mode:
 *   0: the rest is a streaming request body (envelope + JSON) read with
 *      connect_read_env_json from a real HTTP request,
 *   1: the rest is a unary JSON body (connect_read_json),
 *   else: the rest is a sequence of envelopes for connect_env_parse.
 * Decoded objects are walked with the proto3-JSON helpers the handlers use
 * (process config, selector, input, signal, fs requests).
 */
#include "serve.h"

#include "basic/xalloc.h"
#include "http/connect.h"
#include "http/json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk_b64(const json_t *o, const char *k)
{
	const char *s;
	if (wj_str(o, k, &s) == 0) {
		uint8_t *dec;
		size_t n;
		if (wj_b64_decode(s, &dec, &n) == 0) {
			char *again = wj_b64_encode(dec, n);
			free(again);
			free(dec);
		}
	}
}

static void walk(const json_t *msg)
{
	const char *s;
	bool b;
	int64_t i64;
	uint32_t u32;
	json_t *pc = wj_get(msg, "process");
	if (json_is_object(pc)) {
		(void)wj_str(pc, "cmd", &s);
		(void)wj_str(pc, "cwd", &s);
		(void)wj_u32(pc, "pid", &u32);
		(void)wj_str(pc, "tag", &s);
		json_t *envs = wj_get(pc, "envs");
		const char *k;
		json_t *v;
		if (json_is_object(envs))
			json_object_foreach(envs, k, v)(void) json_string_value(v);
	}
	json_t *in = wj_get(msg, "input");
	if (json_is_object(in)) {
		walk_b64(in, "stdin");
		walk_b64(in, "pty");
	}
	json_t *pty = wj_get(msg, "pty");
	if (json_is_object(pty)) {
		json_t *size = wj_get(pty, "size");
		if (json_is_object(size)) {
			(void)wj_u32(size, "cols", &u32);
			(void)wj_u32(size, "rows", &u32);
		}
	}
	(void)wj_bool(msg, "stdin", &b);
	(void)wj_bool(msg, "recursive", &b);
	(void)wj_bool(msg, "includeEntry", &b);
	(void)wj_str(msg, "signal", &s);
	(void)wj_i64(msg, "signal", &i64);
	(void)wj_u32(msg, "depth", &u32);
	(void)wj_str(msg, "watcherId", &s);
	(void)wj_str(msg, "path", &s);
	size_t n;
	char *dump = wj_dump(msg, &n);
	if (strlen(dump) != n)
		abort();
	free(dump);
}

static bool unary;

static void handler(struct http_req *req, void *ud)
{
	(void)ud;
	struct wr_err err = {0};
	enum connect_code code = CONNECT_OK;
	json_t *msg = NULL;
	int r = unary ? connect_read_json(req, 16384, &msg, &code, &err)
		      : connect_read_env_json(req, 16384, &msg, &code, &err);
	if (r < 0) {
		if (code == CONNECT_OK || !err.msg[0])
			abort(); /* every failure carries a code and a message */
		if (unary) {
			connect_reply_error(req, code, "%s", wr_err_msg(&err));
		} else if (connect_stream_begin(req) == 0) {
			connect_stream_end(req, code, wr_err_msg(&err));
		}
		return;
	}
	if (!json_is_object(msg))
		abort();
	walk(msg);
	if (unary)
		connect_reply_json(req, msg);
	else if (connect_stream_begin(req) == 0 && connect_stream_send(req, msg) == 0)
		connect_stream_end(req, CONNECT_OK, NULL);
	json_decref(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	if (mode <= 1) {
		if (size > FUZZ_SERVE_MAX - 256)
			return 0;
		unary = mode == 1;
		char head[160];
		int hn = snprintf(head, sizeof(head),
				  "POST /process.Process/Start HTTP/1.1\r\nHost: x\r\n"
				  "Content-Type: application/%s\r\nContent-Length: %zu\r\n\r\n",
				  unary ? "json" : "connect+json", size);
		uint8_t *req = xmalloc((size_t)hn + size + 1);
		memcpy(req, head, (size_t)hn);
		if (size)
			memcpy(req + hn, data, size);
		fuzz_serve(req, (size_t)hn + size, handler, 1);
		free(req);
		return 0;
	}
	/* A stream of envelopes, as a client reads a server stream. */
	size_t off = 0;
	while (off < size) {
		uint8_t flags;
		const uint8_t *payload;
		size_t plen;
		int n = connect_env_parse(data + off, size - off, 4096, &flags, &payload, &plen);
		if (n < 0)
			break;
		if ((size_t)n != CONNECT_ENV_HDR + plen || payload != data + off + CONNECT_ENV_HDR)
			abort();
		char eb[200];
		json_t *j = wj_parse(payload, plen, eb, sizeof(eb));
		if (j && json_is_object(j))
			walk(j);
		json_decref(j);
		off += (size_t)n;
	}
	return 0;
}
