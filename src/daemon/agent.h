/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * wrenn-agent: the state every request handler shares, and the handlers of its two servers:
 *   api_handle    port 3000 (and the optional unix socket): /health, /openapi.yaml, the native
 *                 /v1 API (v1*.c) and the E2B-compatible control plane (e2b.c);
 *   proxy_handle  port 3002: envd / user-port traffic routed into sandboxes (proxy.c).
 */
#include "daemon/config.h"
#include "daemon/view.h"
#include "http/http.h"
#include "runtime/runtime.h"

#include <pthread.h>
#include <stdatomic.h>

struct agent {
	struct agent_config cfg; /* read-only after start except the fields below */
	atomic_bool resume_on_traffic;
	struct runtime *rt;
	struct store *st;
	struct build_engine *builds; /* template builds (src/build); NULL = unavailable */
};

#define AGENT_VERSION "0.1.0"

void api_handle(struct http_req *req, void *userdata);
void proxy_handle(struct http_req *req, void *userdata);

/* --- shared by the handlers ---------------------------------------------------------------- */

/* Answer a runtime/store failure with the status its errno means (runtime.h's table). */
void agent_reply_rt_error(struct http_req *req, int r, const struct wr_err *err);
/* Which API a request came in on: decides the create body's dialect. */
enum agent_dialect { AGENT_V1, AGENT_E2B, AGENT_E2B_V2 };
/* Read and parse the create body, resolve the template and create; 0 with *ret filled (the
 * caller answers), < 0 after answering 400 invalid body or template / 4xx / 5xx itself. */
int agent_create(struct agent *a, struct http_req *req, enum agent_dialect d,
		 struct runtime_info *ret);
/* A view of a runtime_info (pointers into info). */
void agent_view(const struct runtime_info *info, struct sbx_view *ret);
/* runtime_get that answers 404/500 itself on failure. */
int agent_get_or_reply(struct agent *a, struct http_req *req, const char *id,
		       struct runtime_info *ret);
/* Answer a runtime call on sandbox `id` that failed (r < 0): an unknown or malformed id is 404,
 * anything else as agent_reply_rt_error.  Returns r; sends nothing when r >= 0. */
int agent_reply_sandbox_error(struct http_req *req, const char *id, int r,
			      const struct wr_err *err);
/* Pause sandbox `id` (its state already checked); answers 204 or the error. */
void agent_pause(struct agent *a, struct http_req *req, const char *id);
/* Set the timeout of sandbox `id`; answers 204 or the error. */
void agent_set_timeout(struct agent *a, struct http_req *req, const char *id, int timeout_s);
/* The shared part of listing sandboxes: the metadata (extra_decode as in
 * view_parse_metadata_query), template and limit queries, then runtime_list with f, whose
 * states the caller has set.  < 0 after answering 400/5xx. */
int agent_list(struct agent *a, struct http_req *req, struct runtime_filter *f, bool extra_decode,
	       int *ret_limit, struct runtime_info **ret_rows, size_t *ret_n);
/* JSON array of view(row, false) for rows[start .. start+count); frees all n rows. */
json_t *agent_view_array(struct runtime_info *rows, size_t n, size_t start, size_t count,
			 json_t *(*view)(const struct sbx_view *v, bool with_token));
/* Connect to envd of a running sandbox, answering 404/409/502 itself on failure. */
int agent_envd_connect(struct agent *a, struct http_req *req, const char *id, int *ret_fd);

/* Paging over a newest-first list: the page after `cursor` (NULL = first).  Cursor text is
 * "<created_at>_<id>" of the last row of the previous page.  *ret_next is malloc'd or NULL on
 * the last page.  Pure. */
void agent_page(const struct runtime_info *rows, size_t n, const char *cursor, int limit,
		size_t *ret_start, size_t *ret_count, char **ret_next);
/* The same over a list in the other direction (oldest first) when asc. */
void agent_page_dir(const struct runtime_info *rows, size_t n, const char *cursor, int limit,
		    bool asc, size_t *ret_start, size_t *ret_count, char **ret_next);
/* limit query: NULL = 100; 1..100; -EINVAL otherwise.  Pure. */
int agent_parse_limit(const char *q, int *ret);
/* exitCode of a process end event (envd's end message); signals become 128+N; -1 (logged)
 * when envd sent an exit code outside -1..255.  Pure. */
int agent_exit_code(const json_t *end);
/* Integers from the guest are range-checked: field camel (or its snake_case form) of an envd
 * message, a JSON integer or decimal string in lo..hi.  0 and *ret set; -ENOENT when absent
 * (err untouched); -EPROTO naming the field and the range otherwise.  Pure. */
int agent_guest_int(const json_t *obj, const char *camel, int64_t lo, int64_t hi, int64_t *ret,
		    struct wr_err *err);
/* Ranges for agent_guest_int: Linux PID_MAX_LIMIT (2^22), and byte counts up to 2^62. */
#define AGENT_GUEST_PID_MAX (INT64_C(1) << 22)
#define AGENT_GUEST_SIZE_MAX (INT64_C(1) << 62)

/* route handlers (v1*.c, e2b.c); caps[0] is the sandbox id where the path has one */
typedef void (*agent_route_fn)(struct agent *a, struct http_req *req, char **caps);
struct agent_route {
	const char *method;
	const char *pattern;
	agent_route_fn fn;
};
/* DELETE a sandbox: the same in both APIs (204, or 404 for an unknown id). */
void agent_kill(struct agent *a, struct http_req *req, char **caps);
extern const struct agent_route agent_v1_routes[];
void v1_exec(struct agent *a, struct http_req *req, char **caps);
void v1_pty(struct agent *a, struct http_req *req, char **caps);
void v1_files_put(struct agent *a, struct http_req *req, char **caps);
void v1_files_get(struct agent *a, struct http_req *req, char **caps);
void v1_files_delete(struct agent *a, struct http_req *req, char **caps);
void v1_files_list(struct agent *a, struct http_req *req, char **caps);
void v1_files_stat(struct agent *a, struct http_req *req, char **caps);
void v1_files_mkdir(struct agent *a, struct http_req *req, char **caps);
void v1_files_move(struct agent *a, struct http_req *req, char **caps);
void v1_events(struct agent *a, struct http_req *req, char **caps);
/* envd EntryInfo -> native Entry.  Pure. */
json_t *v1_entry_from_envd(const json_t *e);
extern const struct agent_route agent_e2b_routes[];
/* snapshots.c */
/* A snapshot of another team is invisible to a team key (false); ids that are not snapshots
 * are true (the caller's own lookup answers for them). */
bool agent_snapshot_visible(struct agent *a, struct http_req *req, const char *id);
void e2b_snapshot_create(struct agent *a, struct http_req *req, char **caps);
void e2b_snapshot_list(struct agent *a, struct http_req *req, char **caps);
void e2b_template_delete(struct agent *a, struct http_req *req, char **caps);
void e2b_fork(struct agent *a, struct http_req *req, char **caps);
void v1_snapshot_create(struct agent *a, struct http_req *req, char **caps);
void v1_snapshot_list(struct agent *a, struct http_req *req, char **caps);
void v1_snapshot_delete(struct agent *a, struct http_req *req, char **caps);
void v1_template_build(struct agent *a, struct http_req *req, char **caps);
/* e2b-metrics.c: metrics and logs kept by the runtime (runtime/metrics.h) */
void e2b_metrics(struct agent *a, struct http_req *req, char **caps);
void e2b_metrics_list(struct agent *a, struct http_req *req, char **caps);
void e2b_logs(struct agent *a, struct http_req *req, char **caps);
void e2b_logs_v2(struct agent *a, struct http_req *req, char **caps);
/* prom.c: GET /metrics, the Prometheus text format */
void agent_prometheus(struct agent *a, struct http_req *req, char **caps);
/* e2b-volumes.c: E2B volumes (/volumes with an API key; /volumecontent/... with the volume's
 * token, dispatched by api.c before API-key auth) */
void e2b_volumes_create(struct agent *a, struct http_req *req, char **caps);
void e2b_volumes_list(struct agent *a, struct http_req *req, char **caps);
void e2b_volumes_get(struct agent *a, struct http_req *req, char **caps);
void e2b_volumes_delete(struct agent *a, struct http_req *req, char **caps);
void e2b_volume_content(struct agent *a, struct http_req *req);
/* [{name, path}] of the volumes attached to a live sandbox (E2B SandboxDetail.volumeMounts) */
json_t *e2b_volume_mounts_json(struct agent *a, const char *sandbox_id);
/* e2b-network.c */
void e2b_network_update(struct agent *a, struct http_req *req, char **caps);

/* e2b-templates.c: E2B's template build API */
void e2b_template_request(struct agent *a, struct http_req *req, char **caps);
void e2b_template_request_v2(struct agent *a, struct http_req *req, char **caps);
void e2b_template_files(struct agent *a, struct http_req *req, char **caps);
void e2b_build_files_put(struct agent *a, struct http_req *req);
void e2b_template_build_start(struct agent *a, struct http_req *req, char **caps);
void e2b_template_build_status(struct agent *a, struct http_req *req, char **caps);
void e2b_template_alias(struct agent *a, struct http_req *req, char **caps);
void e2b_template_list(struct agent *a, struct http_req *req, char **caps);
void e2b_template_remove(struct agent *a, struct http_req *req, char **caps);
void e2b_template_tags_assign(struct agent *a, struct http_req *req, char **caps);
void e2b_template_tags_remove(struct agent *a, struct http_req *req, char **caps);
void e2b_template_tags_list(struct agent *a, struct http_req *req, char **caps);
void e2b_template_unsupported(struct agent *a, struct http_req *req, char **caps);
/* v1-builds.c: Dockerfile builds */
void v1_template_builds_post(struct agent *a, struct http_req *req, char **caps);

/* the embedded docs/openapi.yaml */
void agent_openapi(struct http_req *req);
