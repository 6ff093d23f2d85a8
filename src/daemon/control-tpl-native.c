/* SPDX-License-Identifier: MIT */
/*
 * The native template builds through the control plane (control-templates-internal.h), the
 * routes of one host's snapshots.c v1_template_build and v1-builds.c:
 *
 *   POST /v1/templates/{name}/build {from, vcpus, memoryMB}     (wrenn templates build NAME)
 *       a snapshot template made synchronously from `from`; answered 201 by the host.
 *   POST /v1/templates/{name}/builds?dockerfile=&cpuCount=&memoryMB=&force=   body: tar of the
 *       build context (wrenn templates build -f Dockerfile -t NAME) -> 202 {buildID, ...}
 *   GET  /v1/templates/{name}/builds/{build}
 *       the build's status from its host, recorded as last seen (ctpl_build_poll).
 *
 * As E2B's builds (control-templates.c): a name that has a row goes to its build host; a new
 * name is claimed for the caller's team on a ready host, least loaded counting creates in flight
 * (ctpl_claim), or, for /build from a template that has a row, on the host that built that
 * template (it has it; a name's existing build host may not, and then answers 404).  Every call
 * goes as a signed call for the caller's team.  Tenancy is the row's: another team's name is 409
 * on a build (names are one namespace) and 404 on a status poll, and a `from` of another team's
 * template is 404, all decided before any host is called (the host's own native routes do not
 * check teams).  The build context is signed whole for the host, so it is at most
 * HOST_CALL_MAX_BODY; a larger one answers 413 (send it to a host's own API).
 */
#include "daemon/control-team.h"
#include "daemon/control-templates-internal.h"
#include "daemon/host-call.h"
#include "daemon/reply.h"
#include "daemon/route.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A snapshot build boots the source and snapshots it (QEMU TCG: minutes). */
#define NATIVE_SNAPSHOT_TIMEOUT_MS 900000

/* A name the control plane records (the host checks the exact rule: build/engine.c name_ok). */
static bool name_plausible(const char *n)
{
	size_t l = strlen(n);
	if (!l || l > 128)
		return false;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return false;
	return true;
}

/* A query integer for scheduling and the build row (0 when absent or not one: the host checks
 * the exact range and answers 400). */
static int query_int(struct http_req *req, const char *name)
{
	const char *q = http_req_query(req, name);
	char *end = NULL;
	long v = q ? strtol(q, &end, 10) : 0;
	return q && *q && !*end && v > 0 && v <= (1L << 20) ? (int)v : 0;
}

/* POST /v1/templates/{name}/build: claimed, forwarded (synchronous); no build id to record. */
static void snapshot_build(struct control *c, struct http_req *req, const char *team,
			   const char *name)
{
	cleanup_free char *raw = NULL;
	size_t len = 0;
	cleanup_json json_t *body = NULL;
	int r = 0;
	if (control_read_json(req, &raw, &len, &body) < 0)
		return;
	json_t *jm = json_object_get(body, "memoryMB");
	int64_t mem = json_is_integer(jm) && json_integer_value(jm) > 0 ? json_integer_value(jm)
									: TPL_DEFAULT_MEMORY_MB;
	/* `from`: another team's template is 404 as one that does not exist; one with a row is
	 * on its build host; one without (a built-in image) is on every host */
	const char *from = json_string_value(json_object_get(body, "from"));
	struct pg_template ft = {0};
	struct wr_err err = {0};
	bool from_row = false;
	if (from && *from) {
		cleanup_free char *fid = xstrndup(from, strcspn(from, ":"));
		r = pg_template_get(c->db, fid, &ft, &err);
		if (r == 0 && !control_may_see(team, ft.team)) {
			pg_template_done(&ft);
			reply_error(req, 404, "template %s not found", from);
			return;
		}
		if (r < 0 && r != -ENOENT) {
			control_reply_pg_error(req, r, &err);
			return;
		}
		from_row = r == 0;
	}
	struct pg_template t = {0};
	struct pg_host h = {0};
	bool created = false;
	r = ctpl_claim(c, req, team, name, mem, from_row ? ft.host_id : NULL, &t, &h, &created);
	pg_template_done(&ft);
	if (r < 0)
		return;
	int status = 0;
	cleanup_free char *resp = NULL;
	size_t rlen = 0;
	if (ctpl_forward(c, req, &h, team, raw, len, NATIVE_SNAPSHOT_TIMEOUT_MS, &status, &resp,
			 &rlen) < 0) {
		if (created)
			pg_template_delete(c->db, name, true, NULL);
		goto out;
	}
	if (status / 100 == 2)
		log_info("template %s (team %s): snapshot built from %s on host %s", name,
			 *t.team ? t.team : "-", from && *from ? from : "the default", h.id);
	else if (created) /* the host refused it: the name is not taken here */
		pg_template_delete(c->db, name, true, NULL);
	ctpl_relay(req, h.id, status, resp, rlen);
out:
	pg_template_done(&t);
	pg_host_done(&h);
}

/* POST /v1/templates/{name}/builds: claimed, the context forwarded, the build recorded. */
static void dockerfile_build(struct control *c, struct http_req *req, const char *team,
			     const char *name)
{
	cleanup_free char *raw = NULL;
	size_t len = 0;
	int r = http_req_read_all(req, HOST_CALL_MAX_BODY, &raw, &len);
	if (r < 0) {
		if (r == -EFBIG)
			reply_error(req, 413,
				    "a build context through the control plane is at most %d MiB "
				    "(it is signed whole for the host); send a larger one to a "
				    "host's own API",
				    HOST_CALL_MAX_BODY >> 20);
		else
			reply_error(req, 400, "reading the build context: %s", strerror(-r));
		return;
	}
	int cpu = query_int(req, "cpuCount"), mem = query_int(req, "memoryMB");
	struct pg_template t = {0};
	struct pg_host h = {0};
	bool created = false;
	if (ctpl_claim(c, req, team, name, mem > 0 ? mem : TPL_DEFAULT_MEMORY_MB, NULL, &t, &h,
		       &created) < 0)
		return;
	int status = 0;
	cleanup_free char *resp = NULL;
	size_t rlen = 0;
	cleanup_json json_t *jr = NULL; /* before the goto: its cleanup runs at out too */
	if (ctpl_forward(c, req, &h, team, raw, len, TPL_TIMEOUT_MS, &status, &resp, &rlen) < 0) {
		if (created)
			pg_template_delete(c->db, name, true, NULL);
		goto out;
	}
	if (status / 100 == 2)
		jr = json_loadb(resp, rlen, 0, NULL);
	const char *bid = json_string_value(json_object_get(jr, "buildID"));
	struct wr_err err = {0};
	if (bid) {
		/* the host started it at once: building, until a status poll sees more */
		if (pg_build_put(c->db, bid, name, h.id, cpu, mem, &err) < 0 ||
		    pg_build_set_status(c->db, bid, "building", &err) < 0)
			log_error("template %s build %s not recorded: %s", name, bid,
				  wr_err_msg(&err));
		log_info("template %s (team %s): Dockerfile build %s started on host %s", name,
			 *t.team ? t.team : "-", bid, h.id);
	} else if (created) {
		pg_template_delete(c->db, name, true, NULL);
	}
	ctpl_relay(req, h.id, status, resp, rlen);
out:
	pg_template_done(&t);
	pg_host_done(&h);
}

void ctpl_native(struct control *c, struct http_req *req)
{
	const char *method = http_req_method(req), *path = http_req_path(req);
	bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
	struct route_caps k = {0};
	enum { NONE, SNAPSHOT, DOCKERFILE, STATUS } op = NONE;
	if (post && route_match("/v1/templates/*/build", path, &k))
		op = SNAPSHOT;
	else if (post && route_match("/v1/templates/*/builds", path, &k))
		op = DOCKERFILE;
	else if (get && route_match("/v1/templates/*/builds/*", path, &k))
		op = STATUS;
	if (op == NONE) {
		route_caps_done(&k);
		reply_error(req, 501,
			    "%s %s is not served by the control plane: of /v1/templates/... it "
			    "serves POST /v1/templates/{name}/build, POST "
			    "/v1/templates/{name}/builds and GET /v1/templates/{name}/builds/{id}",
			    method, path);
		return;
	}
	cleanup_free char *team = NULL;
	if (control_caller(c, req, &team) < 0) {
		route_caps_done(&k);
		return;
	}
	if (op != STATUS && !name_plausible(k.v[0]))
		reply_error(req, 400, "template name %s: 1..128 of [a-z0-9._-]", k.v[0]);
	else if (op == SNAPSHOT)
		snapshot_build(c, req, team, k.v[0]);
	else if (op == DOCKERFILE)
		dockerfile_build(c, req, team, k.v[0]);
	else
		ctpl_build_poll(c, req, team, k.v[0], k.v[1]);
	route_caps_done(&k);
}
