/* SPDX-License-Identifier: MIT */
/* Helpers shared by the route handlers. */
#include "daemon/agent.h"
#include "daemon/auth.h"
#include "daemon/reply.h"

#include "basic/log.h"
#include "basic/xalloc.h"
#include "http/json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void agent_reply_rt_error(struct http_req *req, int r, const struct wr_err *err)
{
	int status = reply_status_for_errno(r);
	if (status >= 500)
		log_error("%s %s: %s", http_req_method(req), http_req_path(req), wr_err_msg(err));
	reply_error(req, status, "%s", wr_err_msg(err));
}

void agent_view(const struct runtime_info *info, struct sbx_view *v)
{
	*v = (struct sbx_view){
		.id = info->id,
		.template = info->template,
		.state = store_sb_state_name(info->state),
		.vcpus = info->vcpus,
		.memory_mb = info->memory_mb,
		.started_at = info->started_at ? info->started_at : info->created_at,
		.end_at = info->end_at,
		.metadata = info->metadata,
		.envd_version = info->envd_version,
		.envd_token = info->envd_token,
		.create_path = info->create_path,
		.allow_internet = info->allow_internet,
		.error = info->error,
		.allow_out = info->allow_out,
		.deny_out = info->deny_out,
		.private_traffic = info->private_traffic,
		.traffic_token = info->traffic_token,
		.mask_host = info->mask_host,
	};
}

int agent_get_or_reply(struct agent *a, struct http_req *req, const char *id,
		       struct runtime_info *ret)
{
	struct wr_err err = {0};
	int r = runtime_get(a->rt, id, ret, &err);
	if (r == 0 && ret->state == STORE_SB_KILLED) {
		runtime_info_done(ret);
		r = wr_err_set(&err, ENOENT, "sandbox %s was killed", id);
	}
	if (r < 0) {
		if (r == -EINVAL || r == -ENOENT) /* a malformed id is just an unknown one */
			reply_error(req, 404, "sandbox %s not found", id);
		else
			agent_reply_rt_error(req, r, &err);
	}
	return r;
}

int agent_reply_sandbox_error(struct http_req *req, const char *id, int r, const struct wr_err *err)
{
	if (r == -ENOENT || r == -EINVAL)
		reply_error(req, 404, "sandbox %s not found", id);
	else if (r < 0)
		agent_reply_rt_error(req, r, err);
	return r;
}

void agent_kill(struct agent *a, struct http_req *req, char **caps)
{
	struct wr_err err = {0};
	int r = runtime_destroy(a->rt, caps[0], &err);
	if (agent_reply_sandbox_error(req, caps[0], r, &err) < 0)
		return;
	log_info("killed %s", caps[0]);
	reply_empty(req, 204);
}

void agent_pause(struct agent *a, struct http_req *req, const char *id)
{
	struct wr_err err = {0};
	int r = runtime_pause(a->rt, id, &err);
	if (r < 0) {
		agent_reply_rt_error(req, r, &err);
		return;
	}
	log_info("paused %s", id);
	reply_empty(req, 204);
}

void agent_set_timeout(struct agent *a, struct http_req *req, const char *id, int timeout_s)
{
	struct wr_err err = {0};
	int r = runtime_set_timeout(a->rt, id, timeout_s, &err);
	if (agent_reply_sandbox_error(req, id, r, &err) < 0)
		return;
	reply_empty(req, 204);
}

int agent_list(struct agent *a, struct http_req *req, struct runtime_filter *f, bool extra_decode,
	       int *ret_limit, struct runtime_info **ret_rows, size_t *ret_n)
{
	struct wr_err err = {0};
	char **meta = NULL;
	const char *q = http_req_query(req, "metadata");
	if (q && view_parse_metadata_query(q, extra_decode, &meta, &err) < 0) {
		reply_error(req, 400, "%s", wr_err_msg(&err));
		return -EINVAL;
	}
	f->meta = (const char *const *)meta;
	f->template = http_req_query(req, "template");
	f->team = auth_team(req); /* a team key lists only its team's sandboxes */
	if (agent_parse_limit(http_req_query(req, "limit"), ret_limit) < 0) {
		view_strv_free(meta);
		reply_error(req, 400, "limit must be an integer from 1 to 100");
		return -EINVAL;
	}
	int r = runtime_list(a->rt, f, ret_rows, ret_n, &err);
	f->meta = NULL;
	view_strv_free(meta);
	if (r < 0)
		agent_reply_rt_error(req, r, &err);
	return r;
}

json_t *agent_view_array(struct runtime_info *rows, size_t n, size_t start, size_t count,
			 json_t *(*view)(const struct sbx_view *v, bool with_token))
{
	json_t *arr = json_array();
	for (size_t i = start; i < start + count; i++) {
		struct sbx_view v;
		agent_view(&rows[i], &v);
		json_array_append_new(arr, view(&v, false));
	}
	runtime_info_list_free(rows, n);
	return arr;
}

int agent_envd_connect(struct agent *a, struct http_req *req, const char *id, int *ret_fd)
{
	struct wr_err err = {0};
	int r = runtime_connect(a->rt, id, RUNTIME_ENVD_PORT, 5000, ret_fd, &err);
	if (r == -ENOENT || r == -EINVAL)
		reply_error(req, 404, "sandbox %s not found", id);
	else if (r == -EBUSY)
		reply_error(req, 409, "sandbox %s is not running (%s)", id, wr_err_msg(&err));
	else if (r < 0) {
		log_warn("connect to envd of %s: %s", id, wr_err_msg(&err));
		reply_error(req, 502, "cannot reach envd in %s: %s", id, wr_err_msg(&err));
	}
	return r;
}

void agent_page(const struct runtime_info *rows, size_t n, const char *cursor, int limit,
		size_t *ret_start, size_t *ret_count, char **ret_next)
{
	agent_page_dir(rows, n, cursor, limit, false, ret_start, ret_count, ret_next);
}

void agent_page_dir(const struct runtime_info *rows, size_t n, const char *cursor, int limit,
		    bool asc, size_t *ret_start, size_t *ret_count, char **ret_next)
{
	size_t start = 0;
	if (cursor && *cursor) {
		char *end = NULL;
		long long at = strtoll(cursor, &end, 10);
		const char *cid = end && *end == '_' ? end + 1 : "";
		bool found = false;
		for (size_t i = 0; i < n; i++)
			if (!strcmp(rows[i].id, cid)) {
				start = i + 1;
				found = true;
				break;
			}
		if (!found) { /* that row is gone: continue with the next older (newer) ones */
			start = n;
			for (size_t i = 0; i < n; i++)
				if (asc ? rows[i].created_at > at : rows[i].created_at < at) {
					start = i;
					break;
				}
		}
	}
	if (limit <= 0 || limit > 100)
		limit = 100;
	size_t count = n - start < (size_t)limit ? n - start : (size_t)limit;
	*ret_start = start;
	*ret_count = count;
	*ret_next = NULL;
	if (start + count < n && count > 0) {
		const struct runtime_info *last = &rows[start + count - 1];
		*ret_next = xasprintf("%" PRId64 "_%s", last->created_at, last->id);
	}
}

int agent_parse_limit(const char *q, int *ret)
{
	if (!q || !*q) {
		*ret = 100;
		return 0;
	}
	char *end = NULL;
	long v = strtol(q, &end, 10);
	if (*end || v < 1 || v > 100)
		return -EINVAL;
	*ret = (int)v;
	return 0;
}

int agent_guest_int(const json_t *obj, const char *camel, int64_t lo, int64_t hi, int64_t *ret,
		    struct wr_err *err)
{
	int64_t v = 0;
	int r = wj_i64(obj, camel, &v);
	if (r == -ENOENT)
		return -ENOENT;
	if (r < 0)
		return wr_err_set(err, EPROTO, "envd sent a %s that is not an integer", camel);
	if (v < lo || v > hi)
		return wr_err_set(err, EPROTO,
				  "envd sent %s = %" PRId64 ", outside %" PRId64 "..%" PRId64,
				  camel, v, lo, hi);
	*ret = v;
	return 0;
}

int agent_exit_code(const json_t *end)
{
	json_t *c = json_object_get(end, "exitCode");
	int code = 0;
	if (c) {
		/* Go's ExitCode() is -1 for a process a signal ended */
		int64_t v = 0;
		struct wr_err e = {0};
		int r = agent_guest_int(end, "exitCode", -1, 255, &v, &e);
		if (r < 0 && r != -ENOENT) {
			log_warn("%s: no exit status", wr_err_msg(&e));
			return -1;
		}
		code = (int)v;
	}
	json_t *ex = json_object_get(end, "exited");
	json_t *st = json_object_get(end, "status");
	const char *s = json_is_string(st) ? json_string_value(st) : "";
	if (json_is_true(ex) || strncmp(s, "signal: ", 8) != 0)
		return code;
	/* Go's ProcessState.String() names (what envd writes) */
	static const struct {
		const char *name;
		int sig;
	} names[] = {{"hangup", 1},
		     {"interrupt", 2},
		     {"quit", 3},
		     {"illegal instruction", 4},
		     {"trace/breakpoint trap", 5},
		     {"aborted", 6},
		     {"bus error", 7},
		     {"floating point exception", 8},
		     {"killed", 9},
		     {"user defined signal 1", 10},
		     {"segmentation fault", 11},
		     {"user defined signal 2", 12},
		     {"broken pipe", 13},
		     {"alarm clock", 14},
		     {"terminated", 15}};
	s += 8;
	if (!strncmp(s, "signal ", 7)) {
		char *e = NULL;
		long n = strtol(s + 7, &e, 10);
		return e != s + 7 && n > 0 && n <= 64 ? 128 + (int)n : 1; /* SIGRTMAX is 64 */
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strncmp(s, names[i].name, strlen(names[i].name)))
			return 128 + names[i].sig;
	return code ? code : 1;
}
