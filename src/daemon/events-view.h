/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * GET /v1/events, the part both roles share (docs/openapi.yaml "Events"): the query (sandboxId,
 * hostId, kind, limit, before) and the answer's shape.  The single host reads its SQLite store
 * (v1-events.c), the control plane PostgreSQL (control-events.c); a client sees one shape:
 *
 *   {"events": [{"seq", "time", "kind", "sandboxId", "hostId", "team", "detail"}, ...],
 *    "nextCursor": "<seq>"}
 *
 * newest first; an absent field is null; nextCursor (also X-Next-Token) only when older events
 * remain: the next page is ?before=<nextCursor> with the same filters.
 */
#include "basic/err.h"
#include "http/http.h"

#include <jansson.h>
#include <stdint.h>

#define EVENTS_LIMIT_DEFAULT 100
#define EVENTS_LIMIT_MAX 1000

struct events_query {
	const char *sandbox_id, *host_id, *kind; /* NULL = any */
	int limit;				 /* 1..EVENTS_LIMIT_MAX */
	int64_t before;				 /* 0 = from the newest */
};

/* The query from its parameters' values (NULL = absent; an empty filter is absent too).  -EINVAL
 * with err naming the parameter: a limit outside 1..EVENTS_LIMIT_MAX, a before that is not a
 * positive integer, a filter longer than 128 or with characters ids and kinds never have.  The
 * strings are borrowed.  Pure. */
int events_query_parse(const char *sandbox_id, const char *host_id, const char *kind,
		       const char *limit, const char *before, struct events_query *ret,
		       struct wr_err *err);
/* The same from req's query string; answers 400 itself and returns < 0. */
int events_query_or_reply(struct http_req *req, struct events_query *ret);

/* One event of the answer.  NULL strings are null. */
json_t *events_json(int64_t seq, int64_t time_ms, const char *kind, const char *sandbox_id,
		    const char *host_id, const char *team, const char *detail);
/* 200 {"events": arr (stolen), "nextCursor"} and X-Next-Token when next > 0. */
void events_reply(struct http_req *req, json_t *arr, int64_t next);
