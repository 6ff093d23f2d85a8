/* SPDX-License-Identifier: MIT */
/*
 * The sandbox-traffic port (default 127.0.0.1:3002): what E2B_SANDBOX_URL points at.
 *
 * Each request goes to a port inside its sandbox, on a fresh upstream connection made by
 * runtime_connect() inside the sandbox's namespace; the relay itself (request head rewritten,
 * bodies as they arrive, upgrades as a byte relay after a real 101) is proxy-relay.h's, shared
 * with the control plane's proxy.  What is sandbox specific is here: traffic tokens,
 * maskRequestHost, auto-resume on traffic, E2B's 502 answers, cutting the streams of stopped
 * guests.
 */
#include "daemon/agent.h"
#include "daemon/proxy-relay.h"
#include "daemon/proxy-route.h"
#include "daemon/reply.h"

#include "basic/cleanup.h"
#include "basic/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* Upstream socket for the target; answers 502 itself when there is none (proxy_hop_ops.connect). */
static int upstream(const struct proxy_hop *hop, struct http_req *req, int *ret_fd)
{
	struct agent *a = hop->userdata;
	const struct proxy_target *t = hop->t;
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
		proxy_reply_gone(req, t, 0, "The sandbox was not found");
	else if (r == -EBUSY && paused)
		proxy_reply_gone(req, t, 0, "The sandbox is paused (resume it with connect)");
	else if (r == -EBUSY)
		proxy_reply_gone(req, t, 0, "The sandbox is not running: %s", wr_err_msg(&err));
	else if (r == -ECONNREFUSED)
		proxy_reply_gone(req, t, t->port, "The sandbox is running but port is not open");
	else if (r < 0)
		proxy_reply_gone(req, t, t->port, "cannot reach port %d in sandbox %s: %s", t->port,
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

/* host: the sandbox's maskRequestHost instead of the client's Host (proxy_hop_ops.head). */
static char *upstream_head(const struct proxy_hop *hop, struct http_req *req, bool upgrade,
			   int64_t clen)
{
	cleanup_free char *mask = target_mask_host(hop->userdata, hop->t);
	return proxy_relay_head(req, upgrade, clen, mask, NULL);
}

/* A response stream that is idle (proxy_hop_ops.idle). */
static enum proxy_idle upstream_idle(const struct proxy_hop *hop, struct http_req *req)
{
	if (http_server_stopping(http_req_server(req)))
		return PROXY_IDLE_END;
	if (sandbox_running(hop->userdata, hop->t->id))
		return PROXY_IDLE_WAIT;
	/* A killed or paused guest never closes its end (its namespace and TAP are gone, no FIN or
	 * RST comes): the stream is cut here, as E2B's proxy cuts it, so the SDK probes health,
	 * gets the 502 and reports the sandbox killed. */
	log_info("proxy %s:%d: sandbox stopped mid-response, connection cut", hop->t->id,
		 hop->t->port);
	return PROXY_IDLE_CUT;
}

static const struct proxy_hop_ops sandbox_hop = {
	.connect = upstream,
	.head = upstream_head,
	.idle = upstream_idle,
};

void proxy_handle(struct http_req *req, void *userdata)
{
	struct agent *a = userdata;
	struct proxy_target t;
	if (proxy_relay_route(req, a->cfg.domain, &t) < 0)
		return;
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
	char name[PROXY_ID_MAX + 32];
	snprintf(name, sizeof(name), "port %d of sandbox %s", t.port, t.id);
	struct proxy_hop hop = {
		.ops = &sandbox_hop,
		.userdata = a,
		.t = &t,
		.name = name,
		.drop_cors = t.port == PROXY_ENVD_PORT,
		.send_error_is_reason = true,
	};
	proxy_relay(req, &hop);
}
