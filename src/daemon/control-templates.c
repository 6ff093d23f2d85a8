/* SPDX-License-Identifier: MIT */
/*
 * E2B's template build API through the control plane (control-templates.h), so that the
 * unmodified SDK's Template.build works with one entry point:
 *
 *   POST /v3/templates, POST /v2/templates   a build host is chosen (a template that has a row
 *                         goes to its build host; a new name to a ready host, least loaded:
 *                         control-sched.h), the template row is claimed in PostgreSQL for the
 *                         caller's team, the request forwarded, the build recorded.
 *   POST /v2/templates/{id}/builds/{build}, GET .../builds/{build}/status (the status seen is
 *   recorded) and .../logs, GET /templates/aliases/{alias}, POST and DELETE /templates/tags,
 *   GET /templates/{id}/tags, DELETE /templates/{id}: forwarded to the template's build host.
 *   GET /templates/{id}/files/{hash} and the upload it links: control-tpl-files.c.
 *   GET /templates: control-tpl-list.c.
 *
 * Tenancy: a template belongs to the team whose key created it; another team's template is 404
 * like one that does not exist, decided from the row before any host is called, and every call
 * goes as the caller's team (X-Wrenn-Team under the signature).  Template names are one
 * namespace across teams (they are a host's template names): a name another team has is 409.
 * The other E2B template routes answer 501 naming themselves.
 */
#include "daemon/control-templates.h"

#include "daemon/control-sched.h"
#include "daemon/control-team.h"
#include "daemon/control-templates-internal.h"
#include "daemon/reply.h"
#include "daemon/route.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A build start's body: its steps (as the host's e2b-templates.c allows). */
#define TPL_MAX_BODY (8 * REPLY_MAX_JSON_BODY)

/* The template id of a name or "name:tag" (malloc'd). */
static char *id_of(const char *name)
{
	return xstrndup(name, strcspn(name, ":"));
}

/* A name the control plane records: the host checks the exact rule (build/engine.c name_ok);
 * this keeps what cannot be a name out of the database. */
static bool name_plausible(const char *n)
{
	size_t l = strlen(n);
	if (!l || l > 128 || *n == ':')
		return false;
	for (const char *p = n; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-' || *p == ':'))
			return false;
	return true;
}

/* The host's answer, as it is (E2B's JSON shapes are the host's). */
void ctpl_relay(struct http_req *req, const char *host_id, int status, const char *resp,
		size_t rlen)
{
	http_resp_header(req, "X-Wrenn-Host", host_id);
	http_resp_send(req, status, rlen ? "application/json" : NULL, resp ? resp : "", rlen);
}

/*
 * The row of template id as the caller may see it: another team's answers exactly as one that
 * does not exist (ids cannot be probed).  0 and *ret filled, or answered and < 0.
 */
int ctpl_template_of(struct control *c, struct http_req *req, const char *id, const char *team,
		     struct pg_template *ret)
{
	struct wr_err err = {0};
	int r = pg_template_get(c->db, id, ret, &err);
	if (r == -ENOENT || (r == 0 && !control_may_see(team, ret->team))) {
		if (r == 0)
			pg_template_done(ret);
		reply_error(req, 404, "template %s not found", id);
		return -ENOENT;
	}
	if (r < 0)
		control_reply_pg_error(req, r, &err);
	return r;
}

/* The host a call about `what` (a template id, an upload) goes to, while it can take calls: 0
 * and *ret filled, or answered (503: lost, pending or removed) and < 0. */
int ctpl_host_of(struct control *c, struct http_req *req, const char *what, const char *host_id,
		 struct pg_host *ret)
{
	struct wr_err err = {0};
	int r = pg_host_get(c->db, host_id, ret, &err);
	if (r == -ENOENT) {
		reply_error(req, 503, "%s: its build host %s was removed", what, host_id);
		return r;
	}
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return r;
	}
	if (!strcmp(ret->state, "lost") || !strcmp(ret->state, "pending") || !*ret->api_url) {
		reply_error(req, 503, "%s: its build host %s is %s", what, host_id, ret->state);
		pg_host_done(ret);
		return -EHOSTUNREACH;
	}
	return 0;
}

/* The request (its raw target and body) to h for team: 0 with the answer, or answered (502) and
 * < 0. */
int ctpl_forward(struct control *c, struct http_req *req, const struct pg_host *h, const char *team,
		 const char *body, size_t len, unsigned timeout_ms, int *ret_status,
		 char **ret_body, size_t *ret_len)
{
	struct wr_err err = {0};
	int r = control_forward(c, h->id, h->api_url, team, http_req_method(req),
				http_req_target(req), body, len, timeout_ms, ret_status, ret_body,
				ret_len, &err);
	if (r < 0) {
		log_warn("%s %s: %s", http_req_method(req), http_req_path(req), wr_err_msg(&err));
		reply_error(req, r == -ETIMEDOUT ? 504 : 502, "%s", wr_err_msg(&err));
	}
	return r;
}

/* Read the whole body (at most max): 0, or answered (400, 413) and < 0. */
static int read_body(struct http_req *req, size_t max, char **ret, size_t *ret_len)
{
	int r = http_req_read_all(req, max, ret, ret_len);
	if (r < 0)
		reply_error(req, r == -EFBIG ? 413 : 400, "body: %s", strerror(-r));
	return r;
}

/*
 * A build host for a new template: ready hosts with a free slot and the build's memory, least
 * loaded (sched_pick; no template locality: the template exists nowhere yet).  An operator may
 * pin it with X-Wrenn-Place-On as for creates.  0 with *ret filled, or answered and < 0.
 */
static int pick_build_host(struct control *c, struct http_req *req, const char *team,
			   const char *id, int64_t memory_mb, struct pg_host *ret)
{
	const char *pin = http_req_header(req, "X-Wrenn-Place-On");
	if (pin && team && *team) {
		reply_error(req, 403, "X-Wrenn-Place-On needs an operator key");
		return -EPERM;
	}
	struct pg_host *rows = NULL;
	size_t n = 0;
	struct wr_err err = {0};
	int r = pg_host_list(c->db, &rows, &n, &err);
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return r;
	}
	struct sched_host *sh = xcalloc(n ? n : 1, sizeof(*sh));
	for (size_t i = 0; i < n; i++) {
		/* as creates count a host (control.c pick_host): its last capacity plus the
		 * placements its last heartbeat did not list yet and the creates in flight on it
		 * (their reservations), so a burst of creates is not ignored by a build */
		sched_host_of(&rows[i], NULL, TPL_DEFAULT_MEMORY_MB, &sh[i]);
		if (pin && strcmp(rows[i].id, pin) != 0)
			sh[i].ready = false;
	}
	char why[512];
	int k = sched_pick(sh, n, NULL, memory_mb, why, sizeof(why));
	free(sh);
	if (k < 0) {
		log_warn("build host for template %s: none: %s", id, why);
		reply_error(req, 503, "no host can build template %s: %s", id, why);
		pg_host_list_free(rows, n);
		return -ENOSPC;
	}
	log_info("build host for template %s: %s", id, why);
	*ret = rows[k];
	memset(&rows[k], 0, sizeof(rows[k])); /* moved to *ret */
	pg_host_list_free(rows, n);
	return 0;
}

/* The build host of template t (moved to a new one when its host was removed): 0 with *ret,
 * or answered and < 0. */
static int build_host(struct control *c, struct http_req *req, const char *team,
		      struct pg_template *t, int64_t memory_mb, struct pg_host *ret)
{
	struct wr_err err = {0};
	int r = pg_host_get(c->db, t->host_id, ret, &err);
	if (r == -ENOENT) {
		/* the host and every build of it are gone: the name starts again elsewhere */
		if ((r = pick_build_host(c, req, team, t->id, memory_mb, ret)) < 0)
			return r;
		if ((r = pg_template_move(c->db, t->id, t->host_id, ret->id, &err)) < 0) {
			reply_error(req, r == -ESTALE ? 409 : 500, "%s", wr_err_msg(&err));
			pg_host_done(ret);
			return r;
		}
		log_info("template %s: its build host %s was removed, builds now on host %s", t->id,
			 t->host_id, ret->id);
		free(t->host_id);
		t->host_id = xstrdup(ret->id);
		return 0;
	}
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return r;
	}
	pg_host_done(ret);
	return ctpl_host_of(c, req, t->id, t->host_id, ret);
}

/* POST /v3/templates {name, tags, cpuCount, memoryMB, ...}, POST /v2/templates {alias, ...}. */
static void template_request(struct control *c, struct http_req *req, const char *team)
{
	cleanup_free char *raw = NULL;
	size_t len = 0;
	cleanup_json json_t *body = NULL;
	if (control_read_json(req, &raw, &len, &body) < 0)
		return;
	/* the host reads name, else alias, from both (e2b-templates.c) */
	const char *name = json_string_value(json_object_get(body, "name"));
	if (!name)
		name = json_string_value(json_object_get(body, "alias"));
	if (!name || !name_plausible(name)) {
		reply_error(req, 400, "name is required: 1..128 of [a-z0-9._-], optionally :tag");
		return;
	}
	json_t *jc = json_object_get(body, "cpuCount"), *jm = json_object_get(body, "memoryMB");
	int cpu = json_is_integer(jc) ? (int)json_integer_value(jc) : 0;
	int mem = json_is_integer(jm) ? (int)json_integer_value(jm) : 0;
	cleanup_free char *id = id_of(name);
	int64_t sched_mb = mem > 0 ? mem : TPL_DEFAULT_MEMORY_MB;
	struct wr_err err = {0};
	struct pg_template t = {0};
	struct pg_host h = {0};
	bool created = false;
	int r = pg_template_get(c->db, id, &t, &err);
	if (r == -ENOENT) {
		if (pick_build_host(c, req, team, id, sched_mb, &h) < 0)
			return;
		r = pg_template_claim(c->db, id, team, h.id, &t, &created, &err);
		if (r == 0 && !created) /* another request claimed it first: its host */
			pg_host_done(&h);
	}
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		pg_host_done(&h);
		return;
	}
	if (!control_may_see(team, t.team)) {
		/* names are one namespace (a host's template names): taken is all it says */
		reply_error(req, 409, "template name %s is taken", id);
		pg_template_done(&t);
		pg_host_done(&h);
		return;
	}
	if (!created && build_host(c, req, team, &t, sched_mb, &h) < 0) {
		pg_template_done(&t);
		return;
	}
	int status = 0;
	cleanup_free char *resp = NULL;
	size_t rlen = 0;
	if (ctpl_forward(c, req, &h, team, raw, len, TPL_TIMEOUT_MS, &status, &resp, &rlen) < 0) {
		if (created)
			pg_template_delete(c->db, id, true, NULL);
		pg_template_done(&t);
		pg_host_done(&h);
		return;
	}
	cleanup_json json_t *jr = status / 100 == 2 ? json_loadb(resp, rlen, 0, NULL) : NULL;
	const char *bid = json_string_value(json_object_get(jr, "buildID"));
	if (bid) {
		if (pg_build_put(c->db, bid, id, h.id, cpu, mem, &err) < 0)
			log_error("template %s build %s not recorded: %s", id, bid,
				  wr_err_msg(&err));
		/* the tags it will publish: "name:tag" and the v3 tags array */
		if (strchr(name, ':'))
			pg_template_alias(c->db, id, name, true, NULL);
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(body, "tags"), i, v)
		{
			if (!json_is_string(v))
				continue;
			cleanup_free char *a = xasprintf("%s:%s", id, json_string_value(v));
			pg_template_alias(c->db, id, a, true, NULL);
		}
		log_info("template %s (team %s): build %s requested on host %s", id,
			 *t.team ? t.team : "-", bid, h.id);
	} else if (created) {
		/* the host refused it (a bad name, a built-in's): the name is not taken here */
		pg_template_delete(c->db, id, true, NULL);
	}
	ctpl_relay(req, h.id, status, resp, rlen);
	pg_template_done(&t);
	pg_host_done(&h);
}

/* A route on one template (its id the first capture): the row checked for the caller's team,
 * the host it builds on; 0 with both, or answered and < 0. */
int ctpl_route(struct control *c, struct http_req *req, const char *id, const char *team,
	       struct pg_template *t, struct pg_host *h)
{
	int r = ctpl_template_of(c, req, id, team, t);
	if (r < 0)
		return r;
	if ((r = ctpl_host_of(c, req, id, t->host_id, h)) < 0)
		pg_template_done(t);
	return r;
}

/* A build of template id: the row (caller's team) and the build's host, the build known to be
 * this template's.  0 with both, or answered and < 0. */
static int build_route(struct control *c, struct http_req *req, const char *id, const char *bid,
		       const char *team, struct pg_template *t, struct pg_host *h)
{
	int r = ctpl_template_of(c, req, id, team, t);
	if (r < 0)
		return r;
	cleanup_free char *tid = NULL, *hid = NULL;
	struct wr_err err = {0};
	r = pg_build_get(c->db, bid, &tid, &hid, &err);
	if (r == -ENOENT || (r == 0 && strcmp(tid, t->id) != 0)) {
		reply_error(req, 404, "build %s of template %s not found", bid, id);
		r = -ENOENT;
	} else if (r < 0) {
		control_reply_pg_error(req, r, &err);
	} else {
		r = ctpl_host_of(c, req, id, hid, h);
	}
	if (r < 0)
		pg_template_done(t);
	return r;
}

/* POST /v2/templates/{id}/builds/{build}, GET .../status and .../logs: to the build's host.
 * The status a poll or a start reports is recorded as the build's last seen status. */
static void template_build(struct control *c, struct http_req *req, const char *team,
			   const char *id, const char *bid, bool start)
{
	struct pg_template t = {0};
	struct pg_host h = {0};
	if (build_route(c, req, id, bid, team, &t, &h) < 0)
		return;
	cleanup_free char *body = NULL, *resp = NULL;
	cleanup_json json_t *jr = NULL;
	size_t blen = 0, rlen = 0;
	int status = 0;
	if (start && read_body(req, TPL_MAX_BODY, &body, &blen) < 0)
		goto out;
	if (ctpl_forward(c, req, &h, team, body, blen, TPL_TIMEOUT_MS, &status, &resp, &rlen) < 0)
		goto out;
	const char *seen = NULL;
	if (start && status == 202) {
		seen = "building";
	} else if (!start && status == 200) {
		jr = json_loadb(resp, rlen, 0, NULL);
		seen = json_string_value(json_object_get(jr, "status"));
	}
	struct wr_err err = {0};
	if (seen && pg_build_set_status(c->db, bid, seen, &err) < 0)
		log_warn("build %s: status not recorded: %s", bid, wr_err_msg(&err));
	ctpl_relay(req, h.id, status, resp, rlen);
out:
	pg_template_done(&t);
	pg_host_done(&h);
}

/* --- shared with the native builds (control-tpl-native.c) ------------------------------- */

int ctpl_claim(struct control *c, struct http_req *req, const char *team, const char *id,
	       int64_t memory_mb, const char *near_host, struct pg_template *t, struct pg_host *h,
	       bool *ret_created)
{
	struct wr_err err = {0};
	*ret_created = false;
	int r = pg_template_get(c->db, id, t, &err);
	if (r == -ENOENT) {
		r = near_host ? ctpl_host_of(c, req, id, near_host, h)
			      : pick_build_host(c, req, team, id, memory_mb, h);
		if (r < 0)
			return r;
		r = pg_template_claim(c->db, id, team, h->id, t, ret_created, &err);
		if (r == 0 && !*ret_created) /* another request claimed it first: its host */
			pg_host_done(h);
	}
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		pg_host_done(h);
		return r;
	}
	if (!control_may_see(team, t->team)) {
		/* names are one namespace (a host's template names): taken is all it says */
		reply_error(req, 409, "template name %s is taken", id);
		pg_template_done(t);
		pg_host_done(h);
		return -EEXIST;
	}
	if (!*ret_created && (r = build_host(c, req, team, t, memory_mb, h)) < 0) {
		pg_template_done(t);
		return r;
	}
	return 0;
}

void ctpl_build_poll(struct control *c, struct http_req *req, const char *team, const char *id,
		     const char *build_id)
{
	template_build(c, req, team, id, build_id, false);
}

/* GET /templates/aliases/{alias}: a template of the caller's team on its build host; a name
 * without a row (a built-in image such as base, so Template.exists('base') holds) is asked of
 * one ready host, as one host would answer it. */
static void template_alias(struct control *c, struct http_req *req, const char *team,
			   const char *alias)
{
	cleanup_free char *id = id_of(alias), *resp = NULL;
	struct pg_template t = {0};
	struct pg_host h = {0};
	struct wr_err err = {0};
	int status = 0;
	size_t rlen = 0;
	int r = pg_template_get(c->db, id, &t, &err);
	if (r == 0 && !control_may_see(team, t.team)) {
		reply_error(req, 404, "template alias %s not found", alias);
		goto out;
	}
	if (r < 0 && r != -ENOENT) {
		control_reply_pg_error(req, r, &err);
		return;
	}
	if (r == 0) {
		if (ctpl_host_of(c, req, id, t.host_id, &h) < 0)
			goto out;
	} else {
		struct pg_host *rows = NULL;
		size_t n = 0;
		if ((r = pg_host_list(c->db, &rows, &n, &err)) < 0) {
			control_reply_pg_error(req, r, &err);
			return;
		}
		for (size_t i = 0; i < n && !h.id; i++)
			if (!strcmp(rows[i].state, "ready") && *rows[i].api_url) {
				h = rows[i];
				memset(&rows[i], 0, sizeof(rows[i])); /* moved to h */
			}
		pg_host_list_free(rows, n);
		if (!h.id) {
			reply_error(req, 503, "no ready host to resolve template alias %s", alias);
			return;
		}
	}
	if (ctpl_forward(c, req, &h, team, NULL, 0, TPL_TIMEOUT_MS, &status, &resp, &rlen) == 0)
		ctpl_relay(req, h.id, status, resp, rlen);
out:
	pg_template_done(&t);
	pg_host_done(&h);
}

/*
 * POST /templates/tags {target, tags} and DELETE /templates/tags {name, tags}: the template is
 * the one the target or name names; the tags the host accepted are recorded as its aliases.
 */
static void template_tags(struct control *c, struct http_req *req, const char *team, bool add)
{
	cleanup_free char *raw = NULL;
	size_t len = 0;
	cleanup_json json_t *body = NULL;
	if (control_read_json(req, &raw, &len, &body) < 0)
		return;
	const char *field = add ? "target" : "name";
	const char *target = json_string_value(json_object_get(body, field));
	if (!target || !*target) {
		reply_error(req, 400, "%s and a tags array are required", field);
		return;
	}
	cleanup_free char *id = id_of(target);
	struct pg_template t = {0};
	struct pg_host h = {0};
	if (ctpl_route(c, req, id, team, &t, &h) < 0)
		return;
	int status = 0;
	cleanup_free char *resp = NULL;
	size_t rlen = 0;
	if (ctpl_forward(c, req, &h, team, raw, len, TPL_TIMEOUT_MS, &status, &resp, &rlen) < 0)
		goto out;
	if (status / 100 == 2) {
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(body, "tags"), i, v)
		{
			if (!json_is_string(v))
				continue;
			cleanup_free char *a = xasprintf("%s:%s", id, json_string_value(v));
			struct wr_err err = {0};
			if (pg_template_alias(c->db, id, a, add, &err) < 0)
				log_warn("template %s: alias %s not recorded: %s", id, a,
					 wr_err_msg(&err));
		}
	}
	ctpl_relay(req, h.id, status, resp, rlen);
out:
	pg_template_done(&t);
	pg_host_done(&h);
}

/* GET /templates/{id}/tags: as its build host lists them. */
static void template_tags_list(struct control *c, struct http_req *req, const char *team,
			       const char *id)
{
	struct pg_template t = {0};
	struct pg_host h = {0};
	if (ctpl_route(c, req, id, team, &t, &h) < 0)
		return;
	int status = 0;
	cleanup_free char *resp = NULL;
	size_t rlen = 0;
	if (ctpl_forward(c, req, &h, team, NULL, 0, TPL_TIMEOUT_MS, &status, &resp, &rlen) == 0)
		ctpl_relay(req, h.id, status, resp, rlen);
	pg_template_done(&t);
	pg_host_done(&h);
}

/*
 * The copies of a deleted template that other hosts fetched to start sandboxes: deleted there
 * too (every ready or draining host is asked), as the operator (a fetched copy belongs to no
 * team on its host), so that no create or alias finds the name any more.  A copy a sandbox
 * still uses stays (that host answers 409) and is logged.
 */
void ctpl_delete_copies(struct control *c, const char *id, const char *build_host_id)
{
	cleanup_free char *target = xasprintf("/templates/%s", id);
	struct pg_host *rows = NULL;
	size_t n = 0;
	struct wr_err err = {0};
	if (pg_host_list(c->db, &rows, &n, &err) < 0) {
		log_warn("template %s: copies on other hosts not deleted: %s", id,
			 wr_err_msg(&err));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct pg_host *h = &rows[i];
		/* every host that may hold a copy is asked, not only those whose last heartbeat listed
		 * it: a copy fetched in the last seconds is not listed yet (a 404 is no copy) */
		if (!strcmp(h->id, build_host_id) || !strcmp(h->state, "lost") || !*h->api_url)
			continue;
		int status = 0;
		wr_err_clear(&err);
		int r = control_forward(c, h->id, h->api_url, NULL, "DELETE", target, NULL, 0,
					TPL_TIMEOUT_MS, &status, NULL, NULL, &err);
		if (r < 0)
			log_warn("template %s: its copy on host %s is kept: %s", id, h->id,
				 wr_err_msg(&err));
		else if (status == 404)
			log_debug("template %s: no copy on host %s", id, h->id);
		else if (status / 100 != 2)
			log_warn("template %s: its copy on host %s is kept: the host answered %d",
				 id, h->id, status);
		else
			log_info("template %s: its copy on host %s deleted", id, h->id);
	}
	pg_host_list_free(rows, n);
}

/*
 * DELETE /templates/{id}: deleted on its build host (409 there while a sandbox uses it), then
 * the row, then the copies other hosts fetched.  A template whose build host was removed has
 * nothing left to delete there.
 */
static void template_delete(struct control *c, struct http_req *req, const char *team,
			    const char *id)
{
	struct pg_template t = {0};
	if (ctpl_template_of(c, req, id, team, &t) < 0)
		return;
	struct wr_err err = {0};
	struct pg_host h = {0};
	int r = pg_host_get(c->db, t.host_id, &h, &err);
	if (r == -ENOENT) {
		if ((r = pg_template_delete(c->db, id, false, &err)) < 0) {
			control_reply_pg_error(req, r, &err);
		} else {
			ctpl_delete_copies(c, id, t.host_id);
			reply_empty(req, 204);
		}
		pg_template_done(&t);
		return;
	}
	pg_host_done(&h);
	if (ctpl_host_of(c, req, id, t.host_id, &h) < 0) {
		pg_template_done(&t);
		return;
	}
	int status = 0;
	cleanup_free char *resp = NULL;
	size_t rlen = 0;
	if (ctpl_forward(c, req, &h, team, NULL, 0, TPL_TIMEOUT_MS, &status, &resp, &rlen) < 0)
		goto out;
	/* 404: the host has no such template (a build that never finished): the row goes too */
	if ((status / 100 == 2 || status == 404) &&
	    (r = pg_template_delete(c->db, id, false, &err)) < 0) {
		control_reply_pg_error(req, r, &err);
		goto out;
	}
	if (status / 100 == 2 || status == 404) {
		log_info("template %s deleted on host %s", id, h.id);
		ctpl_delete_copies(c, id, h.id);
	}
	if (status == 404)
		reply_empty(req, 204);
	else
		ctpl_relay(req, h.id, status, resp, rlen);
out:
	pg_template_done(&t);
	pg_host_done(&h);
}

/* Is path under one of the template prefixes (the prefix itself or below it)? */
static bool template_path(const char *path)
{
	static const char *const prefixes[] = {"/templates", "/v2/templates", "/v3/templates",
					       NULL};
	for (const char *const *p = prefixes; *p; p++) {
		size_t l = strlen(*p);
		if (!strncmp(path, *p, l) && (path[l] == '\0' || path[l] == '/'))
			return true;
	}
	return false;
}

bool control_templates_handle(struct control *c, struct http_req *req)
{
	const char *method = http_req_method(req), *path = http_req_path(req);
	if (!strncmp(path, "/build-files/", 13)) { /* the upload link: its token, no API key */
		ctpl_files_upload(c, req);
		return true;
	}
	if (!template_path(path))
		return false;
	bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
	bool del = !strcmp(method, "DELETE");
	struct route_caps k = {0};
	enum {
		NONE,
		REQUEST,
		FILES,
		BUILD_START,
		BUILD_STATUS,
		BUILD_LOGS,
		ALIAS,
		TAGS_ADD,
		TAGS_DEL,
		TAGS_LIST,
		LIST,
		DELETE
	} op = NONE;
	if (post &&
	    (route_match("/v3/templates", path, &k) || route_match("/v2/templates", path, &k)))
		op = REQUEST;
	else if (get && route_match("/templates/*/files/*", path, &k))
		op = FILES;
	else if (post && route_match("/v2/templates/*/builds/*", path, &k))
		op = BUILD_START;
	else if (get && route_match("/templates/*/builds/*/status", path, &k))
		op = BUILD_STATUS;
	else if (get && route_match("/templates/*/builds/*/logs", path, &k))
		op = BUILD_LOGS;
	else if (get && route_match("/templates/aliases/*", path, &k))
		op = ALIAS;
	else if ((post || del) && route_match("/templates/tags", path, &k))
		op = post ? TAGS_ADD : TAGS_DEL;
	else if (get && route_match("/templates/*/tags", path, &k))
		op = TAGS_LIST;
	else if (get && route_match("/templates", path, &k))
		op = LIST;
	else if (del && route_match("/templates/*", path, &k))
		op = DELETE;
	if (op == NONE) {
		route_caps_done(&k);
		reply_error(
			req, 501,
			"%s %s is not served by the control plane: it serves POST /v3/templates, "
			"POST /v2/templates, GET /templates/{id}/files/{hash} and the upload "
			"link, POST /v2/templates/{id}/builds/{buildID}, GET "
			"/templates/{id}/builds/{buildID}/status and /logs, GET "
			"/templates/aliases/{alias}, POST and DELETE /templates/tags, GET "
			"/templates/{id}/tags, GET /templates and DELETE /templates/{id}",
			method, path);
		return true;
	}
	cleanup_free char *team = NULL;
	if (control_caller(c, req, &team) < 0) {
		route_caps_done(&k);
		return true;
	}
	switch (op) {
	case REQUEST:
		template_request(c, req, team);
		break;
	case FILES:
		ctpl_files_link(c, req, team, k.v[0], k.v[1]);
		break;
	case BUILD_START:
	case BUILD_STATUS:
	case BUILD_LOGS:
		template_build(c, req, team, k.v[0], k.v[1], op == BUILD_START);
		break;
	case ALIAS:
		template_alias(c, req, team, k.v[0]);
		break;
	case TAGS_ADD:
	case TAGS_DEL:
		template_tags(c, req, team, op == TAGS_ADD);
		break;
	case TAGS_LIST:
		template_tags_list(c, req, team, k.v[0]);
		break;
	case LIST:
		ctpl_list(c, req, team);
		break;
	case DELETE:
		template_delete(c, req, team, k.v[0]);
		break;
	case NONE:
		break;
	}
	route_caps_done(&k);
	return true;
}
