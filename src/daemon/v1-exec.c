/* SPDX-License-Identifier: MIT */
/*
 * POST /v1/sandboxes/{id}/exec: one envd process.Process/Start stream, either collected into
 * {stdout, stderr, exitCode} or relayed as NDJSON lines while it runs.
 */
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

/* Collected output per stream (stdout, stderr).  Beyond it bytes are read and dropped and the
 * result says "truncated": true; whoever wants more output asks for stream: true.  The bound
 * is what a guest can make the agent hold per exec (the reply's base64 copy adds 4/3). */
#define COLLECT_MAX (8u * 1024 * 1024)

struct exec_ctx {
	struct agent *a;
	const char *id;
	struct envdc_auth auth;
	char *token;
};

/* A unary call on a fresh connection (Start's connection is busy streaming). */
static int side_call(struct exec_ctx *x, const char *rpc, json_t *msg, struct wr_err *err)
{
	int fd = -1;
	int r = runtime_connect(x->a->rt, x->id, RUNTIME_ENVD_PORT, 5000, &fd, err);
	if (r < 0)
		return r;
	cleanup_json json_t *resp = NULL;
	return envdc_unary(fd, &x->auth, rpc, msg, &resp, err);
}

static void kill_process(struct exec_ctx *x, int64_t pid)
{
	struct wr_err err = {0};
	cleanup_json json_t *m = json_pack("{s:{s:I},s:s}", "process", "pid", (json_int_t)pid,
					   "signal", "SIGNAL_SIGKILL");
	if (side_call(x, "/process.Process/SendSignal", m, &err) < 0)
		log_debug("kill %lld in %s: %s", (long long)pid, x->id, wr_err_msg(&err));
}

/* Build the Start request from the API body; -EINVAL with a message. */
static int start_msg(const json_t *body, json_t **ret, struct wr_err *err)
{
	json_t *cmd = json_object_get(body, "cmd");
	cleanup_json json_t *proc = json_object();
	cleanup_json json_t *args = json_array();
	if (json_is_string(cmd) && json_string_length(cmd) > 0) {
		json_object_set_new(proc, "cmd", json_string("/bin/sh"));
		json_array_append_new(args, json_string("-c"));
		json_array_append(args, cmd);
	} else if (json_is_array(cmd) && json_array_size(cmd) > 0) {
		size_t i;
		json_t *v;
		json_array_foreach(cmd, i, v)
		{
			if (!json_is_string(v)) {
				return wr_err_set(err, EINVAL, "cmd[%zu] must be a string", i);
			}
			if (i == 0)
				json_object_set(proc, "cmd", v);
			else
				json_array_append(args, v);
		}
		if (!json_string_length(json_object_get(proc, "cmd"))) {
			return wr_err_set(err, EINVAL, "cmd[0] must not be empty");
		}
	} else {
		return wr_err_set(err, EINVAL,
				  "cmd is required: an argv array of strings or a shell string");
	}
	json_object_set_new(proc, "args", TAKE_PTR(args));
	json_t *env = json_object_get(body, "env");
	if (!env)
		env = json_object_get(body, "envs");
	if (env && !json_is_null(env)) {
		const char *k;
		json_t *v;
		if (!json_is_object(env)) {
			return wr_err_set(err, EINVAL, "env must be an object of strings");
		}
		json_object_foreach(env, k, v) if (!json_is_string(v))
		{
			return wr_err_set(err, EINVAL, "env.%s must be a string", k);
		}
		json_object_set(proc, "envs", env);
	}
	json_t *cwd = json_object_get(body, "cwd");
	if (cwd && !json_is_null(cwd)) {
		if (!json_is_string(cwd)) {
			return wr_err_set(err, EINVAL, "cwd must be a string");
		}
		json_object_set(proc, "cwd", cwd);
	}
	json_t *stdin_v = json_object_get(body, "stdin");
	if (stdin_v && !json_is_null(stdin_v) && !json_is_string(stdin_v)) {
		return wr_err_set(err, EINVAL, "stdin must be a base64 string");
	}
	*ret = json_pack("{s:o,s:b}", "process", TAKE_PTR(proc), "stdin", json_is_string(stdin_v));
	return 0;
}

struct buf {
	char *p;
	size_t len, cap;
	bool truncated;
};

static void buf_add(struct buf *b, const uint8_t *d, size_t n)
{
	if (b->len + n > COLLECT_MAX) {
		b->truncated = true;
		n = COLLECT_MAX - b->len;
	}
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static int send_line(struct http_req *req, json_t *o_owned)
{
	cleanup_json json_t *o = o_owned;
	size_t len = 0;
	cleanup_free char *s = wj_dump(o, &len);
	s = xrealloc(s, len + 1);
	s[len] = '\n';
	return http_resp_write(req, s, len + 1);
}

void v1_exec(struct agent *a, struct http_req *req, char **caps)
{
	const char *id = caps[0];
	cleanup_json json_t *body = NULL;
	if (reply_read_json(req, REPLY_MAX_JSON_BODY * 16, true, &body) < 0)
		return;
	struct wr_err err = {0};
	cleanup_json json_t *msg = NULL;
	if (start_msg(body, &msg, &err) < 0) {
		reply_error(req, 400, "%s", wr_err_msg(&err));
		return;
	}
	bool stream = json_is_true(json_object_get(body, "stream"));
	json_t *tv = json_object_get(body, "timeout");
	json_t *uv = json_object_get(body, "user");
	json_t *sv = json_object_get(body, "stdin");
	int64_t timeout_s = json_is_integer(tv) ? json_integer_value(tv) : 0;
	if ((tv && !json_is_null(tv) && (!json_is_integer(tv) || timeout_s < 0)) ||
	    (uv && !json_is_null(uv) && !json_is_string(uv))) {
		reply_error(req, 400, "timeout must be a non-negative integer and user a string");
		return;
	}
	cleanup_free uint8_t *stdin_data = NULL;
	size_t stdin_len = 0;
	if (json_is_string(sv) &&
	    wj_b64_decode(json_string_value(sv), &stdin_data, &stdin_len) < 0) {
		reply_error(req, 400, "stdin is not valid base64");
		return;
	}
	cleanup_free char *user = json_is_string(uv) ? xstrdup(json_string_value(uv)) : NULL;
	bool has_stdin = json_is_string(sv);

	struct runtime_info info = {0};
	if (agent_get_or_reply(a, req, id, &info) < 0)
		return;
	struct exec_ctx x = {.a = a, .id = id};
	x.token = info.envd_token ? xstrdup(info.envd_token) : NULL;
	x.auth.token = x.token;
	x.auth.user = user;
	enum store_sb_state st = info.state;
	runtime_info_done(&info);
	if (st != STORE_SB_RUNNING) {
		free(x.token);
		reply_error(req, 409, "sandbox %s is %s, not running", id, store_sb_state_name(st));
		return;
	}
	int fd = -1;
	struct envdc_stream *s = NULL;
	int r = agent_envd_connect(a, req, id, &fd);
	if (r < 0) {
		free(x.token);
		return;
	}
	r = envdc_stream_open(fd, &x.auth, "/process.Process/Start", msg,
			      (uint64_t)timeout_s * 1000, &s, &err);
	if (r < 0) {
		free(x.token);
		reply_error(req, reply_status_for_errno(r), "exec: %s", wr_err_msg(&err));
		return;
	}
	/* first event: start{pid} */
	cleanup_json json_t *first = NULL;
	int64_t pid = 0;
	r = envdc_stream_next(s, &first, &err);
	if (r > 0) {
		json_t *start = json_object_get(json_object_get(first, "event"), "start");
		int g = agent_guest_int(start, "pid", 1, AGENT_GUEST_PID_MAX, &pid, &err);
		if (g == -ENOENT)
			r = wr_err_set(&err, EPROTO, "envd did not start the process");
		else if (g < 0)
			r = g;
	} else if (r == 0) {
		r = wr_err_set(&err, EPROTO, "envd ended the stream before starting the process");
	}
	if (r < 0) {
		envdc_stream_free(s);
		free(x.token);
		reply_error(req, reply_status_for_errno(r), "exec: %s", wr_err_msg(&err));
		return;
	}
	const char *cmd0 =
		json_string_value(json_object_get(json_object_get(msg, "process"), "cmd"));
	runtime_log_event(a->rt, id, METRICS_INFO, "process", "process %lld started (exec): %s",
			  (long long)pid, cmd0 ? cmd0 : "?");
	if (has_stdin) {
		cleanup_json json_t *in = json_object();
		json_object_set_new(in, "process", json_pack("{s:I}", "pid", (json_int_t)pid));
		if (stdin_len) {
			cleanup_free char *b64 = wj_b64_encode(stdin_data, stdin_len);
			json_object_set_new(in, "input", json_pack("{s:s}", "stdin", b64));
			r = side_call(&x, "/process.Process/SendInput", in, &err);
			json_object_del(in, "input");
		}
		if (r >= 0)
			r = side_call(&x, "/process.Process/CloseStdin", in, &err);
		if (r < 0)
			log_warn("exec in %s: stdin: %s", id, wr_err_msg(&err));
	}

	struct buf out = {0}, errb = {0};
	bool client_gone = false;
	if (stream) {
		http_resp_header(req, "Cache-Control", "no-store");
		if (http_resp_begin(req, 200, "application/x-ndjson", HTTP_CHUNKED) < 0 ||
		    send_line(req,
			      json_pack("{s:s,s:I}", "type", "start", "pid", (json_int_t)pid)) < 0)
			client_gone = true;
	}
	int exit_code = -1;
	bool ended = false;
	while (!client_gone) {
		cleanup_json json_t *ev = NULL;
		r = envdc_stream_next(s, &ev, &err);
		if (r <= 0)
			break;
		json_t *e = json_object_get(ev, "event");
		json_t *data = json_object_get(e, "data");
		json_t *end = json_object_get(e, "end");
		if (data) {
			const char *kinds[] = {"stdout", "stderr"};
			for (int k = 0; k < 2; k++) {
				json_t *d = json_object_get(data, kinds[k]);
				if (!json_is_string(d))
					continue;
				if (stream) {
					if (send_line(req, json_pack("{s:s,s:O}", "type", kinds[k],
								     "data", d)) < 0)
						client_gone = true;
					continue;
				}
				cleanup_free uint8_t *bytes = NULL;
				size_t n = 0;
				if (wj_b64_decode(json_string_value(d), &bytes, &n) == 0)
					buf_add(k ? &errb : &out, bytes, n);
			}
		} else if (end) {
			exit_code = agent_exit_code(end);
			ended = true;
		}
	}
	if (ended)
		runtime_log_event(a->rt, id, exit_code ? METRICS_WARN : METRICS_INFO, "process",
				  "process %lld ended: exit code %d", (long long)pid, exit_code);
	if (client_gone && !ended) {
		log_info("exec in %s: client went away, killing pid %lld", id, (long long)pid);
		kill_process(&x, pid);
	}
	envdc_stream_free(s);
	free(x.token);
	if (stream) {
		if (!client_gone) {
			if (ended)
				send_line(req, json_pack("{s:s,s:i}", "type", "exit", "exitCode",
							 exit_code));
			else
				send_line(
					req,
					json_pack(
						"{s:s,s:s}", "type", "error", "message",
						r < 0 ? wr_err_msg(&err)
						      : "the process ended without an exit status"));
			http_resp_end(req);
		}
	} else if (!ended) {
		reply_error(req, 502, "exec: %s",
			    r < 0 ? wr_err_msg(&err) : "the process ended without an exit status");
	} else {
		size_t ol = 0, el = 0;
		cleanup_free char *o = view_utf8_clean(out.p ? out.p : "", out.len, &ol);
		cleanup_free char *e = view_utf8_clean(errb.p ? errb.p : "", errb.len, &el);
		json_t *res = json_pack("{s:s%,s:s%,s:i}", "stdout", o, ol, "stderr", e, el,
					"exitCode", exit_code);
		if (out.truncated || errb.truncated)
			json_object_set_new(res, "truncated", json_true());
		reply_json_new(req, 200, res);
	}
	free(out.p);
	free(errb.p);
}
