/* SPDX-License-Identifier: MIT */
/*
 * The control plane's sandbox-traffic port (control-internal.h): one entry point for SDKs.
 *
 * A request is routed exactly as the single-host proxy routes it (proxy-route.h: the
 * E2b-Sandbox-Id/-Port headers, else Host <port>-<id>.<domain>); the placement names the host,
 * and the request is relayed to that host's own proxy on a fresh connection with the routing
 * made explicit (E2b-Sandbox-Id and E2b-Sandbox-Port set by us, whatever the client sent), the
 * client's Host and every end-to-end header kept.  The host's proxy does everything sandbox
 * specific (traffic tokens, maskRequestHost, auto-resume, cutting streams of stopped guests):
 * this relay adds no policy of its own beyond refusing the host-only envd paths early.
 *
 * Bodies flow both ways as they arrive (one 64 KiB chunk at a time), so exec streams and large
 * files pass; the client connection stays ours (keep-alive, consecutive requests may go to
 * sandboxes on different hosts).  An Upgrade goes upstream alone and becomes a byte relay only
 * on a real 101 (the reasoning of proxy.c's proxy_upgrade: nothing pipelined behind it is
 * forwarded unparsed before that).
 *
 * Security: the hosts' proxies are not authenticated (as on one host, the guest's envd checks
 * its access token, the host's proxy the traffic token), so this relay holds no credential; it
 * only reaches the proxy URL a host advertised in a signed heartbeat.
 */
#include "daemon/control-internal.h"
#include "daemon/control.h"
#include "daemon/proxy-route.h"
#include "daemon/reply.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "pg/pg.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK 65536
#define HEAD_TIMEOUT_MS 300000 /* a request head in flight to a busy service may take long */
#define UPGRADE_TIMEOUT_MS 30000

/* E2B's proxy error answer (502 {"sandboxId","message","code"}): what the SDKs expect. */
static void reply_gone(struct http_req *req, const struct proxy_target *t, const char *msg)
{
	reply_json_new(req, 502,
		       json_pack("{s:s,s:s,s:i}", "sandboxId", t->id, "message", msg, "code", 502));
}

/* Request head for the host's proxy.  upgrade: the handshake headers stay, no framing. */
static char *build_head(struct http_req *req, const struct proxy_target *t, bool upgrade,
			int64_t clen)
{
	size_t cap = 512 + strlen(http_req_target(req));
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
		/* drops the routing headers too: ours below are the only ones */
		if (proxy_header_dropped(n, upgrade) || (!upgrade && !strcasecmp(n, "Expect")))
			continue;
		has_host |= !strcasecmp(n, "Host");
		o += (size_t)snprintf(h + o, cap - o, "%s: %s\r\n", n, v);
	}
	if (!has_host)
		o += (size_t)snprintf(h + o, cap - o, "Host: localhost\r\n");
	o += (size_t)snprintf(h + o, cap - o, "E2b-Sandbox-Id: %s\r\nE2b-Sandbox-Port: %d\r\n",
			      t->id, t->port);
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

/* A connection to the proxy of the sandbox's host; answers itself when there is none. */
static int upstream(struct control *c, struct http_req *req, const struct proxy_target *t,
		    int *ret_fd)
{
	struct wr_err err = {0};
	cleanup_free char *hid = NULL, *state = NULL, *url = NULL;
	int r = pg_placement_route(c->db, t->id, &hid, &state, &url, &err);
	if (r == -ENOENT) {
		reply_gone(req, t, "The sandbox was not found");
		return r;
	}
	if (r < 0) {
		log_error("proxy %s: %s", t->id, wr_err_msg(&err));
		reply_error(req, r == -ECONNREFUSED ? 503 : 500, "%s", wr_err_msg(&err));
		return r;
	}
	if (!strcmp(state, "lost") || !strcmp(state, "removed") || !*url) {
		char msg[160];
		snprintf(msg, sizeof(msg), "The sandbox's host %s is %s", hid,
			 *url ? state : "not reachable (no proxy URL)");
		reply_gone(req, t, msg);
		return -EHOSTUNREACH;
	}
	cleanup_free char *host = NULL, *port = NULL;
	if ((r = control_parse_url(url, &host, &port, &err)) < 0 ||
	    (r = control_tcp_connect(host, port, ret_fd, &err)) < 0) {
		log_warn("proxy %s: host %s: %s", t->id, hid, wr_err_msg(&err));
		reply_error(req, 502, "sandbox %s: its host %s: %s", t->id, hid, wr_err_msg(&err));
		return r;
	}
	return 0;
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

/* True when the client closed its end (polled while an upstream stream is idle). */
static bool client_gone(struct http_req *req)
{
	struct pollfd pf = {.fd = http_req_socket(req), .events = POLLRDHUP};
	return pf.fd < 0 || (poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR)));
}

/* The host's response, head then body as it arrives.  buf: CHUNK bytes of scratch. */
static void relay_response(struct http_req *req, struct http_client *cl, bool head_only, char *buf)
{
	size_t nh = http_client_header_count(cl);
	const char *ctype = NULL;
	for (size_t i = 0; i < nh; i++) {
		const char *n, *v;
		http_client_header_at(cl, i, &n, &v);
		if (!strcasecmp(n, "Content-Type"))
			ctype = v;
		else if (!resp_header_dropped(n))
			http_resp_header(req, n, v);
	}
	int status = http_client_status(cl);
	int64_t rlen = http_client_content_length(cl);
	bool bodyless = head_only || status == 204 || status == 304 || status / 100 == 1;
	if (http_resp_begin(req, status, ctype, bodyless ? 0 : rlen >= 0 ? rlen : HTTP_CHUNKED) < 0)
		return;
	http_client_set_timeout(cl, 1000);
	while (!bodyless) {
		ssize_t n = http_client_read(cl, buf, CHUNK);
		if (n == -ETIMEDOUT) {
			/* an idle stream (a command that prints nothing yet) is kept; the host's
			 * proxy cuts it when the guest stops */
			if (http_server_stopping(http_req_server(req)) || client_gone(req)) {
				http_resp_abort(req);
				return;
			}
			continue;
		}
		if (n < 0) { /* broken mid-body: the client must see the transfer fail */
			http_resp_abort(req);
			return;
		}
		if (n == 0 || http_resp_write(req, buf, (size_t)n) < 0)
			break;
	}
	http_resp_end(req);
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

static void forward(struct control *c, struct http_req *req, const struct proxy_target *t)
{
	int64_t clen = http_req_content_length(req);
	http_req_set_body_limit(req, 0);
	int up = -1;
	if (upstream(c, req, t, &up) < 0) {
		if (clen != 0)
			http_resp_close_after(req); /* the unread body may be huge */
		return;
	}
	struct http_client *cl = http_client_new(up, true);
	cleanup_free char *head = build_head(req, t, false, clen);
	cleanup_free char *buf = xmalloc(CHUNK);
	int r = write_full(up, head, strlen(head));
	while (r >= 0 && clen != 0) {
		ssize_t n = http_req_read(req, buf, CHUNK);
		if (n < 0) {
			http_client_free(cl);
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
	if (r < 0) /* the host stopped reading (an early answer?): the client's rest ends it */
		http_resp_close_after(req);
	struct wr_err err = {0};
	bool head_only = !strcmp(http_req_method(req), "HEAD");
	http_client_set_timeout(cl, HEAD_TIMEOUT_MS);
	if (http_client_read_head(cl, head_only, &err) < 0) {
		http_client_free(cl);
		http_resp_close_after(req);
		reply_error(req, 502, "sandbox %s: its host's proxy: %s", t->id, wr_err_msg(&err));
		return;
	}
	relay_response(req, cl, head_only, buf);
	http_client_free(cl);
}

/* Copy bytes both ways until both directions have ended. */
static void relay_bytes(int a, int b, struct http_server *srv)
{
	bool open_ab = true, open_ba = true;
	char buf[CHUNK];
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

static void upgrade(struct control *c, struct http_req *req, const struct proxy_target *t)
{
	int up = -1;
	if (upstream(c, req, t, &up) < 0)
		return;
	cleanup_close int ufd = up;
	struct http_client *cl = http_client_new(ufd, false);
	cleanup_free char *head = build_head(req, t, true, 0);
	struct wr_err err = {0};
	int r = write_full(ufd, head, strlen(head));
	http_client_set_timeout(cl, UPGRADE_TIMEOUT_MS);
	http_client_set_deadline(cl, UPGRADE_TIMEOUT_MS);
	if (r >= 0)
		r = http_client_read_head(cl, false, &err);
	else
		wr_err_errno(&err, -r, "send request");
	if (r < 0) {
		http_client_free(cl);
		http_resp_close_after(req);
		reply_error(req, 502, "sandbox %s: its host's proxy: %s", t->id, wr_err_msg(&err));
		return;
	}
	http_client_set_deadline(cl, 0);
	if (http_client_status(cl) != 101) {
		cleanup_free char *buf = xmalloc(CHUNK);
		http_resp_close_after(req);
		relay_response(req, cl, !strcmp(http_req_method(req), "HEAD"), buf);
		http_client_free(cl);
		return;
	}
	int cfd = -1;
	cleanup_free char *pre = NULL;
	size_t pre_len = 0;
	if (http_req_take_socket(req, &cfd, &pre, &pre_len) < 0) {
		http_client_free(cl);
		reply_error(req, 500, "cannot take over the connection");
		return;
	}
	cleanup_close int client = cfd;
	/* the 101 head as the host sent it, the bytes it sent behind it, the client's pipelined
	 * bytes (now the new protocol's) */
	size_t nh = http_client_header_count(cl), cap = 128, o = 0;
	for (size_t i = 0; i < nh; i++) {
		const char *n, *v;
		http_client_header_at(cl, i, &n, &v);
		cap += strlen(n) + strlen(v) + 4;
	}
	cleanup_free char *resp = xmalloc(cap);
	o += (size_t)snprintf(resp + o, cap - o, "HTTP/1.1 101 Switching Protocols\r\n");
	for (size_t i = 0; i < nh; i++) {
		const char *n, *v;
		http_client_header_at(cl, i, &n, &v);
		o += (size_t)snprintf(resp + o, cap - o, "%s: %s\r\n", n, v);
	}
	o += (size_t)snprintf(resp + o, cap - o, "\r\n");
	const char *extra = NULL;
	size_t extra_len = http_client_buffered(cl, &extra);
	bool ok = write_full(client, resp, o) == 0 &&
		  (!extra_len || write_full(client, extra, extra_len) == 0) &&
		  (!pre_len || write_full(ufd, pre, pre_len) == 0);
	http_client_free(cl);
	if (ok)
		relay_bytes(client, ufd, http_req_server(req));
}

void control_proxy_handle(struct http_req *req, void *userdata)
{
	struct control *c = userdata;
	struct proxy_target t;
	struct wr_err err = {0};
	int r = proxy_route(http_req_header(req, "Host"), http_req_header(req, "E2b-Sandbox-Id"),
			    http_req_header(req, "E2b-Sandbox-Port"), c->cfg->domain, &t, &err);
	if (r < 0) {
		reply_error(req, 400, "%s", wr_err_msg(&err));
		return;
	}
	/* the host's proxy refuses these too; refused here so they never leave the control plane */
	if (proxy_path_host_only(t.port, http_req_path(req))) {
		reply_error(req, 403, "%s is reserved for the host", http_req_path(req));
		return;
	}
	if (http_req_header(req, "Upgrade") && strcasecmp(http_req_method(req), "CONNECT") != 0)
		upgrade(c, req, &t);
	else
		forward(c, req, &t);
}
