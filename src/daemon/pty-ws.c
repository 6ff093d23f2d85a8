/* SPDX-License-Identifier: MIT */
#include "daemon/pty-ws.h"
#include "daemon/reply.h"

#include "basic/base64.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <openssl/evp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_CONT 0x0
#define WS_TEXT 0x1
#define WS_BINARY 0x2
#define WS_CLOSE 0x8
#define WS_PING 0x9
#define WS_PONG 0xA
/* a wrenn-pty frame is at most 1 MiB + 5; a browser sends one per message */
#define WS_MAX_PAYLOAD (2u << 20)

/* Does the comma-separated header value list `token` (case-insensitive)? */
static bool list_has(const char *v, const char *token)
{
	size_t tl = strlen(token);
	while (v && *v) {
		v += strspn(v, " \t,");
		size_t n = strcspn(v, ",");
		size_t m = n;
		while (m && (v[m - 1] == ' ' || v[m - 1] == '\t'))
			m--;
		if (m == tl && !strncasecmp(v, token, tl))
			return true;
		v += n;
	}
	return false;
}

bool pty_ws_requested(const struct http_req *req)
{
	return list_has(http_req_header(req, "Upgrade"), "websocket");
}

bool pty_ws_offers(const char *protocols, const char *proto)
{
	return list_has(protocols, proto);
}

const char *pty_ws_key(const char *protocols, size_t *ret_len)
{
	const size_t pl = strlen(PTY_WS_KEY_PREFIX);
	const char *v = protocols;
	while (v && *v) {
		v += strspn(v, " \t,");
		size_t n = strcspn(v, ", \t");
		if (n > pl && !strncmp(v, PTY_WS_KEY_PREFIX, pl)) {
			*ret_len = n - pl;
			return v + pl;
		}
		v += n;
	}
	return NULL;
}

char *pty_ws_accept(const char *key)
{
	cleanup_free char *s = xasprintf("%s%s", key, WS_GUID);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	if (EVP_Digest(s, strlen(s), md, &n, EVP_sha1(), NULL) != 1)
		abort(); /* SHA-1 of a short string cannot fail but for a broken libcrypto */
	return base64_encode(md, n);
}

int pty_ws_parse(uint8_t *buf, size_t len, size_t max, struct pty_ws_frame *ret)
{
	if (len < 2)
		return 0;
	bool masked = buf[1] & 0x80;
	if (!masked || (buf[0] & 0x70)) /* clients mask; no extension is negotiated */
		return -EPROTO;
	uint64_t n = buf[1] & 0x7f;
	size_t h = 2;
	if (n == 126) {
		if (len < 4)
			return 0;
		n = (uint64_t)buf[2] << 8 | buf[3];
		h = 4;
	} else if (n == 127) {
		if (len < 10)
			return 0;
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | buf[2 + i];
		h = 10;
	}
	uint8_t op = buf[0] & 0x0f;
	if (op >= 0x8 && (n > 125 || !(buf[0] & 0x80))) /* control frames: short, unfragmented */
		return -EPROTO;
	if (n > max)
		return -EMSGSIZE;
	if (len - h < 4 || len - h - 4 < n)
		return 0;
	const uint8_t *mask = buf + h;
	uint8_t *p = buf + h + 4;
	for (size_t i = 0; i < n; i++)
		p[i] ^= mask[i & 3];
	*ret = (struct pty_ws_frame){
		.fin = buf[0] & 0x80, .opcode = op, .payload = p, .len = (size_t)n};
	return (int)(h + 4 + n);
}

size_t pty_ws_header(uint8_t out[10], uint8_t opcode, uint64_t n)
{
	out[0] = 0x80 | (opcode & 0x0f);
	if (n < 126) {
		out[1] = (uint8_t)n;
		return 2;
	}
	if (n <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(n >> 8);
		out[3] = (uint8_t)n;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(n >> (56 - 8 * i));
	return 10;
}

int pty_ws_check(struct http_req *req, char **ret_accept)
{
	const char *key = http_req_header(req, "Sec-WebSocket-Key");
	const char *ver = http_req_header(req, "Sec-WebSocket-Version");
	const char *proto = http_req_header(req, "Sec-WebSocket-Protocol");
	if (!key || !*key) {
		reply_error(req, 400, "WebSocket upgrade without Sec-WebSocket-Key");
		return -EINVAL;
	}
	if (!ver || strcmp(ver, "13") != 0) {
		http_resp_header(req, "Sec-WebSocket-Version", "13");
		reply_error(req, 400, "WebSocket version %s not supported (13 is)",
			    ver ? ver : "-");
		return -EINVAL;
	}
	if (!pty_ws_offers(proto, PTY_WS_PROTOCOL)) {
		reply_error(req, 400, "the WebSocket must offer the subprotocol " PTY_WS_PROTOCOL);
		return -EINVAL;
	}
	*ret_accept = pty_ws_accept(key);
	return 0;
}

struct pty_ws {
	int sock;  /* the client's WebSocket */
	int inner; /* our end of the socketpair: the raw wrenn-pty stream */
	uint8_t *in;
	size_t in_len, in_cap;
	pthread_t th;
};

static int send_ws(int fd, uint8_t op, const void *p, size_t n)
{
	uint8_t h[10];
	size_t hl = pty_ws_header(h, op, n);
	int r = write_full(fd, h, hl);
	return r < 0 || !n ? r : write_full(fd, p, n);
}

static void send_close(int fd, unsigned code)
{
	uint8_t c[2] = {(uint8_t)(code >> 8), (uint8_t)code};
	send_ws(fd, WS_CLOSE, c, 2);
}

/* Handle every complete frame in w->in: > 0 go on, 0 the client closed, < 0 protocol error. */
static int client_frames(struct pty_ws *w)
{
	size_t off = 0;
	int ret = 1;
	while (ret > 0) {
		struct pty_ws_frame f;
		int c = pty_ws_parse(w->in + off, w->in_len - off, WS_MAX_PAYLOAD, &f);
		if (c == 0)
			break;
		if (c < 0) {
			send_close(w->sock, c == -EMSGSIZE ? 1009 : 1002);
			ret = c;
			break;
		}
		off += (size_t)c;
		switch (f.opcode) {
		case WS_CONT:
		case WS_TEXT:
		case WS_BINARY:
			if (f.len && write_full(w->inner, f.payload, f.len) < 0)
				ret = -EPIPE;
			break;
		case WS_CLOSE:
			send_ws(w->sock, WS_CLOSE, f.payload, f.len >= 2 ? 2 : 0);
			ret = 0;
			break;
		case WS_PING:
			send_ws(w->sock, WS_PONG, f.payload, f.len);
			break;
		case WS_PONG:
			break;
		default:
			send_close(w->sock, 1002);
			ret = -EPROTO;
		}
	}
	memmove(w->in, w->in + off, w->in_len - off);
	w->in_len -= off;
	return ret;
}

static void *bridge(void *arg)
{
	struct pty_ws *w = arg;
	uint8_t out[65536];
	int st = client_frames(w); /* bytes that came with the request head */
	while (st > 0) {
		struct pollfd pf[2] = {{.fd = w->sock, .events = POLLIN},
				       {.fd = w->inner, .events = POLLIN}};
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pf[1].revents) {
			ssize_t n = read(w->inner, out, sizeof(out));
			if (n <= 0) { /* the PTY side ended: close the WebSocket cleanly */
				send_close(w->sock, 1000);
				break;
			}
			if (send_ws(w->sock, WS_BINARY, out, (size_t)n) < 0)
				break;
		}
		if (pf[0].revents) {
			if (w->in_cap - w->in_len < 65536) {
				w->in_cap = w->in_len + 65536 + 16;
				if (w->in_cap > WS_MAX_PAYLOAD + 65536) {
					send_close(w->sock, 1009);
					break;
				}
				w->in = xrealloc(w->in, w->in_cap);
			}
			ssize_t n = read(w->sock, w->in + w->in_len, w->in_cap - w->in_len);
			if (n <= 0)
				break;
			w->in_len += (size_t)n;
			st = client_frames(w);
		}
	}
	/* the caller's loops see EOF and end the process */
	shutdown(w->inner, SHUT_RDWR);
	shutdown(w->sock, SHUT_RDWR);
	return NULL;
}

int pty_ws_start(const char *accept, int sock, const char *pre, size_t pre_len, struct pty_ws **ret,
		 int *ret_fd)
{
	int sp[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		int e = errno;
		close(sock);
		return -e;
	}
	cleanup_free char *head = xasprintf("HTTP/1.1 101 Switching Protocols\r\n"
					    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
					    "Sec-WebSocket-Accept: %s\r\n"
					    "Sec-WebSocket-Protocol: " PTY_WS_PROTOCOL "\r\n\r\n",
					    accept);
	int r = write_full(sock, head, strlen(head));
	struct pty_ws *w = xmalloc(sizeof(*w));
	*w = (struct pty_ws){.sock = sock, .inner = sp[1], .in_cap = pre_len + 65536 + 16};
	w->in = xmalloc(w->in_cap);
	if (pre_len)
		memcpy(w->in, pre, pre_len);
	w->in_len = pre_len;
	if (r == 0)
		r = -pthread_create(&w->th, NULL, bridge, w);
	if (r < 0) {
		close(sp[0]);
		close(sp[1]);
		close(sock);
		free(w->in);
		free(w);
		return r;
	}
	*ret = w;
	*ret_fd = sp[0];
	return 0;
}

void pty_ws_finish(struct pty_ws *w)
{
	if (!w)
		return;
	pthread_join(w->th, NULL);
	close(w->inner);
	close(w->sock);
	free(w->in);
	free(w);
}
