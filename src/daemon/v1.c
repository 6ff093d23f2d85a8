/* SPDX-License-Identifier: MIT */
/* Native /v1 API (docs/openapi.yaml): sandboxes, templates, keys, logs. */
#include "daemon/agent.h"
#include "daemon/reply.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/logrot.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void reply_v1_sandbox(struct http_req *req, int status, const struct runtime_info *info)
{
	struct sbx_view v;
	agent_view(info, &v);
	reply_json_new(req, status, view_v1_sandbox(&v, true));
}

static void create(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	struct runtime_info info = {0};
	if (agent_create(a, req, AGENT_V1, &info) < 0)
		return;
	reply_v1_sandbox(req, 201, &info);
	runtime_info_done(&info);
}

static void list(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	struct wr_err err = {0};
	struct runtime_filter f = {0};
	const char *q = http_req_query(req, "state");
	if (q && *q && view_parse_states(q, &f.states, &err) < 0) {
		reply_error(req, 400, "%s", wr_err_msg(&err));
		return;
	}
	int limit;
	struct runtime_info *rows = NULL;
	size_t n = 0;
	if (agent_list(a, req, &f, false, &limit, &rows, &n) < 0)
		return;
	size_t start, count;
	cleanup_free char *next = NULL;
	const char *cursor = http_req_query(req, "cursor");
	if (!cursor)
		cursor = http_req_query(req, "nextToken");
	agent_page(rows, n, cursor, limit, &start, &count, &next);
	json_t *arr = agent_view_array(rows, n, start, count, view_v1_sandbox);
	json_t *o = json_pack("{s:o}", "sandboxes", arr);
	if (next) {
		json_object_set_new(o, "nextCursor", json_string(next));
		http_resp_header(req, "X-Next-Token", next);
	}
	reply_json_new(req, 200, o);
}

static void get(struct agent *a, struct http_req *req, char **caps)
{
	struct runtime_info info = {0};
	if (agent_get_or_reply(a, req, caps[0], &info) < 0)
		return;
	reply_v1_sandbox(req, 200, &info);
	runtime_info_done(&info);
}

/* {timeout} body field: 1 given, 0 absent, -errno after answering 400 (reply.h's convention) */
static int read_timeout(struct http_req *req, bool required, int *ret)
{
	cleanup_json json_t *body = NULL;
	int r = reply_read_json(req, REPLY_MAX_JSON_BODY, required, &body);
	if (r < 0)
		return r;
	json_t *t = json_object_get(body, "timeout");
	if (t && !json_is_null(t)) {
		if (!json_is_integer(t) || json_integer_value(t) < 0 ||
		    json_integer_value(t) > 30 * 24 * 3600) {
			reply_error(req, 400,
				    "timeout must be an integer number of seconds (0 = none)");
			return -EINVAL;
		}
		*ret = (int)json_integer_value(t);
		return 1;
	}
	if (required) {
		reply_error(req, 400, "timeout is required");
		return -EINVAL;
	}
	return 0;
}

static void set_timeout(struct agent *a, struct http_req *req, char **caps)
{
	int timeout = 0;
	if (read_timeout(req, true, &timeout) < 0)
		return;
	agent_set_timeout(a, req, caps[0], timeout);
}

static void pause_sb(struct agent *a, struct http_req *req, char **caps)
{
	struct runtime_info info = {0};
	if (agent_get_or_reply(a, req, caps[0], &info) < 0)
		return;
	enum store_sb_state st = info.state;
	runtime_info_done(&info);
	if (st != STORE_SB_RUNNING) {
		reply_error(req, 409, "sandbox %s is %s, not running", caps[0],
			    store_sb_state_name(st));
		return;
	}
	agent_pause(a, req, caps[0]);
}

static void resume_sb(struct agent *a, struct http_req *req, char **caps)
{
	int timeout = 0;
	if (read_timeout(req, false, &timeout) < 0)
		return;
	struct runtime_info info = {0};
	if (agent_get_or_reply(a, req, caps[0], &info) < 0)
		return;
	enum store_sb_state st = info.state;
	runtime_info_done(&info);
	if (st != STORE_SB_PAUSED) {
		reply_error(req, 409, "sandbox %s is %s, not paused", caps[0],
			    store_sb_state_name(st));
		return;
	}
	struct wr_err err = {0};
	int r = runtime_resume(a->rt, caps[0], timeout, &err);
	if (r < 0) {
		agent_reply_rt_error(req, r, &err);
		return;
	}
	log_info("resumed %s", caps[0]);
	if (agent_get_or_reply(a, req, caps[0], &info) < 0)
		return;
	reply_v1_sandbox(req, 200, &info);
	runtime_info_done(&info);
}

static void logs(struct agent *a, struct http_req *req, char **caps)
{
	struct runtime_info info = {0};
	if (agent_get_or_reply(a, req, caps[0], &info) < 0)
		return;
	runtime_info_done(&info);
	int64_t tail = 0;
	const char *t = http_req_query(req, "tail");
	if (t) {
		char *end = NULL;
		tail = strtoll(t, &end, 10);
		if (*end || tail < 1) {
			reply_error(req, 400, "tail must be a positive integer");
			return;
		}
	}
	int64_t from = -1; /* offset: bytes from the start (wrenn logs -f polls with it) */
	const char *f = http_req_query(req, "offset");
	if (f) {
		char *end = NULL;
		from = strtoll(f, &end, 10);
		if (*end || !*f || from < 0 || tail) {
			reply_error(req, 400,
				    "offset must be a non-negative integer, without tail");
			return;
		}
	}
	struct wr_err err = {0};
	cleanup_free char *path = NULL;
	int r = runtime_log_path(a->rt, caps[0], &path, &err);
	if (r < 0) {
		agent_reply_rt_error(req, r, &err);
		return;
	}
	/* Offsets are logical: they go on across rotation (basic/logrot.h); X-Next-Token
	 * carries the end, the offset to poll with next. */
	struct logrot_view v;
	if (logrot_view_open(path, &v, &err) < 0) {
		http_resp_header(req, "X-Next-Token", "0");
		http_resp_text(req, 200, "text/plain; charset=utf-8", "");
		return;
	}
	int64_t start = logrot_view_start(&v), end = logrot_view_end(&v);
	int64_t off = tail && end - start > tail ? end - tail : start;
	if (from >= 0)
		off = from < start ? start : from < end ? from : end;
	int64_t len = end - off;
	http_resp_headerf(req, "X-Next-Token", "%lld", (long long)end);
	if (http_resp_begin(req, 200, "text/plain; charset=utf-8", len) < 0) {
		logrot_view_close(&v);
		return;
	}
	char buf[65536];
	while (len > 0) {
		ssize_t n = logrot_view_read(
			&v, off, buf, len < (int64_t)sizeof(buf) ? (size_t)len : sizeof(buf));
		if (n <= 0) {
			/* the file shrank (rotated): pad so the declared length holds */
			memset(buf, ' ', sizeof(buf));
			n = len < (int64_t)sizeof(buf) ? (ssize_t)len : (ssize_t)sizeof(buf);
		}
		if (http_resp_write(req, buf, (size_t)n) < 0) {
			logrot_view_close(&v);
			return;
		}
		len -= n;
		off += n;
	}
	logrot_view_close(&v);
	http_resp_end(req);
}

static void templates(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	struct store_template *rows = NULL;
	size_t n = 0;
	struct wr_err err = {0};
	int r = runtime_template_list(a->rt, &rows, &n, &err);
	if (r < 0) {
		agent_reply_rt_error(req, r, &err);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		char ts[40];
		view_rfc3339(rows[i].created_at, ts, sizeof(ts));
		json_t *o = json_pack("{s:s,s:s,s:I,s:s}", "name", rows[i].name, "kind",
				      rows[i].kind == STORE_TPL_SNAPSHOT ? "snapshot" : "rootfs",
				      "sizeBytes", (json_int_t)rows[i].size_bytes, "createdAt", ts);
		if (rows[i].parent)
			json_object_set_new(o, "parent", json_string(rows[i].parent));
		if (rows[i].vcpus > 0)
			json_object_set_new(o, "vcpus", json_integer(rows[i].vcpus));
		if (rows[i].memory_mb > 0)
			json_object_set_new(o, "memoryMB", json_integer(rows[i].memory_mb));
		json_array_append_new(arr, o);
	}
	store_template_list_free(rows, n);
	reply_json_new(req, 200, json_pack("{s:o}", "templates", arr));
}

static json_t *key_json(const struct store_key *k)
{
	char c[40], u[40];
	view_rfc3339(k->created_at, c, sizeof(c));
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", k->id, "name", k->name ? k->name : "",
			      "prefix", k->prefix ? k->prefix : "", "createdAt", c, "team",
			      k->team ? k->team : "");
	if (k->last_used) {
		view_rfc3339(k->last_used, u, sizeof(u));
		json_object_set_new(o, "lastUsed", json_string(u));
	} else {
		json_object_set_new(o, "lastUsed", json_null());
	}
	return o;
}

static void keys_create(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	cleanup_json json_t *body = NULL;
	if (reply_read_json(req, REPLY_MAX_JSON_BODY, false, &body) < 0)
		return;
	json_t *nm = json_object_get(body, "name");
	if (nm && !json_is_null(nm) && (!json_is_string(nm) || json_string_length(nm) > 64)) {
		reply_error(req, 400, "name must be a string of at most 64 characters");
		return;
	}
	json_t *tm = json_object_get(body, "team");
	if (tm && !json_is_null(tm) && !json_is_string(tm)) {
		reply_error(req, 400, "team must be a string (a team name; empty = operator key)");
		return;
	}
	const char *unknown = NULL;
	const char *k_;
	json_t *v_;
	json_object_foreach(body, k_, v_)
	{
		(void)v_;
		if (strcmp(k_, "name") && strcmp(k_, "team"))
			unknown = k_;
	}
	if (unknown) {
		reply_error(req, 400, "unknown field '%s' (a key has: name, team)", unknown);
		return;
	}
	cleanup_free char *name = xstrdup(json_is_string(nm) ? json_string_value(nm) : "");
	cleanup_free char *team = xstrdup(json_is_string(tm) ? json_string_value(tm) : "");
	struct wr_err err = {0};
	cleanup_free char *plain = NULL;
	struct store_key k = {0};
	int r = store_key_create_team(a->st, name, team, &plain, &k, &err);
	if (r < 0) {
		agent_reply_rt_error(req, r, &err);
		return;
	}
	json_t *o = key_json(&k);
	json_object_set_new(o, "key", json_string(plain));
	explicit_bzero(plain, strlen(plain));
	store_key_done(&k);
	log_info("API key %s created", json_string_value(json_object_get(o, "id")));
	reply_json_new(req, 201, o);
}

static void keys_list(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	struct store_key *rows = NULL;
	size_t n = 0;
	struct wr_err err = {0};
	int r = store_key_list(a->st, &rows, &n, &err);
	if (r < 0) {
		agent_reply_rt_error(req, r, &err);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, key_json(&rows[i]));
	store_key_list_free(rows, n);
	reply_json_new(req, 200, json_pack("{s:o}", "keys", arr));
}

static void keys_delete(struct agent *a, struct http_req *req, char **caps)
{
	struct wr_err err = {0};
	int r = store_key_delete(a->st, caps[0], &err);
	if (r == -ENOENT) {
		reply_error(req, 404, "API key %s not found", caps[0]);
		return;
	}
	if (r < 0) {
		agent_reply_rt_error(req, r, &err);
		return;
	}
	log_info("API key %s revoked", caps[0]);
	reply_empty(req, 204);
}

static void teams_list(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	struct store_team *rows = NULL;
	size_t n = 0;
	struct wr_err err = {0};
	int r = store_team_list(a->st, &rows, &n, &err);
	if (r < 0) {
		agent_reply_rt_error(req, r, &err);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		char c[40];
		view_rfc3339(rows[i].created_at, c, sizeof(c));
		json_array_append_new(arr, json_pack("{s:s,s:s,s:i,s:i}", "name", rows[i].name,
						     "createdAt", c, "keys", rows[i].keys,
						     "sandboxes", rows[i].sandboxes));
	}
	store_team_list_free(rows, n);
	reply_json_new(req, 200, json_pack("{s:o}", "teams", arr));
}

const struct agent_route agent_v1_routes[] = {
	{"POST", "/v1/sandboxes", create},
	{"GET", "/v1/sandboxes", list},
	{"GET", "/v1/sandboxes/*", get},
	{"DELETE", "/v1/sandboxes/*", agent_kill},
	{"POST", "/v1/sandboxes/*/timeout", set_timeout},
	{"POST", "/v1/sandboxes/*/pause", pause_sb},
	{"POST", "/v1/sandboxes/*/resume", resume_sb},
	{"POST", "/v1/sandboxes/*/exec", v1_exec},
	{"POST", "/v1/sandboxes/*/pty", v1_pty},
	{"GET", "/v1/sandboxes/*/pty", v1_pty},
	{"PUT", "/v1/sandboxes/*/files", v1_files_put},
	{"GET", "/v1/sandboxes/*/files", v1_files_get},
	{"DELETE", "/v1/sandboxes/*/files", v1_files_delete},
	{"GET", "/v1/sandboxes/*/files/list", v1_files_list},
	{"GET", "/v1/sandboxes/*/files/stat", v1_files_stat},
	{"POST", "/v1/sandboxes/*/files/mkdir", v1_files_mkdir},
	{"POST", "/v1/sandboxes/*/files/move", v1_files_move},
	{"GET", "/v1/sandboxes/*/logs", logs},
	{"POST", "/v1/sandboxes/*/snapshots", v1_snapshot_create},
	{"GET", "/v1/snapshots", v1_snapshot_list},
	{"DELETE", "/v1/snapshots/*", v1_snapshot_delete},
	{"GET", "/v1/templates", templates},
	{"POST", "/v1/templates/*/build", v1_template_build},
	{"POST", "/v1/templates/*/builds", v1_template_builds_post},
	{"GET", "/v1/templates/*/builds/*", e2b_template_build_status}, /* same shape */
	{"POST", "/v1/keys", keys_create},
	{"GET", "/v1/keys", keys_list},
	{"DELETE", "/v1/keys/*", keys_delete},
	{"GET", "/v1/teams", teams_list},
	{"GET", "/v1/events", v1_events},
	{NULL, NULL, NULL},
};
