/* SPDX-License-Identifier: MIT */
/*
 * E2B volumes (SDK 2.51 `Volume`): the control plane (/volumes, API key, team-scoped like
 * sandboxes: another team's volume is the 404 of an unknown one) and the content API
 * (/volumecontent/{volumeID}/..., authenticated by the volume's own token as the SDK sends it:
 * `Authorization: Bearer <token>`).  Content is read and written in the image with libext2fs
 * (src/disk/ext2vol.c) while no sandbox holds the volume (409 while one does); the guest-written
 * file system is never mounted on the host.
 */
#include "daemon/agent.h"
#include "daemon/auth.h"
#include "daemon/reply.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "disk/ext2vol-run.h"
#include "disk/ext2vol.h"
#include "runtime/volumes.h"
#include "store/volumes.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Content requests run one at a time: each holds the image for its whole operation. */
static pthread_mutex_t content_lock = PTHREAD_MUTEX_INITIALIZER;

static json_t *volume_json(const struct store_volume *v, bool with_token)
{
	json_t *o = json_pack("{s:s, s:s, s:I}", "volumeID", v->id, "name", v->name, "sizeBytes",
			      (json_int_t)v->size_bytes);
	if (with_token)
		json_object_set_new(o, "token", json_string(v->token));
	if (v->holder && strcmp(v->holder, STORE_VOL_CONTENT_HOLDER))
		json_object_set_new(o, "sandboxID", json_string(v->holder));
	return o;
}

static void reply_vol_error(struct http_req *req, int r, const struct wr_err *err)
{
	if (r == -EUSERS) {
		reply_error(req, 429, "%s", wr_err_msg(err));
		return;
	}
	agent_reply_rt_error(req, r, err);
}

void e2b_volumes_create(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	cleanup_json json_t *body = NULL;
	if (reply_read_json(req, REPLY_MAX_JSON_BODY, true, &body) < 0)
		return;
	const char *k;
	json_t *val;
	json_object_foreach(body, k, val)
	{
		(void)val;
		if (strcmp(k, "name") && strcmp(k, "sizeMB")) {
			reply_error(req, 400, "%s is not a known field (name, sizeMB)", k);
			return;
		}
	}
	json_t *n = json_object_get(body, "name");
	if (!json_is_string(n)) {
		reply_error(req, 400, "name is required (a string)");
		return;
	}
	int64_t mb = a->cfg.volume_default_size_mb;
	json_t *sz = json_object_get(body, "sizeMB");
	if (sz && !json_is_null(sz)) {
		if (!json_is_integer(sz) || json_integer_value(sz) < 1 ||
		    json_integer_value(sz) > a->cfg.volume_max_size_mb) {
			reply_error(req, 400,
				    "sizeMB must be an integer 16..%u (volume_max_size_mb)",
				    a->cfg.volume_max_size_mb);
			return;
		}
		mb = json_integer_value(sz);
	}
	struct store_volume v = {0};
	struct wr_err err = {0};
	const char *team = auth_team(req);
	int r = runtime_volume_create(a->rt, json_string_value(n), team, mb << 20,
				      a->cfg.max_volumes_per_team, &v, &err);
	if (r < 0) {
		if (r != -EINVAL && r != -EEXIST && r != -EUSERS)
			log_error("volume create %s: %s", json_string_value(n), wr_err_msg(&err));
		reply_vol_error(req, r, &err);
		return;
	}
	log_info("volume %s (%s, %lld MiB) created", v.id, v.name, (long long)mb);
	reply_json_new(req, 201, volume_json(&v, true));
	store_volume_done(&v);
}

void e2b_volumes_list(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	struct store_volume *rows = NULL;
	size_t n = 0;
	struct wr_err err = {0};
	int r = store_volume_list(a->st, auth_team(req), &rows, &n, &err);
	if (r < 0) {
		agent_reply_rt_error(req, r, &err);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, volume_json(&rows[i], false));
	store_volume_list_free(rows, n);
	reply_json_new(req, 200, arr);
}

/* The caller's volume by id (or name within the team): 0, or < 0 after answering 404. */
static int get_or_reply(struct agent *a, struct http_req *req, const char *id,
			struct store_volume *ret)
{
	struct wr_err err = {0};
	const char *team = auth_team(req);
	int r = store_volume_get(a->st, id, team ? team : NULL, ret, &err);
	if (r == -ENOENT || r == -EINVAL) {
		reply_error(req, 404, "volume %s not found", id);
		return -ENOENT;
	}
	if (r < 0)
		agent_reply_rt_error(req, r, &err);
	return r;
}

void e2b_volumes_get(struct agent *a, struct http_req *req, char **caps)
{
	struct store_volume v = {0};
	if (get_or_reply(a, req, caps[0], &v) < 0)
		return;
	reply_json_new(req, 200, volume_json(&v, true));
	store_volume_done(&v);
}

void e2b_volumes_delete(struct agent *a, struct http_req *req, char **caps)
{
	struct store_volume v = {0};
	if (get_or_reply(a, req, caps[0], &v) < 0)
		return;
	struct wr_err err = {0};
	int r = runtime_volume_delete(a->rt, v.id, &err);
	if (r < 0)
		reply_vol_error(req, r, &err);
	else {
		log_info("volume %s (%s) deleted", v.id, v.name);
		reply_empty(req, 204);
	}
	store_volume_done(&v);
}

/* --- content ------------------------------------------------------------------------------ */

/* A VolumeEntryStat from one entry of wrenn-volfs's answer (untrusted: it parsed what a guest
 * wrote), every field type- and range-checked; NULL when one is not. */
static json_t *stat_json(const json_t *in)
{
	static const char *const types[] = {"file", "directory", "symlink", "unknown", NULL};
	const char *name = json_string_value(json_object_get(in, "name"));
	const char *path = json_string_value(json_object_get(in, "path"));
	const char *type = json_string_value(json_object_get(in, "type"));
	const json_t *target = json_object_get(in, "target");
	if (!name || !path || !type || path[0] != '/' || (target && !json_is_string(target)))
		return NULL;
	bool known = false;
	for (size_t i = 0; types[i]; i++)
		known = known || !strcmp(type, types[i]);
	if (!known)
		return NULL;
	static const char *const ints[] = {"mode", "uid", "gid", "size", "atime", "mtime", "ctime"};
	static const int64_t his[] = {07777,	  UINT32_MAX, UINT32_MAX, INT64_MAX,
				      UINT32_MAX, UINT32_MAX, UINT32_MAX};
	int64_t v[7];
	for (size_t i = 0; i < 7; i++) {
		const json_t *j = json_object_get(in, ints[i]);
		if (!json_is_integer(j) || json_integer_value(j) < 0 ||
		    json_integer_value(j) > his[i])
			return NULL;
		v[i] = json_integer_value(j);
	}
	char at[40], mt[40], ct[40];
	view_rfc3339(v[4] * 1000, at, sizeof(at));
	view_rfc3339(v[5] * 1000, mt, sizeof(mt));
	view_rfc3339(v[6] * 1000, ct, sizeof(ct));
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:s}", "name", name,
			      "path", path, "type", type, "mode", (json_int_t)v[0], "uid",
			      (json_int_t)v[1], "gid", (json_int_t)v[2], "size", (json_int_t)v[3],
			      "atime", at, "mtime", mt, "ctime", ct);
	if (o && target)
		json_object_set_new(o, "target", json_string(json_string_value(target)));
	return o;
}

static int query_int(struct http_req *req, const char *name, int64_t lo, int64_t hi, int64_t *ret)
{
	const char *q = http_req_query(req, name);
	if (!q || !*q)
		return 0;
	char *end = NULL;
	errno = 0;
	long long v = strtoll(q, &end, 10);
	if (errno || *end || v < lo || v > hi) {
		reply_error(req, 400, "%s must be an integer %lld..%lld", name, (long long)lo,
			    (long long)hi);
		return -EINVAL;
	}
	*ret = v;
	return 1;
}

/* Optional boolean query: *ret stays as it is when absent. */
static int query_bool(struct http_req *req, const char *name, bool *ret)
{
	const char *q = http_req_query(req, name);
	if (!q || !*q)
		return 0;
	if (!strcmp(q, "true") || !strcmp(q, "1"))
		*ret = true;
	else if (!strcmp(q, "false") || !strcmp(q, "0"))
		*ret = false;
	else {
		reply_error(req, 400, "%s must be true or false", name);
		return -EINVAL;
	}
	return 1;
}

static void content_error(struct http_req *req, int r, const struct wr_err *err)
{
	switch (r) {
	case -ELOOP:
	case -ENOTDIR:
	case -EISDIR:
		reply_error(req, 400, "%s", wr_err_msg(err));
		return;
	case -EUCLEAN:
		reply_error(req, 422, "%s", wr_err_msg(err));
		return;
	case -EROFS:
		reply_error(req, 500, "%s", wr_err_msg(err));
		return;
	default:
		agent_reply_rt_error(req, r, err);
	}
}

struct body_src {
	struct http_req *req;
};

static ssize_t body_read(void *ud, void *buf, size_t n)
{
	struct body_src *b = ud;
	return http_req_read(b->req, buf, n);
}

struct read_ctx {
	struct http_req *req;
	bool started;
};

static int read_head(void *ud, int64_t size)
{
	struct read_ctx *c = ud;
	c->started = true;
	return http_resp_begin(c->req, 200, "application/octet-stream", size);
}

static int read_sink(void *ud, const void *buf, size_t n)
{
	struct read_ctx *c = ud;
	return http_resp_write(c->req, buf, n);
}

enum op { OP_LIST, OP_MKDIR, OP_STAT, OP_SETATTR, OP_REMOVE, OP_READ, OP_WRITE };

/* wrenn-volfs next to this program (or $WRENN_VOLFS) */
static char *helper_path;
static void find_helper(void)
{
	const char *env = getenv("WRENN_VOLFS");
	if (env && *env) {
		helper_path = xstrdup(env);
		return;
	}
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0) {
		helper_path = xstrdup("wrenn-volfs");
		return;
	}
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (slash)
		*slash = '\0';
	helper_path = xasprintf("%s/wrenn-volfs", exe);
}

static const char *helper(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, find_helper);
	return helper_path;
}

#define CONTENT_JSON_MAX (32 << 20) /* a listing of EXT2VOL_LIST_MAX entries fits */

/* One content operation on the image through wrenn-volfs; answers the request. */
static void content_op(struct agent *a, struct http_req *req, const char *image, enum op op,
		       const char *path)
{
	struct wr_err err = {0};
	int64_t uid = -1, gid = -1, mode = -1, depth = 1;
	bool force = false;
	if (op == OP_MKDIR || op == OP_WRITE) {
		if (query_int(req, "uid", 0, UINT32_MAX - 1, &uid) < 0 ||
		    query_int(req, "gid", 0, UINT32_MAX - 1, &gid) < 0 ||
		    query_int(req, "mode", 0, 07777, &mode) < 0 ||
		    query_bool(req, "force", &force) < 0)
			return;
	}
	if (op == OP_LIST && query_int(req, "depth", 1, EXT2VOL_DEPTH_MAX, &depth) < 0)
		return;
	if (op == OP_SETATTR) {
		cleanup_json json_t *body = NULL;
		if (reply_read_json(req, REPLY_MAX_JSON_BODY, true, &body) < 0)
			return;
		const char *k;
		json_t *jv;
		json_object_foreach(body, k, jv)
		{
			int64_t *dst = !strcmp(k, "uid")    ? &uid
				       : !strcmp(k, "gid")  ? &gid
				       : !strcmp(k, "mode") ? &mode
							    : NULL;
			if (!dst) {
				reply_error(req, 400, "%s is not a known field (uid, gid, mode)",
					    k);
				return;
			}
			if (json_is_null(jv))
				continue;
			int64_t hi = dst == &mode ? 07777 : (int64_t)UINT32_MAX - 1;
			if (!json_is_integer(jv) || json_integer_value(jv) < 0 ||
			    json_integer_value(jv) > hi) {
				reply_error(req, 400, "%s must be an integer 0..%lld", k,
					    (long long)hi);
				return;
			}
			*dst = json_integer_value(jv);
		}
	}
	char su[24], sg[24], sm[24], sd[24], smax[24];
	snprintf(su, sizeof(su), "%lld", (long long)uid);
	snprintf(sg, sizeof(sg), "%lld", (long long)gid);
	snprintf(sm, sizeof(sm), "%lld", (long long)mode);
	snprintf(sd, sizeof(sd), "%lld", (long long)depth);
	uint64_t maxu = a->cfg.max_upload_bytes > INT64_MAX ? INT64_MAX : a->cfg.max_upload_bytes;
	snprintf(smax, sizeof(smax), "%llu", (unsigned long long)maxu);
	const char *args[10] = {0};
	switch (op) {
	case OP_LIST:
		args[0] = "list", args[1] = path, args[2] = sd;
		break;
	case OP_STAT:
		args[0] = "stat", args[1] = path;
		break;
	case OP_READ:
		args[0] = "read", args[1] = path;
		break;
	case OP_REMOVE:
		args[0] = "remove", args[1] = path;
		break;
	case OP_MKDIR:
		args[0] = "mkdir", args[1] = path, args[2] = force ? "1" : "0", args[3] = su,
		args[4] = sg, args[5] = sm;
		break;
	case OP_SETATTR:
		args[0] = "setattr", args[1] = path, args[2] = su, args[3] = sg, args[4] = sm;
		break;
	case OP_WRITE:
		args[0] = "write", args[1] = path, args[2] = smax, args[3] = su, args[4] = sg,
		args[5] = sm;
		break;
	}
	uid_t hu;
	gid_t hg;
	runtime_volume_helper_ids(a->rt, &hu, &hg);
	struct body_src b = {req};
	if (op == OP_WRITE)
		http_req_set_body_limit(req, maxu);
	struct ext2vol_run run = {.helper = helper(),
				  .image = image,
				  .uid = hu,
				  .gid = hg,
				  .args = args,
				  .src = op == OP_WRITE ? body_read : NULL,
				  .src_ud = &b};
	int r;
	if (op == OP_READ) {
		struct read_ctx rc = {req, false};
		r = ext2vol_run_read(&run, read_head, read_sink, &rc, &err);
		if (r < 0 && rc.started) {
			log_warn("volume content read %s: %s", path, wr_err_msg(&err));
			http_resp_abort(req);
			return;
		}
		if (r >= 0) {
			http_resp_end(req);
			return;
		}
	} else {
		cleanup_free char *out = NULL;
		r = ext2vol_run_json(&run, CONTENT_JSON_MAX, &out, &err);
		if (r >= 0) {
			cleanup_json json_t *j = json_loads(out, 0, NULL);
			cleanup_json json_t *ans = NULL;
			if (op == OP_REMOVE && json_is_object(j)) {
				reply_empty(req, 204);
				return;
			}
			bool malformed = false;
			if (op == OP_LIST && json_is_array(j)) {
				ans = json_array();
				size_t i;
				json_t *e;
				json_array_foreach(j, i, e)
				{
					json_t *o = stat_json(e);
					if (!o) {
						malformed = true;
						break;
					}
					json_array_append_new(ans, o);
				}
			} else if (op != OP_LIST && json_is_object(j)) {
				ans = stat_json(j);
			}
			if (!ans || malformed) {
				reply_error(req, 502, "the volume reader sent a malformed answer");
				return;
			}
			reply_json_new(req, op == OP_MKDIR || op == OP_WRITE ? 201 : 200,
				       TAKE_PTR(ans));
			return;
		}
	}
	if (r == -EFBIG)
		http_resp_close_after(req);
	if (r == -EUCLEAN)
		log_warn("volume content %s %s: %s", args[0], path, wr_err_msg(&err));
	content_error(req, r, &err);
}

static bool token_ok(struct http_req *req, const char *token)
{
	const char *h = http_req_header(req, "Authorization");
	if (!h || strncasecmp(h, "Bearer ", 7))
		return false;
	h += 7;
	while (*h == ' ')
		h++;
	size_t n = strlen(h);
	while (n && h[n - 1] == ' ')
		n--;
	return token && n == strlen(token) && CRYPTO_memcmp(h, token, n) == 0;
}

void e2b_volume_content(struct agent *a, struct http_req *req)
{
	const char *method = http_req_method(req);
	const char *p = http_req_path(req) + strlen("/volumecontent/");
	size_t idl = strcspn(p, "/");
	cleanup_free char *id = xstrndup(p, idl);
	const char *what = p[idl] ? p + idl + 1 : "";
	static const struct {
		const char *method, *what;
		enum op op;
	} ops[] = {
		{"GET", "dir", OP_LIST},       {"POST", "dir", OP_MKDIR},
		{"GET", "path", OP_STAT},      {"PATCH", "path", OP_SETATTR},
		{"DELETE", "path", OP_REMOVE}, {"GET", "file", OP_READ},
		{"PUT", "file", OP_WRITE},
	};
	int found = -1;
	bool known_path = false;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(what, ops[i].what)) {
			known_path = true;
			if (!strcmp(method, ops[i].method))
				found = (int)i;
		}
	if (!known_path || !runtime_volume_id_valid(id)) {
		reply_error(req, 404, "no route for %s %s", method, http_req_path(req));
		return;
	}
	if (found < 0) {
		reply_error(req, 405, "method %s not allowed on %s", method, http_req_path(req));
		return;
	}
	struct store_volume v = {0};
	struct wr_err err = {0};
	int r = store_volume_get(a->st, id, NULL, &v, &err);
	/* a wrong token and an unknown volume look the same from outside */
	if (r < 0 || !token_ok(req, v.token)) {
		store_volume_done(&v);
		if (r < 0 && r != -ENOENT) {
			agent_reply_rt_error(req, r, &err);
			return;
		}
		reply_error(req, 401, "invalid volume token for %s", id);
		return;
	}
	const char *path = http_req_query(req, "path");
	if (!path || !*path) {
		store_volume_done(&v);
		reply_error(req, 400, "path is required");
		return;
	}
	pthread_mutex_lock(&content_lock);
	r = store_volume_claim(a->st, v.id, STORE_VOL_CONTENT_HOLDER, &err);
	if (r < 0) {
		pthread_mutex_unlock(&content_lock);
		store_volume_done(&v);
		agent_reply_rt_error(req, r, &err);
		return;
	}
	content_op(a, req, v.path, ops[found].op, path);
	store_volume_release(a->st, v.id, STORE_VOL_CONTENT_HOLDER, NULL);
	pthread_mutex_unlock(&content_lock);
	store_volume_done(&v);
}

json_t *e2b_volume_mounts_json(struct agent *a, const char *sandbox_id)
{
	json_t *arr = json_array();
	struct runtime_volume_mount *m = NULL;
	size_t n = 0;
	if (runtime_volume_mounts(a->rt, sandbox_id, &m, &n, NULL) < 0)
		return arr;
	for (size_t i = 0; i < n; i++) {
		struct store_volume v = {0};
		if (store_volume_get(a->st, m[i].volume, NULL, &v, NULL) < 0)
			continue;
		json_array_append_new(arr,
				      json_pack("{s:s, s:s}", "name", v.name, "path", m[i].path));
		store_volume_done(&v);
	}
	runtime_volume_mounts_free(m, n);
	return arr;
}
