/* SPDX-License-Identifier: MIT */
/*
 * E2B observability routes, served from what the runtime's sampler keeps in memory
 * (src/runtime/metrics.h: every 5 s while a sandbox runs, kept 24 h after it ends):
 *   GET /sandboxes/{id}/metrics?start=&end=   SandboxMetric[] with start <= ts <= end (unix s)
 *   GET /sandboxes/metrics?sandbox_ids=a,b    {sandboxes: {id: newest SandboxMetric}}
 *   GET /sandboxes/{id}/logs?start=&limit=    {logs: [{timestamp, line}], logEntries: [...]}
 *   GET /v2/sandboxes/{id}/logs?cursor=&limit=&direction=&level=&search=   {logs: [...]}
 * A request never reaches the guest.  Tenancy: api.c answers 404 for another team's sandbox on
 * the /sandboxes/{id} routes; the list route and a sandbox without a row are checked here.
 */
#include "daemon/agent.h"
#include "daemon/auth.h"
#include "daemon/reply.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "http/json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Can the caller see sandbox id?  An operator sees all; a team key needs the row and the team. */
static bool visible(struct agent *a, struct http_req *req, const char *id)
{
	if (auth_is_operator(req))
		return true;
	struct store_sandbox sb = {0};
	if (store_sandbox_get(a->st, id, &sb, NULL) < 0)
		return false;
	bool mine = auth_may_see(req, sb.team);
	store_sandbox_done(&sb);
	return mine;
}

/* Does the runtime know sandbox id (live, or killed with data kept)?  Answers 404 otherwise. */
static int known_or_reply(struct agent *a, struct http_req *req, const char *id, bool has_data)
{
	if (runtime_id_valid(id) && visible(a, req, id)) {
		if (has_data)
			return 0;
		struct runtime_info info = {0};
		if (runtime_get(a->rt, id, &info, NULL) == 0) {
			bool live = info.state != STORE_SB_KILLED;
			runtime_info_done(&info);
			if (live)
				return 0;
		}
	}
	reply_error(req, 404, "sandbox %s not found", id);
	return -ENOENT;
}

/* Optional integer query parameter in lo..hi; 1 given, 0 absent, < 0 after a 400. */
static int query_int(struct http_req *req, const char *name, int64_t lo, int64_t hi, int64_t *ret)
{
	const char *q = http_req_query(req, name);
	if (!q || !*q)
		return 0;
	char *end = NULL;
	errno = 0;
	long long v = strtoll(q, &end, 10);
	if (errno || *end || v < lo || v > hi) {
		reply_error(req, 400, "%s must be an integer from %" PRId64 " to %" PRId64, name,
			    lo, hi);
		return -EINVAL;
	}
	*ret = v;
	return 1;
}

static json_t *e2b_metric_json(const struct metric_point *p)
{
	char t[40];
	view_rfc3339(p->ts * 1000, t, sizeof(t));
	return json_pack("{s:s,s:I,s:i,s:f,s:I,s:I,s:I,s:I,s:I}", "timestamp", t, "timestampUnix",
			 (json_int_t)p->ts, "cpuCount", (int)p->cpu_count, "cpuUsedPct",
			 (double)p->cpu_pct, "memUsed", (json_int_t)p->mem_used, "memTotal",
			 (json_int_t)p->mem_total, "memCache", (json_int_t)p->mem_cache, "diskUsed",
			 (json_int_t)p->disk_used, "diskTotal", (json_int_t)p->disk_total);
}

void e2b_metrics(struct agent *a, struct http_req *req, char **caps)
{
	const char *id = caps[0];
	/* unix seconds up to 2^33 (year 2242), as E2B's start/end */
	int64_t start = 0, end = 0;
	if (query_int(req, "start", 0, INT64_C(1) << 33, &start) < 0 ||
	    query_int(req, "end", 0, INT64_C(1) << 33, &end) < 0)
		return;
	if (start && end && start > end) {
		reply_error(req, 400, "start (%" PRId64 ") is after end (%" PRId64 ")", start, end);
		return;
	}
	struct metric_point *pts = NULL;
	size_t n = 0;
	int r = runtime_id_valid(id) ? runtime_metrics(a->rt, id, start, end, &pts, &n) : -ENOENT;
	if (known_or_reply(a, req, id, r == 0) < 0) {
		free(pts);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, e2b_metric_json(&pts[i]));
	free(pts);
	reply_json_new(req, 200, arr);
}

/* sandbox_ids: comma-separated, also repeated (sandbox_ids=a&sandbox_ids=b); unique ids into
 * *ret (malloc'd strings).  < 0 after a 400. */
static int parse_ids(struct http_req *req, char ***ret, size_t *ret_n)
{
	const char *target = http_req_target(req);
	const char *q = strchr(target, '?');
	char **ids = NULL;
	size_t n = 0;
	bool given = false;
	while (q && *q) {
		q++;
		size_t len = strcspn(q, "&");
		const char *eq = memchr(q, '=', len);
		if (eq && (size_t)(eq - q) == 11 && !strncmp(q, "sandbox_ids", 11)) {
			given = true;
			char *val = NULL;
			if (http_unescape(eq + 1, len - 12, true, &val) < 0) {
				reply_error(req, 400, "sandbox_ids is not valid percent-encoding");
				goto fail;
			}
			char *save = NULL;
			for (char *t = strtok_r(val, ",", &save); t;
			     t = strtok_r(NULL, ",", &save)) {
				bool dup = false;
				for (size_t i = 0; i < n && !dup; i++)
					dup = !strcmp(ids[i], t);
				if (dup)
					continue;
				if (n == METRICS_IDS_MAX) {
					free(val);
					reply_error(req, 400, "sandbox_ids: at most %d ids",
						    METRICS_IDS_MAX);
					goto fail;
				}
				ids = xrealloc(ids, (n + 1) * sizeof(*ids));
				ids[n++] = xstrdup(t);
			}
			free(val);
		}
		q += len;
	}
	if (!given || !n) {
		reply_error(req, 400, "sandbox_ids is required (comma-separated sandbox ids)");
		goto fail;
	}
	*ret = ids;
	*ret_n = n;
	return 0;
fail:
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
	return -EINVAL;
}

void e2b_metrics_list(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	char **ids = NULL;
	size_t n = 0;
	if (parse_ids(req, &ids, &n) < 0)
		return;
	json_t *sbx = json_object();
	for (size_t i = 0; i < n; i++) {
		struct metric_point p;
		/* unknown, another team's, or no point yet: left out (E2B lists what it has) */
		if (runtime_id_valid(ids[i]) && visible(a, req, ids[i]) &&
		    runtime_metrics_last(a->rt, ids[i], &p) == 0)
			json_object_set_new(sbx, ids[i], e2b_metric_json(&p));
		free(ids[i]);
	}
	free(ids);
	reply_json_new(req, 200, json_pack("{s:o}", "sandboxes", sbx));
}

static json_t *log_entry_json(const struct log_entry *e)
{
	char t[40];
	view_rfc3339(e->ts_ms, t, sizeof(t));
	return json_pack("{s:s,s:s,s:s,s:{s:s}}", "timestamp", t, "level",
			 metrics_level_name(e->level), "message", e->msg, "fields", "source",
			 e->source);
}

#define LOGS_LIMIT_MAX 1000

/* v1 (deprecated in E2B, still called by older clients): oldest first from start (unix ms). */
void e2b_logs(struct agent *a, struct http_req *req, char **caps)
{
	const char *id = caps[0];
	int64_t start = -1, limit = LOGS_LIMIT_MAX;
	if (query_int(req, "start", 0, INT64_MAX, &start) < 0 ||
	    query_int(req, "limit", 0, LOGS_LIMIT_MAX, &limit) < 0)
		return;
	struct log_entry *v = NULL;
	size_t n = 0;
	int r = runtime_id_valid(id) ? runtime_logs(a->rt, id, start, true, METRICS_DEBUG, NULL,
						    (size_t)limit, &v, &n)
				     : -ENOENT;
	if (known_or_reply(a, req, id, r == 0) < 0) {
		runtime_logs_free(v, n);
		return;
	}
	json_t *logs = json_array(), *entries = json_array();
	for (size_t i = 0; i < n; i++) {
		char t[40];
		view_rfc3339(v[i].ts_ms, t, sizeof(t));
		/* E2B's v1 `line` is one structured log record as a JSON text ({level, logger,
		 * msg}): the e2b CLI's `sandbox logs` parses it (a plain text line made it throw) */
		cleanup_json json_t *rec =
			json_pack("{s:s,s:s,s:s}", "level", metrics_level_name(v[i].level),
				  "logger", v[i].source, "msg", v[i].msg);
		cleanup_free char *line = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
		json_array_append_new(
			logs, json_pack("{s:s,s:s}", "timestamp", t, "line", line ? line : "{}"));
		json_array_append_new(entries, log_entry_json(&v[i]));
	}
	runtime_logs_free(v, n);
	reply_json_new(req, 200, json_pack("{s:o,s:o}", "logs", logs, "logEntries", entries));
}

/* v2: from cursor (unix ms, inclusive) forward (oldest first) or backward (newest first). */
void e2b_logs_v2(struct agent *a, struct http_req *req, char **caps)
{
	const char *id = caps[0];
	int64_t cursor = -1, limit = LOGS_LIMIT_MAX;
	if (query_int(req, "cursor", 0, INT64_MAX, &cursor) < 0 ||
	    query_int(req, "limit", 0, LOGS_LIMIT_MAX, &limit) < 0)
		return;
	const char *d = http_req_query(req, "direction");
	bool forward = true;
	if (d && *d && strcmp(d, "forward") != 0) {
		if (strcmp(d, "backward") != 0) {
			reply_error(req, 400, "direction must be forward or backward");
			return;
		}
		forward = false;
	}
	enum metrics_level lvl = METRICS_DEBUG;
	const char *l = http_req_query(req, "level");
	if (l && *l && metrics_level_parse(l, &lvl) < 0) {
		reply_error(req, 400, "level must be one of debug, info, warn, error");
		return;
	}
	const char *search = http_req_query(req, "search");
	struct log_entry *v = NULL;
	size_t n = 0;
	int r = runtime_id_valid(id)
			? runtime_logs(a->rt, id, cursor, forward, lvl,
				       search && *search ? search : NULL, (size_t)limit, &v, &n)
			: -ENOENT;
	if (known_or_reply(a, req, id, r == 0) < 0) {
		runtime_logs_free(v, n);
		return;
	}
	json_t *logs = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(logs, log_entry_json(&v[i]));
	runtime_logs_free(v, n);
	reply_json_new(req, 200, json_pack("{s:o}", "logs", logs));
}
