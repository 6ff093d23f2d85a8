/* SPDX-License-Identifier: MIT */
/*
 * The E2B-compatible control plane (e2b.md §2): the exact paths, bodies and success statuses
 * the e2b SDKs expect.  Python decodes only the documented status, so 201 vs 200 vs 204 matter.
 */
#include "daemon/agent.h"
#include "daemon/auth.h"
#include "daemon/envdc.h"
#include "daemon/reply.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "http/json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Resolve the template: unknown -> 404 "template 'x' not found" (E2B's answer), a malformed
 * name -> 400. */
static int resolve_template(struct agent *a, struct http_req *req, const char *name, char **ret)
{
	if (name && !agent_snapshot_visible(a, req, name)) {
		reply_error(req, 404, "template '%s' not found", name);
		return -ENOENT;
	}
	struct wr_err err = {0};
	const char *want = name ? name : RUNTIME_DEFAULT_TEMPLATE;
	int r = runtime_template_resolve(a->rt, want, ret, &err);
	if (r == -ENOENT)
		reply_error(req, 404, "template '%s' not found", want);
	else if (r == -EINVAL)
		reply_error(req, 400, "invalid template: %s", wr_err_msg(&err));
	else if (r < 0)
		agent_reply_rt_error(req, r, &err);
	return r;
}

static int create_req_read(struct http_req *req, enum agent_dialect d, bool default_internet,
			   struct create_req *ret)
{
	cleanup_json json_t *body = NULL;
	if (reply_read_json(req, REPLY_MAX_JSON_BODY, d == AGENT_V1, &body) < 0)
		return -EINVAL;
	struct wr_err err = {0};
	int r = d == AGENT_V1 ? view_parse_v1_create(body, ret, &err)
			      : view_parse_e2b_create(body, d == AGENT_E2B_V2, ret, &err);
	/* --default-internet=false: an E2B create that does not ask for internet access (no
	 * allow_internet_access, no network.allowOut) gets none (E2B's own default is on) */
	if (r == 0 && d != AGENT_V1 && !default_internet &&
	    !json_object_get(body, "allow_internet_access") && !(ret->allow_out && *ret->allow_out))
		ret->allow_internet = false;
	if (r < 0)
		reply_error(req, 400, "%s", wr_err_msg(&err));
	return r;
}

static int create_from(struct agent *a, struct http_req *req, struct create_req *c,
		       struct runtime_info *ret)
{
	cleanup_free char *tpl = NULL;
	int r = resolve_template(a, req, c->template, &tpl);
	if (r < 0)
		return r;
	if (c->timeout_s > INT32_MAX)
		c->timeout_s = INT32_MAX;
	struct runtime_volume_mount vm[4] = {0};
	size_t nvm = 0;
	for (; c->volume_mounts && nvm < json_array_size(c->volume_mounts) && nvm < 4; nvm++) {
		json_t *m = json_array_get(c->volume_mounts, nvm);
		vm[nvm].volume = json_string_value(json_object_get(m, "name"));
		vm[nvm].path = json_string_value(json_object_get(m, "path"));
	}
	struct runtime_create_spec spec = {
		.template = tpl,
		.vcpus = c->vcpus,
		.memory_mb = c->memory_mb,
		.timeout_s = (int)c->timeout_s,
		.env_vars = c->env,
		.metadata = c->metadata,
		.allow_internet = c->allow_internet,
		.secure = c->secure,
		.allow_out = c->allow_out,
		.deny_out = c->deny_out,
		.private_traffic = c->private_traffic,
		.mask_host = c->mask_host,
		.team = auth_team(req),
		.volumes = vm,
		.n_volumes = nvm,
	};
	struct wr_err err = {0};
	r = runtime_create(a->rt, &spec, ret, &err);
	if (r < 0) {
		log_warn("create from %s: %s", tpl, wr_err_msg(&err));
		/* the template resolved, so ENOENT here is a missing kernel or image file */
		if (r == -ENOENT)
			reply_error(req, 503, "cannot create: %s", wr_err_msg(&err));
		else
			agent_reply_rt_error(req, r, &err);
		return r;
	}
	if (c->lifecycle) {
		/* set before the reply: the reaper reads it at the timeout, the proxy on traffic */
		r = store_sandbox_set_lifecycle(a->st, ret->id, c->lifecycle, &err);
		if (r < 0) {
			log_error("create %s: lifecycle: %s", ret->id, wr_err_msg(&err));
			struct wr_err e2 = {0};
			if (runtime_destroy(a->rt, ret->id, &e2) < 0)
				log_warn("destroy %s: %s", ret->id, wr_err_msg(&e2));
			runtime_info_done(ret);
			reply_error(req, 500, "cannot record the lifecycle policy: %s",
				    wr_err_msg(&err));
			return r;
		}
	}
	log_info("created %s from %s (%d vcpu, %d MiB)", ret->id, ret->template, ret->vcpus,
		 ret->memory_mb);
	return 0;
}

int agent_create(struct agent *a, struct http_req *req, enum agent_dialect d,
		 struct runtime_info *ret)
{
	struct create_req c;
	int r = create_req_read(req, d, a->cfg.default_internet, &c);
	if (r < 0)
		return r;
	r = create_from(a, req, &c, ret);
	create_req_done(&c);
	return r;
}

static void create(struct agent *a, struct http_req *req, bool v2)
{
	struct runtime_info info = {0};
	if (agent_create(a, req, v2 ? AGENT_E2B_V2 : AGENT_E2B, &info) < 0)
		return;
	struct sbx_view v;
	agent_view(&info, &v);
	reply_json_new(req, 201, view_e2b_sandbox(&v, true));
	runtime_info_done(&info);
}

static void e2b_create(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	create(a, req, false);
}

static void e2b_create_v2(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	create(a, req, true);
}

static void list(struct agent *a, struct http_req *req, bool v2)
{
	struct wr_err err = {0};
	struct runtime_filter f = {.states = (1u << STORE_SB_RUNNING) | (1u << STORE_SB_PAUSED)};
	if (!v2)
		f.states = (1u << STORE_SB_RUNNING);
	const char *q = http_req_query(req, "state");
	if (v2 && q && *q) {
		unsigned bits = 0;
		if (view_parse_states(q, &bits, &err) < 0) {
			reply_error(req, 400, "%s", wr_err_msg(&err));
			return;
		}
		f.states = bits;
	}
	/* v2: order (by start time, newest first by default) and startedAfter */
	bool asc = false;
	int64_t after = 0;
	const char *o = v2 ? http_req_query(req, "order") : NULL;
	const char *sa = v2 ? http_req_query(req, "startedAfter") : NULL;
	if (o && *o && strcmp(o, "desc") != 0) {
		if (strcmp(o, "asc") != 0) {
			reply_error(req, 400, "order must be asc or desc");
			return;
		}
		asc = true;
	}
	if (sa && *sa && view_parse_rfc3339(sa, &after) < 0) {
		reply_error(req, 400, "startedAfter must be an RFC 3339 time");
		return;
	}
	int limit = 100;
	struct runtime_info *rows = NULL;
	size_t n = 0;
	if (agent_list(a, req, &f, true, &limit, &rows, &n) < 0)
		return;
	if (after > 0) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++) {
			int64_t started =
				rows[i].started_at ? rows[i].started_at : rows[i].created_at;
			if (started >= after)
				rows[k++] = rows[i];
			else
				runtime_info_done(&rows[i]);
		}
		n = k;
	}
	for (size_t i = 0; asc && i < n / 2; i++) {
		struct runtime_info tmp = rows[i];
		rows[i] = rows[n - 1 - i];
		rows[n - 1 - i] = tmp;
	}
	size_t start = 0, count = n;
	cleanup_free char *next = NULL;
	if (v2)
		agent_page_dir(rows, n, http_req_query(req, "nextToken"), limit, asc, &start,
			       &count, &next);
	json_t *arr = agent_view_array(rows, n, start, count, view_e2b_detail);
	size_t vi;
	json_t *item;
	json_array_foreach(arr, vi, item)
	{
		const char *sid = json_string_value(json_object_get(item, "sandboxID"));
		if (sid)
			json_object_set_new(item, "volumeMounts", e2b_volume_mounts_json(a, sid));
	}
	if (next)
		http_resp_header(req, "X-Next-Token", next);
	reply_json_new(req, 200, arr);
}

static void e2b_list(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	list(a, req, false);
}

static void e2b_list_v2(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	list(a, req, true);
}

static void e2b_get(struct agent *a, struct http_req *req, char **caps)
{
	struct runtime_info info = {0};
	if (agent_get_or_reply(a, req, caps[0], &info) < 0)
		return;
	struct sbx_view v;
	agent_view(&info, &v);
	struct store_sandbox row = {0};
	if (store_sandbox_get(a->st, info.id, &row, NULL) == 0) {
		v.lifecycle_known = true;
		v.lifecycle = row.lifecycle;
		store_sandbox_done(&row);
	}
	json_t *o = view_e2b_detail(&v, true);
	json_object_set_new(o, "volumeMounts", e2b_volume_mounts_json(a, info.id));
	reply_json_new(req, 200, o);
	runtime_info_done(&info);
}

/* {field: seconds} into *ret_value: 1 given, 0 absent (*ret_value untouched), -errno after
 * answering 400 (reply.h's handler convention). */
static int body_timeout(struct http_req *req, const char *field, int *ret_value)
{
	cleanup_json json_t *body = NULL;
	int r = reply_read_json(req, REPLY_MAX_JSON_BODY, false, &body);
	if (r < 0)
		return r;
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v)
	{
		(void)v;
		if (strcmp(k, field) != 0) { /* e.g. the legacy /resume's autoPause */
			reply_error(req, 400, "%s is not supported here (this route takes only %s)",
				    k, field);
			return -EINVAL;
		}
	}
	json_t *t = json_object_get(body, field);
	if (!t || json_is_null(t))
		return 0;
	if (!json_is_integer(t) || json_integer_value(t) < 0 ||
	    json_integer_value(t) > 30 * 24 * 3600) {
		reply_error(req, 400, "%s must be an integer number of seconds", field);
		return -EINVAL;
	}
	*ret_value = (int)json_integer_value(t);
	return 1;
}

static void reply_sandbox(struct agent *a, struct http_req *req, const char *id, int status)
{
	struct runtime_info info = {0};
	if (agent_get_or_reply(a, req, id, &info) < 0)
		return;
	struct sbx_view v;
	agent_view(&info, &v);
	reply_json_new(req, status, view_e2b_sandbox(&v, true));
	runtime_info_done(&info);
}

static void connect_or_resume(struct agent *a, struct http_req *req, const char *id, bool legacy)
{
	int timeout = VIEW_DEFAULT_TIMEOUT_S;
	int given = body_timeout(req, "timeout", &timeout);
	if (given < 0)
		return;
	struct runtime_info info = {0};
	if (agent_get_or_reply(a, req, id, &info) < 0)
		return;
	enum store_sb_state st = info.state;
	int64_t end_at = info.end_at;
	runtime_info_done(&info);
	struct wr_err err = {0};
	int r;
	if (st == STORE_SB_PAUSED) {
		r = runtime_resume(a->rt, id, timeout, &err);
		if (r < 0) {
			agent_reply_rt_error(req, r, &err);
			return;
		}
		log_info("resumed %s", id);
		reply_sandbox(a, req, id, 201);
		return;
	}
	if (st != STORE_SB_RUNNING) {
		reply_error(req, 409, "sandbox %s is %s", id, store_sb_state_name(st));
		return;
	}
	if (legacy) {
		reply_error(req, 409, "sandbox %s is already running", id);
		return;
	}
	/* connecting never shortens a sandbox's life */
	int64_t want = store_now_ms() + (int64_t)timeout * 1000;
	if (given > 0 && end_at > 0 && want > end_at) {
		r = runtime_set_timeout(a->rt, id, timeout, &err);
		if (r < 0) {
			agent_reply_rt_error(req, r, &err);
			return;
		}
	}
	reply_sandbox(a, req, id, 200);
}

static void e2b_connect(struct agent *a, struct http_req *req, char **caps)
{
	connect_or_resume(a, req, caps[0], false);
}

static void e2b_resume(struct agent *a, struct http_req *req, char **caps)
{
	connect_or_resume(a, req, caps[0], true);
}

static void set_timeout(struct agent *a, struct http_req *req, const char *id, const char *field)
{
	int timeout = 0;
	int given = body_timeout(req, field, &timeout);
	if (given < 0)
		return;
	if (given == 0) {
		reply_error(req, 400, "%s is required", field);
		return;
	}
	agent_set_timeout(a, req, id, timeout);
}

static void e2b_timeout(struct agent *a, struct http_req *req, char **caps)
{
	set_timeout(a, req, caps[0], "timeout");
}

static void e2b_refresh(struct agent *a, struct http_req *req, char **caps)
{
	set_timeout(a, req, caps[0], "duration");
}

static void e2b_pause(struct agent *a, struct http_req *req, char **caps)
{
	cleanup_json json_t *body = NULL; /* read to validate it; nothing in it is used */
	if (reply_read_json(req, REPLY_MAX_JSON_BODY, false, &body) < 0)
		return;
	struct runtime_info info = {0};
	if (agent_get_or_reply(a, req, caps[0], &info) < 0)
		return;
	enum store_sb_state st = info.state;
	runtime_info_done(&info);
	if (st == STORE_SB_PAUSED) {
		reply_error(req, 409, "sandbox %s is already paused", caps[0]);
		return;
	}
	agent_pause(a, req, caps[0]);
}

/* An E2B route wrenn does not serve: 501 naming it, never the 404 an SDK reads as "not found". */
static void e2b_not_implemented(struct agent *a, struct http_req *req, char **caps)
{
	(void)a;
	(void)caps;
	reply_error(req, 501,
		    "%s %s is an E2B API route wrenn does not implement (see docs/E2B-COMPAT.md)",
		    http_req_method(req), http_req_path(req));
}

const struct agent_route agent_e2b_routes[] = {
	{"POST", "/sandboxes", e2b_create},
	{"POST", "/v2/sandboxes", e2b_create_v2},
	{"GET", "/sandboxes", e2b_list},
	{"GET", "/v2/sandboxes", e2b_list_v2},
	{"GET", "/sandboxes/metrics", e2b_metrics_list}, /* before GET /sandboxes/{id} */
	{"GET", "/sandboxes/*", e2b_get},
	{"DELETE", "/sandboxes/*", agent_kill},
	{"POST", "/sandboxes/*/connect", e2b_connect},
	{"POST", "/v2/sandboxes/*/connect", e2b_connect},
	{"POST", "/sandboxes/*/resume", e2b_resume},
	{"POST", "/sandboxes/*/timeout", e2b_timeout},
	{"PUT", "/sandboxes/*/network", e2b_network_update},
	{"POST", "/sandboxes/*/refreshes", e2b_refresh},
	{"POST", "/sandboxes/*/pause", e2b_pause},
	{"GET", "/sandboxes/*/metrics", e2b_metrics},
	{"GET", "/sandboxes/*/logs", e2b_logs},
	{"GET", "/v2/sandboxes/*/logs", e2b_logs_v2},
	{"GET", "/metrics", agent_prometheus},
	{"POST", "/sandboxes/*/snapshots", e2b_snapshot_create},
	{"POST", "/sandboxes/*/fork", e2b_fork},
	{"GET", "/snapshots", e2b_snapshot_list},
	{"POST", "/volumes", e2b_volumes_create},
	{"GET", "/volumes", e2b_volumes_list},
	{"GET", "/volumes/*", e2b_volumes_get},
	{"DELETE", "/volumes/*", e2b_volumes_delete},
	{"POST", "/v3/templates", e2b_template_request},
	{"GET", "/templates/*/files/*", e2b_template_files},
	{"POST", "/v2/templates/*/builds/*", e2b_template_build_start},
	{"GET", "/templates/*/builds/*/status", e2b_template_build_status},
	{"GET", "/templates/aliases/*", e2b_template_alias},
	{"POST", "/templates/tags", e2b_template_tags_assign},
	{"DELETE", "/templates/tags", e2b_template_tags_remove},
	{"GET", "/templates/*/tags", e2b_template_tags_list},
	{"GET", "/templates", e2b_template_list},
	{"DELETE", "/templates/*", e2b_template_remove},
	{"POST", "/templates", e2b_template_unsupported},
	{"POST", "/v2/templates", e2b_template_request_v2},
	{"POST", "/templates/*", e2b_template_unsupported},
	{"PATCH", "/templates/*", e2b_template_unsupported},
	{"POST", "/templates/*/builds/*", e2b_template_unsupported},
	/* E2B routes the SDKs know and wrenn does not serve (docs/E2B-COMPAT.md) */
	{"GET", "/secrets", e2b_not_implemented},
	{"POST", "/secrets", e2b_not_implemented},
	{"GET", "/secrets/*", e2b_not_implemented},
	{"POST", "/secrets/*", e2b_not_implemented},
	{"DELETE", "/secrets/*", e2b_not_implemented},
	{"GET", "/teams", e2b_not_implemented},
	{"GET", "/teams/*/metrics", e2b_not_implemented},
	{"GET", "/teams/*/metrics/max", e2b_not_implemented},
	{"GET", "/templates/*", e2b_not_implemented},
	{"GET", "/templates/*/builds/*/logs", e2b_not_implemented},
	{"GET", "/v2/templates", e2b_not_implemented},
	{"PATCH", "/v2/templates/*", e2b_not_implemented},
	{"GET", "/default-templates", e2b_not_implemented},
	{"GET", "/templates/*/tags/count", e2b_not_implemented},
	{"GET", "/templates/*/tags/exists", e2b_not_implemented},
	{"GET", "/templates/*/tags/groups", e2b_not_implemented},
	{"GET", "/templates/*/tags/*/assignments", e2b_not_implemented},
	{NULL, NULL, NULL},
};
