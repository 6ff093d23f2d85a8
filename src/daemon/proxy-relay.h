/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * The HTTP relay both sandbox-traffic proxies are made of: the single-host proxy (proxy.c, whose
 * upstream is a port inside a sandbox) and the control plane's (control-proxy.c, whose upstream
 * is the proxy of the sandbox's host).  What differs between them is a `struct proxy_hop`: how
 * the upstream is reached, the request head it gets, what an idle response stream means; the
 * rest is here, once.
 *
 * Each request is forwarded on its own, on a fresh upstream connection: the request head is
 * rewritten (proxy_relay_head), the body copied as it arrives, the response relayed as it arrives
 * (its Content-Length kept, else chunked), hop-by-hop response headers dropped.  Nothing is
 * buffered beyond one PROXY_RELAY_CHUNK, so exec streams and large files flow through.  The
 * client connection stays the proxy's (keep-alive; consecutive requests may go elsewhere).
 *
 * Upgrades: the request head goes upstream alone; the connection becomes a byte relay only when
 * the upstream answers 101 Switching Protocols.  Anything else is relayed as an ordinary response
 * and the client connection is closed after it.  Bytes the client pipelined behind the upgrade
 * request are forwarded only after a real 101, when they belong to the new protocol: written
 * upstream unparsed before that, a request to a host-only path such as envd's /init could be
 * smuggled behind an Upgrade header the upstream then ignored.
 */
#include "daemon/proxy-route.h"
#include "http/http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most a relay holds of a body at a time. */
#define PROXY_RELAY_CHUNK 65536
/* ... of a request body: what has arrived, up to this, goes upstream as one write (one chunk of
 * a chunked body).  The npm SDK's uploads are chunked; in 64 KiB chunks a 50 MiB
 * sbx.files.write cost the guest's QEMU a median 290 ms of CPU, in pieces of up to 1 MiB 257
 * (fewer chunk heads for envd to read and parse; n=18 each, interleaved).  malloc maps a
 * buffer this size lazily: a request without a body touches little of it. */
#define PROXY_BODY_CHUNK (1024 * 1024)

/* What a response stream that has been idle for a second does next (proxy_hop_ops.idle). */
enum proxy_idle {
	PROXY_IDLE_WAIT, /* keeps waiting: a command that prints nothing yet */
	PROXY_IDLE_END,	 /* ends as if complete, the connection closed after it */
	PROXY_IDLE_CUT,	 /* is aborted: the client sees the transfer fail */
};

struct proxy_hop;

/* What one proxy does its own way. */
struct proxy_hop_ops {
	/* A connection to the upstream of hop->t in *ret_fd; when there is none, answers req
	 * itself (502 and the like) and returns -errno. */
	int (*connect)(const struct proxy_hop *hop, struct http_req *req, int *ret_fd);
	/* The request head to send upstream (malloc'd), made with proxy_relay_head; upgrade and
	 * clen as proxy_relay_head takes them. */
	char *(*head)(const struct proxy_hop *hop, struct http_req *req, bool upgrade,
		      int64_t clen);
	/* Called each second an answer's first byte, or more of its body, is awaited. */
	enum proxy_idle (*idle)(const struct proxy_hop *hop, struct http_req *req);
};

/* One request's way upstream. */
struct proxy_hop {
	const struct proxy_hop_ops *ops;
	void *userdata; /* the proxy's own state (struct agent, struct control) */
	const struct proxy_target *t;
	/* Names the upstream in a 502 answer: "<name>: <reason>". */
	const char *name;
	/* The upstream's Access-Control-* response headers are dropped (envd's port: the CORS
	 * answers are the proxy's own). */
	bool drop_cors;
	/* When the upstream stops reading the request, that is logged, and when no answer
	 * follows, it is the 502's reason (else the failed read of the answer is). */
	bool send_error_is_reason;
};

/* Relays req through hop: as an upgrade when it carries an Upgrade header (CONNECT aside), else
 * as one request and its response.  Every failure is answered to the client. */
void proxy_relay(struct http_req *req, const struct proxy_hop *hop);

/* Where req goes (proxy_route on its Host and E2b-Sandbox-Id/-Port headers, domain as there);
 * answers 400 for no or a bad route and 403 for a host-only envd path (proxy_path_host_only)
 * itself, and then returns -errno. */
int proxy_relay_route(struct http_req *req, const char *domain, struct proxy_target *ret);

/*
 * The request head for the upstream (malloc'd): req's request line and headers, less the ones
 * proxy_header_dropped names (and Expect, unless upgrade: the body goes on anyway).
 *   host: the Host to send instead of the client's (maskRequestHost); NULL = the client's, or
 *         "localhost" when it sent none.
 *   extra: header lines ("Name: value\r\n" each) added after the Host, or NULL.
 *   upgrade: the handshake headers stay and no framing is added; else the body's framing is
 *         clen's (-1: chunked; Content-Length when > 0 and for POST/PUT/PATCH) and the upstream
 *         is told `Connection: close`.
 */
char *proxy_relay_head(struct http_req *req, bool upgrade, int64_t clen, const char *host,
		       const char *extra);

/* E2B's proxy error answer: 502 with {"sandboxId", "message", "code"} (+ "port" when port > 0,
 * the port is closed).  The SDKs rely on the 502: `isRunning()` is false on it (a 404 would
 * throw NotFoundError), and envd calls turn it into their "sandbox timeout" error. */
void proxy_reply_gone(struct http_req *req, const struct proxy_target *t, int port, const char *fmt,
		      ...) __attribute__((format(printf, 4, 5)));

/* Response headers never relayed: hop-by-hop ones, the framing the relay redoes, and the
 * upstream's Date and Server (the answer is the proxy's). */
bool proxy_resp_header_dropped(const char *name);

/* One chunk of chunked transfer encoding, n bytes at d (n > 0: a 0 would end the body), written
 * to fd.  0 or -errno. */
int proxy_send_chunk(int fd, const void *d, size_t n);

/* After the upstream's 101 on ufd, its head read by c: takes req's socket over (*ret_fd) and
 * sends it the 101 head as the upstream sent it (headers in order), then the bytes the upstream
 * sent behind the head (already in c); sends ufd the bytes the client pipelined behind its
 * request (now the new protocol's).  What is left is proxy_relay_bytes.  -errno on failure
 * (answered 500 when the socket could not be taken; else the client's socket is closed). */
int proxy_relay_switch(struct http_req *req, struct http_client *c, int ufd, int *ret_fd);

/* Copies bytes both ways between sockets a and b until both directions have ended (each end is
 * shut down for writing when the other's reading side ends), one side fails, or srv stops. */
void proxy_relay_bytes(int a, int b, struct http_server *srv);
