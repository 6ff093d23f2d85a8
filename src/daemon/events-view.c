/* SPDX-License-Identifier: MIT */
/* GET /v1/events: query and answer shape of both roles (events-view.h). */
#include "daemon/events-view.h"

#include "daemon/reply.h"
#include "daemon/view.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FILTER_MAX 128

/* sandbox ids (cl-…), host ids (host-…), kinds (snake_case): anything else matches nothing
 * and is refused rather than sent to a database */
static bool filter_ok(const char *s)
{
	size_t n = strlen(s);
	if (n > FILTER_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':'))
			return false;
	}
	return true;
}

static int parse_i64(const char *s, int64_t max, int64_t *ret)
{
	if (!s || !*s || *s == '+' || *s == '-')
		return -EINVAL;
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < 1 || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

int events_query_parse(const char *sandbox_id, const char *host_id, const char *kind,
		       const char *limit, const char *before, struct events_query *ret,
		       struct wr_err *err)
{
	struct events_query q = {.limit = EVENTS_LIMIT_DEFAULT};
	const char *names[] = {"sandboxId", "hostId", "kind"};
	const char *vals[] = {sandbox_id, host_id, kind};
	const char **dst[] = {&q.sandbox_id, &q.host_id, &q.kind};
	for (size_t i = 0; i < 3; i++) {
		if (!vals[i] || !*vals[i])
			continue;
		if (!filter_ok(vals[i]))
			return wr_err_set(err, EINVAL,
					  "%s: at most %d characters of A-Z a-z 0-9 . _ : -",
					  names[i], FILTER_MAX);
		*dst[i] = vals[i];
	}
	int64_t v = 0;
	if (limit) {
		if (parse_i64(limit, EVENTS_LIMIT_MAX, &v) < 0)
			return wr_err_set(err, EINVAL,
					  "limit must be an integer 1..%d (default %d)",
					  EVENTS_LIMIT_MAX, EVENTS_LIMIT_DEFAULT);
		q.limit = (int)v;
	}
	if (before) {
		if (parse_i64(before, INT64_MAX, &v) < 0)
			return wr_err_set(err, EINVAL,
					  "before must be a positive integer (a previous "
					  "page's nextCursor)");
		q.before = v;
	}
	*ret = q;
	return 0;
}

int events_query_or_reply(struct http_req *req, struct events_query *ret)
{
	struct wr_err err = {0};
	int r = events_query_parse(http_req_query(req, "sandboxId"), http_req_query(req, "hostId"),
				   http_req_query(req, "kind"), http_req_query(req, "limit"),
				   http_req_query(req, "before"), ret, &err);
	if (r < 0)
		reply_error(req, 400, "%s", wr_err_msg(&err));
	return r;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *events_json(int64_t seq, int64_t time_ms, const char *kind, const char *sandbox_id,
		    const char *host_id, const char *team, const char *detail)
{
	char t[40];
	view_rfc3339(time_ms, t, sizeof(t));
	json_t *o = json_pack("{s:I,s:s,s:s}", "seq", (json_int_t)seq, "time", t, "kind", kind);
	json_object_set_new(o, "sandboxId", str_or_null(sandbox_id));
	json_object_set_new(o, "hostId", str_or_null(host_id));
	json_object_set_new(o, "team", str_or_null(team));
	json_object_set_new(o, "detail", str_or_null(detail));
	return o;
}

void events_reply(struct http_req *req, json_t *arr, int64_t next)
{
	json_t *o = json_pack("{s:o}", "events", arr);
	if (next > 0) {
		char buf[24];
		snprintf(buf, sizeof(buf), "%lld", (long long)next);
		json_object_set_new(o, "nextCursor", json_string(buf));
		http_resp_header(req, "X-Next-Token", buf);
	} else {
		json_object_set_new(o, "nextCursor", json_null());
	}
	reply_json_new(req, 200, o);
}
