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
 * The relay itself is proxy-relay.h's, shared with the single-host proxy: bodies flow both ways
 * as they arrive (one 64 KiB chunk at a time), so exec streams and large files pass; the client
 * connection stays ours (keep-alive, consecutive requests may go to sandboxes on different
 * hosts); an Upgrade goes upstream alone and becomes a byte relay only on a real 101 (nothing
 * pipelined behind it is forwarded unparsed before that).
 *
 * Security: the hosts' proxies are not authenticated (as on one host, the guest's envd checks
 * its access token, the host's proxy the traffic token), so this relay holds no credential; it
 * only reaches the proxy URL a host advertised in a signed heartbeat.
 */
#include "daemon/control-internal.h"
#include "daemon/control.h"
#include "daemon/proxy-relay.h"
#include "daemon/proxy-route.h"
#include "daemon/reply.h"

#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "pg/pg.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

/* A connection to the proxy of the sandbox's host; answers itself when there is none
 * (proxy_hop_ops.connect). */
static int upstream(const struct proxy_hop *hop, struct http_req *req, int *ret_fd)
{
	struct control *c = hop->userdata;
	const struct proxy_target *t = hop->t;
	struct wr_err err = {0};
	cleanup_free char *hid = NULL, *state = NULL, *url = NULL;
	int r = pg_placement_route(c->db, t->id, &hid, &state, &url, &err);
	if (r == -ENOENT) {
		proxy_reply_gone(req, t, 0, "The sandbox was not found");
		return r;
	}
	if (r < 0) {
		log_error("proxy %s: %s", t->id, wr_err_msg(&err));
		reply_error(req, r == -ECONNREFUSED ? 503 : 500, "%s", wr_err_msg(&err));
		return r;
	}
	if (!strcmp(state, "lost") || !strcmp(state, "removed") || !*url) {
		proxy_reply_gone(req, t, 0, "The sandbox's host %s is %s", hid,
				 *url ? state : "not reachable (no proxy URL)");
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

/* True when the client closed its end (polled while an upstream stream is idle). */
static bool client_gone(struct http_req *req)
{
	struct pollfd pf = {.fd = http_req_socket(req), .events = POLLRDHUP};
	return pf.fd < 0 || (poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR)));
}

/* The routing made explicit for the host's proxy (proxy_hop_ops.head): the client's Host is
 * kept, and proxy_header_dropped drops any routing headers the client sent. */
static char *upstream_head(const struct proxy_hop *hop, struct http_req *req, bool upgrade,
			   int64_t clen)
{
	cleanup_free char *route = xasprintf("E2b-Sandbox-Id: %s\r\nE2b-Sandbox-Port: %d\r\n",
					     hop->t->id, hop->t->port);
	return proxy_relay_head(req, upgrade, clen, NULL, route);
}

/* An idle stream (a command that prints nothing yet) is kept; the host's proxy cuts it when the
 * guest stops (proxy_hop_ops.idle). */
static enum proxy_idle upstream_idle(const struct proxy_hop *hop, struct http_req *req)
{
	(void)hop;
	return http_server_stopping(http_req_server(req)) || client_gone(req) ? PROXY_IDLE_CUT
									      : PROXY_IDLE_WAIT;
}

static const struct proxy_hop_ops host_hop = {
	.connect = upstream,
	.head = upstream_head,
	.idle = upstream_idle,
};

void control_proxy_handle(struct http_req *req, void *userdata)
{
	struct control *c = userdata;
	struct proxy_target t;
	/* the host's proxy refuses host-only envd paths too; refused here so they never leave the
	 * control plane */
	if (proxy_relay_route(req, c->cfg->domain, &t) < 0)
		return;
	char name[PROXY_ID_MAX + 32];
	snprintf(name, sizeof(name), "sandbox %s: its host's proxy", t.id);
	struct proxy_hop hop = {.ops = &host_hop, .userdata = c, .t = &t, .name = name};
	proxy_relay(req, &hop);
}
