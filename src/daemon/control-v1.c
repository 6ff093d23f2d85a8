/* SPDX-License-Identifier: MIT */
/*
 * The native per-sandbox routes on the control plane (control-internal.h): /v1/sandboxes/{id}
 * and its timeout, pause, resume, logs, exec, files and pty, each forwarded to the host
 * its placement names as a signed call for the caller's team (the host applies its own tenancy
 * too), the answer streamed back as it comes (control-call.c): exec output and file downloads
 * flow chunk by chunk, logs keep their X-Next-Token, the pty's 101 becomes a byte relay.
 *
 * Before any host is called: another team's sandbox is 404 like an unknown id
 * (control_sandbox_host); a sandbox whose host is lost reports `state: lost` on GET
 * /v1/sandboxes/{id} and 503 on everything else, as the E2B routes do.
 *
 * Request bodies (an exec's JSON, a file upload) are read whole first: the call's signature covers
 * them and the host buffers a signed call's body anyway, so one is at most HOST_CALL_MAX_BODY
 * (16 MiB) through the control plane; a larger upload answers 413 saying so.
 */
#include "daemon/control-internal.h"
#include "daemon/host-call.h"
#include "daemon/reply.h"
#include "daemon/route.h"

#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "pg/pg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* method, pattern; the first two are the sandbox itself (GET: info, DELETE: kill) */
static const char *const v1_ops[] = {
	"GET",	  "/v1/sandboxes/*",
	"DELETE", "/v1/sandboxes/*",
	"POST",	  "/v1/sandboxes/*/timeout",
	"POST",	  "/v1/sandboxes/*/pause",
	"POST",	  "/v1/sandboxes/*/resume",
	"GET",	  "/v1/sandboxes/*/logs",
	"POST",	  "/v1/sandboxes/*/exec",
	"POST",	  "/v1/sandboxes/*/pty",
	"GET",	  "/v1/sandboxes/*/pty",
	"PUT",	  "/v1/sandboxes/*/files",
	"GET",	  "/v1/sandboxes/*/files",
	"DELETE", "/v1/sandboxes/*/files",
	"GET",	  "/v1/sandboxes/*/files/list",
	"GET",	  "/v1/sandboxes/*/files/stat",
	"POST",	  "/v1/sandboxes/*/files/mkdir",
	"POST",	  "/v1/sandboxes/*/files/move",
	NULL,
};

/* The op's index (caps filled), -1 when no pattern matches the path, -2 when one does but not
 * with this method. */
static int v1_op(const char *method, const char *path, struct route_caps *caps)
{
	bool path_seen = false;
	for (size_t i = 0; v1_ops[i]; i += 2) {
		if (!route_match(v1_ops[i + 1], path, caps))
			continue;
		if (!strcmp(v1_ops[i], method))
			return (int)(i / 2);
		path_seen = true;
		route_caps_done(caps);
	}
	return path_seen ? -2 : -1;
}

static void forward(struct control *c, struct http_req *req, int op, const char *id,
		    const char *team)
{
	const char *method = http_req_method(req);
	bool upgrade = http_req_header(req, "Upgrade") != NULL;
	cleanup_free char *body = NULL;
	size_t blen = 0;
	int r = http_req_read_all(req, HOST_CALL_MAX_BODY, &body, &blen);
	if (r < 0) {
		if (r == -EFBIG)
			reply_error(
				req, 413,
				"a request body through the control plane is at most %d MiB (it "
				"is signed whole for the host); send larger files to the host's "
				"own API",
				HOST_CALL_MAX_BODY >> 20);
		else
			reply_error(req, 400, "body: %s", strerror(-r));
		return;
	}
	struct pg_host h = {0};
	if (control_sandbox_host(c, req, id, team, &h) < 0)
		return;
	if (!strcmp(h.state, "lost") && op == 0) {
		/* what is known without the host: where it was placed, and that it is out of reach */
		reply_json_new(req, 200,
			       json_pack("{s:s,s:s,s:s,s:s}", "id", id, "state", "lost", "hostId",
					 h.id, "message",
					 "the sandbox's host missed its heartbeats"));
		pg_host_done(&h);
		return;
	}
	if (!strcmp(h.state, "lost") || !*h.api_url) {
		reply_error(req, 503, "sandbox %s: its host %s is %s", id, h.id, h.state);
		pg_host_done(&h);
		return;
	}
	struct control_call cc = {
		.host_id = h.id,
		.api_url = h.api_url,
		.team = team,
		.method = method,
		.target = http_req_target(req),
		.content_type = blen ? http_req_header(req, "Content-Type") : NULL,
		.body = body,
		.len = blen,
		.timeout_ms = CONTROL_FORWARD_TIMEOUT_MS,
	};
	struct wr_err err = {0};
	struct http_client *cl = NULL;
	double t0 = mono_ms();
	r = control_call_open(c, &cc, req, &cl, &err);
	double host_ms = mono_ms() - t0;
	if (r < 0) {
		log_warn("sandbox %s: %s %s: %s", id, method, http_req_path(req), wr_err_msg(&err));
		reply_error(req, r == -ETIMEDOUT ? 504 : 502, "sandbox %s: %s", id,
			    wr_err_msg(&err));
		pg_host_done(&h);
		return;
	}
	int status = http_client_status(cl);
	if (op == 1 && (status / 100 == 2 || status == 404) &&
	    pg_placement_delete(c->db, id, "killed through the control plane", &err) < 0)
		log_error("sandbox %s: placement not removed: %s", id, wr_err_msg(&err));
	http_resp_header(req, "X-Wrenn-Host", h.id);
	http_resp_headerf(req, "Server-Timing", "host;dur=%.2f", host_ms);
	if (upgrade)
		control_call_upgrade(req, cl);
	else
		control_call_relay(req, cl, false);
	http_client_free(cl);
	pg_host_done(&h);
}

bool control_v1_handle(struct control *c, struct http_req *req)
{
	const char *method = http_req_method(req), *path = http_req_path(req);
	if (strncmp(path, "/v1/sandboxes/", 14) != 0)
		return false;
	struct route_caps caps = {0};
	int op = v1_op(method, path, &caps);
	if (op == -1)
		return false;
	if (op == -2) {
		reply_error(req, 405, "method %s not allowed on %s", method, path);
		return true;
	}
	cleanup_free char *team = NULL;
	if (control_caller(c, req, &team) == 0)
		forward(c, req, op, caps.v[0], team);
	route_caps_done(&caps);
	return true;
}
