/* SPDX-License-Identifier: MIT */
/*
 * Sandbox lists on the control plane (control-internal.h): the same request, query included,
 * goes to every host that heartbeats (ready or draining), and the answers are merged.
 *
 *   GET /sandboxes      E2B v1: running sandboxes of every host, newest first, no paging.
 *   GET /v2/sandboxes   E2B v2: state/metadata/order/startedAfter filters applied by each host,
 *                       merged by startedAt and cut at `limit`, X-Next-Token "<ms>_<id>" of the
 *                       last row (the hosts' own cursor format: a host that does not have that
 *                       id goes on with its rows older, or with `order=asc` newer, than <ms>).
 *   GET /v1/sandboxes   native: {"sandboxes": [...], "nextCursor"}, every row with its hostId;
 *                       sandboxes placed on a host that is lost, removed or does not answer
 *                       are listed from their placement with state "lost" (when no state filter
 *                       is given or the filter names "lost").
 *
 * E2B knows only running and paused: its lists leave out what a host that does not answer has
 * (GET /sandboxes/{id} reports such a sandbox as "lost").  Hosts that did not answer are named
 * in the X-Wrenn-Unreachable-Hosts header.
 *
 * The fan-out itself (control_fanout: every serving host asked as the caller's team, 4xx relayed,
 * the silent ones collected) serves the snapshot and template lists too (control-snapshots.c).
 */
#include "daemon/agent.h"
#include "daemon/control-internal.h"
#include "daemon/control-team.h"
#include "daemon/reply.h"
#include "daemon/view.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "pg/pg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A list must not hang on one slow host: the others' rows are still worth an answer. */
#define LIST_TIMEOUT_MS 10000
#define LIST_MAX_BODY (8 * 1024 * 1024)

enum list_kind { LIST_E2B, LIST_E2B_V2, LIST_V1 };

static int64_t started_ms(const json_t *item)
{
	int64_t ms = 0;
	const char *s = json_string_value(json_object_get(item, "startedAt"));
	if (!s || view_parse_rfc3339(s, &ms) < 0)
		return 0;
	return ms;
}

static const char *item_id(const json_t *item, enum list_kind kind)
{
	return json_string_value(json_object_get(item, kind == LIST_V1 ? "id" : "sandboxID"));
}

struct sort_ctx {
	bool asc;
	enum list_kind kind;
};

/* qsort_r: newest first (oldest with asc), ids break ties */
static int cmp_items(const void *pa, const void *pb, void *arg)
{
	const struct sort_ctx *sc = arg;
	const json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
	int64_t ta = started_ms(a), tb = started_ms(b);
	if (ta != tb)
		return (ta < tb) == sc->asc ? -1 : 1;
	const char *ia = item_id(a, sc->kind), *ib = item_id(b, sc->kind);
	return strcmp(ia ? ia : "", ib ? ib : "");
}

/*
 * The native list's state filter without "lost" (which only the control plane knows):
 * *ret_target is the target to send the hosts (the state parameter rewritten or dropped),
 * *ret_lost whether lost rows are wanted, *ret_hosts whether the hosts need asking at all.
 */
static void split_state_filter(struct http_req *req, char **ret_target, bool *ret_lost,
			       bool *ret_hosts)
{
	const char *st = http_req_query(req, "state");
	*ret_lost = true;
	*ret_hosts = true;
	*ret_target = xstrdup(http_req_target(req));
	if (!st || !*st)
		return;
	cleanup_free char *keep = xstrdup("");
	bool lost = false;
	cleanup_free char *copy = xstrdup(st);
	char *save = NULL;
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		if (!strcmp(w, "lost")) {
			lost = true;
			continue;
		}
		char *k = xasprintf("%s%s%s", keep, *keep ? "," : "", w);
		free(keep);
		keep = k;
	}
	*ret_lost = lost;
	*ret_hosts = *keep || !lost;
	/* the query again, its state parameter replaced */
	const char *t = http_req_target(req), *q = strchr(t, '?');
	if (!q)
		return;
	cleanup_free char *path = xstrndup(t, (size_t)(q - t));
	cleanup_free char *out = xstrdup("");
	cleanup_free char *qs = xstrdup(q + 1);
	save = NULL;
	for (char *p = strtok_r(qs, "&", &save); p; p = strtok_r(NULL, "&", &save)) {
		const char *add = p;
		cleanup_free char *enc = NULL;
		if (!strncmp(p, "state=", 6)) {
			if (!*keep || !lost)
				add = lost ? NULL : p;
			else
				add = enc = xasprintf("state=%s", keep);
		}
		if (!add)
			continue;
		char *o = xasprintf("%s%s%s", out, *out ? "&" : "", add);
		free(out);
		out = o;
	}
	free(*ret_target);
	*ret_target = *out ? xasprintf("%s?%s", path, out) : xstrdup(path);
}

/* Rows of one host's answer appended to all (native rows get their hostId). */
static int take_rows(const char *resp, size_t rlen, enum list_kind kind, const char *host_id,
		     json_t *all, size_t *ret_count)
{
	cleanup_json json_t *o = json_loadb(resp ? resp : "", rlen, 0, NULL);
	json_t *arr = kind == LIST_V1 ? json_object_get(o, "sandboxes") : o;
	if (!json_is_array(arr))
		return -EBADMSG;
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		if (!json_is_object(v))
			continue;
		if (kind == LIST_V1)
			json_object_set_new(v, "hostId", json_string(host_id));
		json_array_append(all, v);
	}
	*ret_count = json_array_size(arr);
	return 0;
}

/* control_fanout's target for every host: the same one (arg). */
static char *fixed_target(const struct pg_host *h, void *arg)
{
	(void)h;
	return xstrdup(arg);
}

struct take_arg {
	enum list_kind kind;
	json_t *all;
	int limit; /* paged: a host that filled its page may have more */
	bool more;
};

static int take_hosts_rows(const struct pg_host *h, const char *resp, size_t rlen, void *arg)
{
	struct take_arg *ta = arg;
	size_t got = 0;
	int r = take_rows(resp, rlen, ta->kind, h->id, ta->all, &got);
	if (r >= 0 && ta->limit > 0 && got >= (size_t)ta->limit)
		ta->more = true; /* that host may have more beyond its page */
	return r;
}

int control_fanout(struct control *c, const char *team,
		   char *(*target_of)(const struct pg_host *h, void *targ), void *targ,
		   control_take_fn take, void *arg, json_t *unreachable, int *ret_status,
		   char **ret_body, size_t *ret_len, struct wr_err *err)
{
	struct pg_host *hosts = NULL;
	size_t nh = 0;
	*ret_status = 0;
	int r = pg_host_list(c->db, &hosts, &nh, err);
	if (r < 0)
		return r;
	for (size_t i = 0; i < nh; i++) {
		const struct pg_host *h = &hosts[i];
		bool serving = !strcmp(h->state, "ready") || !strcmp(h->state, "draining");
		if (!serving || !*h->api_url) {
			if (!strcmp(h->state, "lost"))
				json_array_append_new(unreachable, json_string(h->id));
			continue;
		}
		cleanup_free char *target = target_of(h, targ);
		if (!target)
			continue; /* nothing to ask that host (its pages are done) */
		int status = 0;
		cleanup_free char *resp = NULL;
		size_t rlen = 0;
		struct wr_err e = {0};
		/* as the caller's team: the host filters its list as for a team key of its own */
		r = control_forward(c, h->id, h->api_url, team, "GET", target, NULL, 0,
				    LIST_TIMEOUT_MS, &status, &resp, &rlen, &e);
		if (r >= 0 && status / 100 == 4) {
			*ret_status = status;
			*ret_body = TAKE_PTR(resp);
			*ret_len = rlen;
			break;
		}
		if (r < 0 || status != 200 || take(h, resp, rlen, arg) < 0) {
			log_warn("list %s: host %s: %s", target, h->id,
				 r < 0 ? wr_err_msg(&e) : "unexpected answer");
			json_array_append_new(unreachable, json_string(h->id));
		}
	}
	pg_host_list_free(hosts, nh);
	return 0;
}

void control_reply_unreachable(struct http_req *req, const json_t *unreachable)
{
	if (json_array_size(unreachable) == 0)
		return;
	cleanup_free char *names = xstrdup("");
	size_t i;
	json_t *v;
	json_array_foreach(unreachable, i, v)
	{
		char *s = xasprintf("%s%s%s", names, i ? "," : "", json_string_value(v));
		free(names);
		names = s;
	}
	http_resp_header(req, "X-Wrenn-Unreachable-Hosts", names);
}

/* What the native list says about a sandbox whose host cannot tell. */
static json_t *lost_row(const struct pg_placement *p)
{
	char ts[40];
	view_rfc3339(p->created_at, ts, sizeof(ts));
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:n,s:{},s:s}", "id", p->sandbox_id, "template",
			 p->template, "state", "lost", "hostId", p->host_id, "startedAt", ts,
			 "endAt", "metadata", "message",
			 !strcmp(p->host_state, "removed") ? "its host was removed"
							   : "its host does not answer");
}

static bool in_list(const json_t *arr, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		if (!strcmp(json_string_value(v), s))
			return true;
	}
	return false;
}

void control_list(struct control *c, struct http_req *req, const char *team)
{
	const char *path = http_req_path(req);
	enum list_kind kind = !strcmp(path, "/v1/sandboxes")   ? LIST_V1
			      : !strcmp(path, "/v2/sandboxes") ? LIST_E2B_V2
							       : LIST_E2B;
	bool paged = kind != LIST_E2B;
	int limit = 100;
	if (agent_parse_limit(http_req_query(req, "limit"), &limit) < 0) {
		reply_error(req, 400, "limit must be an integer from 1 to 100");
		return;
	}
	const char *o = http_req_query(req, "order");
	bool asc = kind == LIST_E2B_V2 && o && !strcmp(o, "asc");
	const char *cursor = http_req_query(req, kind == LIST_V1 ? "cursor" : "nextToken");
	if (kind == LIST_V1 && !cursor)
		cursor = http_req_query(req, "nextToken");
	int64_t cursor_ms = cursor && *cursor ? strtoll(cursor, NULL, 10) : 0;

	cleanup_free char *target = NULL;
	bool want_lost = false, ask_hosts = true;
	if (kind == LIST_V1)
		split_state_filter(req, &target, &want_lost, &ask_hosts);
	else
		target = xstrdup(http_req_target(req));

	struct wr_err err = {0};
	cleanup_json json_t *all = json_array(), *unreachable = json_array();
	struct take_arg ta = {.kind = kind, .all = all, .limit = paged ? limit : 0};
	int st4 = 0;
	cleanup_free char *resp4 = NULL;
	size_t len4 = 0;
	int r = 0;
	if (ask_hosts)
		r = control_fanout(c, team, fixed_target, target, take_hosts_rows, &ta, unreachable,
				   &st4, &resp4, &len4, &err);
	if (r < 0) {
		reply_error(req, r == -ECONNREFUSED ? 503 : 500, "%s", wr_err_msg(&err));
		return;
	}
	if (st4) {
		/* a bad query: every host would say the same; the first one's answer */
		http_resp_send(req, st4, "application/json", resp4 ? resp4 : "", len4);
		return;
	}
	bool more = ta.more;

	if (want_lost) {
		struct pg_placement *pl = NULL;
		size_t np = 0;
		r = pg_placement_list(c->db, &pl, &np, &err);
		if (r < 0) {
			reply_error(req, r == -ECONNREFUSED ? 503 : 500, "%s", wr_err_msg(&err));
			return;
		}
		const char *cid = cursor ? strchr(cursor, '_') : NULL;
		for (size_t i = 0; i < np; i++) {
			bool lost = !strcmp(pl[i].host_state, "lost") ||
				    !strcmp(pl[i].host_state, "removed") ||
				    in_list(unreachable, pl[i].host_id);
			if (!lost || !control_may_see(team, pl[i].team))
				continue;
			/* the page after the cursor: older rows only (ids break ties) */
			if (cursor_ms > 0 && (pl[i].created_at > cursor_ms ||
					      (pl[i].created_at == cursor_ms && cid &&
					       strcmp(pl[i].sandbox_id, cid + 1) <= 0)))
				continue;
			json_array_append_new(all, lost_row(&pl[i]));
		}
		pg_placement_list_free(pl, np);
	}

	size_t n = json_array_size(all);
	json_t **items = xcalloc(n ? n : 1, sizeof(*items));
	for (size_t i = 0; i < n; i++)
		items[i] = json_array_get(all, i);
	struct sort_ctx sc = {.asc = asc, .kind = kind};
	qsort_r(items, n, sizeof(*items), cmp_items, &sc);
	size_t take = paged && n > (size_t)limit ? (size_t)limit : n;
	json_t *out = json_array();
	for (size_t i = 0; i < take; i++)
		json_array_append(out, items[i]);
	cleanup_free char *next = NULL;
	if (paged && take > 0 && (n > take || more))
		next = xasprintf("%" PRId64 "_%s", started_ms(items[take - 1]),
				 item_id(items[take - 1], kind));
	free(items);

	control_reply_unreachable(req, unreachable);
	if (next)
		http_resp_header(req, "X-Next-Token", next);
	if (kind != LIST_V1) {
		reply_json_new(req, 200, out);
		return;
	}
	json_t *body = json_pack("{s:o}", "sandboxes", out);
	if (next)
		json_object_set_new(body, "nextCursor", json_string(next));
	reply_json_new(req, 200, body);
}
