/* SPDX-License-Identifier: MIT */
/* The HTTP relay of both sandbox-traffic proxies (proxy-relay.h). */
#include "daemon/proxy-relay.h"
#include "daemon/reply.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define HEAD_TIMEOUT_MS 300000 /* a request head in flight to a busy service may take long */
#define UPGRADE_TIMEOUT_MS 30000
#define IDLE_POLL_MS 1000 /* how often a wait for the upstream asks proxy_hop_ops.idle */

static void client_freep(struct http_client **c)
{
	http_client_free(*c);
}
#define cleanup_client cleanup_(client_freep)

void proxy_reply_gone(struct http_req *req, const struct proxy_target *t, int port, const char *fmt,
		      ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *o = json_object();
	json_object_set_new(o, "sandboxId", json_string(t->id));
	json_object_set_new(o, "message", json_string(msg));
	json_object_set_new(o, "code", json_integer(502));
	if (port > 0)
		json_object_set_new(o, "port", json_integer(port));
	reply_json_new(req, 502, o);
}

int proxy_relay_route(struct http_req *req, const char *domain, struct proxy_target *ret)
{
	struct wr_err err = {0};
	int r = proxy_route(http_req_header(req, "Host"), http_req_header(req, "E2b-Sandbox-Id"),
			    http_req_header(req, "E2b-Sandbox-Port"), domain, ret, &err);
	if (r < 0) {
		reply_error(req, 400, "%s", wr_err_msg(&err));
		return r;
	}
	if (proxy_path_host_only(ret->port, http_req_path(req))) {
		reply_error(req, 403, "%s is reserved for the host", http_req_path(req));
		return -EACCES;
	}
	return 0;
}

char *proxy_relay_head(struct http_req *req, bool upgrade, int64_t clen, const char *host,
		       const char *extra)
{
	size_t cap = 512 + strlen(http_req_target(req)) + (host ? strlen(host) : 0) +
		     (extra ? strlen(extra) : 0);
	size_t nh = http_req_header_count(req);
	for (size_t i = 0; i < nh; i++) {
		const char *n, *v;
		http_req_header_at(req, i, &n, &v);
		cap += strlen(n) + strlen(v) + 4;
	}
	char *h = xmalloc(cap);
	size_t o = (size_t)snprintf(h, cap, "%s %s HTTP/1.1\r\n", http_req_method(req),
				    http_req_target(req));
	bool has_host = false;
	for (size_t i = 0; i < nh; i++) {
		const char *n, *v;
		http_req_header_at(req, i, &n, &v);
		if (proxy_header_dropped(n, upgrade) || (!upgrade && !strcasecmp(n, "Expect")))
			continue;
		if (!strcasecmp(n, "Host")) {
			if (host)
				continue;
			has_host = true;
		}
		o += (size_t)snprintf(h + o, cap - o, "%s: %s\r\n", n, v);
	}
	if (host)
		o += (size_t)snprintf(h + o, cap - o, "Host: %s\r\n", host);
	else if (!has_host)
		o += (size_t)snprintf(h + o, cap - o, "Host: localhost\r\n");
	if (extra)
		o += (size_t)snprintf(h + o, cap - o, "%s", extra);
	if (!upgrade) {
		if (clen < 0)
			o += (size_t)snprintf(h + o, cap - o, "Transfer-Encoding: chunked\r\n");
		else if (clen > 0 || !strcmp(http_req_method(req), "POST") ||
			 !strcmp(http_req_method(req), "PUT") ||
			 !strcmp(http_req_method(req), "PATCH"))
			o += (size_t)snprintf(h + o, cap - o, "Content-Length: %" PRId64 "\r\n",
					      clen);
		o += (size_t)snprintf(h + o, cap - o, "Connection: close\r\n");
	}
	snprintf(h + o, cap - o, "\r\n");
	return h;
}

bool proxy_resp_header_dropped(const char *name)
{
	static const char *const drop[] = {"Connection",     "Keep-Alive", "Transfer-Encoding",
					   "Content-Length", "Date",	   "Proxy-Connection",
					   "Trailer",	     "Upgrade",	   "Server"};
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (!strcasecmp(name, drop[i]))
			return true;
	return false;
}

int proxy_send_chunk(int fd, const void *d, size_t n)
{
	char pre[24];
	int pn = snprintf(pre, sizeof(pre), "%zx\r\n", n);
	int r = write_full(fd, pre, (size_t)pn);
	if (r >= 0)
		r = write_full(fd, d, n);
	if (r >= 0)
		r = write_full(fd, "\r\n", 2);
	return r;
}

void proxy_relay_bytes(int a, int b, struct http_server *srv)
{
	bool open_ab = true, open_ba = true;
	char buf[PROXY_RELAY_CHUNK];
	while (open_ab || open_ba) {
		struct pollfd pf[2] = {{.fd = open_ab ? a : -1, .events = POLLIN},
				       {.fd = open_ba ? b : -1, .events = POLLIN}};
		int r = poll(pf, 2, 1000);
		if ((r < 0 && errno != EINTR) || http_server_stopping(srv))
			return;
		for (int i = 0; i < 2; i++) {
			if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			int from = i ? b : a, to = i ? a : b;
			ssize_t n = read(from, buf, sizeof(buf));
			if (n > 0 && write_full(to, buf, (size_t)n) == 0)
				continue;
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n != 0) /* error, or the peer stopped reading */
				return;
			shutdown(to, SHUT_WR);
			*(i ? &open_ba : &open_ab) = false;
		}
	}
}

/* The response whose head c has read, to the client: headers (less the dropped ones), then the
 * body as it arrives.  buf: PROXY_RELAY_CHUNK bytes of scratch. */
static void relay_response(struct http_req *req, struct http_client *c, const struct proxy_hop *hop,
			   bool head_only, char *buf)
{
	size_t nh = http_client_header_count(c);
	const char *ctype = NULL;
	for (size_t i = 0; i < nh; i++) {
		const char *n, *v;
		http_client_header_at(c, i, &n, &v);
		if (!strcasecmp(n, "Content-Type"))
			ctype = v;
		else if (!proxy_resp_header_dropped(n) &&
			 !(hop->drop_cors && !strncasecmp(n, "Access-Control-", 15)))
			http_resp_header(req, n, v);
	}
	int status = http_client_status(c);
	int64_t rlen = http_client_content_length(c);
	bool bodyless = head_only || status == 204 || status == 304 || status / 100 == 1;
	if (http_resp_begin(req, status, ctype, bodyless ? 0 : rlen >= 0 ? rlen : HTTP_CHUNKED) < 0)
		return;
	http_client_set_timeout(c, IDLE_POLL_MS);
	while (!bodyless) {
		ssize_t n = http_client_read(c, buf, PROXY_RELAY_CHUNK);
		if (n == -ETIMEDOUT) {
			enum proxy_idle next = hop->ops->idle(hop, req);
			if (next == PROXY_IDLE_CUT) {
				http_resp_abort(req);
				return;
			}
			if (next == PROXY_IDLE_END) {
				http_resp_close_after(req);
				break;
			}
			continue;
		}
		if (n < 0) {
			/* the upstream broke mid-body: the client must see the transfer fail, not a
			 * complete short answer (no terminating chunk) */
			log_debug("proxy %s:%d: %s", hop->t->id, hop->t->port, strerror((int)-n));
			http_resp_abort(req);
			return;
		}
		if (n == 0 || http_resp_write(req, buf, (size_t)n) < 0)
			break;
	}
	http_resp_end(req);
}

/*
 * Until the answer's first byte (or the upstream's end) is there, in IDLE_POLL_MS slices, asking
 * hop->ops->idle between them: a guest killed or paused after the request went out never answers
 * nor closes its end (its namespace is gone, no FIN or RST comes), so without this the request,
 * the client's call (an SDK's isRunning() racing its sandbox's timeout) and a server stopping
 * behind it would wait HEAD_TIMEOUT_MS.  0: something to read (or an error http_client_read_head
 * reports); -ECANCELED: the hop gave up, req answered here.
 */
static int wait_answer(struct http_req *req, struct http_client *c, const struct proxy_hop *hop)
{
	struct pollfd pf = {.fd = http_client_fd(c), .events = POLLIN};
	for (unsigned waited = 0; waited < HEAD_TIMEOUT_MS; waited += IDLE_POLL_MS) {
		int r = poll(&pf, 1, IDLE_POLL_MS);
		if (r > 0 || (r < 0 && errno != EINTR))
			return 0;
		enum proxy_idle next = r < 0 ? PROXY_IDLE_WAIT : hop->ops->idle(hop, req);
		if (next == PROXY_IDLE_WAIT)
			continue;
		http_resp_close_after(req);
		proxy_reply_gone(req, hop->t, 0,
				 next == PROXY_IDLE_END ? "The proxy is stopping"
							: "The sandbox stopped before it answered");
		return -ECANCELED;
	}
	return 0; /* http_client_read_head times out */
}

/* One request: its head and body upstream, then the upstream's answer back. */
static void relay_forward(struct http_req *req, const struct proxy_hop *hop)
{
	int64_t clen = http_req_content_length(req);
	http_req_set_body_limit(req, 0);
	int up = -1;
	if (hop->ops->connect(hop, req, &up) < 0) {
		if (clen != 0)
			http_resp_close_after(req); /* the unread body may be huge */
		return;
	}
	cleanup_client struct http_client *c = http_client_new(up, true);
	cleanup_free char *head = hop->ops->head(hop, req, false, clen);
	cleanup_free char *buf = xmalloc(PROXY_BODY_CHUNK); /* >= PROXY_RELAY_CHUNK, the answer's */
	int w = write_full(up, head, strlen(head));
	/* request body, as it arrives */
	while (w >= 0 && clen != 0) {
		ssize_t n = http_req_read(req, buf, PROXY_BODY_CHUNK);
		if (n < 0) {
			http_resp_close_after(req);
			reply_error(req, 400, "cannot read the request body: %s",
				    strerror((int)-n));
			return;
		}
		if (n == 0)
			break;
		w = clen < 0 ? proxy_send_chunk(up, buf, (size_t)n)
			     : write_full(up, buf, (size_t)n);
	}
	if (w >= 0 && clen < 0)
		w = write_full(up, "0\r\n\r\n", 5);
	if (w < 0) {
		/* the upstream stopped reading (it may have answered early, e.g. an error before
		 * the body): its answer is relayed if there is one; the client's unread body ends
		 * the connection */
		http_resp_close_after(req);
		if (hop->send_error_is_reason)
			log_warn("proxy: %s:%d: sending the request: %s", hop->t->id, hop->t->port,
				 strerror(-w));
	}
	struct wr_err err = {0};
	bool head_only = !strcmp(http_req_method(req), "HEAD");
	if (wait_answer(req, c, hop) < 0)
		return;
	/* the answer has begun: its head is read whole (bodies are polled in relay_response) */
	http_client_set_timeout(c, HEAD_TIMEOUT_MS);
	if (http_client_read_head(c, head_only, &err) < 0) {
		if (w < 0 && hop->send_error_is_reason)
			wr_err_errno(&err, -w, "send request");
		http_resp_close_after(req);
		reply_error(req, 502, "%s: %s", hop->name, wr_err_msg(&err));
		return;
	}
	relay_response(req, c, hop, head_only, buf);
}

int proxy_relay_switch(struct http_req *req, struct http_client *c, int ufd, int *ret_fd)
{
	int cfd = -1;
	cleanup_free char *pre = NULL;
	size_t pre_len = 0;
	int r = http_req_take_socket(req, &cfd, &pre, &pre_len);
	if (r < 0) {
		reply_error(req, 500, "cannot take over the connection");
		return r;
	}
	cleanup_close int client = cfd;
	size_t nh = http_client_header_count(c), cap = 128, o = 0;
	for (size_t i = 0; i < nh; i++) {
		const char *n, *v;
		http_client_header_at(c, i, &n, &v);
		cap += strlen(n) + strlen(v) + 4;
	}
	cleanup_free char *resp = xmalloc(cap);
	o += (size_t)snprintf(resp + o, cap - o, "HTTP/1.1 101 Switching Protocols\r\n");
	for (size_t i = 0; i < nh; i++) {
		const char *n, *v;
		http_client_header_at(c, i, &n, &v);
		o += (size_t)snprintf(resp + o, cap - o, "%s: %s\r\n", n, v);
	}
	o += (size_t)snprintf(resp + o, cap - o, "\r\n");
	const char *extra = NULL;
	size_t extra_len = http_client_buffered(c, &extra);
	if ((r = write_full(client, resp, o)) < 0 ||
	    (extra_len && (r = write_full(client, extra, extra_len)) < 0) ||
	    (pre_len && (r = write_full(ufd, pre, pre_len)) < 0))
		return r;
	*ret_fd = TAKE_FD(client);
	return 0;
}

/* An upgrade: the head alone upstream; a byte relay on a 101, else an ordinary response.  The
 * bytes the client pipelined stay in req until then: before a real 101 they are unparsed HTTP
 * (a smuggled request to a host-only path), after it the new protocol's (proxy-relay.h). */
static void relay_upgrade(struct http_req *req, const struct proxy_hop *hop)
{
	int up = -1;
	if (hop->ops->connect(hop, req, &up) < 0)
		return;
	cleanup_close int ufd = up;
	cleanup_client struct http_client *c = http_client_new(ufd, false);
	cleanup_free char *head = hop->ops->head(hop, req, true, 0);
	struct wr_err err = {0};
	int r = write_full(ufd, head, strlen(head));
	http_client_set_timeout(c, UPGRADE_TIMEOUT_MS);
	http_client_set_deadline(c, UPGRADE_TIMEOUT_MS);
	if (r >= 0)
		r = http_client_read_head(c, false, &err);
	else
		wr_err_errno(&err, -r, "send request");
	if (r < 0) {
		http_resp_close_after(req);
		reply_error(req, 502, "%s: %s", hop->name, wr_err_msg(&err));
		return;
	}
	http_client_set_deadline(c, 0);
	if (http_client_status(c) == 101) {
		int cfd = -1;
		if (proxy_relay_switch(req, c, ufd, &cfd) < 0)
			return;
		cleanup_close int client = cfd;
		http_client_free(TAKE_PTR(c)); /* not held for the relay's lifetime */
		log_debug("proxy: upgraded connection to %s:%d", hop->t->id, hop->t->port);
		proxy_relay_bytes(client, ufd, http_req_server(req));
		return;
	}
	cleanup_free char *buf = xmalloc(PROXY_RELAY_CHUNK);
	http_resp_close_after(req);
	relay_response(req, c, hop, !strcmp(http_req_method(req), "HEAD"), buf);
}

void proxy_relay(struct http_req *req, const struct proxy_hop *hop)
{
	if (http_req_header(req, "Upgrade") && strcasecmp(http_req_method(req), "CONNECT") != 0)
		relay_upgrade(req, hop);
	else
		relay_forward(req, hop);
}
