/* SPDX-License-Identifier: MIT */
/* Dispatcher of the API port: open routes, then auth, then the route tables. */
#include "daemon/agent.h"
#include "daemon/auth.h"
#include "daemon/reply.h"
#include "daemon/route.h"
#include "daemon/static.h"
#include "daemon/tplxfer.h"

#include "basic/log.h"
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Is `pattern` a route on one sandbox (/sandboxes/ID..., also under /v1 and /v2, where the
 * pattern has a wildcard for ID)?  Then caps[0] is its id. */
static bool sandbox_route(const char *pattern)
{
	if (!strncmp(pattern, "/v1/", 4) || !strncmp(pattern, "/v2/", 4))
		pattern += 3;
	return !strncmp(pattern, "/sandboxes/*", 12);
}

/*
 * Tenancy, enforced here once for every route rather than in each handler: a team key reaching
 * another team's sandbox gets the same 404 as for an id that does not exist (ids cannot be
 * probed across teams); keys and teams are the operator's.  Lists and creates take the team
 * from auth_team() in agent.c.  Returns 0 to go on, < 0 after answering.
 */
static int tenancy(struct agent *a, struct http_req *req, const char *pattern, char **caps)
{
	if (auth_is_operator(req))
		return 0;
	if (!strncmp(pattern, "/v1/keys", 8) || !strncmp(pattern, "/v1/teams", 9)) {
		reply_error(req, 403, "API keys and teams are managed with an operator key");
		return -EPERM;
	}
	if (sandbox_route(pattern) && caps && caps[0]) {
		struct store_sandbox sb = {0};
		struct wr_err err = {0};
		if (store_sandbox_get(a->st, caps[0], &sb, &err) == 0) {
			bool mine = auth_may_see(req, sb.team);
			store_sandbox_done(&sb);
			if (!mine) {
				reply_error(req, 404, "sandbox %s not found", caps[0]);
				return -ENOENT;
			}
		}
	}
	return 0;
}

/* The dashboard's directory when web_dir is not set: found once, next to the binary. */
static char *default_web_dir;
static void find_web_dir(void)
{
	default_web_dir = static_default_dir("/proc/self/exe");
}

static const char *web_dir(const struct agent *a)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	if (a->cfg.web_dir)
		return a->cfg.web_dir;
	pthread_once(&once, find_web_dir);
	return default_web_dir;
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
		struct auth_caller caller = {0};
		if (auth_check(a->st, req, &caller) == 0) {
			http_req_set_ctx(req, &caller);
			if (tenancy(a, req, r->pattern, caps.v) == 0)
				r->fn(a, req, caps.v);
			http_req_set_ctx(req, NULL);
		}
		auth_caller_done(&caller);
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
	if (static_handle(req, web_dir(a))) /* the dashboard's own files: no data, no key */
		return;
	if (!strncmp(path, "/build-files/", 13)) { /* template file uploads: token, no API key */
		e2b_build_files_put(a, req);
		return;
	}
	if (!strncmp(path, "/volumecontent/", 15)) { /* volume content: the volume's token */
		e2b_volume_content(a, req);
		return;
	}
	if (tplxfer_handle(a, req)) /* a fetch token, or the control plane's call */
		return;
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
