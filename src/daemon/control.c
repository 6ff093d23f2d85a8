/* SPDX-License-Identifier: MIT */
/* The control plane role: host registry and heartbeats over PostgreSQL (control.h). */
#include "daemon/control.h"

#include "daemon/agent.h"
#include "daemon/auth.h"
#include "daemon/control-events.h"
#include "daemon/control-internal.h"
#include "daemon/control-sched.h"
#include "daemon/control-team.h"
#include "daemon/control-templates.h"
#include "daemon/proxy-route.h"
#include "daemon/reply.h"
#include "daemon/route.h"
#include "daemon/tplmanifest.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/hex.h"
#include "basic/hmac.h"
#include "basic/log.h"
#include "basic/parse.h"
#include "basic/xalloc.h"
#include "pg/events.h"
#include "pg/pg.h"
#include "pg/quota.h"
#include "pg/reserve.h"
#include "pg/templates.h"
#include "store/store.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define GRACE_MS 10000
#define HEARTBEAT_MAX_BODY (256 * 1024)
/* E2B creates name no memory size (the template has one): what the scheduler reserves. */
#define SCHED_MEMORY_MB 512
/* A placement younger than this is kept even when a heartbeat does not list it: the host may
 * have made its list before the create reached it (a heartbeat takes at most 5 s). */
#define PLACEMENT_GRACE_MS 15000
/* A template fetch between hosts: the token's life, and how long a create waits for it. */
#define FETCH_TOKEN_MS (10 * 60 * 1000)
#define FETCH_TIMEOUT_MS (5 * 60 * 1000)
/* A host reservation outlives its create's forward (and fetch) by this much (pg/reserve.h). */
#define RESERVE_MARGIN_MS 30000

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void control_reply_pg_error(struct http_req *req, int r, const struct wr_err *err)
{
	int st = r == -ECONNREFUSED ? 503 : reply_status_for_errno(r);
	if (st >= 500)
		log_error("%s %s: %s", http_req_method(req), http_req_path(req), wr_err_msg(err));
	reply_error(req, st, "%s", wr_err_msg(err));
}

static json_t *host_json(const struct pg_host *h)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:b,s:s,s:s,s:O,s:I}", "id", h->id, "name", h->name,
			      "state", h->state, "draining", h->draining, "apiUrl", h->api_url,
			      "proxyUrl", h->proxy_url, "capacity", h->capacity, "createdAtMs",
			      (json_int_t)h->created_at);
	json_object_set_new(o, "lastHeartbeatMs",
			    h->last_heartbeat ? json_integer(h->last_heartbeat) : json_null());
	return o;
}

static void hosts_create(struct control *c, struct http_req *req)
{
	cleanup_json json_t *body = NULL;
	if (reply_read_json(req, REPLY_MAX_JSON_BODY, false, &body) < 0)
		return;
	const char *key;
	json_t *v;
	json_object_foreach(body, key, v)
	{
		if (strcmp(key, "name") != 0) {
			reply_error(req, 400, "unknown field \"%s\" (POST /v1/hosts takes name)",
				    key);
			return;
		}
	}
	json_t *jn = json_object_get(body, "name");
	if (jn && (!json_is_string(jn) || json_string_length(jn) > 64)) {
		reply_error(req, 400, "name: a string of at most 64 characters");
		return;
	}
	uint8_t rnd[36];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		reply_error(req, 500, "getrandom failed");
		return;
	}
	char idhex[9], credhex[65], id[16], cred[4 + 65];
	hex_encode(rnd, 4, idhex);
	hex_encode(rnd + 4, 32, credhex);
	snprintf(id, sizeof(id), "host-%s", idhex);
	snprintf(cred, sizeof(cred), "whc_%s", credhex);
	uint8_t keyh[32];
	sha256_digest(cred, strlen(cred), keyh);
	explicit_bzero(rnd, sizeof(rnd));
	struct wr_err err = {0};
	const char *name = jn ? json_string_value(jn) : "";
	int r = pg_host_create(c->db, id, name, keyh, &err);
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return;
	}
	log_info("host %s (%s) registered", id, name);
	reply_json_new(req, 201,
		       json_pack("{s:s,s:s,s:s,s:s}", "id", id, "name", name, "credential", cred,
				 "note",
				 "the credential is shown once; the control plane keeps only its "
				 "SHA-256"));
	explicit_bzero(cred, sizeof(cred));
}

static void hosts_list(struct control *c, struct http_req *req)
{
	struct pg_host *rows = NULL;
	size_t n = 0;
	struct wr_err err = {0};
	int r = pg_host_list(c->db, &rows, &n, &err);
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, host_json(&rows[i]));
	pg_host_list_free(rows, n);
	reply_json_new(req, 200, arr);
}

static void hosts_get(struct control *c, struct http_req *req, const char *id)
{
	struct pg_host h = {0};
	struct wr_err err = {0};
	int r = pg_host_get(c->db, id, &h, &err);
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return;
	}
	reply_json_new(req, 200, host_json(&h));
	pg_host_done(&h);
}

static void hosts_drain(struct control *c, struct http_req *req, const char *id)
{
	struct wr_err err = {0};
	int r = pg_host_drain(c->db, id, &err);
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return;
	}
	log_info("host %s: draining (admin request): no new sandboxes go there", id);
	hosts_get(c, req, id);
}

static void hosts_delete(struct control *c, struct http_req *req, const char *id)
{
	struct wr_err err = {0};
	int r = pg_host_delete(c->db, id, &err);
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return;
	}
	log_info("host %s removed", id);
	reply_empty(req, 204);
}

static void hosts_heartbeat(struct control *c, struct http_req *req, const char *id)
{
	const char *hid = http_req_header(req, "X-Wrenn-Host");
	const char *sig = http_req_header(req, "X-Wrenn-Signature");
	int64_t ts = 0;
	if (!hid || !sig || !parse_positive_i64(http_req_header(req, "X-Wrenn-Timestamp"), &ts)) {
		reply_error(req, 401,
			    "heartbeat must be signed: X-Wrenn-Host, X-Wrenn-Timestamp, "
			    "X-Wrenn-Signature");
		return;
	}
	if (strcmp(hid, id) != 0) {
		reply_error(req, 401, "X-Wrenn-Host %s does not match the path's host %s", hid, id);
		return;
	}
	cleanup_free char *raw = NULL;
	size_t len = 0;
	int r = http_req_read_all(req, HEARTBEAT_MAX_BODY, &raw, &len);
	if (r < 0) {
		reply_error(req, r == -EFBIG ? 413 : 400, "heartbeat body: %s", strerror(-r));
		return;
	}
	uint8_t key[32];
	int64_t last = 0;
	struct wr_err err = {0};
	r = pg_host_key(c->db, id, key, &last, &err);
	if (r == -ENOENT) {
		log_warn("heartbeat from unknown host %s (%s) refused", id, http_req_peer(req));
		reply_error(req, 401, "unknown host %s", id);
		return;
	}
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return;
	}
	r = hmac_req_verify(key, http_req_method(req), http_req_target(req), id, ts, raw, len, sig,
			    now_ms(), last);
	explicit_bzero(key, sizeof(key));
	if (r < 0) {
		const char *why = r == -ETIME	   ? "timestamp outside the ±60 s clock window"
				  : r == -EALREADY ? "timestamp not newer than the last accepted "
						     "one (replay)"
						   : "bad signature";
		log_warn("heartbeat of host %s from %s refused: %s", id, http_req_peer(req), why);
		reply_error(req, 401, "heartbeat refused: %s", why);
		return;
	}
	json_error_t jerr;
	cleanup_json json_t *body = json_loadb(raw, len, 0, &jerr);
	json_t *cap = json_object_get(body, "capacity");
	json_t *au = json_object_get(body, "apiUrl"), *pu = json_object_get(body, "proxyUrl");
	if (!json_is_object(body) || !json_is_object(cap) || !json_is_string(au) ||
	    !json_is_string(pu)) {
		reply_error(req, 400, "heartbeat body: object with apiUrl, proxyUrl, capacity");
		return;
	}
	json_t *ids = json_object_get(body, "sandboxIds");
	bool ids_ok = json_is_array(ids);
	size_t i;
	json_t *v;
	json_array_foreach(ids, i, v)
	{
		if (!json_is_string(v))
			ids_ok = false;
	}
	/* the list makes the scheduler's count exact: placements it does not name are the ones
	 * its capacity does not count yet (whatever the order of creates and heartbeats) */
	r = pg_host_heartbeat(c->db, id, ts, json_string_value(au), json_string_value(pu), cap,
			      ids_ok ? ids : NULL, &err);
	if (r == -EALREADY) {
		reply_error(req, 401, "heartbeat refused: %s", wr_err_msg(&err));
		return;
	}
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return;
	}
	int released = 0, adopted = 0;
	if (ids_ok && pg_placement_reconcile(c->db, id, ids, PLACEMENT_GRACE_MS, &released,
					     &adopted, &err) < 0)
		log_error("host %s: reconcile placements: %s", id, wr_err_msg(&err));
	if (released > 0)
		log_info("host %s: released %d placement(s) of sandboxes it no longer has", id,
			 released);
	if (adopted > 0)
		log_info("host %s: adopted %d sandbox(es) it has without a placement", id, adopted);
	struct pg_host h = {0};
	if (pg_host_get(c->db, id, &h, &err) < 0) {
		control_reply_pg_error(req, -EIO, &err);
		return;
	}
	log_debug("heartbeat of host %s: %s", id, h.state);
	reply_json_new(req, 200, json_pack("{s:s,s:b}", "state", h.state, "draining", h.draining));
	pg_host_done(&h);
}

/*
 * A host's answer about a sandbox, relayed.  When the control plane serves the sandbox traffic,
 * the `domain` of a sandbox reply (what the SDK's getHost(port) and, without E2B_SANDBOX_URL,
 * its envd calls use) names the control plane's proxy instead of the host's, so that SDKs need
 * one entry point.  Server-Timing "host;dur=MS" is how long the host took (connection, request,
 * answer): the rest of what a client waits is the control plane's (bench/scaleout.sh).
 */
static void send_host_reply(struct control *c, struct http_req *req, const char *host_id,
			    double host_ms, int status, const char *resp, size_t rlen)
{
	http_resp_header(req, "X-Wrenn-Host", host_id);
	http_resp_headerf(req, "Server-Timing", "host;dur=%.2f", host_ms);
	cleanup_json json_t *o = NULL;
	if (*c->public_domain && status / 100 == 2 && rlen)
		o = json_loadb(resp, rlen, 0, NULL);
	if (json_is_object(o) && json_object_get(o, "domain")) {
		json_object_set_new(o, "domain", json_string(c->public_domain));
		reply_json_new(req, status, json_incref(o));
		return;
	}
	http_resp_send(req, status, rlen ? "application/json" : NULL, resp ? resp : "", rlen);
}

/*
 * Templates across hosts: when the chosen host lacks tpl and another host (ready or draining)
 * reports it, the chosen host fetches it from there before the create is forwarded (the create
 * waits; the host shares one fetch among concurrent creates).  The control plane mints the fetch
 * token with the source's key (tplmanifest.h) and sends it to the destination in its own
 * authenticated call to that host; it never handles template bytes.  0 when there was nothing to fetch or the
 * host has it now; < 0 with msg filled when the fetch failed (the placement then fails too).
 */
static int template_to_host(struct control *c, const struct pg_host *rows, size_t n, size_t k,
			    const char *tpl, const char *holder, char *msg, size_t msglen)
{
	const struct pg_host *h = &rows[k], *src = NULL;
	for (size_t i = 0; i < n && !src; i++)
		if (i != k && *rows[i].api_url &&
		    (!strcmp(rows[i].state, "ready") || !strcmp(rows[i].state, "draining")) &&
		    (sched_cap_has_template(rows[i].capacity, tpl) ||
		     (holder && !strcmp(rows[i].id, holder))))
			src = &rows[i];
	if (!src)
		return 0; /* nowhere else: the host answers as it would alone */
	uint8_t key[32];
	int64_t last = 0;
	struct wr_err err = {0};
	int r = pg_host_key(c->db, src->id, key, &last, &err);
	if (r < 0) {
		snprintf(msg, msglen, "%s", wr_err_msg(&err));
		return r;
	}
	int64_t exp = now_ms() + FETCH_TOKEN_MS;
	char tok[TPLM_HEX];
	tplm_token(key, tpl, h->id, exp, tok);
	explicit_bzero(key, sizeof(key));
	cleanup_json json_t *body =
		json_pack("{s:s,s:s,s:s,s:I,s:s}", "template", tpl, "source", src->api_url,
			  "sourceHost", src->id, "expires", (json_int_t)exp, "token", tok);
	explicit_bzero(tok, sizeof(tok));
	cleanup_free char *text = json_dumps(body, JSON_COMPACT);
	log_info("template %s: host %s lacks it, fetching from host %s", tpl, h->id, src->id);
	int status = 0;
	cleanup_free char *resp = NULL;
	size_t rlen = 0;
	double t0 = mono_ms();
	r = control_forward(c, h->id, h->api_url, NULL, "POST", "/v1/host/template-fetch", text,
			    strlen(text), FETCH_TIMEOUT_MS, &status, &resp, &rlen, &err);
	explicit_bzero(text, strlen(text));
	if (r < 0) {
		snprintf(msg, msglen, "template %s to host %s: %s", tpl, h->id, wr_err_msg(&err));
		return r;
	}
	cleanup_json json_t *jr = json_loadb(resp ? resp : "", rlen, 0, NULL);
	if (status != 200) {
		const char *m = json_string_value(json_object_get(jr, "message"));
		snprintf(msg, msglen, "%s", m ? m : (resp ? resp : "no answer"));
		return -EIO;
	}
	log_info("template %s on host %s: %s in %.0f ms (digest %s)", tpl, h->id,
		 json_is_true(json_object_get(jr, "present")) ? "present" : "fetched",
		 mono_ms() - t0, json_string_value(json_object_get(jr, "digest")) ?: "-");
	return 0;
}

/*
 * The memory a create reserves on its host for the scheduler: the body's memoryMB when given (the
 * native /v1 create's field, which E2B creates accept too), else SCHED_MEMORY_MB (E2B creates name
 * no size: the template has one).  -EINVAL for a memoryMB that is not a positive integer.
 */
static int create_memory_mb(const json_t *body, int64_t *ret)
{
	const json_t *m = json_object_get(body, "memoryMB");
	if (!m || json_is_null(m)) {
		*ret = SCHED_MEMORY_MB;
		return 0;
	}
	if (!json_is_integer(m) || json_integer_value(m) <= 0)
		return -EINVAL;
	*ret = (int64_t)json_integer_value(m);
	return 0;
}

/* A placement that failed, with its reason, as an event (a decision: no row changes).  attempt
 * 0 is retried on another host, the second is not. */
static void placement_failed(struct control *c, const char *host_id, const char *team, int attempt,
			     const char *why)
{
	cleanup_free char *d =
		xasprintf("%s; %s", why, attempt == 0 ? "retried on another host" : "not retried");
	pg_event_add(c->db, "placement_failed", NULL, host_id, team, d, NULL);
}

/* The scheduler's choice, inside pg_host_reserve's transaction (pg/reserve.h). */
struct pick {
	const char *tpl, *pin, *exclude;
	const char *holder; /* the template row's build host (NULL: no row), see place() */
	int64_t mem_mb;
	bool has_template; /* of the chosen host */
	char why[512];
};

static int pick_host(const struct pg_host *rows, size_t n, void *arg, int64_t *ret_ttl_ms)
{
	struct pick *p = arg;
	struct sched_host *sh = xcalloc(n ? n : 1, sizeof(*sh));
	for (size_t i = 0; i < n; i++) {
		sched_host_of(&rows[i], p->tpl, SCHED_MEMORY_MB, &sh[i]);
		if (p->holder && !strcmp(rows[i].id, p->holder))
			sh[i].has_template = true;
		/* an operator's pin: only that host is eligible */
		if (p->pin && strcmp(rows[i].id, p->pin) != 0)
			sh[i].ready = false;
	}
	int k = sched_pick(sh, n, p->exclude, p->mem_mb, p->why, sizeof(p->why));
	if (k >= 0) {
		p->has_template = sh[k].has_template;
		/* the create's forward, after the template's fetch when the host lacks it */
		*ret_ttl_ms = CONTROL_FORWARD_TIMEOUT_MS + RESERVE_MARGIN_MS +
			      (p->has_template ? 0 : FETCH_TIMEOUT_MS);
	}
	free(sh);
	return k;
}

/* Pick a host and reserve it for this create, forward, record the placement (replacing the
 * create's hold and reservation, *hold then 0); one retry elsewhere.  Answers the client in
 * every case. */
static void place(struct control *c, struct http_req *req, const char *team, bool v1,
		  const char *tpl, int64_t mem_mb, const char *raw, size_t len, int64_t *hold)
{
	int r;
	struct wr_err err = {0};
	/* an operator's pin: only that host is eligible (a team key may not choose hosts) */
	const char *pin = http_req_header(req, "X-Wrenn-Place-On");
	if (pin && team && *team) {
		reply_error(req, 403, "X-Wrenn-Place-On needs an operator key");
		return;
	}
	/* A template made through the control plane (a build, a snapshot) has a row naming the host
	 * that holds it: that host counts as having it, and is a fetch source, before its heartbeat
	 * lists it (a create from a snapshot taken a moment ago would otherwise go anywhere and find
	 * no source).  No row: the heartbeats alone say where it is. */
	cleanup_free char *holder = NULL;
	if (tpl && pg_template_holder(c->db, tpl, &holder, NULL) < 0)
		holder = NULL;
	struct pick pk = {.tpl = tpl, .pin = pin, .mem_mb = mem_mb, .holder = holder};
	struct pg_host *rows = NULL;
	size_t n = 0;
	char fetch_err[512] = "";
	cleanup_free char *exclude = NULL;
	for (int attempt = 0; attempt < 2; attempt++) {
		/* the pick and the host's reservation in one transaction: every create in flight,
		 * on any replica, counts (a retry's too, off the host that failed) */
		pg_host_list_free(rows, n);
		rows = NULL;
		n = 0;
		pk.exclude = exclude;
		int k = -1;
		r = pg_host_reserve(c->db, team, mem_mb, pick_host, &pk, hold, &rows, &n, &k, &err);
		if (r < 0) {
			control_reply_pg_error(req, r, &err);
			break;
		}
		const char *why = pk.why;
		if (k < 0 && *fetch_err) {
			reply_error(req, 502, "%s", fetch_err);
			break;
		}
		if (k < 0) {
			log_warn("placement of a %s sandbox refused: %s", tpl, why);
			pg_event_add(c->db, "placement_refused", NULL, NULL, team, why, NULL);
			reply_error(req, 503, "no host can take the sandbox: %s", why);
			break;
		}
		const struct pg_host *h = &rows[k];
		log_info("placement of a %s sandbox (attempt %d): %s", tpl, attempt + 1, why);
		if (!pk.has_template && template_to_host(c, rows, n, (size_t)k, tpl, holder,
							 fetch_err, sizeof(fetch_err)) < 0) {
			log_warn("placement on host %s failed: %s", h->id, fetch_err);
			placement_failed(c, h->id, team, attempt, fetch_err);
			free(exclude);
			exclude = xstrdup(h->id);
			if (attempt == 0)
				continue;
			reply_error(req, 502, "%s", fetch_err);
			break;
		}
		int status = 0;
		cleanup_free char *resp = NULL;
		size_t rlen = 0;
		wr_err_clear(&err);
		/* a create under load takes long */
		double t0 = mono_ms();
		r = control_forward(c, h->id, h->api_url, team, "POST", http_req_target(req), raw,
				    len, CONTROL_FORWARD_TIMEOUT_MS, &status, &resp, &rlen, &err);
		double host_ms = mono_ms() - t0;
		if (r == -ETIMEDOUT) {
			/* the host may still be creating it: a second host would make a twin */
			log_warn(
				"placement on host %s: no answer in %d s; not retried elsewhere (if "
				"the sandbox comes up there, the host's heartbeat adopts it)",
				h->id, CONTROL_FORWARD_TIMEOUT_MS / 1000);
			placement_failed(c, h->id, team, 1,
					 "no answer in time (may still be creating)");
			reply_error(req, 504, "host %s did not answer the create in time", h->id);
			break;
		}
		/* the host was counted as having the template (its heartbeat or the template's row
		 * said so) and answers 404: its copy went since (a fetched copy collected, tplgc.c,
		 * before its next heartbeat): once more elsewhere, where a holder or a fetch has it */
		bool gone = r >= 0 && status == 404 && pk.has_template && attempt == 0;
		if (r < 0 || status >= 500 || gone) {
			cleanup_free char *fail =
				xasprintf("%s%s", r < 0 ? wr_err_msg(&err) : "host answered ",
					  r < 0 ? "" : (resp ? resp : ""));
			log_warn("placement on host %s failed: %s", h->id, fail);
			placement_failed(c, h->id, team, attempt, fail);
			free(exclude);
			exclude = xstrdup(h->id);
			if (attempt == 0)
				continue;
			reply_error(req, 502, "placement failed on two hosts; last: host %s",
				    h->id);
			break;
		}
		cleanup_json json_t *jr = json_loadb(resp ? resp : "", rlen, 0, NULL);
		const char *sid = json_string_value(json_object_get(jr, v1 ? "id" : "sandboxID"));
		if (status / 100 == 2 && sid) {
			cleanup_free char *decision =
				xasprintf("template %s, attempt %d: %s", tpl, attempt + 1, why);
			r = pg_placement_put_held(c->db, sid, h->id, tpl, team, mem_mb, *hold,
						  decision, &err);
			if (r >= 0)
				*hold = 0; /* the placement counts for the team now */
			if (r < 0) /* the sandbox runs but cannot be found through us: undo it */
				log_error("placement of %s on %s not recorded: %s", sid, h->id,
					  wr_err_msg(&err));
			else
				log_info("sandbox %s placed on host %s", sid, h->id);
		}
		if (r < 0 && status / 100 == 2 && sid) {
			cleanup_free char *t = xasprintf("%s/sandboxes/%s", v1 ? "/v1" : "", sid);
			int st2 = 0;
			struct wr_err e2 = {0};
			control_forward(c, h->id, h->api_url, NULL, "DELETE", t, NULL, 0,
					CONTROL_FORWARD_TIMEOUT_MS, &st2, NULL, NULL, &e2);
			control_reply_pg_error(req, r, &err);
			break;
		}
		send_host_reply(c, req, h->id, host_ms, status, resp, rlen);
		break;
	}
	pg_host_list_free(rows, n);
}

int control_read_json(struct http_req *req, char **ret_raw, size_t *ret_len, json_t **ret_body)
{
	int r = http_req_read_all(req, REPLY_MAX_JSON_BODY, ret_raw, ret_len);
	if (r < 0) {
		reply_error(req, r == -EFBIG ? 413 : 400, "body: %s", strerror(-r));
		return r;
	}
	*ret_body = *ret_len ? json_loadb(*ret_raw, *ret_len, 0, NULL) : json_object();
	if (!json_is_object(*ret_body)) {
		reply_error(req, 400, "body: a JSON object");
		return -EINVAL;
	}
	return 0;
}

/*
 * POST /sandboxes, /v2/sandboxes (E2B) and /v1/sandboxes (native; v1 set), forwarded as such:
 * the team's quota, then place().  The flavours differ only in field names (templateID /
 * template in the body, sandboxID / id in the answer).
 */
static void sandboxes_create(struct control *c, struct http_req *req, const char *team, bool v1)
{
	cleanup_free char *raw = NULL;
	size_t len = 0;
	cleanup_json json_t *body = NULL;
	int r = 0;
	if (control_read_json(req, &raw, &len, &body) < 0)
		return;
	const char *tpl_field = v1 ? "template" : "templateID";
	json_t *jt = json_object_get(body, tpl_field);
	if (jt && !json_is_null(jt) && !json_is_string(jt)) {
		reply_error(req, 400, "%s: a string", tpl_field);
		return;
	}
	const char *tpl = json_is_string(jt) ? json_string_value(jt) : "base";
	int64_t mem_mb = 0;
	if (create_memory_mb(body, &mem_mb) < 0) {
		reply_error(req, 400, "memoryMB: a positive integer (MiB)");
		return;
	}
	/* a team's quota, admitted and held before the create leaves (pg/quota.h): atomic across
	 * replicas; operators have none */
	int64_t hold = 0;
	if (team && *team) {
		struct wr_err err = {0};
		char why[512] = "";
		r = pg_quota_hold(c->db, team, mem_mb, control_quota_admit, &hold, why, sizeof(why),
				  &err);
		if (r == -EDQUOT) {
			log_info("create for team %s refused: %s", team, why);
			/* E2B's concurrency limit is a 429 too; no Retry-After: the SDK would retry
			 * a quota that frees only when a sandbox ends */
			reply_error(req, 429, "%s", why);
			return;
		}
		if (r < 0) {
			control_reply_pg_error(req, r, &err);
			return;
		}
	}
	place(c, req, team, v1, tpl, mem_mb, raw, len, &hold);
	struct wr_err err = {0};
	/* a create that made no placement gives its slot and its host's reservation back (if this
	 * fails too, the reservation expires with its forward and the hold after PG_QUOTA_HOLD_MS) */
	if (hold && pg_quota_release(c->db, hold, &err) < 0)
		log_error("team %s: hold %" PRId64 " not released: %s", team ? team : "", hold,
			  wr_err_msg(&err));
}

/* E2B operations on one sandbox that stay on its host, forwarded by placement (fork and
 * snapshots make new sandboxes or templates: control-snapshots.c). */
static const char *const sandbox_ops[] = {
	"GET",	  "/sandboxes/*",
	"DELETE", "/sandboxes/*",
	"POST",	  "/sandboxes/*/connect",
	"POST",	  "/sandboxes/*/resume",
	"POST",	  "/sandboxes/*/timeout",
	"PUT",	  "/sandboxes/*/network",
	"POST",	  "/sandboxes/*/refreshes",
	"POST",	  "/sandboxes/*/pause",
	"GET",	  "/sandboxes/*/metrics",
	"GET",	  "/sandboxes/*/logs",
	"POST",	  "/v2/sandboxes/*/connect",
	"GET",	  "/v2/sandboxes/*/logs",
	NULL,
};

/* The sandbox id when method + path is one of sandbox_ops (caps filled), else NULL. */
static const char *sandbox_op(const char *method, const char *path, struct route_caps *caps)
{
	for (size_t i = 0; sandbox_ops[i]; i += 2) {
		if (strcmp(sandbox_ops[i], method) != 0)
			continue;
		if (route_match(sandbox_ops[i + 1], path, caps)) {
			if (strcmp(caps->v[0], "metrics") != 0) /* GET /sandboxes/metrics: a list */
				return caps->v[0];
			route_caps_done(caps);
		}
	}
	return NULL;
}

/* A placement whose host an operator removed (`wrenn hosts rm`): the sandbox is out of reach
 * for good and listed as lost.  GET of the sandbox says so; DELETE of it releases the placement
 * (204, a `released` event), so such rows do not stay forever: there is no host left to ask, and
 * if the machine still runs the VM, its agent's heartbeats are refused as an unknown host's and
 * it is that host's own business (its TTL reaper, its API).  Anything else answers 410. */
static int removed_host_sandbox(struct control *c, struct http_req *req, const char *id,
				const char *hid)
{
	const char *method = http_req_method(req), *path = http_req_path(req);
	cleanup_free char *e2b = xasprintf("/sandboxes/%s", id);
	cleanup_free char *v1 = xasprintf("/v1/sandboxes/%s", id);
	bool self = !strcmp(path, e2b) || !strcmp(path, v1);
	struct wr_err err = {0};
	if (self && !strcmp(method, "GET")) {
		reply_json_new(req, 200,
			       json_pack("{s:s,s:s,s:s,s:s}",
					 !strcmp(path, v1) ? "id" : "sandboxID", id, "state",
					 "lost", !strcmp(path, v1) ? "hostId" : "hostID", hid,
					 "message", "its host was removed"));
	} else if (self && !strcmp(method, "DELETE")) {
		int r = pg_placement_delete(c->db, id, "its host was removed; released by DELETE",
					    &err);
		if (r < 0)
			control_reply_pg_error(req, r, &err);
		else
			reply_empty(req, 204);
	} else {
		reply_error(req, 410,
			    "sandbox %s: its host %s was removed (DELETE it to release it)", id,
			    hid);
	}
	return -ENOENT;
}

int control_sandbox_host(struct control *c, struct http_req *req, const char *id, const char *team,
			 struct pg_host *ret)
{
	struct wr_err err = {0};
	cleanup_free char *hid = NULL, *owner = NULL;
	int r = pg_placement_get(c->db, id, &hid, &owner, &err);
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return r;
	}
	/* another team's sandbox answers as one that does not exist (ids cannot be probed); the
	 * call goes as the caller's team too, so the host would refuse it the same way */
	if (!control_may_see(team, owner)) {
		reply_error(req, 404, "sandbox %s not found", id);
		return -ENOENT;
	}
	r = pg_host_get(c->db, hid, ret, &err);
	if (r == -ENOENT)
		return removed_host_sandbox(c, req, id, hid);
	if (r < 0) {
		reply_error(req, 500, "sandbox %s: its host %s: %s", id, hid, wr_err_msg(&err));
		return r;
	}
	return 0;
}

/* One of sandbox_ops: forwarded with its body to the host the placement names. */
static void sandbox_forward(struct control *c, struct http_req *req, const char *id,
			    const char *team)
{
	struct wr_err err = {0};
	cleanup_free char *body = NULL;
	size_t blen = 0;
	int r = http_req_read_all(req, REPLY_MAX_JSON_BODY, &body, &blen);
	if (r < 0) {
		reply_error(req, r == -EFBIG ? 413 : 400, "body: %s", strerror(-r));
		return;
	}
	struct pg_host h = {0};
	if (control_sandbox_host(c, req, id, team, &h) < 0)
		return;
	const char *hid = h.id;
	const char *method = http_req_method(req);
	cleanup_free char *info_path = xasprintf("/sandboxes/%s", id);
	if (!strcmp(h.state, "lost") && !strcmp(method, "GET") &&
	    !strcmp(http_req_path(req), info_path)) {
		/* what is known without the host: where it was placed, and that it is out of reach */
		reply_json_new(req, 200,
			       json_pack("{s:s,s:s,s:s,s:s}", "sandboxID", id, "state", "lost",
					 "hostID", hid, "message",
					 "the sandbox's host missed its heartbeats"));
		pg_host_done(&h);
		return;
	}
	if (!strcmp(h.state, "lost") || !*h.api_url) {
		reply_error(req, 503, "sandbox %s: its host %s is %s", id, hid, h.state);
		pg_host_done(&h);
		return;
	}
	int status = 0;
	cleanup_free char *resp = NULL;
	size_t rlen = 0;
	double t0 = mono_ms();
	r = control_forward(c, h.id, h.api_url, team, method, http_req_target(req), body, blen,
			    CONTROL_FORWARD_TIMEOUT_MS, &status, &resp, &rlen, &err);
	double host_ms = mono_ms() - t0;
	if (r < 0) {
		log_warn("sandbox %s: %s", id, wr_err_msg(&err));
		reply_error(req, 502, "sandbox %s: %s", id, wr_err_msg(&err));
	} else {
		if (!strcmp(method, "DELETE") && (status / 100 == 2 || status == 404) &&
		    pg_placement_delete(c->db, id, "killed through the control plane", &err) < 0)
			log_error("sandbox %s: placement not removed: %s", id, wr_err_msg(&err));
		send_host_reply(c, req, h.id, host_ms, status, resp, rlen);
	}
	pg_host_done(&h);
}

static void control_handle(struct http_req *req, void *userdata)
{
	struct control *c = userdata;
	const char *method = http_req_method(req), *path = http_req_path(req);
	bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
	if (!strcmp(path, "/health") && (get || !strcmp(method, "HEAD"))) {
		struct wr_err err = {0};
		if (pg_ping(c->db, &err) < 0) {
			reply_error(req, 503, "database: %s", wr_err_msg(&err));
			return;
		}
		reply_json_new(req, 200,
			       json_pack("{s:s,s:s,s:s}", "status", "ok", "role", "control",
					 "version", AGENT_VERSION));
		return;
	}
	struct route_caps caps = {0};
	if (route_match("/v1/hosts/*/heartbeat", path, &caps)) {
		if (post)
			hosts_heartbeat(c, req, caps.v[0]);
		else
			reply_error(req, 405, "method %s not allowed on %s", method, path);
		route_caps_done(&caps);
		return;
	}
	if (route_match("/v1/hosts", path, &caps)) {
		if ((get || post) && control_admin(c, req) == 0)
			get ? hosts_list(c, req) : hosts_create(c, req);
		else if (!get && !post)
			reply_error(req, 405, "method %s not allowed on %s", method, path);
	} else if (route_match("/v1/hosts/*/drain", path, &caps)) {
		if (!post)
			reply_error(req, 405, "method %s not allowed on %s", method, path);
		else if (control_admin(c, req) == 0)
			hosts_drain(c, req, caps.v[0]);
	} else if (route_match("/v1/hosts/*", path, &caps)) {
		bool del = !strcmp(method, "DELETE");
		if (!get && !del)
			reply_error(req, 405, "method %s not allowed on %s", method, path);
		else if (control_admin(c, req) == 0)
			del ? hosts_delete(c, req, caps.v[0]) : hosts_get(c, req, caps.v[0]);
	} else if (control_keys_handle(c, req)) {
		/* answered */
	} else if ((route_match("/sandboxes", path, &caps) ||
		    route_match("/v2/sandboxes", path, &caps) ||
		    route_match("/v1/sandboxes", path, &caps)) &&
		   post) {
		cleanup_free char *team = NULL;
		if (control_caller(c, req, &team) == 0)
			sandboxes_create(c, req, team, !strncmp(path, "/v1/", 4));
	} else if (get && (route_match("/sandboxes", path, &caps) ||
			   route_match("/v2/sandboxes", path, &caps) ||
			   route_match("/v1/sandboxes", path, &caps))) {
		cleanup_free char *team = NULL;
		if (control_caller(c, req, &team) == 0)
			control_list(c, req, team);
	} else if (sandbox_op(method, path, &caps)) {
		cleanup_free char *team = NULL;
		if (control_caller(c, req, &team) == 0)
			sandbox_forward(c, req, caps.v[0], team);
	} else if (control_snapshots_handle(c, req)) {
		/* answered */
	} else if (control_v1_handle(c, req)) {
		/* answered */
	} else if (control_templates_handle(c, req)) {
		/* answered */
	} else if (control_events_handle(c, req)) {
		/* answered */
	} else {
		reply_error(
			req, 501,
			"%s %s is not served by the control plane yet: this release has "
			"/health, the host registry (/v1/hosts), API keys and teams (/v1/keys, "
			"/v1/teams), creates (E2B POST /sandboxes and /v2/sandboxes, native POST "
			"/v1/sandboxes), the lists (GET /sandboxes, /v2/sandboxes, /v1/sandboxes) "
			"and, by placement, GET/DELETE /sandboxes/{id} and its connect, resume, "
			"timeout, network, refreshes, pause, metrics and logs, GET/DELETE "
			"/v1/sandboxes/{id} and its timeout, pause, resume, logs, snapshots, exec, "
			"files and pty, E2B snapshots and forks (POST /sandboxes/{id}/snapshots, "
			"/fork, GET /snapshots), GET /v1/snapshots, DELETE /v1/snapshots/{id}, "
			"GET /v1/templates; sandbox traffic on the proxy port",
			method, path);
	}
	route_caps_done(&caps);
}

/* The admin key: the file's key becomes the first admin key, or a new one is minted into the
 * file when the database has none; a replica that finds keys issued elsewhere keeps them. */
static int admin_key(struct control *c, struct wr_err *err)
{
	cleanup_free char *path = c->cfg->admin_key_file
					  ? xstrdup(c->cfg->admin_key_file)
					  : xasprintf("%s/admin-key", c->cfg->data_dir);
	cleanup_free char *text = NULL;
	char plain[STORE_KEY_LEN + 1];
	bool from_file = read_file(path, 4096, &text, NULL) >= 0;
	if (from_file) {
		size_t n = strcspn(text, " \t\r\n");
		if (!auth_key_well_formed(text, n))
			return wr_err_set(err, EINVAL, "%s: not an API key (e2b_<40 hex>)", path);
		memcpy(plain, text, STORE_KEY_LEN);
		plain[STORE_KEY_LEN] = '\0';
	} else {
		int r = store_key_mint(plain, err);
		if (r < 0)
			return r;
	}
	uint8_t h[32];
	sha256_digest(plain, strlen(plain), h);
	bool created = false;
	int r = pg_admin_key_ensure(c->db, h, &created, err);
	if (r < 0)
		return wr_err_prefix(err, r, "admin key");
	if (created && !from_file) {
		int dr = mkdir_p(c->cfg->data_dir, 0700);
		cleanup_free char *line = xasprintf("%s\n", plain);
		r = dr < 0 ? dr : write_file_atomic(path, line, strlen(line), 0600);
		if (r < 0)
			return wr_err_errno(err, -r, "write %s", path);
		printf("wrenn-agent: control plane admin key written to %s\n", path);
		fflush(stdout);
	} else if (!created && from_file && pg_admin_key_check(c->db, h, NULL) < 0) {
		log_warn("%s holds a key the database does not know: admin keys were issued by "
			 "another replica",
			 path);
	} else if (!created && !from_file) {
		log_info("admin keys exist in the database (issued by another replica)");
	}
	explicit_bzero(plain, sizeof(plain));
	return 0;
}

struct serve_arg {
	struct http_server *srv;
	int fd;
	pthread_t th;
	bool running;
};

static void *serve(void *arg)
{
	struct serve_arg *s = arg;
	int r = http_server_run(s->srv, s->fd);
	if (r < 0)
		log_error("control plane server: accept failed: %s", strerror(-r));
	return NULL;
}

static void serve_stop(struct serve_arg *s)
{
	if (!s->running)
		return;
	http_server_stop(s->srv, GRACE_MS);
	pthread_join(s->th, NULL);
	s->running = false;
}

int control_run(const struct agent_config *cfg, const sigset_t *sigs)
{
	struct control c = {.cfg = cfg};
	struct wr_err err = {0};
	int r = pg_open(cfg->database, &c.db, &err);
	if (r < 0) {
		log_error("database: %s", wr_err_msg(&err));
		return 1;
	}
	int rc = 1, port = 0, pport = 0;
	struct serve_arg s = {.fd = -1}, px = {.fd = -1};
	struct control_sweeper *sweeper = NULL;
	if (cfg->unix_socket) {
		log_error("unix_socket: the control plane serves TCP (api_listen) only");
		goto out;
	}
	r = admin_key(&c, &err);
	if (r < 0) {
		log_error("%s", wr_err_msg(&err));
		goto out;
	}
	r = http_listen_tcp(cfg->api_listen, &s.fd, &port, &err);
	if (r < 0) {
		log_error("api listener %s: %s", cfg->api_listen, wr_err_msg(&err));
		goto out;
	}
	struct http_server_config scfg = {.max_conns = cfg->max_conns,
					  .server_name = "wrenn-agent/" AGENT_VERSION};
	s.srv = http_server_new(&scfg, control_handle, &c);
	if (cfg->proxy_listen && *cfg->proxy_listen) {
		r = http_listen_tcp(cfg->proxy_listen, &px.fd, &pport, &err);
		if (r < 0) {
			log_error("sandbox proxy listener %s: %s", cfg->proxy_listen,
				  wr_err_msg(&err));
			goto out;
		}
		struct http_server_config pcfg = scfg;
		pcfg.max_body_bytes = UINT64_MAX; /* bodies are streamed through */
		px.srv = http_server_new(&pcfg, control_proxy_handle, &c);
		proxy_public_domain(cfg->domain, cfg->proxy_listen, c.public_domain,
				    sizeof(c.public_domain));
	}
	if (pthread_create(&s.th, NULL, serve, &s) != 0) {
		log_error("cannot start the server thread");
		goto stop;
	}
	s.running = true;
	if (px.srv) {
		if (pthread_create(&px.th, NULL, serve, &px) != 0) {
			log_error("cannot start the proxy server thread");
			goto stop;
		}
		px.running = true;
		log_info("sandbox proxy listening on %s (port %d), sandbox domain \"%s\"",
			 cfg->proxy_listen, pport, c.public_domain);
	}
	if (control_sweeper_start(&c, &sweeper) < 0)
		log_error("cannot start the host-lost check: host_lost events are not recorded");
	log_info("wrenn-agent %s control plane ready on %s (port %d), hosts lost after %d ms "
		 "without a heartbeat",
		 AGENT_VERSION, cfg->api_listen, port, PG_HOST_LOST_MS);
	for (;;) {
		int sig = 0;
		if (sigwait(sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			log_info("SIGHUP: the control plane reloads nothing yet");
			continue;
		}
		log_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		break;
	}
	rc = 0;
stop:
	control_sweeper_stop(sweeper);
	serve_stop(&s);
	serve_stop(&px);
out:
	http_server_free(s.srv);
	http_server_free(px.srv);
	if (s.fd >= 0)
		close(s.fd);
	if (px.fd >= 0)
		close(px.fd);
	pg_close(c.db);
	return rc;
}
