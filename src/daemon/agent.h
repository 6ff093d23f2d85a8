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
};

#define AGENT_VERSION "0.1.0"

void api_handle(struct http_req *req, void *userdata);
void proxy_handle(struct http_req *req, void *userdata);

/* --- shared by the handlers ---------------------------------------------------------------- */

/* Answer a runtime/store failure with the status its errno means (runtime.h's table). */
void agent_reply_rt_error(struct http_req *req, int r, const struct wr_err *err);
/* Resolve the template and create (answers 400 invalid template / 4xx / 5xx itself). */
int agent_create(struct agent *a, struct http_req *req, struct create_req *c,
		 struct runtime_info *ret);
/* A view of a runtime_info (pointers into info). */
void agent_view(const struct runtime_info *info, struct sbx_view *ret);
/* runtime_get that answers 404/500 itself on failure. */
int agent_get_or_reply(struct agent *a, struct http_req *req, const char *id,
		       struct runtime_info *ret);
/* Connect to envd of a running sandbox, answering 404/409/502 itself on failure. */
int agent_envd_connect(struct agent *a, struct http_req *req, const char *id, int *ret_fd);

/* Paging over a newest-first list: the page after `cursor` (NULL = first).  Cursor text is
 * "<created_at>_<id>" of the last row of the previous page.  *ret_next is malloc'd or NULL on
 * the last page.  Pure. */
void agent_page(const struct runtime_info *rows, size_t n, const char *cursor, int limit,
		size_t *ret_start, size_t *ret_count, char **ret_next);
/* limit query: NULL = 100; 1..100; -EINVAL otherwise.  Pure. */
int agent_parse_limit(const char *q, int *ret);
/* exitCode of a process end event (envd's end message); signals become 128+N.  Pure. */
int agent_exit_code(const json_t *end);

/* route handlers (v1*.c, e2b.c); caps[0] is the sandbox id where the path has one */
typedef void (*agent_route_fn)(struct agent *a, struct http_req *req, char **caps);
struct agent_route {
	const char *method;
	const char *pattern;
	agent_route_fn fn;
};
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
/* envd EntryInfo -> native Entry.  Pure. */
json_t *v1_entry_from_envd(const json_t *e);
extern const struct agent_route agent_e2b_routes[];
/* snapshots.c */
void e2b_snapshot_create(struct agent *a, struct http_req *req, char **caps);
void e2b_snapshot_list(struct agent *a, struct http_req *req, char **caps);
void e2b_template_delete(struct agent *a, struct http_req *req, char **caps);
void e2b_fork(struct agent *a, struct http_req *req, char **caps);
void v1_snapshot_create(struct agent *a, struct http_req *req, char **caps);
void v1_snapshot_list(struct agent *a, struct http_req *req, char **caps);
void v1_snapshot_delete(struct agent *a, struct http_req *req, char **caps);
void v1_template_build(struct agent *a, struct http_req *req, char **caps);

/* the embedded docs/openapi.yaml */
void agent_openapi(struct http_req *req);
