/* SPDX-License-Identifier: MIT */
/*
 * The sandbox-traffic port (default 127.0.0.1:3002): what E2B_SANDBOX_URL points at.
 *
 * Design: each request is forwarded on its own, on a fresh upstream connection made by
 * runtime_connect() inside the sandbox's namespace.  The request head is rewritten (routing and
 * hop-by-hop headers dropped, `Connection: close` upstream), the body is copied as it arrives,
 * and the response is relayed as it arrives (its Content-Length kept, else chunked).  The client
 * connection itself stays ours, so keep-alive works and consecutive requests on one connection
 * may go to different sandboxes, which the SDK's pooled connections do.  Nothing is buffered
 * beyond one 64 KiB chunk, so exec streams and large files flow through.
 *
 * Upgrades (WebSocket on user ports) cannot be relayed per message: the client socket is taken
 * over and bytes are copied both ways until both sides are done.
 */
#include "daemon/agent.h"
#include "daemon/proxy-route.h"
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

#define CHUNK 65536

/*
 * E2B's proxy error answer: 502 with {"sandboxId", "message", "code"} (+ "port" when the port is
 * closed).  The SDKs rely on the 502: `isRunning()` is false on it (a 404 would throw
 * NotFoundError), and envd calls turn it into their "sandbox timeout" error.
 */
static void reply_gone(struct http_req *req, const struct proxy_target *t, int port,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void reply_gone(struct http_req *req, const struct proxy_target *t, int port,
		       const char *fmt, ...)
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

/* Upstream socket for the target; answers 502 itself when there is none. */
static int upstream(struct agent *a, struct http_req *req, const struct proxy_target *t,
		    int *ret_fd)
{
	struct wr_err err = {0};
	int r = runtime_connect(a->rt, t->id, (uint16_t)t->port, 5000, ret_fd, &err);
	bool paused = false;
	if (r == -EBUSY) {
		struct runtime_info info = {0};
		if (runtime_get(a->rt, t->id, &info, NULL) == 0) {
			paused = info.state == STORE_SB_PAUSED;
			if (info.state == STORE_SB_KILLED)
				r = -ENOENT;
			runtime_info_done(&info);
		}
		bool resume = paused && atomic_load(&a->resume_on_traffic);
		struct store_sandbox row = {0};
		if (paused && !resume && store_sandbox_get(a->st, t->id, &row, NULL) == 0) {
			/* created with autoResume (E2B lifecycle.autoResume) */
			resume = row.lifecycle & STORE_SB_LC_AUTO_RESUME;
			store_sandbox_done(&row);
		}
		if (resume) {
			log_info("proxy: resuming %s on traffic", t->id);
			r = runtime_resume(a->rt, t->id, 0, &err);
			/* -EBUSY: a concurrent first request resumed it already */
			if (r == 0 || r == -EBUSY)
				r = runtime_connect(a->rt, t->id, (uint16_t)t->port, 5000, ret_fd,
						    &err);
		}
	}
	if (r == -ENOENT || r == -EINVAL)
		reply_gone(req, t, 0, "The sandbox was not found");
	else if (r == -EBUSY && paused)
		reply_gone(req, t, 0, "The sandbox is paused (resume it with connect)");
	else if (r == -EBUSY)
		reply_gone(req, t, 0, "The sandbox is not running: %s", wr_err_msg(&err));
	else if (r == -ECONNREFUSED)
		reply_gone(req, t, t->port, "The sandbox is running but port is not open");
	else if (r < 0)
		reply_gone(req, t, t->port, "cannot reach port %d in sandbox %s: %s", t->port,
			   t->id, wr_err_msg(&err));
	return r;
}

static bool sandbox_running(struct agent *a, const char *id)
{
	struct runtime_info info = {0};
	if (runtime_get(a->rt, id, &info, NULL) < 0)
		return false;
	bool running = info.state == STORE_SB_RUNNING;
	runtime_info_done(&info);
	return running;
}

/* The sandbox's maskRequestHost for t's port (NULL: the client's Host goes through). */
static char *target_mask_host(struct agent *a, const struct proxy_target *t)
{
	struct runtime_info info = {0};
	if (t->port == PROXY_ENVD_PORT || runtime_get(a->rt, t->id, &info, NULL) < 0)
		return NULL;
	char *m = proxy_mask_host(info.mask_host, t->port);
	runtime_info_done(&info);
	return m;
}

/* host: the Host to send instead of the client's (maskRequestHost), NULL = the client's. */
static char *build_head(struct http_req *req, bool upgrade, int64_t clen, const char *host)
{
	size_t cap = 512 + strlen(http_req_target(req)) + (host ? strlen(host) : 0);
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

/* Copy bytes both ways until both directions have ended. */
static void relay(int a, int b, struct http_server *srv)
{
	bool open_ab = true, open_ba = true;
	char buf[CHUNK];
	while (open_ab || open_ba) {
		struct pollfd pf[2] = {{.fd = open_ab ? a : -1, .events = POLLIN},
				       {.fd = open_ba ? b : -1, .events = POLLIN}};
		int r = poll(pf, 2, 1000);
		if (r < 0 && errno != EINTR)
			return;
		if (http_server_stopping(srv))
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
			if (n < 0 || (n > 0)) /* error, or the peer stopped reading */
				return;
			shutdown(to, SHUT_WR);
			if (i)
				open_ba = false;
			else
				open_ab = false;
		}
	}
}

static bool resp_header_dropped(const char *n)
{
	static const char *const drop[] = {"Connection",     "Keep-Alive", "Transfer-Encoding",
					   "Content-Length", "Date",	   "Proxy-Connection",
					   "Trailer",	     "Upgrade",	   "Server"};
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (!strcasecmp(n, drop[i]))
			return true;
	return false;
}

/* Relay the response whose head c has read to the client: headers (hop-by-hop and, on envd's
 * port, CORS dropped), then the body as it arrives.  buf: CHUNK bytes of scratch. */
static void relay_response(struct agent *a, struct http_req *req, struct http_client *c,
			   const struct proxy_target *t, bool head_only, char *buf)
{
	size_t nh = http_client_header_count(c);
	const char *ctype = NULL;
	for (size_t i = 0; i < nh; i++) {
		const char *n, *v;
		http_client_header_at(c, i, &n, &v);
		if (!strcasecmp(n, "Content-Type"))
			ctype = v;
		else if (!resp_header_dropped(n) &&
			 !(t->port == PROXY_ENVD_PORT && !strncasecmp(n, "Access-Control-", 15)))
			http_resp_header(req, n, v);
	}
	int status = http_client_status(c);
	int64_t rlen = http_client_content_length(c);
	bool bodyless = head_only || status == 204 || status == 304 || status / 100 == 1;
	if (http_resp_begin(req, status, ctype, bodyless ? 0 : rlen >= 0 ? rlen : HTTP_CHUNKED) < 0)
		return;
	http_client_set_timeout(c, 1000);
	while (!bodyless) {
		ssize_t n = http_client_read(c, buf, CHUNK);
		if (n == -ETIMEDOUT) {
			if (http_server_stopping(http_req_server(req))) {
				http_resp_close_after(req);
				break;
			}
			/* A killed or paused guest never closes its end (its namespace and TAP are
			 * gone, no FIN or RST comes): the stream is cut here, as E2B's proxy cuts it,
			 * so the SDK probes health, gets the 502 and reports the sandbox killed. */
			if (!sandbox_running(a, t->id)) {
				log_info(
					"proxy %s:%d: sandbox stopped mid-response, connection cut",
					t->id, t->port);
				http_resp_abort(req);
				return;
			}
			continue;
		}
		if (n < 0) {
			/* the upstream broke mid-body: the client must see the transfer fail, not a
			 * complete short answer (no terminating chunk) */
			log_debug("proxy %s:%d: %s", t->id, t->port, strerror((int)-n));
			http_resp_abort(req);
			return;
		}
		if (n == 0 || http_resp_write(req, buf, (size_t)n) < 0)
			break;
	}
	http_resp_end(req);
}

/*
 * Upgrades.  The request head goes upstream alone; the connection becomes a byte relay only
 * when the upstream answers 101 Switching Protocols.  Anything else is relayed as an ordinary
 * response and the client connection is closed after it.  Before this, bytes the client sent
 * after the upgrade request (pipelined requests) were written upstream unparsed, so a request
 * to a host-only path such as envd's /init could be smuggled behind an Upgrade header that
 * envd then ignored.  Bytes the client pipelined are forwarded only after a real 101, when
 * they belong to the new protocol.
 */
static void proxy_upgrade(struct agent *a, struct http_req *req, const struct proxy_target *t)
{
	int up = -1;
	if (upstream(a, req, t, &up) < 0)
		return;
	cleanup_close int ufd = up;
	struct http_client *c = http_client_new(ufd, false);
	cleanup_free char *mask = target_mask_host(a, t);
	cleanup_free char *head = build_head(req, true, 0, mask);
	struct wr_err err = {0};
	int r = write_full(ufd, head, strlen(head));
	http_client_set_timeout(c, 30000);
	http_client_set_deadline(c, 30000);
	if (r >= 0)
		r = http_client_read_head(c, false, &err);
	else
		wr_err_errno(&err, -r, "send request");
	if (r < 0) {
		http_client_free(c);
		http_resp_close_after(req);
		reply_error(req, 502, "port %d of sandbox %s: %s", t->port, t->id,
			    wr_err_msg(&err));
		return;
	}
	http_client_set_deadline(c, 0);
	if (http_client_status(c) != 101) {
		char *buf = xmalloc(CHUNK);
		http_resp_close_after(req);
		relay_response(a, req, c, t, !strcmp(http_req_method(req), "HEAD"), buf);
		free(buf);
		http_client_free(c);
		return;
	}
	int cfd = -1;
	cleanup_free char *pre = NULL;
	size_t pre_len = 0;
	if (http_req_take_socket(req, &cfd, &pre, &pre_len) < 0) {
		http_client_free(c);
		reply_error(req, 500, "cannot take over the connection");
		return;
	}
	cleanup_close int client = cfd;
	/* the upstream's 101 head, as it sent it (headers in order), then any bytes it sent
	 * after the head, then the client's pipelined bytes */
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
	bool ok = write_full(client, resp, o) == 0 &&
		  (!extra_len || write_full(client, extra, extra_len) == 0) &&
		  (!pre_len || write_full(ufd, pre, pre_len) == 0);
	http_client_free(c);
	if (!ok)
		return;
	log_debug("proxy: upgraded connection to %s:%d", t->id, t->port);
	relay(client, ufd, http_req_server(req));
}

static int send_chunk(int fd, const void *d, size_t n)
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

static void proxy_forward(struct agent *a, struct http_req *req, const struct proxy_target *t)
{
	int64_t clen = http_req_content_length(req);
	http_req_set_body_limit(req, 0);
	int up = -1;
	if (upstream(a, req, t, &up) < 0) {
		if (clen != 0)
			http_resp_close_after(req); /* the unread body may be huge */
		return;
	}
	struct http_client *c = http_client_new(up, true);
	cleanup_free char *mask = target_mask_host(a, t);
	cleanup_free char *head = build_head(req, false, clen, mask);
	int r = write_full(up, head, strlen(head));
	char *buf = xmalloc(CHUNK);
	/* request body, as it arrives */
	while (r >= 0 && clen != 0) {
		ssize_t n = http_req_read(req, buf, CHUNK);
		if (n < 0) {
			free(buf);
			http_client_free(c);
			http_resp_close_after(req);
			reply_error(req, 400, "cannot read the request body: %s",
				    strerror((int)-n));
			return;
		}
		if (n == 0)
			break;
		r = clen < 0 ? send_chunk(up, buf, (size_t)n) : write_full(up, buf, (size_t)n);
	}
	if (r >= 0 && clen < 0)
		r = write_full(up, "0\r\n\r\n", 5);
	struct wr_err err = {0};
	bool head_only = !strcmp(http_req_method(req), "HEAD");
	/* a request head in flight to a busy service may take a while; bodies are polled below */
	http_client_set_timeout(c, 300000);
	if (r >= 0) {
		r = http_client_read_head(c, head_only, &err);
	} else {
		/* upstream stopped reading (it may have answered early, e.g. an error before the
		 * body): relay its answer if there is one; the client's unread body ends the
		 * connection */
		int w = r;
		http_resp_close_after(req);
		log_warn("proxy: %s:%d: sending the request: %s", t->id, t->port, strerror(-w));
		r = http_client_read_head(c, head_only, &err);
		if (r < 0)
			wr_err_errno(&err, -w, "send request");
	}
	if (r < 0) {
		free(buf);
		http_client_free(c);
		http_resp_close_after(req);
		reply_error(req, 502, "port %d of sandbox %s: %s", t->port, t->id,
			    wr_err_msg(&err));
		return;
	}
	relay_response(a, req, c, t, head_only, buf);
	free(buf);
	http_client_free(c);
}

void proxy_handle(struct http_req *req, void *userdata)
{
	struct agent *a = userdata;
	struct proxy_target t;
	struct wr_err err = {0};
	int r = proxy_route(http_req_header(req, "Host"), http_req_header(req, "E2b-Sandbox-Id"),
			    http_req_header(req, "E2b-Sandbox-Port"), a->cfg.domain, &t, &err);
	if (r < 0) {
		reply_error(req, 400, "%s", wr_err_msg(&err));
		return;
	}
	if (proxy_path_host_only(t.port, http_req_path(req))) {
		reply_error(req, 403, "%s is reserved for the host", http_req_path(req));
		return;
	}
	if (t.port != PROXY_ENVD_PORT) {
		struct runtime_info info = {0};
		int st = runtime_get(a->rt, t.id, &info, NULL) == 0
				 ? proxy_traffic_check(
					   t.port, info.traffic_token,
					   http_req_header(req, PROXY_TRAFFIC_TOKEN_HEADER))
				 : 0;
		runtime_info_done(&info);
		if (st) {
			reply_error(req, st, "sandbox %s is private: %s %s header", t.id,
				    st == 401 ? "send its traffic access token in the" : "wrong",
				    PROXY_TRAFFIC_TOKEN_HEADER);
			return;
		}
	}
	if (http_req_header(req, "Upgrade") && strcasecmp(http_req_method(req), "CONNECT") != 0)
		proxy_upgrade(a, req, &t);
	else
		proxy_forward(a, req, &t);
}
