/* SPDX-License-Identifier: MIT */
/*
 * Snapshots, forks and the native snapshot and template lists on the control plane
 * (control-internal.h), the routes of one host's snapshots.c and v1.c:
 *
 *   POST /sandboxes/{id}/snapshots (E2B), POST /v1/sandboxes/{id}/snapshots (native)
 *       forwarded by placement as a signed call for the caller's team; the snapshot the host
 *       made is recorded as a template row (pg/templates.h: id = the snapshot id, the caller's
 *       team, the host that has it, its name as an alias) marked by a build row of status
 *       "snapshot" (E2B's GET /templates leaves those out, as one host's does).  Other hosts
 *       start sandboxes of it by fetching it by digest on first use (heartbeats list it).
 *   POST /sandboxes/{id}/fork
 *       forwarded by placement; each fork the host started is recorded as a placement on that
 *       host for the caller's team (as a create is), after the team's quota admitted `count`
 *       sandboxes (one hold each, SCHED_MEMORY_MB as E2B creates reserve).
 *   GET /snapshots (E2B), GET /v1/snapshots (native)
 *       merged over every ready or draining host (control_fanout, as the sandbox lists), as the
 *       caller's team (each host filters its rows).  A page holds at most `limit` rows of each
 *       host; the next-page token names each host's own cursor ("<host>~<cursor>" joined by
 *       "."), and a host absent from it has no more rows.  Native rows carry hostId and are
 *       ordered newest first.
 *   DELETE /v1/snapshots/{id}
 *       to the host its row names (tenancy from the row: another team's is 404 before any host
 *       is called; a lost host 503), then the row and the copies other hosts fetched.  A snapshot
 *       without a row (made on a host's own API) is asked of every host, for operators only.
 *       E2B deletes snapshots through DELETE /templates/{id}: control-templates.c, by the row.
 *   GET /v1/templates
 *       every host's templates merged by name, each with the hostIds that have it; a template
 *       whose row belongs to another team is left out for a team key.
 *
 * The native template builds (POST /v1/templates/{name}/build, .../builds, GET
 * .../builds/{id}) are control-tpl-native.c's.
 */
#include "daemon/agent.h"
#include "daemon/control-internal.h"
#include "daemon/control-team.h"
#include "daemon/control-templates-internal.h"
#include "daemon/reply.h"
#include "daemon/route.h"
#include "daemon/view.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "pg/pg.h"
#include "pg/quota.h"
#include "pg/templates.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a fork reserves per sandbox for the quota (E2B creates name no size: control.c). */
#define FORK_MEMORY_MB 512
#define FORK_MAX 100
/* The build status that marks a template row as a snapshot. */
#define SNAPSHOT_STATUS "snapshot"

/* Read the whole JSON body: 0, or answered (400, 413) and < 0. */
static int read_body(struct http_req *req, char **ret, size_t *ret_len)
{
	int r = http_req_read_all(req, REPLY_MAX_JSON_BODY, ret, ret_len);
	if (r < 0)
		reply_error(req, r == -EFBIG ? 413 : 400, "body: %s", strerror(-r));
	return r;
}

/* The host of sandbox id for team while it can take calls: 0 and *h, or answered (404 for
 * another team's or an unknown one, 503 while its host is lost). */
static int sandbox_host(struct control *c, struct http_req *req, const char *id, const char *team,
			struct pg_host *h)
{
	int r = control_sandbox_host(c, req, id, team, h);
	if (r < 0)
		return r;
	if (!strcmp(h->state, "lost") || !*h->api_url) {
		reply_error(req, 503, "sandbox %s: its host %s is %s", id, h->id, h->state);
		pg_host_done(h);
		return -EHOSTUNREACH;
	}
	return 0;
}

/* The request as it is to h for team: 0 with the answer, or answered (502, 504) and < 0. */
static int call(struct control *c, struct http_req *req, const struct pg_host *h, const char *team,
		const char *body, size_t len, int *status, char **resp, size_t *rlen)
{
	struct wr_err err = {0};
	int r = control_forward(c, h->id, h->api_url, team, http_req_method(req),
				http_req_target(req), body, len, CONTROL_FORWARD_TIMEOUT_MS, status,
				resp, rlen, &err);
	if (r < 0) {
		log_warn("%s %s: host %s: %s", http_req_method(req), http_req_path(req), h->id,
			 wr_err_msg(&err));
		reply_error(req, r == -ETIMEDOUT ? 504 : 502, "%s", wr_err_msg(&err));
	}
	return r;
}

/* POST /sandboxes/{id}/snapshots, POST /v1/sandboxes/{id}/snapshots. */
static void snapshot_create(struct control *c, struct http_req *req, const char *team,
			    const char *id, bool e2b)
{
	cleanup_free char *body = NULL, *resp = NULL;
	cleanup_json json_t *jr = NULL;
	size_t blen = 0, rlen = 0;
	if (read_body(req, &body, &blen) < 0)
		return;
	struct pg_host h = {0};
	if (sandbox_host(c, req, id, team, &h) < 0)
		return;
	int status = 0;
	if (call(c, req, &h, team, body, blen, &status, &resp, &rlen) < 0)
		goto out;
	if (status == 201)
		jr = json_loadb(resp, rlen, 0, NULL);
	const char *sid = json_string_value(json_object_get(jr, e2b ? "snapshotID" : "id"));
	const char *name = e2b ? json_string_value(json_array_get(json_object_get(jr, "names"), 0))
			       : json_string_value(json_object_get(jr, "name"));
	if (sid) {
		/* the row routes its deletes and decides who sees it; every replica agrees */
		struct pg_template t = {0};
		struct wr_err err = {0};
		bool created = false;
		int r = pg_template_claim(c->db, sid, team, h.id, &t, &created, &err);
		if (r == 0) {
			pg_template_done(&t);
			if (name && strcmp(name, sid) != 0)
				r = pg_template_alias(c->db, sid, name, true, &err);
		}
		if (r == 0)
			r = pg_build_put(c->db, sid, sid, h.id, 0, 0, &err);
		if (r == 0)
			r = pg_build_set_status(c->db, sid, SNAPSHOT_STATUS, &err);
		if (r < 0)
			log_error("snapshot %s of %s on host %s not recorded: %s", sid, id, h.id,
				  wr_err_msg(&err));
		else
			log_info("snapshot %s of %s (team %s) on host %s", sid, id,
				 team && *team ? team : "-", h.id);
	}
	ctpl_relay(req, h.id, status, resp, rlen);
out:
	pg_host_done(&h);
}

/* Give back the holds not turned into placements. */
static void release_holds(struct control *c, const char *team, int64_t *holds, long long n)
{
	for (long long i = 0; i < n; i++) {
		struct wr_err err = {0};
		if (holds[i] && pg_quota_release(c->db, holds[i], &err) < 0)
			log_error("team %s: quota hold %" PRId64 " not released: %s", team,
				  holds[i], wr_err_msg(&err));
	}
}

/* POST /sandboxes/{id}/fork {count, timeout}: the forks are placements on the parent's host. */
static void fork_sandbox(struct control *c, struct http_req *req, const char *team, const char *id)
{
	cleanup_free char *body = NULL, *resp = NULL;
	cleanup_json json_t *jr = NULL;
	size_t blen = 0, rlen = 0;
	if (read_body(req, &body, &blen) < 0)
		return;
	cleanup_json json_t *jb = blen ? json_loadb(body, blen, 0, NULL) : json_object();
	json_t *jc = json_object_get(jb, "count");
	if (!json_is_object(jb) || (jc && !json_is_null(jc) &&
				    (!json_is_integer(jc) || json_integer_value(jc) < 1 ||
				     json_integer_value(jc) > FORK_MAX))) {
		reply_error(req, 400, "body: an object; count an integer from 1 to %d", FORK_MAX);
		return;
	}
	long long count = json_is_integer(jc) ? json_integer_value(jc) : 1;
	struct pg_host h = {0};
	if (sandbox_host(c, req, id, team, &h) < 0)
		return;
	/* the team's quota admits every fork before any is made (one hold each), as creates */
	int64_t *holds = xcalloc((size_t)count, sizeof(*holds));
	bool teamed = team && *team;
	for (long long i = 0; teamed && i < count; i++) {
		struct wr_err err = {0};
		char why[512] = "";
		int r = pg_quota_hold(c->db, team, FORK_MEMORY_MB, control_quota_admit, &holds[i],
				      why, sizeof(why), &err);
		if (r < 0) {
			release_holds(c, team, holds, i);
			if (r == -EDQUOT)
				reply_error(req, 429, "fork of %lld: %s", count, why);
			else
				control_reply_pg_error(req, r, &err);
			goto out;
		}
	}
	int status = 0;
	if (call(c, req, &h, team, body, blen, &status, &resp, &rlen) < 0) {
		release_holds(c, team, holds, count);
		goto out;
	}
	if (status == 201)
		jr = json_loadb(resp, rlen, 0, NULL);
	size_t i;
	json_t *v;
	long long k = 0;
	json_array_foreach(jr, i, v)
	{
		json_t *sb = json_object_get(v, "sandbox");
		const char *sid = json_string_value(json_object_get(sb, "sandboxID"));
		if (!sid)
			continue;
		const char *tpl = json_string_value(json_object_get(sb, "templateID"));
		cleanup_free char *why = xasprintf("fork of %s on its host", id);
		struct wr_err err = {0};
		int64_t hold = k < count ? holds[k] : 0;
		int r = pg_placement_put_held(c->db, sid, h.id, tpl ? tpl : "", team,
					      FORK_MEMORY_MB, hold, why, &err);
		if (r < 0) {
			log_error("fork %s of %s on host %s not recorded: %s", sid, id, h.id,
				  wr_err_msg(&err));
		} else {
			if (k < count)
				holds[k++] = 0;
			log_info("sandbox %s (fork of %s) placed on host %s", sid, id, h.id);
		}
		if (*c->public_domain && json_object_get(sb, "domain"))
			json_object_set_new(sb, "domain", json_string(c->public_domain));
	}
	release_holds(c, team, holds, count);
	if (jr) {
		http_resp_header(req, "X-Wrenn-Host", h.id);
		reply_json_new(req, status, json_incref(jr));
	} else {
		ctpl_relay(req, h.id, status, resp, rlen);
	}
out:
	free(holds);
	pg_host_done(&h);
}

/* --- lists -------------------------------------------------------------------------------- */

/* s percent-encoded for a query (malloc'd). */
static char *qenc(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = xmalloc(strlen(s) * 3 + 1), *o = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

struct snap_list {
	bool e2b;
	int limit;
	const char *sandbox; /* the filter, or NULL */
	const char *name;    /* E2B's name filter (applied here), or NULL */
	json_t *cursors;     /* host id -> its cursor (from the request's token), or NULL */
	json_t *rows;	     /* merged, native shape with hostId */
	json_t *next;	     /* host id -> its next cursor */
};

/*
 * Every host is asked its native list (GET /v1/snapshots: the same rows and tenancy as E2B's,
 * with the next cursor in the body, where a forwarded call keeps it), with the host's own cursor
 * from the request's token; a token that does not name the host: its rows are done.
 */
static char *snap_target(const struct pg_host *h, void *arg)
{
	struct snap_list *sl = arg;
	const char *cur = NULL;
	if (sl->cursors && !(cur = json_string_value(json_object_get(sl->cursors, h->id))))
		return NULL;
	cleanup_free char *sb = sl->sandbox ? qenc(sl->sandbox) : NULL;
	cleanup_free char *cu = cur ? qenc(cur) : NULL;
	return xasprintf("/v1/snapshots?limit=%d%s%s%s%s", sl->limit, sb ? "&sandboxId=" : "",
			 sb ? sb : "", cu ? "&cursor=" : "", cu ? cu : "");
}

/* One host's page: its rows with hostId, and its next cursor. */
static int snap_take(const struct pg_host *h, const char *resp, size_t rlen, void *arg)
{
	struct snap_list *sl = arg;
	cleanup_json json_t *o = json_loadb(resp ? resp : "", rlen, 0, NULL);
	json_t *arr = json_object_get(o, "snapshots");
	if (!json_is_array(arr))
		return -EBADMSG;
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		json_object_set_new(v, "hostId", json_string(h->id));
		json_array_append(sl->rows, v);
	}
	const char *nc = json_string_value(json_object_get(o, "nextCursor"));
	if (nc)
		json_object_set_new(sl->next, h->id, json_string(nc));
	return 0;
}

/* A native row in E2B's shape ({snapshotID, names}, snapshots.c), or NULL when E2B's name
 * filter leaves it out. */
static json_t *e2b_row(const json_t *row, const char *name_filter)
{
	const char *id = json_string_value(json_object_get(row, "id"));
	const char *name = json_string_value(json_object_get(row, "name"));
	if (!id || (name_filter && *name_filter && (!name || strcmp(name, name_filter))))
		return NULL;
	return json_pack("{s:s, s:[s]}", "snapshotID", id, "names", name ? name : id);
}

static int64_t created_ms(const json_t *row)
{
	int64_t ms = 0;
	const char *s = json_string_value(json_object_get(row, "createdAt"));
	if (!s || view_parse_rfc3339(s, &ms) < 0)
		return 0;
	return ms;
}

static int cmp_created(const void *pa, const void *pb)
{
	const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	int64_t ta = created_ms(a), tb = created_ms(b);
	if (ta != tb)
		return ta > tb ? -1 : 1;
	const char *ia = json_string_value(json_object_get(a, "id"));
	const char *ib = json_string_value(json_object_get(b, "id"));
	return strcmp(ia ? ia : "", ib ? ib : "");
}

/* "<host>~<cursor>.<host>~<cursor>" -> {host: cursor}; NULL when malformed. */
static json_t *parse_token(const char *tok)
{
	json_t *o = json_object();
	cleanup_free char *copy = xstrdup(tok);
	char *save = NULL;
	for (char *p = strtok_r(copy, ".", &save); p; p = strtok_r(NULL, ".", &save)) {
		char *t = strchr(p, '~');
		if (!t || t == p || !t[1]) {
			json_decref(o);
			return NULL;
		}
		*t = '\0';
		json_object_set_new(o, p, json_string(t + 1));
	}
	return o;
}

/* GET /snapshots (E2B), GET /v1/snapshots (native). */
static void snapshot_list(struct control *c, struct http_req *req, const char *team, bool e2b)
{
	int limit = 100;
	if (agent_parse_limit(http_req_query(req, "limit"), &limit) < 0) {
		reply_error(req, 400, "limit must be an integer from 1 to 100");
		return;
	}
	const char *cur_name = e2b ? "nextToken" : "cursor";
	const char *tok = http_req_query(req, cur_name);
	cleanup_json json_t *cursors = tok && *tok ? parse_token(tok) : NULL;
	if (tok && *tok && !cursors) {
		reply_error(req, 400, "%s: not a token this control plane issued", cur_name);
		return;
	}
	const char *sbx = http_req_query(req, e2b ? "sandboxID" : "sandboxId");
	cleanup_json json_t *rows = json_array(), *next = json_object(),
			    *unreachable = json_array();
	struct snap_list sl = {.e2b = e2b,
			       .limit = limit,
			       .sandbox = sbx && *sbx ? sbx : NULL,
			       .name = e2b ? http_req_query(req, "name") : NULL,
			       .cursors = cursors,
			       .rows = rows,
			       .next = next};
	int st4 = 0;
	cleanup_free char *resp4 = NULL;
	size_t len4 = 0;
	struct wr_err err = {0};
	int r = control_fanout(c, team, snap_target, &sl, snap_take, &sl, unreachable, &st4, &resp4,
			       &len4, &err);
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return;
	}
	if (st4) {
		http_resp_send(req, st4, "application/json", resp4 ? resp4 : "", len4);
		return;
	}
	size_t n = json_array_size(rows);
	json_t **items = xcalloc(n ? n : 1, sizeof(*items));
	for (size_t i = 0; i < n; i++)
		items[i] = json_array_get(rows, i);
	qsort(items, n, sizeof(*items), cmp_created);
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *e = e2b ? e2b_row(items[i], sl.name) : json_incref(items[i]);
		if (e)
			json_array_append_new(out, e);
	}
	free(items);
	cleanup_free char *token = xstrdup("");
	const char *hid;
	json_t *v;
	json_object_foreach(next, hid, v)
	{
		char *t =
			xasprintf("%s%s%s~%s", token, *token ? "." : "", hid, json_string_value(v));
		free(token);
		token = t;
	}
	control_reply_unreachable(req, unreachable);
	if (e2b) {
		if (*token)
			http_resp_header(req, "X-Next-Token", token);
		reply_json_new(req, 200, out);
		return;
	}
	json_t *o = json_pack("{s:o}", "snapshots", out);
	if (*token)
		json_object_set_new(o, "nextCursor", json_string(token));
	reply_json_new(req, 200, o);
}

/* --- delete ------------------------------------------------------------------------------- */

/* A snapshot without a row (made on a host's own API), for an operator: every serving host is
 * asked to delete it until one does. */
static void snapshot_delete_anywhere(struct control *c, struct http_req *req, const char *id)
{
	struct pg_host *rows = NULL;
	size_t n = 0;
	struct wr_err err = {0};
	int r = pg_host_list(c->db, &rows, &n, &err);
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return;
	}
	bool done = false;
	for (size_t i = 0; i < n && !done; i++) {
		const struct pg_host *h = &rows[i];
		if ((strcmp(h->state, "ready") && strcmp(h->state, "draining")) || !*h->api_url)
			continue;
		int status = 0;
		cleanup_free char *resp = NULL;
		size_t rlen = 0;
		wr_err_clear(&err);
		if (control_forward(c, h->id, h->api_url, NULL, "DELETE", http_req_target(req),
				    NULL, 0, CONTROL_FORWARD_TIMEOUT_MS, &status, &resp, &rlen,
				    &err) < 0 ||
		    status == 404)
			continue;
		log_info("snapshot %s (no row): host %s answered %d", id, h->id, status);
		ctpl_relay(req, h->id, status, resp, rlen);
		done = true;
	}
	pg_host_list_free(rows, n);
	if (!done)
		reply_error(req, 404, "snapshot %s not found", id);
}

/* DELETE /v1/snapshots/{id}. */
static void snapshot_delete(struct control *c, struct http_req *req, const char *team,
			    const char *id)
{
	struct pg_template t = {0};
	struct wr_err err = {0};
	int r = pg_template_get(c->db, id, &t, &err);
	if (r == -ENOENT && !(team && *team)) {
		snapshot_delete_anywhere(c, req, id);
		return;
	}
	if (r == -ENOENT || (r == 0 && (!control_may_see(team, t.team) ||
					strcmp(t.build_status, SNAPSHOT_STATUS) != 0))) {
		/* another team's, or a built template (E2B's DELETE /templates/{id}) */
		reply_error(req, 404, "snapshot %s not found", id);
		if (r == 0)
			pg_template_done(&t);
		return;
	}
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return;
	}
	struct pg_host h = {0};
	if (ctpl_host_of(c, req, id, t.host_id, &h) < 0) {
		pg_template_done(&t);
		return;
	}
	int status = 0;
	cleanup_free char *resp = NULL;
	size_t rlen = 0;
	if (call(c, req, &h, team, NULL, 0, &status, &resp, &rlen) < 0)
		goto out;
	if (status / 100 == 2 || status == 404) {
		/* 404: the host has it no more: the row goes too */
		if ((r = pg_template_delete(c->db, id, false, &err)) < 0) {
			control_reply_pg_error(req, r, &err);
			goto out;
		}
		log_info("snapshot %s deleted on host %s", id, h.id);
		ctpl_delete_copies(c, id, h.id);
	}
	ctpl_relay(req, h.id, status, resp, rlen);
out:
	pg_template_done(&t);
	pg_host_done(&h);
}

/* --- GET /v1/templates -------------------------------------------------------------------- */

struct tpl_merge {
	json_t *by_name; /* name -> merged row */
	json_t *order;	 /* names, first seen first */
};

static int tpl_take(const struct pg_host *h, const char *resp, size_t rlen, void *arg)
{
	struct tpl_merge *m = arg;
	cleanup_json json_t *o = json_loadb(resp ? resp : "", rlen, 0, NULL);
	json_t *arr = json_object_get(o, "templates");
	if (!json_is_array(arr))
		return -EBADMSG;
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		const char *name = json_string_value(json_object_get(v, "name"));
		if (!name)
			continue;
		json_t *row = json_object_get(m->by_name, name);
		if (!row) {
			row = v;
			json_object_set_new(row, "hostIds", json_array());
			json_object_set(m->by_name, name, row);
			json_array_append_new(m->order, json_string(name));
		}
		json_array_append_new(json_object_get(row, "hostIds"), json_string(h->id));
	}
	return 0;
}

static char *same_target(const struct pg_host *h, void *arg)
{
	(void)h;
	return xstrdup(arg);
}

/* The names (ids and aliases) of template rows the caller may not see. */
static int hidden_names(struct control *c, const char *team, json_t *ret, struct wr_err *err)
{
	if (!team || !*team)
		return 0;
	struct pg_template *rows = NULL;
	size_t n = 0;
	int r = pg_template_list(c->db, NULL, &rows, &n, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (control_may_see(team, rows[i].team))
			continue;
		json_object_set_new(ret, rows[i].id, json_true());
		size_t k;
		json_t *a;
		json_array_foreach(rows[i].aliases, k, a)
		{
			if (json_is_string(a))
				json_object_set_new(ret, json_string_value(a), json_true());
		}
	}
	pg_template_list_free(rows, n);
	return 0;
}

static void templates_list(struct control *c, struct http_req *req, const char *team)
{
	struct wr_err err = {0};
	cleanup_json json_t *hidden = json_object();
	int r = hidden_names(c, team, hidden, &err);
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return;
	}
	cleanup_json json_t *by_name = json_object(), *order = json_array(),
			    *unreachable = json_array();
	struct tpl_merge m = {.by_name = by_name, .order = order};
	int st4 = 0;
	cleanup_free char *resp4 = NULL;
	size_t len4 = 0;
	r = control_fanout(c, team, same_target, (void *)http_req_target(req), tpl_take, &m,
			   unreachable, &st4, &resp4, &len4, &err);
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return;
	}
	if (st4) {
		http_resp_send(req, st4, "application/json", resp4 ? resp4 : "", len4);
		return;
	}
	json_t *out = json_array();
	size_t i;
	json_t *v;
	json_array_foreach(order, i, v)
	{
		const char *name = json_string_value(v);
		if (!json_object_get(hidden, name))
			json_array_append(out, json_object_get(by_name, name));
	}
	control_reply_unreachable(req, unreachable);
	reply_json_new(req, 200, json_pack("{s:o}", "templates", out));
}

/* --- routes ------------------------------------------------------------------------------- */

bool control_snapshots_handle(struct control *c, struct http_req *req)
{
	const char *method = http_req_method(req), *path = http_req_path(req);
	bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
	struct route_caps k = {0};
	enum {
		NONE,
		CREATE_E2B,
		CREATE_V1,
		FORK,
		LIST_E2B,
		LIST_V1,
		DELETE,
		TEMPLATES,
		BUILDS
	} op = NONE;
	if (post && route_match("/sandboxes/*/snapshots", path, &k))
		op = CREATE_E2B;
	else if (post && route_match("/v1/sandboxes/*/snapshots", path, &k))
		op = CREATE_V1;
	else if (post && route_match("/sandboxes/*/fork", path, &k))
		op = FORK;
	else if (get && route_match("/snapshots", path, &k))
		op = LIST_E2B;
	else if (get && route_match("/v1/snapshots", path, &k))
		op = LIST_V1;
	else if (!strcmp(method, "DELETE") && route_match("/v1/snapshots/*", path, &k))
		op = DELETE;
	else if (get && route_match("/v1/templates", path, &k))
		op = TEMPLATES;
	else if (!strncmp(path, "/v1/templates/", 14))
		op = BUILDS;
	if (op == NONE) {
		route_caps_done(&k);
		return false;
	}
	if (op == BUILDS) { /* the native template builds: control-tpl-native.c */
		route_caps_done(&k);
		ctpl_native(c, req);
		return true;
	}
	cleanup_free char *team = NULL;
	if (control_caller(c, req, &team) < 0) {
		route_caps_done(&k);
		return true;
	}
	switch (op) {
	case CREATE_E2B:
	case CREATE_V1:
		snapshot_create(c, req, team, k.v[0], op == CREATE_E2B);
		break;
	case FORK:
		fork_sandbox(c, req, team, k.v[0]);
		break;
	case LIST_E2B:
	case LIST_V1:
		snapshot_list(c, req, team, op == LIST_E2B);
		break;
	case DELETE:
		snapshot_delete(c, req, team, k.v[0]);
		break;
	case TEMPLATES:
		templates_list(c, req, team);
		break;
	case NONE:
	case BUILDS:
		break;
	}
	route_caps_done(&k);
	return true;
}
