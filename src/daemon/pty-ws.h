/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * The PTY API over a WebSocket (RFC 6455), for browsers (the dashboard's terminal): a browser
 * cannot send `Upgrade: wrenn-pty`, so POST/GET /v1/sandboxes/{id}/pty also accepts
 * `Upgrade: websocket` with the subprotocol `wrenn-pty`.  The binary messages carry the very
 * byte stream of `wrenn-pty` (type:1, length:4 BE, payload frames; message boundaries mean
 * nothing), so v1-pty.c relays frames the same way over one end of a socketpair while a bridge
 * thread speaks WebSocket on the client's socket.
 *
 * A browser cannot set X-API-Key on a WebSocket either: it offers the key as a second
 * subprotocol `wrenn-key.<key>` (a header, never in the URL); auth.c reads it from there when
 * no X-API-Key/Authorization header came.  The 101 answer selects `wrenn-pty` only.
 */
#include "http/http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PTY_WS_PROTOCOL "wrenn-pty"
#define PTY_WS_KEY_PREFIX "wrenn-key."

/* Does the request ask for the PTY over a WebSocket (Upgrade: websocket)? */
bool pty_ws_requested(const struct http_req *req);
/* The API key offered in a Sec-WebSocket-Protocol list as "wrenn-key.<key>": a pointer into
 * `protocols` and its length, NULL when none.  Pure. */
const char *pty_ws_key(const char *protocols, size_t *ret_len);
/* Does the comma-separated list name `proto`?  Pure. */
bool pty_ws_offers(const char *protocols, const char *proto);
/* Sec-WebSocket-Accept for a Sec-WebSocket-Key (base64 SHA-1 of key + the RFC's GUID);
 * malloc'd.  Pure. */
char *pty_ws_accept(const char *key);

/* One WebSocket frame parsed from buf[0..len): the client's frames must be masked; the payload
 * is unmasked in place.  Returns the bytes consumed, 0 when more are needed, -EPROTO for an
 * unmasked or malformed frame, -EMSGSIZE for a payload above max.  Pure. */
struct pty_ws_frame {
	bool fin;
	uint8_t opcode;
	uint8_t *payload;
	size_t len;
};
int pty_ws_parse(uint8_t *buf, size_t len, size_t max, struct pty_ws_frame *ret);
/* Encode a server frame header (FIN set, unmasked) for a payload of n bytes into out (at most
 * 10 bytes); returns its length.  Pure. */
size_t pty_ws_header(uint8_t out[10], uint8_t opcode, uint64_t n);

/* Check the handshake (Sec-WebSocket-Key, version 13, subprotocol wrenn-pty offered): 0 and
 * *ret_accept (malloc'd, for pty_ws_start), or < 0 after answering 400.  Call before taking
 * the socket. */
int pty_ws_check(struct http_req *req, char **ret_accept);

struct pty_ws;
/* The socket is taken (sock, and pre: bytes read after the head): answer 101 and start the bridge.
 * *ret_fd is the raw wrenn-pty end for the caller (it owns it; closing it ends the bridge).
 * On failure sock is closed. */
int pty_ws_start(const char *accept, int sock, const char *pre, size_t pre_len, struct pty_ws **ret,
		 int *ret_fd);
/* Wait for the bridge to end (after the caller closed or shut down its fd) and free it. */
void pty_ws_finish(struct pty_ws *w);
