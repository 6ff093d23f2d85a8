/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * The project's one HTTP/1.1 stack: a thread-per-connection server and a
 * client that speaks on an fd the caller already connected.  Parsing is done
 * by llhttp (compiled into libhttp.a from Debian's node-llhttp sources).
 *
 * Server model
 *   - http_server_new() binds nothing: the caller hands it a listening socket
 *     (http_listen_tcp / http_listen_unix make one) and calls
 *     http_server_run(), which accepts until http_server_stop().
 *   - Every connection gets one thread (at most cfg.max_conns at a time; more
 *     connections wait in the kernel backlog).  Requests on a connection are
 *     served one after the other (keep-alive, pipelining allowed).
 *   - For each request the handler is called once.  It reads the body as a
 *     stream (Content-Length or chunked) and writes exactly one response:
 *     either whole (http_resp_send*), or streamed (http_resp_begin + write +
 *     end), either with a known length or chunked.  A handler that returns
 *     without answering gets a 500.  Unread body bytes are drained after the
 *     handler (up to the body limit) so the connection can be reused.
 *   - "Expect: 100-continue" (HTTP/1.1, with a body): the 100 is sent on the
 *     handler's first body read.  A handler that answers without reading
 *     sends no 100, and the connection closes after that response.
 *   - A handler may take over the raw socket (upgrade / CONNECT / proxying):
 *     http_req_take_socket().  The server then forgets the connection.
 *
 * All functions that can fail return >= 0 on success, -errno on failure
 * (see src/basic/err.h); read functions return a byte count.
 */
#include "basic/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Interim (1xx) responses a client accepts before a final response. */
#define HTTP_MAX_INTERIM 8

struct http_server;
struct http_req;

/* ----------------------------------------------------------------- server */

/* Called once per request on the connection's thread. */
typedef void (*http_handler_fn)(struct http_req *req, void *userdata);

struct http_server_config {
	unsigned max_conns;	  /* concurrent connections (threads); 0 = 256 */
	size_t max_header_bytes;  /* request line + all headers; 0 = 64 KiB */
	unsigned max_headers;	  /* header count; 0 = 100 */
	uint64_t max_body_bytes;  /* default per-request body limit; 0 = 16 MiB.
				     Handlers can change it per request
				     (http_req_set_body_limit) before reading. */
	unsigned idle_timeout_ms; /* keep-alive idle / header read timeout; 0 = 5 min */
	/* A request head must be complete this long after its first byte; 0 = 10 s. */
	unsigned head_timeout_ms;
	/* Connections from one peer address; 0 = 64.  When a peer is at its cap,
	 * or the server at max_conns, the oldest connection that is not inside a
	 * request (idle keep-alive or still sending its head) is closed to make
	 * room; only when every one is busy is the newcomer refused (503). */
	unsigned max_conns_per_client;
	const char *server_name; /* "Server:" header value; NULL = none */
};

/* Does not take ownership of anything; cfg may be NULL (all defaults). */
struct http_server *http_server_new(const struct http_server_config *cfg, http_handler_fn handler,
				    void *userdata);
/* Stops (if running), waits for every connection thread, frees. NULL ok. */
void http_server_free(struct http_server *srv);

/* Serve on listen_fd (not owned; caller closes it after run returns) until
 * http_server_stop().  Returns 0 after a stop, -errno if accept fails hard.
 * Blocks the calling thread. */
int http_server_run(struct http_server *srv, int listen_fd);
/* Graceful stop, callable from any thread or a signal-safe context via a
 * thread: stop accepting, wake run(), shut down the read side of idle
 * connections, and wait up to grace_ms for in-flight requests to finish
 * before shutting every connection down.  Idempotent. */
void http_server_stop(struct http_server *srv, unsigned grace_ms);
/* True once stop was requested: long-running handlers (streams) poll it. */
bool http_server_stopping(const struct http_server *srv);
/* Connections currently open (for tests and metrics). */
unsigned http_server_active(const struct http_server *srv);

/* Listening sockets (SOCK_CLOEXEC, SO_REUSEADDR).  addr is "HOST:PORT",
 * "[v6]:PORT" or ":PORT" (all interfaces); port 0 picks one, returned in
 * *ret_port when ret_port != NULL. */
int http_listen_tcp(const char *addr, int *ret_fd, int *ret_port, struct wr_err *err);
/* Unlinks a stale socket file first; mode applied with fchmod-like chmod. */
int http_listen_unix(const char *path, mode_t mode, int *ret_fd, struct wr_err *err);

/* ---------------------------------------------------- request (server side) */

const char *http_req_method(const struct http_req *req); /* "GET", "POST", ... */
const char *http_req_target(const struct http_req *req); /* raw, "/a/b?x=1" */
/* Percent-decoded path without the query ("/a/b").  A target whose path does
 * not decode cleanly (bad %xx, embedded NUL) is answered 400 before the
 * handler runs. */
const char *http_req_path(const struct http_req *req);
/* Percent-decoded query parameter (first occurrence), NULL if absent.  The
 * string lives as long as the request. */
const char *http_req_query(struct http_req *req, const char *name);
/* Header value by case-insensitive name (first occurrence), NULL if absent. */
const char *http_req_header(const struct http_req *req, const char *name);
size_t http_req_header_count(const struct http_req *req);
/* i-th header in arrival order; names keep their original case. */
void http_req_header_at(const struct http_req *req, size_t i, const char **ret_name,
			const char **ret_value);
/* 1 for HTTP/1.1, 0 for HTTP/1.0. */
int http_req_minor_version(const struct http_req *req);
/* Declared body length; -1 when chunked, 0 when there is no body. */
int64_t http_req_content_length(const struct http_req *req);
/* Peer address as text ("127.0.0.1:5555", "unix"), for logs. */
const char *http_req_peer(const struct http_req *req);
/* A per-request pointer for the application (e.g. the authenticated caller), set by an outer
 * dispatcher and read by the handlers it calls; borrowed, NULL until set. */
void http_req_set_ctx(struct http_req *req, void *ctx);
void *http_req_ctx(const struct http_req *req);
struct http_server *http_req_server(const struct http_req *req);
/* The connection's socket, only to poll it (POLLRDHUP) during a long stream
 * so a client that went away is noticed without writing; never read, write
 * or close it.  -EBADF after http_req_take_socket(). */
int http_req_socket(const struct http_req *req);

/* Body limit for this request (bytes of decoded body).  Reading past it
 * returns -EFBIG (the handler should answer 413 and the connection closes). */
void http_req_set_body_limit(struct http_req *req, uint64_t max);
/* Read up to n body bytes.  Returns bytes read (> 0), 0 at the end of the
 * body, -EFBIG over the limit, -EBADMSG on malformed framing, -ECONNRESET /
 * -ETIMEDOUT on a broken connection. */
ssize_t http_req_read(struct http_req *req, void *buf, size_t n);
/* Read the whole body (<= max bytes, else -EFBIG) into a NUL-terminated
 * malloc'd buffer. */
int http_req_read_all(struct http_req *req, size_t max, char **ret_buf, size_t *ret_len);
/* Read the whole body (<= max, else -EFBIG) and keep it: later http_req_read/_read_all calls
 * read it again from the start (an authentication layer that must hash the body before the
 * handler reads it).  The buffer lives as long as the request; a second call returns it. */
int http_req_buffer_body(struct http_req *req, size_t max, const char **ret_buf, size_t *ret_len);

/* ------------------------------------------------------------------ response */

/* Extra response header (copied).  Valid before the response starts.
 * Content-Length, Transfer-Encoding, Connection and Date are managed by the
 * server; do not add them. */
void http_resp_header(struct http_req *req, const char *name, const char *value);
void http_resp_headerf(struct http_req *req, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Whole response.  content_type may be NULL (no Content-Type). */
int http_resp_send(struct http_req *req, int status, const char *content_type, const void *body,
		   size_t len);
/* Convenience: status with a NUL-terminated body (NULL = empty). */
int http_resp_text(struct http_req *req, int status, const char *content_type, const char *body);
/* Streamed response.  content_length >= 0: exactly that many bytes follow
 * (sent raw); HTTP_CHUNKED: chunked transfer encoding.  The head is sent
 * immediately so the client sees the status before the first byte. */
#define HTTP_CHUNKED (-1)
int http_resp_begin(struct http_req *req, int status, const char *content_type,
		    int64_t content_length);
/* Write body bytes (one chunk when chunked; a 0-length write is a no-op).
 * Returns -EPIPE / -ECONNRESET when the client went away: stop streaming. */
int http_resp_write(struct http_req *req, const void *data, size_t len);
/* Finish: the terminating chunk when chunked; checks the byte count when the
 * length was declared (a short body closes the connection). */
int http_resp_end(struct http_req *req);
/* Cut a started response short: the connection is closed without the rest of the body (no
 * terminating chunk), so the client sees the transfer fail instead of a complete answer.  For a
 * relay whose source died mid-body.  No-op before http_resp_begin or after the socket was taken. */
void http_resp_abort(struct http_req *req);
/* True once a response was started (or the socket was taken). */
bool http_resp_started(const struct http_req *req);
/* Ask for "Connection: close" after this response. */
void http_resp_close_after(struct http_req *req);
/* Standard reason phrase ("Not Found"); "Unknown" for unknown codes. */
const char *http_status_text(int status);

/* Take over the connection: returns the socket (caller owns it now) and
 * copies into *ret_buf (malloc'd, may be NULL when empty) the bytes already
 * received after the request head (start of the upgraded stream / body).
 * Only valid before any response byte was sent and before reading the body.
 * After this, the request's response functions fail with -EBADF. */
int http_req_take_socket(struct http_req *req, int *ret_fd, char **ret_buf, size_t *ret_len);

/* ------------------------------------------------------------------ client */

/*
 * A client connection over an fd the caller connected (TCP, unix socket, a
 * socket opened inside a network namespace ...).  One request at a time;
 * keep-alive is supported: after a response body was read completely, the
 * next request can be sent on the same client.
 */
struct http_client;

/* own_fd: close fd in http_client_free. */
struct http_client *http_client_new(int fd, bool own_fd);
void http_client_free(struct http_client *c);
int http_client_fd(const struct http_client *c);
/* Read timeout for every read on this client; 0 = none (default 60 s). */
void http_client_set_timeout(struct http_client *c, unsigned ms);
/* Whole-call bound: every later read and the wait for a response head end
 * ms from now (-ETIMEDOUT); 0 = none.  Calls to untrusted peers (a guest's
 * envd) set one, so a peer trickling bytes or sending endless 1xx (also
 * capped at HTTP_MAX_INTERIM) cannot hold the caller. */
void http_client_set_deadline(struct http_client *c, unsigned ms);

struct http_creq {
	const char *method;	    /* "GET" */
	const char *target;	    /* "/api/v1/vm.boot" (already encoded) */
	const char *host;	    /* Host header; NULL = "localhost" */
	const char *const *headers; /* "Name: value" strings, NULL-terminated; may be NULL */
	const char *content_type;   /* NULL = none */
	/* Body: body_len bytes at body (sent with Content-Length, also when 0
	 * for POST/PUT/PATCH), or when chunked is true, no body here and the
	 * caller streams it with http_client_write/_end. */
	const void *body;
	size_t body_len;
	bool chunked;
	/* fds passed with SCM_RIGHTS on the sendmsg carrying the first byte of
	 * the request (what Cloud Hypervisor expects).  Unix sockets only. */
	const int *fds;
	size_t nfds;
};

/* Send a request (head, and body unless chunked). */
int http_client_send(struct http_client *c, const struct http_creq *rq, struct wr_err *err);
/* Stream a chunked request body. */
int http_client_write(struct http_client *c, const void *data, size_t len, struct wr_err *err);
int http_client_end(struct http_client *c, struct wr_err *err);
/* Read the response status line and headers (skips 1xx).  The response to a
 * HEAD request has no body: pass head=true. */
int http_client_read_head(struct http_client *c, bool head, struct wr_err *err);
int http_client_status(const struct http_client *c);
/* After a 101 head: the bytes the peer sent behind it (already read, not HTTP), without
 * consuming them; *ret stays valid until the client is freed. */
size_t http_client_buffered(const struct http_client *c, const char **ret);
const char *http_client_header(const struct http_client *c, const char *name);
size_t http_client_header_count(const struct http_client *c);
void http_client_header_at(const struct http_client *c, size_t i, const char **ret_name,
			   const char **ret_value);
/* Declared response body length; -1 when chunked or until-EOF. */
int64_t http_client_content_length(const struct http_client *c);
/* Stream the response body: bytes read, 0 at the end, -errno on error. */
ssize_t http_client_read(struct http_client *c, void *buf, size_t n);
/* The whole body, NUL-terminated, at most max bytes (else -EFBIG). */
int http_client_read_all(struct http_client *c, size_t max, char **ret_buf, size_t *ret_len,
			 struct wr_err *err);
/* True when the server allows reusing the connection after this response. */
bool http_client_keep_alive(const struct http_client *c);

/* One-shot: send, read head and whole body.  *ret_body may be NULL-able:
 * pass ret_body == NULL to discard the body. */
int http_client_do(struct http_client *c, const struct http_creq *rq, size_t max_body,
		   int *ret_status, char **ret_body, size_t *ret_len, struct wr_err *err);

/* ----------------------------------------------------------------- helpers */

/* Percent-decode n bytes into a malloc'd NUL-terminated string; '+' becomes
 * ' ' when plus_is_space.  -EINVAL on bad escapes or an embedded NUL. */
int http_unescape(const char *s, size_t n, bool plus_is_space, char **ret);
/* Percent-encode everything but unreserved characters and '/' (when
 * keep_slash). */
char *http_escape(const char *s, bool keep_slash);
