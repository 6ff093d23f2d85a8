/* SPDX-License-Identifier: MIT */
/* Dispatcher of the API port: open routes, then auth, then the route tables. */
#include "daemon/agent.h"
#include "daemon/auth.h"
#include "daemon/reply.h"
#include "daemon/route.h"

#include "basic/log.h"

#include <string.h>
#include <time.h>

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 = served, 0 = path known but not for this method, -1 = unknown path */
static int dispatch(struct agent *a, struct http_req *req, const struct agent_route *table)
{
	const char *method = http_req_method(req), *path = http_req_path(req);
	int found = -1;
	for (const struct agent_route *r = table; r->pattern; r++) {
		struct route_caps caps;
		if (!route_match(r->pattern, path, &caps))
			continue;
		if (strcmp(r->method, method) != 0) {
			route_caps_done(&caps);
			found = 0;
			continue;
		}
		if (auth_check(a->st, req, NULL) == 0)
			r->fn(a, req, caps.v);
		route_caps_done(&caps);
		return 1;
	}
	return found;
}

void api_handle(struct http_req *req, void *userdata)
{
	struct agent *a = userdata;
	const char *method = http_req_method(req), *path = http_req_path(req);
	int64_t t0 = mono_ms();
	if (!strcmp(path, "/health") && (!strcmp(method, "GET") || !strcmp(method, "HEAD"))) {
		reply_json_new(req, 200,
			       json_pack("{s:s,s:s}", "status", "ok", "version", AGENT_VERSION));
		return;
	}
	if (!strcmp(path, "/openapi.yaml") && !strcmp(method, "GET")) {
		agent_openapi(req);
		return;
	}
	int r = dispatch(a, req, agent_v1_routes);
	if (r < 0)
		r = dispatch(a, req, agent_e2b_routes);
	if (r == 0)
		reply_error(req, 405, "method %s not allowed on %s", method, path);
	else if (r < 0)
		reply_error(req, 404, "no route for %s %s", method, path);
	log_debug("%s %s %s (%lld ms)", http_req_peer(req), method, http_req_target(req),
		  (long long)(mono_ms() - t0));
}
