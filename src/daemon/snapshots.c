/* SPDX-License-Identifier: MIT */
/*
 * Snapshots, fork and template builds through both APIs.  E2B (e2b.md §2):
 * createSnapshot 201 {snapshotID, names[]}, listSnapshots 200 [..] with
 * X-Next-Token, deleteSnapshot = DELETE /templates/{id} 204, fork 201
 * [{sandbox}|{error}].  Native: docs/openapi.yaml's Snapshot and Template.
 */
#include "daemon/agent.h"
#include "daemon/auth.h"
#include "store/store.h"
#include "daemon/reply.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Optional string field of an optional JSON body; -EINVAL after answering 400. */
static int body_str(json_t *body, const char *key, const char **ret, struct http_req *req)
{
	json_t *v = json_object_get(body, key);
	*ret = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		reply_error(req, 400, "%s must be a string", key);
		return -EINVAL;
	}
	*ret = json_string_value(v);
	return 0;
}

static int body_int(json_t *body, const char *key, long long lo, long long hi, long long *ret,
		    struct http_req *req)
{
	json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		reply_error(req, 400, "%s must be an integer from %lld to %lld", key, lo, hi);
		return -EINVAL;
	}
	*ret = json_integer_value(v);
	return 0;
}

static json_t *e2b_snapshot_json(const struct runtime_snapshot *sn)
{
	json_t *names = json_array();
	json_array_append_new(names, json_string(sn->name ? sn->name : sn->id));
	return json_pack("{s:s, s:o}", "snapshotID", sn->id, "names", names);
}

static json_t *v1_snapshot_json(const struct runtime_snapshot *sn)
{
	char ts[40];
	view_rfc3339(sn->created_at, ts, sizeof(ts));
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "id", sn->id, "sandboxId",
			      sn->sandbox_id, "template", sn->template, "sizeBytes",
			      (json_int_t)sn->size_allocated, "apparentBytes",
			      (json_int_t)sn->size_apparent, "createdAt", ts);
	if (sn->name)
		json_object_set_new(o, "name", json_string(sn->name));
	if (sn->vcpus > 0)
		json_object_set_new(o, "vcpus", json_integer(sn->vcpus));
	if (sn->memory_mb > 0)
		json_object_set_new(o, "memoryMB", json_integer(sn->memory_mb));
	return o;
}

static void snapshot_create(struct agent *a, struct http_req *req, const char *id, bool e2b)
{
	cleanup_json json_t *body = NULL;
	if (reply_read_json(req, REPLY_MAX_JSON_BODY, false, &body) < 0)
		return;
	const char *name = NULL;
	if (body_str(body, "name", &name, req) < 0)
		return;
	struct runtime_snapshot sn = {0};
	struct wr_err err = {0};
	int r = runtime_snapshot_create(a->rt, id, name, &sn, &err);
	if (r < 0) {
		agent_reply_rt_error(req, r, &err);
		return;
	}
	log_info("snapshot %s of %s", sn.id, id);
	reply_json_new(req, 201, e2b ? e2b_snapshot_json(&sn) : v1_snapshot_json(&sn));
	runtime_snapshot_done(&sn);
}

bool agent_snapshot_visible(struct agent *a, struct http_req *req, const char *id)
{
	if (auth_is_operator(req))
		return true;
	struct store_snapshot sn = {0};
	if (store_snapshot_get(a->st, id, &sn, NULL) < 0)
		return true; /* not a snapshot: the caller's usual path answers */
	bool ok = auth_may_see(req, sn.team);
	store_snapshot_done(&sn);
	return ok;
}

static void snapshot_list(struct agent *a, struct http_req *req, bool e2b)
{
	int limit = 100;
	if (agent_parse_limit(http_req_query(req, "limit"), &limit) < 0) {
		reply_error(req, 400, "limit must be an integer from 1 to 100");
		return;
	}
	const char *sbx = http_req_query(req, e2b ? "sandboxID" : "sandboxId");
	const char *cursor = http_req_query(req, e2b ? "nextToken" : "cursor");
	const char *name = e2b ? http_req_query(req, "name") : NULL;
	struct runtime_snapshot *rows = NULL;
	size_t n = 0;
	cleanup_free char *next = NULL;
	struct wr_err err = {0};
	int r = runtime_snapshot_list(a->rt, sbx && *sbx ? sbx : NULL,
				      cursor && *cursor ? cursor : NULL, limit, &rows, &n, &next,
				      &err);
	if (r < 0) {
		reply_error(req, 400, "%s", wr_err_msg(&err));
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		if (name && *name && (!rows[i].name || strcmp(rows[i].name, name)))
			continue;
		if (!agent_snapshot_visible(a, req, rows[i].id))
			continue;
		json_array_append_new(arr, e2b ? e2b_snapshot_json(&rows[i])
					       : v1_snapshot_json(&rows[i]));
	}
	runtime_snapshot_list_free(rows, n);
	if (e2b) {
		if (next)
			http_resp_header(req, "X-Next-Token", next);
		reply_json_new(req, 200, arr);
		return;
	}
	json_t *o = json_pack("{s:o}", "snapshots", arr);
	if (next)
		json_object_set_new(o, "nextCursor", json_string(next));
	reply_json_new(req, 200, o);
}

static void snapshot_delete(struct agent *a, struct http_req *req, const char *id)
{
	if (!agent_snapshot_visible(a, req, id)) {
		reply_error(req, 404, "snapshot %s not found", id);
		return;
	}
	struct wr_err err = {0};
	int r = runtime_snapshot_delete(a->rt, id, &err);
	if (r == -ENOENT) {
		/* E2B deletes snapshots through /templates/{id}: templates too. */
		wr_err_clear(&err);
		r = runtime_template_delete(a->rt, id, &err);
		if (r == -EINVAL) {
			reply_error(req, 409, "%s", wr_err_msg(&err));
			return;
		}
	}
	if (r == -ENOENT) {
		reply_error(req, 404, "snapshot %s not found", id);
		return;
	}
	if (r < 0) {
		agent_reply_rt_error(req, r, &err);
		return;
	}
	log_info("deleted snapshot %s", id);
	reply_empty(req, 204);
}

void e2b_snapshot_create(struct agent *a, struct http_req *req, char **caps)
{
	snapshot_create(a, req, caps[0], true);
}

void e2b_snapshot_list(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	snapshot_list(a, req, true);
}

void e2b_template_delete(struct agent *a, struct http_req *req, char **caps)
{
	snapshot_delete(a, req, caps[0]);
}

void e2b_fork(struct agent *a, struct http_req *req, char **caps)
{
	cleanup_json json_t *body = NULL;
	if (reply_read_json(req, REPLY_MAX_JSON_BODY, false, &body) < 0)
		return;
	long long count = 1, timeout = VIEW_DEFAULT_TIMEOUT_S;
	if (body_int(body, "count", 1, 100, &count, req) < 0 ||
	    body_int(body, "timeout", 0, 30LL * 24 * 3600, &timeout, req) < 0)
		return;
	struct runtime_info *kids = xcalloc((size_t)count, sizeof(*kids));
	struct wr_err *errs = xcalloc((size_t)count, sizeof(*errs));
	struct wr_err err = {0};
	int r = runtime_fork(a->rt, caps[0], (int)count, (int)timeout, kids, errs, &err);
	if (r < 0) {
		agent_reply_rt_error(req, r, &err);
	} else {
		json_t *arr = json_array();
		for (long long i = 0; i < count; i++) {
			if (errs[i].code) {
				json_array_append_new(arr, json_pack("{s:{s:i, s:s}}", "error",
								     "code", 500, "message",
								     wr_err_msg(&errs[i])));
				continue;
			}
			struct sbx_view v;
			agent_view(&kids[i], &v);
			json_array_append_new(
				arr, json_pack("{s:o}", "sandbox", view_e2b_sandbox(&v, true)));
		}
		log_info("forked %s x%lld", caps[0], count);
		reply_json_new(req, 201, arr);
	}
	for (long long i = 0; i < count; i++)
		runtime_info_done(&kids[i]);
	free(kids);
	free(errs);
}

void v1_snapshot_create(struct agent *a, struct http_req *req, char **caps)
{
	snapshot_create(a, req, caps[0], false);
}

void v1_snapshot_list(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	snapshot_list(a, req, false);
}

void v1_snapshot_delete(struct agent *a, struct http_req *req, char **caps)
{
	/* another team's snapshot answers as one that does not exist, as the list and E2B's delete do */
	if (!agent_snapshot_visible(a, req, caps[0])) {
		reply_error(req, 404, "snapshot %s not found", caps[0]);
		return;
	}
	struct wr_err err = {0};
	int r = runtime_snapshot_delete(a->rt, caps[0], &err);
	if (r < 0) {
		agent_reply_rt_error(req, r, &err);
		return;
	}
	reply_empty(req, 204);
}

void v1_template_build(struct agent *a, struct http_req *req, char **caps)
{
	cleanup_json json_t *body = NULL;
	if (reply_read_json(req, REPLY_MAX_JSON_BODY, false, &body) < 0)
		return;
	const char *from = NULL;
	long long vcpus = 0, mem = 0;
	if (body_str(body, "from", &from, req) < 0 ||
	    body_int(body, "vcpus", 1, 64, &vcpus, req) < 0 ||
	    body_int(body, "memoryMB", 128, 1 << 20, &mem, req) < 0)
		return;
	cleanup_free char *src = xstrdup(from ? from : RUNTIME_DEFAULT_TEMPLATE);
	struct wr_err err = {0};
	int r = runtime_template_build(a->rt, caps[0], src, (int)vcpus, (int)mem, &err);
	if (r < 0) {
		agent_reply_rt_error(req, r, &err);
		return;
	}
	log_info("built template %s from %s", caps[0], src);
	struct store_template *rows = NULL;
	size_t n = 0;
	json_t *o = NULL;
	if (runtime_template_list(a->rt, &rows, &n, NULL) == 0)
		for (size_t i = 0; i < n && !o; i++) {
			if (strcmp(rows[i].name, caps[0]))
				continue;
			char ts[40];
			view_rfc3339(rows[i].created_at, ts, sizeof(ts));
			o = json_pack("{s:s, s:s, s:s, s:I, s:i, s:i, s:s}", "name", rows[i].name,
				      "kind", "snapshot", "parent",
				      rows[i].parent ? rows[i].parent : src, "sizeBytes",
				      (json_int_t)rows[i].size_bytes, "vcpus", rows[i].vcpus,
				      "memoryMB", rows[i].memory_mb, "createdAt", ts);
		}
	store_template_list_free(rows, n);
	reply_json_new(req, 201,
		       o ? o : json_pack("{s:s, s:s}", "name", caps[0], "kind", "snapshot"));
}
