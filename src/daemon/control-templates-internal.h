/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * What the control plane's template files share (control-templates.c: routes, requests, builds,
 * aliases, tags, delete; control-tpl-files.c: upload links and the upload relay;
 * control-tpl-list.c: GET /templates).  Each helper that may answer follows reply.h's handler
 * convention: >= 0 when it did not answer, < 0 after answering.
 */
#include "daemon/control-internal.h"

#include "pg/pg.h"
#include "pg/templates.h"

/* A call to the build host (a request registers a row: quick; a build start validates its
 * body). */
#define TPL_TIMEOUT_MS 120000
/* What a build is scheduled with when the request names no size (the host's default). */
#define TPL_DEFAULT_MEMORY_MB 512

/* The host's answer as it is (E2B's shapes are the host's), naming it in X-Wrenn-Host. */
void ctpl_relay(struct http_req *req, const char *host_id, int status, const char *resp,
		size_t rlen);
/* The row of template id as a caller of team may see it: another team's is 404 exactly as one
 * that does not exist (ids cannot be probed).  0 and *ret filled, or answered. */
int ctpl_template_of(struct control *c, struct http_req *req, const char *id, const char *team,
		     struct pg_template *ret);
/* The host a call about `what` (a template id, an upload) goes to while it can take calls: 0
 * and *ret filled, or answered (503: lost, pending or removed). */
int ctpl_host_of(struct control *c, struct http_req *req, const char *what, const char *host_id,
		 struct pg_host *ret);
/* The request (its method, raw target and body) to h as a signed call for team: 0 with the
 * answer, or answered (502, 504 when it timed out). */
int ctpl_forward(struct control *c, struct http_req *req, const struct pg_host *h, const char *team,
		 const char *body, size_t len, unsigned timeout_ms, int *ret_status,
		 char **ret_body, size_t *ret_len);
/* ctpl_template_of then ctpl_host_of of its build host: 0 with both, or answered. */
int ctpl_route(struct control *c, struct http_req *req, const char *id, const char *team,
	       struct pg_template *t, struct pg_host *h);

/*
 * The template row of id for a build by team, and its build host (control-templates.c): an
 * existing row's build host (moved when that host was removed); a new name is claimed for team
 * on near_host (NULL: a ready host, least loaded counting creates in flight: control-sched.h).
 * Another team's name answers 409 (names are one namespace).  0 with *t, *h and *ret_created
 * (this call made the row: undo it with pg_template_delete(only_unbuilt) when the host refuses),
 * or answered and < 0.
 */
int ctpl_claim(struct control *c, struct http_req *req, const char *team, const char *id,
	       int64_t memory_mb, const char *near_host, struct pg_template *t, struct pg_host *h,
	       bool *ret_created);
/* A build's status (the request's raw target) from the build's host, its status recorded as
 * last seen; another team's template or a build not of it is 404 (control-templates.c). */
void ctpl_build_poll(struct control *c, struct http_req *req, const char *team, const char *id,
		     const char *build_id);
/* POST /v1/templates/{name}/build, POST /v1/templates/{name}/builds, GET
 * /v1/templates/{name}/builds/{id}; other /v1/templates/... routes 501 (control-tpl-native.c). */
void ctpl_native(struct control *c, struct http_req *req);

/* GET /templates/{id}/files/{hash} (control-tpl-files.c). */
void ctpl_files_link(struct control *c, struct http_req *req, const char *team, const char *id,
		     const char *hash);
/* PUT|POST /build-files/{hash}?token= (no API key; control-tpl-files.c). */
void ctpl_files_upload(struct control *c, struct http_req *req);
/* The copies of template id that hosts other than build_host_id fetched (their heartbeats list
 * it): DELETE /templates/{id} there as the operator; a copy a sandbox still uses is kept and
 * logged (control-templates.c). */
void ctpl_delete_copies(struct control *c, const char *id, const char *build_host_id);
/* GET /templates (control-tpl-list.c). */
void ctpl_list(struct control *c, struct http_req *req, const char *team);
