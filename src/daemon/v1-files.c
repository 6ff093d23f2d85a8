/* SPDX-License-Identifier: MIT */
/* /v1/sandboxes/{id}/files...: envd's /files for contents, filesystem.Filesystem for the rest. */
#include "daemon/agent.h"
#include "daemon/envdc.h"
#include "daemon/reply.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "http/json.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Running sandbox + its envd token; answers the error itself.  *ret_token may be NULL. */
static int prepare(struct agent *a, struct http_req *req, const char *id, char **ret_token)
{
	struct runtime_info info = {0};
	int r = agent_get_or_reply(a, req, id, &info);
	if (r < 0)
		return r;
	enum store_sb_state st = info.state;
	*ret_token = info.envd_token ? xstrdup(info.envd_token) : NULL;
	runtime_info_done(&info);
	if (st != STORE_SB_RUNNING) {
		free(*ret_token);
		*ret_token = NULL;
		reply_error(req, 409, "sandbox %s is %s, not running", id, store_sb_state_name(st));
		return -EBUSY;
	}
	return 0;
}

static void reply_envd_error(struct http_req *req, int r, const struct wr_err *err)
{
	reply_error(req, reply_status_for_errno(r), "%s", wr_err_msg(err));
}

json_t *v1_entry_from_envd(const json_t *e)
{
	json_t *o = json_object();
	const char *s = NULL;
	if (wj_str(e, "name", &s) == 0)
		json_object_set_new(o, "name", json_string(s));
	if (wj_str(e, "path", &s) == 0)
		json_object_set_new(o, "path", json_string(s));
	const char *type = "other";
	if (wj_str(e, "type", &s) == 0) {
		if (!strcmp(s, "FILE_TYPE_FILE"))
			type = "file";
		else if (!strcmp(s, "FILE_TYPE_DIRECTORY"))
			type = "dir";
		else if (!strcmp(s, "FILE_TYPE_SYMLINK"))
			type = "symlink";
	}
	json_object_set_new(o, "type", json_string(type));
	int64_t v = 0;
	struct wr_err err = {0};
	/* a size out of range is dropped (logged), not passed on */
	int r = agent_guest_int(e, "size", 0, AGENT_GUEST_SIZE_MAX, &v, &err);
	if (r == 0 || r == -ENOENT)
		json_object_set_new(o, "size", json_integer(v));
	else
		log_warn("file entry %s: %s", json_string_value(json_object_get(o, "path")) ?: "?",
			 wr_err_msg(&err));
	v = 0;
	if (wj_i64(e, "mode", &v) == 0)
		json_object_set_new(o, "mode", json_integer(v & 07777));
	static const char *const strs[] = {"permissions", "owner", "group", "modifiedTime",
					   "symlinkTarget"};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (wj_str(e, strs[i], &s) == 0)
			json_object_set_new(o, strs[i], json_string(s));
	return o;
}

/* One Filesystem RPC; answers errors itself. */
static int fs_call(struct agent *a, struct http_req *req, const char *id, const char *token,
		   const char *rpc, json_t *msg, json_t **ret)
{
	int fd = -1;
	int r = agent_envd_connect(a, req, id, &fd);
	if (r < 0)
		return r;
	struct envdc_auth au = {.token = token};
	struct wr_err err = {0};
	r = envdc_unary(fd, &au, rpc, msg, ret, &err);
	if (r < 0) {
		reply_envd_error(req, r, &err);
		return r;
	}
	return 0;
}

/* One Filesystem RPC answered with the entry it returns, `status` on success; consumes msg. */
static void entry_rpc(struct agent *a, struct http_req *req, const char *id, const char *token,
		      const char *rpc, json_t *msg_owned, int status)
{
	cleanup_json json_t *msg = msg_owned, *resp = NULL;
	if (fs_call(a, req, id, token, rpc, msg, &resp) < 0)
		return;
	reply_json_new(req, status, v1_entry_from_envd(json_object_get(resp, "entry")));
}

static const char *need_path(struct http_req *req)
{
	const char *p = http_req_query(req, "path");
	if (!p || !*p)
		reply_error(req, 400, "query parameter path is required");
	return p && *p ? p : NULL;
}

struct body_src {
	struct http_req *req;
};

static ssize_t read_req(void *ud, void *buf, size_t n)
{
	return http_req_read(((struct body_src *)ud)->req, buf, n);
}

void v1_files_put(struct agent *a, struct http_req *req, char **caps)
{
	const char *path = need_path(req);
	if (!path)
		return;
	/* -1: chunked; streamed on as chunked, the body limit below still applies */
	int64_t len = http_req_content_length(req);
	if (len >= 0 && (uint64_t)len > a->cfg.max_upload_bytes) {
		http_resp_close_after(req);
		reply_error(req, 413, "upload of %lld bytes is over the limit of %llu bytes",
			    (long long)len, (unsigned long long)a->cfg.max_upload_bytes);
		return;
	}
	http_req_set_body_limit(req, a->cfg.max_upload_bytes);
	cleanup_free char *token = NULL;
	if (prepare(a, req, caps[0], &token) < 0)
		return;
	int fd = -1;
	if (agent_envd_connect(a, req, caps[0], &fd) < 0)
		return;
	struct envdc_auth au = {.token = token};
	struct body_src src = {.req = req};
	struct wr_err err = {0};
	cleanup_json json_t *resp = NULL;
	int r = envdc_files_put(fd, &au, path, len, read_req, &src, &resp, &err);
	if (r < 0) {
		http_resp_close_after(req);
		reply_envd_error(req, r, &err);
		return;
	}
	entry_rpc(a, req, caps[0], token, "/filesystem.Filesystem/Stat",
		  json_pack("{s:s}", "path", path), 200);
}

void v1_files_get(struct agent *a, struct http_req *req, char **caps)
{
	const char *path = need_path(req);
	if (!path)
		return;
	cleanup_free char *token = NULL;
	if (prepare(a, req, caps[0], &token) < 0)
		return;
	int fd = -1;
	if (agent_envd_connect(a, req, caps[0], &fd) < 0)
		return;
	struct envdc_auth au = {.token = token};
	struct wr_err err = {0};
	struct http_client *c = NULL;
	int64_t len = -1;
	int r = envdc_files_get(fd, &au, path, &c, &len, &err);
	if (r < 0) {
		reply_envd_error(req, r, &err);
		return;
	}
	if (http_resp_begin(req, 200, "application/octet-stream", len >= 0 ? len : HTTP_CHUNKED) <
	    0) {
		http_client_free(c);
		return;
	}
	char buf[65536];
	for (;;) {
		ssize_t n = http_client_read(c, buf, sizeof(buf));
		if (n <= 0) {
			if (n < 0) {
				log_warn("download %s from %s: %s", path, caps[0],
					 strerror((int)-n));
				http_resp_close_after(req);
			}
			break;
		}
		if (http_resp_write(req, buf, (size_t)n) < 0)
			break;
	}
	http_client_free(c);
	http_resp_end(req);
}

void v1_files_delete(struct agent *a, struct http_req *req, char **caps)
{
	const char *path = need_path(req);
	if (!path)
		return;
	const char *rec = http_req_query(req, "recursive");
	bool recursive = rec && (!strcmp(rec, "true") || !strcmp(rec, "1"));
	cleanup_free char *token = NULL;
	if (prepare(a, req, caps[0], &token) < 0)
		return;
	cleanup_json json_t *msg = json_pack("{s:s}", "path", path), *st = NULL;
	/* envd's Remove is rm -rf and succeeds on a missing path: check first */
	int r = fs_call(a, req, caps[0], token, "/filesystem.Filesystem/Stat", msg, &st);
	if (r < 0)
		return;
	const char *type = NULL;
	bool dir = wj_str(json_object_get(st, "entry"), "type", &type) == 0 &&
		   !strcmp(type, "FILE_TYPE_DIRECTORY");
	if (dir && !recursive) {
		reply_error(req, 409, "%s is a directory (use recursive=true)", path);
		return;
	}
	cleanup_json json_t *resp = NULL;
	r = fs_call(a, req, caps[0], token, "/filesystem.Filesystem/Remove", msg, &resp);
	if (r == 0)
		reply_empty(req, 204);
}

void v1_files_list(struct agent *a, struct http_req *req, char **caps)
{
	const char *path = need_path(req);
	if (!path)
		return;
	int depth = 1;
	const char *d = http_req_query(req, "depth");
	if (d) {
		char *end = NULL;
		long v = strtol(d, &end, 10);
		if (*end || v < 1 || v > 64) {
			reply_error(req, 400, "depth must be an integer from 1 to 64");
			return;
		}
		depth = (int)v;
	}
	cleanup_free char *token = NULL;
	if (prepare(a, req, caps[0], &token) < 0)
		return;
	cleanup_json json_t *msg = json_pack("{s:s,s:i}", "path", path, "depth", depth),
			    *resp = NULL;
	if (fs_call(a, req, caps[0], token, "/filesystem.Filesystem/ListDir", msg, &resp) < 0)
		return;
	json_t *arr = json_array(), *entries = json_object_get(resp, "entries");
	size_t i;
	json_t *e;
	json_array_foreach(entries, i, e) json_array_append_new(arr, v1_entry_from_envd(e));
	reply_json_new(req, 200, json_pack("{s:o}", "entries", arr));
}

void v1_files_stat(struct agent *a, struct http_req *req, char **caps)
{
	const char *path = need_path(req);
	if (!path)
		return;
	cleanup_free char *token = NULL;
	if (prepare(a, req, caps[0], &token) < 0)
		return;
	entry_rpc(a, req, caps[0], token, "/filesystem.Filesystem/Stat",
		  json_pack("{s:s}", "path", path), 200);
}

static void json_rpc(struct agent *a, struct http_req *req, const char *id, const char *rpc,
		     const char *const *fields, int status)
{
	cleanup_json json_t *body = NULL;
	if (reply_read_json(req, REPLY_MAX_JSON_BODY, true, &body) < 0)
		return;
	cleanup_json json_t *msg = json_object();
	for (const char *const *f = fields; *f; f++) {
		json_t *v = json_object_get(body, *f);
		if (!json_is_string(v) || !json_string_length(v)) {
			reply_error(req, 400, "%s is required (a string)", *f);
			return;
		}
		json_object_set(msg, *f, v);
	}
	cleanup_free char *token = NULL;
	if (prepare(a, req, id, &token) < 0)
		return;
	entry_rpc(a, req, id, token, rpc, TAKE_PTR(msg), status);
}

void v1_files_mkdir(struct agent *a, struct http_req *req, char **caps)
{
	static const char *const f[] = {"path", NULL};
	json_rpc(a, req, caps[0], "/filesystem.Filesystem/MakeDir", f, 201);
}

void v1_files_move(struct agent *a, struct http_req *req, char **caps)
{
	static const char *const f[] = {"source", "destination", NULL};
	json_rpc(a, req, caps[0], "/filesystem.Filesystem/Move", f, 200);
}
