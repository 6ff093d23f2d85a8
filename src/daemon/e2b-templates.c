/* SPDX-License-Identifier: MIT */
/*
 * E2B's template build API as the npm SDK (2.51.0, 2.49.1) calls it: POST /v3/templates (and
 * POST /v2/templates, the create route of SDKs before v3), the files upload link and the upload
 * itself (served here, PUT /build-files/<hash>?token=), POST /v2/templates/{id}/builds/{build},
 * the status poll, aliases, tags, list and delete.
 * The engine is src/build.
 */
#include "daemon/agent.h"
#include "daemon/reply.h"
#include "daemon/view.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "build/build.h"
#include "http/json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static void reply_build_error(struct http_req *req, int r, const struct wr_err *err)
{
	reply_error(req, reply_status_for_errno(r), "%s", wr_err_msg(err));
}

/* 0, or -EAGAIN after answering 503 (reply.h's handler convention). */
static int have_engine(struct agent *a, struct http_req *req)
{
	if (a->builds)
		return 0;
	reply_error(req, 503, "template builds are not available on this agent");
	return -EAGAIN;
}

static int body_size(struct http_req *req, const json_t *body, const char *key, int *ret)
{
	json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v)) {
		*ret = 0;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 1 << 20) {
		reply_error(req, 400, "%s must be a positive integer", key);
		return -EINVAL;
	}
	*ret = (int)json_integer_value(v);
	return 0;
}

/* POST /v3/templates {name, tags, cpuCount, memoryMB, minFreeDiskMb} -> TemplateRequestResponseV3;
 * v2: POST /v2/templates {alias, cpuCount, memoryMB, teamID} (what Template.build sent before the
 * SDK moved to v3) -> E2B's Template object.  Both register the same waiting build. */
static void template_request(struct agent *a, struct http_req *req, bool v2)
{
	if (have_engine(a, req) < 0)
		return;
	cleanup_json json_t *body = NULL;
	if (reply_read_json(req, REPLY_MAX_JSON_BODY, true, &body) < 0)
		return;
	const char *name = json_string_value(json_object_get(body, "name"));
	if (!name)
		name = json_string_value(json_object_get(body, "alias"));
	static const char *const known[] = {"name",	"alias",  "tags",	   "cpuCount",
					    "memoryMB", "teamID", "minFreeDiskMb", NULL};
	static const char *const known_v2[] = {"alias", "cpuCount", "memoryMB", "teamID", NULL};
	const char *k;
	json_t *v;
	json_object_foreach(body, k, v)
	{
		bool ok = false;
		for (const char *const *kn = v2 ? known_v2 : known; *kn; kn++)
			ok |= !strcmp(k, *kn);
		if (!ok) {
			reply_error(req, 400, "field \"%s\" is not supported", k);
			return;
		}
	}
	int vcpus = 0, mem = 0;
	json_t *tags = json_object_get(body, "tags");
	if (body_size(req, body, "cpuCount", &vcpus) < 0 ||
	    body_size(req, body, "memoryMB", &mem) < 0) {
		return;
	}
	if (tags && !json_is_array(tags) && !json_is_null(tags)) {
		reply_error(req, 400, "tags must be an array of strings");
		return;
	}
	cleanup_free char *tid = NULL, *bid = NULL;
	struct wr_err err = {0};
	int r = build_request(a->builds, name, vcpus, mem, &tid, &bid, &err);
	if (r < 0) {
		reply_build_error(req, r, &err);
		return;
	}
	cleanup_json json_t *out_tags = json_array();
	const char *colon = name ? strchr(name, ':') : NULL;
	if (colon)
		json_array_append_new(out_tags, json_string(colon + 1));
	size_t i;
	json_array_foreach(tags, i, v) if (json_is_string(v)) json_array_append(out_tags, v);
	if (json_array_size(out_tags))
		build_set_tags(a->builds, bid, out_tags);
	log_info("template %s: build %s requested%s", tid, bid, v2 ? " (v2)" : "");
	if (!v2) {
		reply_json_new(req, 202,
			       json_pack("{s:s, s:s, s:[s], s:[s], s:o, s:b}", "templateID", tid,
					 "buildID", bid, "names", tid, "aliases", tid, "tags",
					 TAKE_PTR(out_tags), "public", 0));
		return;
	}
	/* E2B's Template: the sizes the build will use (0 = the runtime's 1 vCPU, 512 MiB), not
	 * built yet (no disk size, no spawns) */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char now[40];
	view_rfc3339((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, now, sizeof(now));
	reply_json_new(req, 202,
		       json_pack("{s:s, s:s, s:i, s:i, s:i, s:b, s:[s], s:[s], s:s, s:s, s:n, "
				 "s:n, s:i, s:i, s:s, s:s}",
				 "templateID", tid, "buildID", bid, "cpuCount", vcpus ? vcpus : 1,
				 "memoryMB", mem ? mem : 512, "diskSizeMB", 0, "public", 0,
				 "aliases", tid, "names", tid, "createdAt", now, "updatedAt", now,
				 "createdBy", "lastSpawnedAt", "spawnCount", 0, "buildCount", 1,
				 "buildStatus", "waiting", "envdVersion", RUNTIME_ENVD_VERSION));
}

void e2b_template_request(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	template_request(a, req, false);
}

void e2b_template_request_v2(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	template_request(a, req, true);
}

/* GET /templates/{id}/files/{hash} -> {present, url} */
void e2b_template_files(struct agent *a, struct http_req *req, char **caps)
{
	if (have_engine(a, req) < 0)
		return;
	const char *hash = caps[1];
	if (!build_hash_valid(hash)) {
		reply_error(req, 400, "invalid files hash \"%s\" (64 lowercase hex characters)",
			    hash);
		return;
	}
	if (build_files_present(a->builds, hash)) {
		reply_json_new(req, 200, json_pack("{s:b}", "present", 1));
		return;
	}
	cleanup_free char *tok = build_files_token(a->builds, hash);
	const char *host = http_req_header(req, "Host");
	/* Behind a TLS front (docs/DOMAIN.md) the SDK must PUT to https://: the front says so with
	 * X-Forwarded-Proto. Only the exact scheme names count; the link goes back to the client
	 * that sent the header, so trusting it gives nobody else anything. */
	const char *fwd = http_req_header(req, "X-Forwarded-Proto");
	const char *scheme = fwd && !strcasecmp(fwd, "https") ? "https" : "http";
	cleanup_free char *url = xasprintf("%s://%s/build-files/%s?token=%s", scheme,
					   host && *host ? host : "localhost", hash, tok);
	reply_json_new(req, 200, json_pack("{s:b, s:s}", "present", 0, "url", url));
}

static ssize_t req_reader(void *ud, void *buf, size_t n)
{
	return http_req_read(ud, buf, n);
}

/* PUT /build-files/{hash}?token=: served before API-key auth (the SDK sends no key there); the
 * one-time token from the upload link is the authorisation. */
void e2b_build_files_put(struct agent *a, struct http_req *req)
{
	if (have_engine(a, req) < 0)
		return;
	const char *path = http_req_path(req);
	const char *hash = path + strlen("/build-files/");
	if (strcmp(http_req_method(req), "PUT") && strcmp(http_req_method(req), "POST")) {
		reply_error(req, 405, "method %s not allowed on %s", http_req_method(req), path);
		return;
	}
	http_req_set_body_limit(req, a->cfg.max_upload_bytes + 1);
	struct wr_err err = {0};
	int r = build_files_put(a->builds, hash, http_req_query(req, "token"),
				http_req_content_length(req), req_reader, req, &err);
	if (r < 0) {
		log_warn("build files %s: %s", hash, wr_err_msg(&err));
		reply_build_error(req, r == -EACCES ? -EPERM : r, &err);
		return;
	}
	reply_empty(req, 200);
}

/* POST /v2/templates/{id}/builds/{build} (TemplateBuildStartV2) */
void e2b_template_build_start(struct agent *a, struct http_req *req, char **caps)
{
	if (have_engine(a, req) < 0)
		return;
	cleanup_json json_t *body = NULL;
	if (reply_read_json(req, REPLY_MAX_JSON_BODY * 8, true, &body) < 0)
		return;
	struct wr_err err = {0};
	int r = build_start(a->builds, caps[0], caps[1], body, &err);
	if (r < 0) {
		log_warn("template %s build %s: %s", caps[0], caps[1], wr_err_msg(&err));
		reply_build_error(req, r, &err);
		return;
	}
	reply_empty(req, 202);
}

/* GET /templates/{id}/builds/{build}/status?logsOffset=&level= */
void e2b_template_build_status(struct agent *a, struct http_req *req, char **caps)
{
	if (have_engine(a, req) < 0)
		return;
	const char *off = http_req_query(req, "logsOffset");
	char *end = NULL;
	long long o = off ? strtoll(off, &end, 10) : 0;
	if (off && (!*off || *end || o < 0)) {
		reply_error(req, 400, "logsOffset must be a non-negative integer");
		return;
	}
	json_t *j = NULL;
	struct wr_err err = {0};
	int r = build_status(a->builds, caps[0], caps[1], (size_t)o, http_req_query(req, "level"),
			     &j, &err);
	if (r < 0) {
		reply_build_error(req, r, &err);
		return;
	}
	reply_json_new(req, 200, j);
}

/* GET /templates/aliases/{alias}: a built template's name or tag, or a built-in image (base,
 * minimal, debian), so Template.exists('base') is true as on E2B.  Snapshots are not names here:
 * they belong to a team, and this route answers every key alike. */
void e2b_template_alias(struct agent *a, struct http_req *req, char **caps)
{
	struct store_alias al = {0};
	if (store_alias_get(a->st, caps[0], &al, NULL) < 0) {
		cleanup_free char *resolved = NULL;
		struct store_template t = {0};
		bool builtin = *caps[0] &&
			       runtime_template_resolve(a->rt, caps[0], &resolved, NULL) == 0 &&
			       store_template_get(a->st, resolved, &t, NULL) == 0 &&
			       t.kind == STORE_TPL_ROOTFS && strncmp(resolved, "oci-", 4);
		store_template_done(&t);
		if (!builtin) {
			reply_error(req, 404, "template alias %s not found", caps[0]);
			return;
		}
	}
	store_alias_done(&al);
	reply_json_new(req, 200, json_pack("{s:s, s:b}", "templateID", caps[0], "public", 0));
}

/* GET /templates */
void e2b_template_list(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	if (have_engine(a, req) < 0)
		return;
	json_t *j = NULL;
	struct wr_err err = {0};
	int r = build_template_list(a->builds, &j, &err);
	if (r < 0) {
		reply_build_error(req, r, &err);
		return;
	}
	reply_json_new(req, 200, j);
}

/* DELETE /templates/{id}: a built template (its name, tags, snapshot), else a snapshot. */
void e2b_template_remove(struct agent *a, struct http_req *req, char **caps)
{
	if (!a->builds) {
		e2b_template_delete(a, req, caps);
		return;
	}
	struct wr_err err = {0};
	int r = build_template_delete(a->builds, caps[0], &err);
	if (r == -ENOENT) {
		e2b_template_delete(a, req, caps);
		return;
	}
	if (r < 0) {
		reply_build_error(req, r, &err);
		return;
	}
	log_info("template %s deleted", caps[0]);
	reply_empty(req, 204);
}

/* POST /templates/tags {target, tags} -> {buildID, tags} */
void e2b_template_tags_assign(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	if (have_engine(a, req) < 0)
		return;
	cleanup_json json_t *body = NULL;
	if (reply_read_json(req, REPLY_MAX_JSON_BODY, true, &body) < 0)
		return;
	json_t *j = NULL;
	struct wr_err err = {0};
	int r = build_tags_assign(a->builds, json_string_value(json_object_get(body, "target")),
				  json_object_get(body, "tags"), &j, &err);
	if (r < 0) {
		reply_build_error(req, r, &err);
		return;
	}
	reply_json_new(req, 201, j);
}

/* DELETE /templates/tags {name, tags} */
void e2b_template_tags_remove(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	if (have_engine(a, req) < 0)
		return;
	cleanup_json json_t *body = NULL;
	if (reply_read_json(req, REPLY_MAX_JSON_BODY, true, &body) < 0)
		return;
	struct wr_err err = {0};
	int r = build_tags_remove(a->builds, json_string_value(json_object_get(body, "name")),
				  json_object_get(body, "tags"), &err);
	if (r < 0) {
		reply_build_error(req, r, &err);
		return;
	}
	reply_empty(req, 204);
}

/* GET /templates/{id}/tags */
void e2b_template_tags_list(struct agent *a, struct http_req *req, char **caps)
{
	if (have_engine(a, req) < 0)
		return;
	json_t *j = NULL;
	struct wr_err err = {0};
	int r = build_tags_list(a->builds, caps[0], &j, &err);
	if (r < 0) {
		reply_build_error(req, r, &err);
		return;
	}
	reply_json_new(req, 200, j);
}

/* Template routes of older API versions and the e2b CLI's Dockerfile upload flow. */
void e2b_template_unsupported(struct agent *a, struct http_req *req, char **caps)
{
	(void)a;
	(void)caps;
	reply_error(
		req, 400,
		"%s %s (legacy v1 template builds) is not supported: use POST /v3/templates and "
		"POST /v2/templates/{templateID}/builds/{buildID}",
		http_req_method(req), http_req_path(req));
}
