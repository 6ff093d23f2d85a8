/* SPDX-License-Identifier: MIT */
/*
 * API keys and teams on the control plane (control-internal.h), in PostgreSQL (pg.h "Teams and
 * API keys") so that every replica knows every key: a key made through one replica works on the
 * others at once.  The routes and answers are one host's (/v1/keys, /v1/teams in v1.c), and, as
 * there, only an operator key manages them.  A key is shown once, at its creation; the database
 * holds its SHA-256 and an 8-character display prefix.
 */
#include "daemon/auth.h"
#include "daemon/control-internal.h"
#include "daemon/control-team.h"
#include "daemon/reply.h"
#include "daemon/route.h"
#include "daemon/view.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/hex.h"
#include "basic/hmac.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "pg/pg.h"
#include "pg/quota.h"
#include "store/store.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

int control_caller(struct control *c, struct http_req *req, char **ret_team)
{
	size_t n = 0;
	const char *k = auth_key_from_headers(http_req_header(req, "X-API-Key"),
					      http_req_header(req, "Authorization"), &n);
	if (!k || !auth_key_well_formed(k, n)) {
		reply_error(req, 401, "missing API key: send header X-API-Key: e2b_<40 hex>");
		return -EACCES;
	}
	uint8_t h[32];
	sha256_digest(k, n, h);
	struct wr_err err = {0};
	cleanup_free char *id = NULL;
	int r = pg_key_lookup(c->db, h, &id, ret_team, &err);
	if (r == -EACCES) {
		reply_error(req, 401, "invalid API key");
		return r;
	}
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return r;
	}
	return 0;
}

int control_admin(struct control *c, struct http_req *req)
{
	cleanup_free char *team = NULL;
	int r = control_caller(c, req, &team);
	if (r < 0)
		return r;
	if (*team) {
		reply_error(req, 403, "%s %s needs an operator key (this key is team %s's)",
			    http_req_method(req), http_req_path(req), team);
		return -EPERM;
	}
	return 0;
}

static json_t *key_json(const char *id, const char *name, const char *prefix, const char *team,
			int64_t created_at, int64_t last_used)
{
	char cbuf[40], ubuf[40];
	view_rfc3339(created_at, cbuf, sizeof(cbuf));
	json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", id, "name", name, "prefix", prefix,
			      "createdAt", cbuf, "team", team);
	if (last_used) {
		view_rfc3339(last_used, ubuf, sizeof(ubuf));
		json_object_set_new(o, "lastUsed", json_string(ubuf));
	} else {
		json_object_set_new(o, "lastUsed", json_null());
	}
	return o;
}

static void keys_create(struct control *c, struct http_req *req)
{
	cleanup_json json_t *body = NULL;
	if (reply_read_json(req, REPLY_MAX_JSON_BODY, false, &body) < 0)
		return;
	const char *k_;
	json_t *v_;
	json_object_foreach(body, k_, v_)
	{
		if (strcmp(k_, "name") && strcmp(k_, "team")) {
			reply_error(req, 400, "unknown field '%s' (a key has: name, team)", k_);
			return;
		}
	}
	json_t *nm = json_object_get(body, "name"), *tm = json_object_get(body, "team");
	if (nm && !json_is_null(nm) && (!json_is_string(nm) || json_string_length(nm) > 64)) {
		reply_error(req, 400, "name must be a string of at most 64 characters");
		return;
	}
	if (tm && !json_is_null(tm) && !json_is_string(tm)) {
		reply_error(req, 400, "team must be a string (a team name; empty = operator key)");
		return;
	}
	const char *name = json_is_string(nm) ? json_string_value(nm) : "";
	const char *team = json_is_string(tm) ? json_string_value(tm) : "";
	if (*team && !control_team_name_ok(team)) {
		reply_error(req, 400, "team name must be 1..64 characters of A-Z a-z 0-9 . _ -");
		return;
	}
	char plain[STORE_KEY_LEN + 1], id[17];
	uint8_t rid[8];
	struct wr_err err = {0};
	int r = store_key_mint(plain, &err);
	if (r < 0 || getrandom(rid, sizeof(rid), 0) != (ssize_t)sizeof(rid)) {
		reply_error(req, 500, "no randomness for a key");
		return;
	}
	hex_encode(rid, sizeof(rid), id);
	uint8_t h[32];
	sha256_digest(plain, STORE_KEY_LEN, h);
	char prefix[STORE_KEY_PREFIX_LEN + 1];
	memcpy(prefix, plain, STORE_KEY_PREFIX_LEN);
	prefix[STORE_KEY_PREFIX_LEN] = '\0';
	int64_t created = 0;
	r = pg_key_insert(c->db, id, name, prefix, h, team, &created, &err);
	if (r < 0) {
		explicit_bzero(plain, sizeof(plain));
		control_reply_pg_error(req, r, &err);
		return;
	}
	json_t *o = key_json(id, name, prefix, team, created, 0);
	json_object_set_new(o, "key", json_string(plain));
	explicit_bzero(plain, sizeof(plain));
	log_info("API key %s created%s%s", id, *team ? " for team " : " (operator)", team);
	reply_json_new(req, 201, o);
}

static void keys_list(struct control *c, struct http_req *req)
{
	struct pg_key *rows = NULL;
	size_t n = 0;
	struct wr_err err = {0};
	int r = pg_key_list(c->db, &rows, &n, &err);
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, key_json(rows[i].id, rows[i].name, rows[i].prefix,
						    rows[i].team, rows[i].created_at,
						    rows[i].last_used));
	pg_key_list_free(rows, n);
	reply_json_new(req, 200, json_pack("{s:o}", "keys", arr));
}

static void keys_delete(struct control *c, struct http_req *req, const char *id)
{
	struct wr_err err = {0};
	int r = pg_key_delete(c->db, id, &err);
	if (r == -ENOENT) {
		reply_error(req, 404, "API key %s not found", id);
		return;
	}
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return;
	}
	log_info("API key %s revoked", id);
	reply_empty(req, 204);
}

static json_t *limit_json(int64_t v)
{
	return v > 0 ? json_integer(v) : json_null();
}

/* The single host's team row plus the control plane's quota: maxSandboxes and maxMemoryMB
 * (null = no limit) and the memory the team's sandboxes reserved. */
static json_t *team_json(const struct pg_team *t)
{
	char cbuf[40];
	view_rfc3339(t->created_at, cbuf, sizeof(cbuf));
	return json_pack("{s:s,s:s,s:i,s:i,s:I,s:o,s:o}", "name", t->name, "createdAt", cbuf,
			 "keys", t->keys, "sandboxes", t->sandboxes, "memoryMB",
			 (json_int_t)t->memory_mb, "maxSandboxes", limit_json(t->max_sandboxes),
			 "maxMemoryMB", limit_json(t->max_memory_mb));
}

/* name's row of the team list (one shape for GET /v1/teams and PATCH); NULL when it has none */
static void reply_team(struct control *c, struct http_req *req, const char *name)
{
	struct pg_team *rows = NULL;
	size_t n = 0;
	struct wr_err err = {0};
	int r = pg_team_list(c->db, &rows, &n, &err);
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return;
	}
	json_t *o = NULL;
	for (size_t i = 0; i < n && !o; i++)
		if (!strcmp(rows[i].name, name))
			o = team_json(&rows[i]);
	pg_team_list_free(rows, n);
	if (!o)
		reply_error(req, 404, "team %s not found", name);
	else
		reply_json_new(req, 200, o);
}

static void teams_list(struct control *c, struct http_req *req)
{
	struct pg_team *rows = NULL;
	size_t n = 0;
	struct wr_err err = {0};
	int r = pg_team_list(c->db, &rows, &n, &err);
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, team_json(&rows[i]));
	pg_team_list_free(rows, n);
	reply_json_new(req, 200, json_pack("{s:o}", "teams", arr));
}

/* maxSandboxes / maxMemoryMB of a PATCH: absent = unchanged (*set false), null or 0 = no limit */
static int read_limit(struct http_req *req, const json_t *body, const char *name, int64_t *ret,
		      bool *set)
{
	const json_t *v = json_object_get(body, name);
	*set = v != NULL;
	*ret = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > INT64_C(1) << 40) {
		reply_error(req, 400, "%s: a non-negative integer (0 or null = no limit)", name);
		return -EINVAL;
	}
	*ret = (int64_t)json_integer_value(v);
	return 0;
}

/*
 * PATCH /v1/teams/{name} {maxSandboxes, maxMemoryMB}: the team's quota (pg/quota.h), enforced at
 * every replica's next create of the team; a team without keys yet is created.  Lowering a limit
 * under the team's use stops no sandbox: only new creates are refused until it is under again.
 */
static void teams_patch(struct control *c, struct http_req *req, const char *name)
{
	if (!control_team_name_ok(name)) {
		reply_error(req, 400, "team name: 1..64 characters of A-Z a-z 0-9 . _ -");
		return;
	}
	cleanup_json json_t *body = NULL;
	if (reply_read_json(req, REPLY_MAX_JSON_BODY, true, &body) < 0)
		return;
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v)
	{
		if (strcmp(k, "maxSandboxes") != 0 && strcmp(k, "maxMemoryMB") != 0) {
			reply_error(
				req, 400,
				"unknown field \"%s\" (a team's quota: maxSandboxes, maxMemoryMB)",
				k);
			return;
		}
	}
	int64_t ms = 0, mm = 0;
	bool ms_set = false, mm_set = false;
	if (read_limit(req, body, "maxSandboxes", &ms, &ms_set) < 0 ||
	    read_limit(req, body, "maxMemoryMB", &mm, &mm_set) < 0)
		return;
	if (!ms_set && !mm_set) {
		reply_error(req, 400, "nothing to change: give maxSandboxes and/or maxMemoryMB");
		return;
	}
	struct wr_err err = {0};
	int r = pg_team_set_quota(c->db, name, ms_set ? &ms : NULL, mm_set ? &mm : NULL, NULL,
				  &err);
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return;
	}
	char a[24] = "unchanged", b[24] = "unchanged";
	if (ms_set)
		snprintf(a, sizeof(a), ms ? "%" PRId64 : "none", ms);
	if (mm_set)
		snprintf(b, sizeof(b), mm ? "%" PRId64 : "none", mm);
	log_info("team %s: quota maxSandboxes %s, maxMemoryMB %s", name, a, b);
	reply_team(c, req, name);
}

bool control_keys_handle(struct control *c, struct http_req *req)
{
	const char *method = http_req_method(req), *path = http_req_path(req);
	bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST"),
	     del = !strcmp(method, "DELETE");
	struct route_caps caps = {0};
	if (route_match("/v1/keys", path, &caps)) {
		if (!get && !post)
			reply_error(req, 405, "method %s not allowed on %s", method, path);
		else if (control_admin(c, req) == 0)
			get ? keys_list(c, req) : keys_create(c, req);
	} else if (route_match("/v1/keys/*", path, &caps)) {
		if (!del)
			reply_error(req, 405, "method %s not allowed on %s", method, path);
		else if (control_admin(c, req) == 0)
			keys_delete(c, req, caps.v[0]);
	} else if (route_match("/v1/teams", path, &caps)) {
		if (!get)
			reply_error(req, 405, "method %s not allowed on %s", method, path);
		else if (control_admin(c, req) == 0)
			teams_list(c, req);
	} else if (route_match("/v1/teams/*", path, &caps)) {
		bool patch = !strcmp(method, "PATCH");
		if (!get && !patch)
			reply_error(req, 405, "method %s not allowed on %s", method, path);
		else if (control_admin(c, req) == 0)
			patch ? teams_patch(c, req, caps.v[0]) : reply_team(c, req, caps.v[0]);
	} else {
		return false;
	}
	route_caps_done(&caps);
	return true;
}
