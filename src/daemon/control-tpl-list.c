/* SPDX-License-Identifier: MIT */
/*
 * GET /templates on the control plane (control-templates-internal.h): the caller's template
 * rows (an operator's: every team's), oldest first, each with its build host's answer for it
 * (E2B's Template object: sizes, disk, status as the host knows them), or, when that host does
 * not list it (a build not finished, failed or waiting) or did not answer, what the row knows.
 * Hosts that did not answer are named in X-Wrenn-Unreachable-Hosts, as for sandbox lists.
 * Templates a host lists without a row (built on that host's own API, fetched copies) are not
 * the control plane's and are left out.
 */
#include "daemon/control-templates-internal.h"

#include "daemon/reply.h"
#include "daemon/view.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "runtime/runtime.h"

#include <string.h>

/* A list must not hang on one slow host. */
#define TPL_LIST_TIMEOUT_MS 10000

/* An E2B Template object from what the row knows (its host does not list it, or did not
 * answer): the sizes asked for, the last seen status. */
static json_t *row_item(const struct pg_template *t)
{
	char ca[40];
	view_rfc3339(t->build_created_at ? t->build_created_at : t->created_at, ca, sizeof(ca));
	return json_pack("{s:s, s:s, s:i, s:i, s:i, s:b, s:[s], s:[s], s:s, s:s, s:n, s:n, s:i, "
			 "s:i, s:s, s:s}",
			 "templateID", t->id, "buildID", t->build_id, "cpuCount",
			 t->cpu_count > 0 ? t->cpu_count : 1, "memoryMB",
			 t->memory_mb > 0 ? t->memory_mb : TPL_DEFAULT_MEMORY_MB, "diskSizeMB", 0,
			 "public", 0, "aliases", t->id, "names", t->id, "createdAt", ca,
			 "updatedAt", ca, "createdBy", "lastSpawnedAt", "spawnCount", 0,
			 "buildCount", 1, "buildStatus",
			 *t->build_status ? t->build_status : "waiting", "envdVersion",
			 RUNTIME_ENVD_VERSION);
}

/* The templates one host lists, by templateID (NULL when it did not answer). */
static json_t *host_templates(struct control *c, struct http_req *req, const char *host_id,
			      const char *team)
{
	struct pg_host h = {0};
	struct wr_err err = {0};
	if (pg_host_get(c->db, host_id, &h, &err) < 0)
		return NULL;
	json_t *by_id = NULL;
	int status = 0;
	cleanup_free char *resp = NULL;
	size_t rlen = 0;
	if (!strcmp(h.state, "lost") || !*h.api_url ||
	    control_forward(c, h.id, h.api_url, team, "GET", http_req_target(req), NULL, 0,
			    TPL_LIST_TIMEOUT_MS, &status, &resp, &rlen, &err) < 0 ||
	    status != 200) {
		log_warn("GET /templates: host %s: %s", host_id,
			 status ? "answered an error" : wr_err_msg(&err));
		pg_host_done(&h);
		return NULL;
	}
	cleanup_json json_t *arr = json_loadb(resp, rlen, 0, NULL);
	by_id = json_object();
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		const char *tid = json_string_value(json_object_get(v, "templateID"));
		if (tid)
			json_object_set(by_id, tid, v);
	}
	pg_host_done(&h);
	return by_id;
}

/* GET /templates: the caller's templates (an operator's: every team's), oldest first. */
void ctpl_list(struct control *c, struct http_req *req, const char *team)
{
	struct pg_template *rows = NULL;
	size_t n = 0;
	struct wr_err err = {0};
	int r = pg_template_list(c->db, team, &rows, &n, &err);
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return;
	}
	/* each build host asked once: host id -> its list by templateID, or null */
	cleanup_json json_t *hosts = json_object();
	cleanup_json json_t *out = json_array();
	cleanup_free char *silent = xstrdup("");
	for (size_t i = 0; i < n; i++) {
		const char *hid = rows[i].host_id;
		/* snapshots (control-snapshots.c) are rows too: E2B lists them at GET /snapshots,
		 * one host's GET /templates does not */
		if (!strcmp(rows[i].build_status, "snapshot"))
			continue;
		json_t *got = json_object_get(hosts, hid);
		if (!got) {
			got = host_templates(c, req, hid, team);
			if (!got) {
				got = json_null();
				char *s = xasprintf("%s%s%s", silent, *silent ? "," : "", hid);
				free(silent);
				silent = s;
			}
			json_object_set_new(hosts, hid, got);
		}
		json_t *item = json_object_get(got, rows[i].id);
		json_array_append_new(out, item ? json_incref(item) : row_item(&rows[i]));
	}
	pg_template_list_free(rows, n);
	if (*silent)
		http_resp_header(req, "X-Wrenn-Unreachable-Hosts", silent);
	reply_json_new(req, 200, TAKE_PTR(out));
}
