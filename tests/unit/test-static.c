/* SPDX-License-Identifier: MIT */
/* daemon/static: the dashboard's fixed file table (no path reaches another file); daemon/pty-ws:
 * the WebSocket pieces of the browser terminal (handshake key, subprotocol key, framing). */
#include "daemon/pty-ws.h"
#include "daemon/static.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_lookup(void **state)
{
	(void)state;
	const struct static_file *f = static_lookup("/");
	assert_non_null(f);
	assert_string_equal(f->name, "index.html");
	assert_string_equal(f->content_type, "text/html; charset=utf-8");
	f = static_lookup("/app.js");
	assert_non_null(f);
	assert_string_equal(f->content_type, "text/javascript; charset=utf-8");
	assert_string_equal(static_lookup("/app.css")->content_type, "text/css; charset=utf-8");
	assert_string_equal(static_lookup("/favicon.svg")->content_type, "image/svg+xml");
	/* nothing else, however spelled */
	static const char *const bad[] = {"",
					  "app.js",
					  "/app.js/",
					  "//app.js",
					  "/./app.js",
					  "/../app.js",
					  "/x/../app.js",
					  "/../../etc/passwd",
					  "/index.html/../../etc/passwd",
					  "/APP.JS",
					  "/app.js\n",
					  "/v1/sandboxes",
					  "/health",
					  "/web/index.html"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(static_lookup(bad[i]));
	assert_null(static_lookup(NULL));
}

static void test_default_dir(void **state)
{
	(void)state;
	cleanup_free char *d = static_default_dir("/nonexistent/bin/wrenn-agent");
	assert_string_equal(d, "/usr/share/wrenn/web");
}

static void test_ws_accept(void **state)
{
	(void)state;
	/* RFC 6455 section 1.3's example */
	cleanup_free char *a = pty_ws_accept("dGhlIHNhbXBsZSBub25jZQ==");
	assert_string_equal(a, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_ws_protocols(void **state)
{
	(void)state;
	const char *k = "e2b_0123456789abcdef0123456789abcdef01234567";
	char hdr[200];
	snprintf(hdr, sizeof(hdr), "wrenn-pty, wrenn-key.%s", k);
	size_t n = 0;
	const char *got = pty_ws_key(hdr, &n);
	assert_non_null(got);
	assert_int_equal(n, strlen(k));
	assert_memory_equal(got, k, n);
	assert_true(pty_ws_offers(hdr, "wrenn-pty"));
	assert_false(pty_ws_offers(hdr, "wrenn"));
	assert_false(pty_ws_offers("wrenn-ptyx", "wrenn-pty"));
	assert_null(pty_ws_key("wrenn-pty", &n));
	assert_null(pty_ws_key("wrenn-key.", &n)); /* an empty key is no key */
	assert_null(pty_ws_key(NULL, &n));
	assert_false(pty_ws_offers(NULL, "wrenn-pty"));
}

/* a masked client frame of payload p */
static size_t client_frame(uint8_t *out, uint8_t op, const uint8_t *p, size_t n)
{
	static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
	size_t h = pty_ws_header(out, op, n);
	out[1] |= 0x80;
	memcpy(out + h, mask, 4);
	for (size_t i = 0; i < n; i++)
		out[h + 4 + i] = p[i] ^ mask[i & 3];
	return h + 4 + n;
}

static void test_ws_frames(void **state)
{
	(void)state;
	uint8_t buf[70000 + 14], h[10];
	struct pty_ws_frame f;
	/* RFC 6455 5.7: a masked "Hello" */
	uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
	assert_int_equal(pty_ws_parse(hello, sizeof(hello), 100, &f), (int)sizeof(hello));
	assert_true(f.fin);
	assert_int_equal(f.opcode, 1);
	assert_int_equal(f.len, 5);
	assert_memory_equal(f.payload, "Hello", 5);
	/* truncated: need more, at every cut */
	uint8_t hello2[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
	for (size_t cut = 0; cut < sizeof(hello2); cut++)
		assert_int_equal(pty_ws_parse(hello2, cut, 100, &f), 0);
	/* unmasked client frames are refused */
	uint8_t unmasked[] = {0x82, 0x01, 0x41};
	assert_int_equal(pty_ws_parse(unmasked, sizeof(unmasked), 100, &f), -EPROTO);
	/* 16- and 64-bit lengths round-trip */
	static uint8_t payload[70000];
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7);
	size_t n = client_frame(buf, 2, payload, 300);
	assert_int_equal(pty_ws_parse(buf, n, 1 << 20, &f), (int)n);
	assert_int_equal(f.len, 300);
	assert_memory_equal(f.payload, payload, 300);
	n = client_frame(buf, 2, payload, sizeof(payload));
	assert_int_equal(n, sizeof(payload) + 14);
	assert_int_equal(pty_ws_parse(buf, n, 1 << 20, &f), (int)n);
	assert_int_equal(f.len, sizeof(payload));
	assert_memory_equal(f.payload, payload, sizeof(payload));
	/* above the cap */
	n = client_frame(buf, 2, payload, sizeof(payload));
	assert_int_equal(pty_ws_parse(buf, n, 1000, &f), -EMSGSIZE);
	/* a control frame longer than 125 bytes or fragmented is a protocol error */
	n = client_frame(buf, 9, payload, 126);
	assert_int_equal(pty_ws_parse(buf, n, 1 << 20, &f), -EPROTO);
	/* server headers */
	assert_int_equal(pty_ws_header(h, 2, 5), 2);
	assert_int_equal(h[0], 0x82);
	assert_int_equal(h[1], 5);
	assert_int_equal(pty_ws_header(h, 2, 65535), 4);
	assert_int_equal(h[1], 126);
	assert_int_equal(h[2] << 8 | h[3], 65535);
	assert_int_equal(pty_ws_header(h, 8, 65536), 10);
	assert_int_equal(h[0], 0x88);
	assert_int_equal(h[1], 127);
	assert_int_equal(h[7], 1);
	assert_int_equal(h[8], 0);
}

/* Read from fd until `want` bytes came (or EOF). */
static size_t read_some(int fd, uint8_t *buf, size_t want)
{
	size_t got = 0;
	while (got < want) {
		ssize_t r = read(fd, buf + got, want - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	return got;
}

/* The bridge over real sockets: the 101 head, client frames (the first came with the request
 * head) reach the raw end as bytes, raw bytes come back as a binary frame, a ping is answered,
 * and closing the raw end sends a close frame and ends the thread. */
static void test_ws_bridge(void **state)
{
	(void)state;
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	int client = sp[0];
	uint8_t pre[64], f[64], buf[256];
	size_t pre_len = client_frame(pre, 2, (const uint8_t *)"\x00\x00\x00\x00\x02hi", 7);
	struct pty_ws *w = NULL;
	int raw = -1;
	assert_int_equal(pty_ws_start("ACCEPT=", sp[1], (const char *)pre, pre_len, &w, &raw), 0);
	static const char head[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
				   "Connection: Upgrade\r\nSec-WebSocket-Accept: ACCEPT=\r\n"
				   "Sec-WebSocket-Protocol: wrenn-pty\r\n\r\n";
	assert_int_equal(read_some(client, buf, sizeof(head) - 1), sizeof(head) - 1);
	assert_memory_equal(buf, head, sizeof(head) - 1);
	/* the frame sent with the head, then one in two halves */
	assert_int_equal(read_some(raw, buf, 7), 7);
	assert_memory_equal(buf, "\x00\x00\x00\x00\x02hi", 7);
	size_t n = client_frame(f, 2, (const uint8_t *)"abc", 3);
	assert_int_equal(write_full(client, f, 4), 0);
	usleep(20000);
	assert_int_equal(write_full(client, f + 4, n - 4), 0);
	assert_int_equal(read_some(raw, buf, 3), 3);
	assert_memory_equal(buf, "abc", 3);
	/* raw -> one binary frame */
	assert_int_equal(write_full(raw, "\x00\x00\x00\x00\x01!", 6), 0);
	assert_int_equal(read_some(client, buf, 8), 8);
	assert_int_equal(buf[0], 0x82);
	assert_int_equal(buf[1], 6);
	assert_memory_equal(buf + 2, "\x00\x00\x00\x00\x01!", 6);
	/* ping -> pong with the same payload */
	n = client_frame(f, 9, (const uint8_t *)"pp", 2);
	assert_int_equal(write_full(client, f, n), 0);
	assert_int_equal(read_some(client, buf, 4), 4);
	assert_int_equal(buf[0], 0x8a);
	assert_int_equal(buf[1], 2);
	assert_memory_equal(buf + 2, "pp", 2);
	/* the PTY side ends: a close frame (1000), then EOF */
	close(raw);
	assert_int_equal(read_some(client, buf, 4), 4);
	assert_int_equal(buf[0], 0x88);
	assert_int_equal(buf[2] << 8 | buf[3], 1000);
	assert_int_equal(read_some(client, buf, 1), 0);
	pty_ws_finish(w);
	close(client);
}

/* A client that sends an unmasked frame gets close 1002 and the raw end sees EOF. */
static void test_ws_bridge_protocol_error(void **state)
{
	(void)state;
	int sp[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	struct pty_ws *w = NULL;
	int raw = -1;
	uint8_t buf[256];
	assert_int_equal(pty_ws_start("x", sp[1], NULL, 0, &w, &raw), 0);
	ssize_t r = read(sp[0], buf, sizeof(buf)); /* the 101 head */
	assert_true(r > 0);
	assert_int_equal(write_full(sp[0], "\x82\x01A", 3), 0);
	assert_int_equal(read_some(sp[0], buf, 4), 4);
	assert_int_equal(buf[0], 0x88);
	assert_int_equal(buf[2] << 8 | buf[3], 1002);
	assert_int_equal(read_some(raw, buf, 1), 0);
	close(raw);
	pty_ws_finish(w);
	close(sp[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_default_dir),
		cmocka_unit_test(test_ws_accept),
		cmocka_unit_test(test_ws_protocols),
		cmocka_unit_test(test_ws_frames),
		cmocka_unit_test(test_ws_bridge),
		cmocka_unit_test(test_ws_bridge_protocol_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
