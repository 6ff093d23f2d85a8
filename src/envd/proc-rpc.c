/* SPDX-License-Identifier: MIT */
/* process.Process service (Connect, JSON codec). */
#include "envd/proc.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "http/connect.h"
#include "http/json.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSG (4 * 1024 * 1024)

static char *find_exe(const char *cmd, const char *path)
{
	if (strchr(cmd, '/'))
		return xstrdup(cmd);
	cleanup_free char *dirs = xstrdup(path ? path : ENVD_DEFAULT_PATH);
	char *save = NULL;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *c = xasprintf("%s/%s", *d ? d : ".", cmd);
		if (access(c, X_OK) == 0)
			return c;
		free(c);
	}
	return NULL;
}

/* Parse ProcessSelector {pid} | {tag}. */
static int selector(const json_t *msg, uint32_t *pid, const char **tag)
{
	json_t *sel = wj_get(msg, "process");
	*pid = 0;
	*tag = NULL;
	if (!json_is_object(sel))
		return -EINVAL;
	int r = wj_u32(sel, "pid", pid);
	if (r == -EINVAL)
		return r;
	if (r == 0 && *pid > 0)
		return 0;
	r = wj_str(sel, "tag", tag);
	if (r < 0)
		return -EINVAL;
	return 0;
}

static json_t *event_json(const struct pev *ev)
{
	if (ev->kind == PEV_END) {
		json_t *end = json_object();
		if (ev->exit_code)
			json_object_set_new(end, "exitCode", json_integer(ev->exit_code));
		if (ev->exited)
			json_object_set_new(end, "exited", json_true());
		json_object_set_new(end, "status", json_string(ev->status));
		/* E2B's envd reports Go's cmd.Wait() error: nil on success, else the
		 * same text as status; the SDK builds CommandExitError from it. */
		if (ev->exit_code != 0 || !ev->exited)
			json_object_set_new(end, "error", json_string(ev->status));
		return json_pack("{s:{s:o}}", "event", "end", end);
	}
	static const char *const names[] = {"stdout", "stderr", "pty"};
	cleanup_free char *b = wj_b64_encode(ev->data, ev->len);
	return json_pack("{s:{s:{s:s}}}", "event", "data", names[ev->kind], b);
}

unsigned envd_keepalive_ms(const struct http_req *req)
{
	const char *h = http_req_header(req, "Keepalive-Ping-Interval");
	long s = h ? strtol(h, NULL, 10) : 0;
	if (s <= 0 || s > 3600)
		s = 90;
	return (unsigned)s * 1000;
}

static int send_and_free(struct http_req *req, json_t *j_owned)
{
	cleanup_json json_t *j = j_owned;
	return connect_stream_send(req, j);
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The end of the call's Connect-Timeout-Ms (CLOCK_MONOTONIC ms from now; 0 = none). */
static int64_t call_deadline(const struct http_req *req)
{
	int64_t t = connect_timeout_ms(req);
	return t > 0 ? mono_ms() + t : 0;
}

/* Follow the process's events until its end (or the client leaves).  At the call's
 * deadline the stream ends with deadline_exceeded, as a Connect server's does (E2B's envd
 * also kills a Start's process then: its end event is not what the caller sees). */
static void follow(struct http_req *req, struct proc *p, uint64_t *cursor, int64_t deadline)
{
	unsigned ka = envd_keepalive_ms(req);
	int r = send_and_free(
		req, json_pack("{s:{s:{s:i}}}", "event", "start", "pid", (json_int_t)proc_pid(p)));
	while (r == 0) {
		unsigned wait = ka;
		int64_t left = deadline ? deadline - mono_ms() : 0;
		if (deadline && left <= 0) {
			connect_stream_end(req, CONNECT_DEADLINE_EXCEEDED,
					   "the call's Connect-Timeout-Ms expired");
			return;
		}
		if (deadline && left < (int64_t)wait)
			wait = (unsigned)left;
		struct pev ev = {0};
		int q = proc_next_event(p, cursor, wait, &ev);
		if (q == 0) {
			if (http_server_stopping(http_req_server(req)))
				break;
			if (deadline && mono_ms() >= deadline)
				continue;
			r = send_and_free(req, json_pack("{s:{s:{}}}", "event", "keepalive"));
			continue;
		}
		if (q < 0)
			continue; /* lost events: carry on from the oldest kept */
		if (deadline && mono_ms() >= deadline) {
			free(ev.data);
			continue;
		}
		r = send_and_free(req, event_json(&ev));
		free(ev.data);
		if (ev.kind == PEV_END) {
			if (r == 0)
				connect_stream_end(req, CONNECT_OK, NULL);
			return;
		}
	}
	if (r == 0)
		connect_stream_end(req, CONNECT_UNAVAILABLE, "envd is stopping");
}

static void stream_error(struct http_req *req, enum connect_code code, const char *msg)
{
	if (connect_stream_begin(req) == 0)
		connect_stream_end(req, code, msg);
}

static void rpc_start(struct envd *e, struct http_req *req)
{
	struct wr_err err = {0};
	enum connect_code code;
	cleanup_json json_t *msg = NULL;
	if (connect_read_env_json(req, MAX_MSG, &msg, &code, &err) < 0)
		return stream_error(req, code, wr_err_msg(&err));
	struct proc_spec s = {0};
	if (envd_request_user(e, req, &s.user, &err) < 0) {
		proc_spec_done(&s);
		return stream_error(req, CONNECT_UNAUTHENTICATED, wr_err_msg(&err));
	}
	json_t *pc = wj_get(msg, "process");
	const char *cmd = NULL;
	if (!json_is_object(pc) || wj_str(pc, "cmd", &cmd) < 0 || !*cmd) {
		proc_spec_done(&s);
		return stream_error(req, CONNECT_INVALID_ARGUMENT, "process.cmd is required");
	}
	json_t *args = wj_get(pc, "args");
	json_t *envs = wj_get(pc, "envs");
	if ((args && !json_is_array(args)) || (envs && !json_is_object(envs))) {
		proc_spec_done(&s);
		return stream_error(req, CONNECT_INVALID_ARGUMENT, "process.args/envs malformed");
	}
	size_t na = args ? json_array_size(args) : 0;
	s.argv = xcalloc(na + 2, sizeof(char *));
	s.argv[0] = xstrdup(cmd);
	for (size_t i = 0; i < na; i++) {
		json_t *a = json_array_get(args, i);
		if (!json_is_string(a)) {
			proc_spec_done(&s);
			return stream_error(req, CONNECT_INVALID_ARGUMENT, "args must be strings");
		}
		s.argv[i + 1] = xstrdup(json_string_value(a));
	}

	/* env: PATH, HOME, USER of the target user; /init defaults; request. */
	pthread_mutex_lock(&e->lock);
	int er = envd_build_env(&s.user, getenv("PATH"), e->env, envs, &s.envp, &err);
	char *wd = e->default_workdir ? xstrdup(e->default_workdir) : NULL;
	pthread_mutex_unlock(&e->lock);
	if (er < 0) {
		free(wd);
		proc_spec_done(&s);
		return stream_error(req, CONNECT_INVALID_ARGUMENT, wr_err_msg(&err));
	}

	const char *cwd = NULL;
	if (wj_str(pc, "cwd", &cwd) == 0 && *cwd)
		s.cwd = envd_resolve_path(cwd, &s.user);
	else
		s.cwd = wd ? xstrdup(wd) : xstrdup(s.user.home);
	free(wd);
	struct stat st;
	if (stat(s.cwd, &st) < 0 || !S_ISDIR(st.st_mode)) {
		char m[400];
		snprintf(m, sizeof(m), "invalid cwd '%s': not an existing directory", s.cwd);
		proc_spec_done(&s);
		return stream_error(req, CONNECT_INVALID_ARGUMENT, m);
	}
	s.path = find_exe(cmd, envd_env_get(s.envp, "PATH"));
	if (!s.path) {
		char m[300];
		snprintf(m, sizeof(m), "exec: \"%.200s\": executable file not found in $PATH", cmd);
		proc_spec_done(&s);
		return stream_error(req, CONNECT_INVALID_ARGUMENT, m);
	}

	json_t *pty = wj_get(msg, "pty");
	if (pty) {
		json_t *size = wj_get(pty, "size");
		uint32_t cols = 80, rows = 24;
		if (size &&
		    (wj_u32(size, "cols", &cols) == -EINVAL ||
		     wj_u32(size, "rows", &rows) == -EINVAL || cols > 65535 || rows > 65535)) {
			proc_spec_done(&s);
			return stream_error(req, CONNECT_INVALID_ARGUMENT, "invalid pty size");
		}
		s.pty = true;
		s.cols = cols;
		s.rows = rows;
	}
	bool sin = true; /* absent = open, for old SDKs */
	wj_bool(msg, "stdin", &sin);
	s.stdin_open = sin;
	const char *tag = NULL;
	if (wj_str(msg, "tag", &tag) == 0)
		s.tag = xstrdup(tag);
	int64_t deadline = call_deadline(req);
	int64_t tmo = connect_timeout_ms(req);
	s.timeout_ms = tmo > 0 ? tmo : 0;
	/* ProcessConfig as given, for List. */
	s.config = json_pack("{s:s}", "cmd", cmd);
	json_object_set_new(s.config, "args", args ? json_deep_copy(args) : json_array());
	json_object_set_new(s.config, "envs", envs ? json_deep_copy(envs) : json_object());
	if (cwd)
		json_object_set_new(s.config, "cwd", json_string(cwd));

	struct proc *p = NULL;
	uint64_t *cursor = NULL;
	int r = procs_spawn(e->procs, &s, &p, &cursor, &err);
	proc_spec_done(&s);
	if (r < 0)
		return stream_error(req, CONNECT_INTERNAL, wr_err_msg(&err));
	/* on the console, so the agent's sandbox logs (GET /sandboxes/{id}/logs) show every
	 * process an SDK starts; the command's name only, never its arguments (secrets) */
	char shown[129];
	size_t k = 0;
	for (; k < sizeof(shown) - 1 && cmd[k]; k++) /* one line: no control bytes */
		shown[k] = (unsigned char)cmd[k] < 0x20 || cmd[k] == 0x7f ? '?' : cmd[k];
	shown[k] = '\0';
	log_info("process %d started: %s", proc_pid(p), shown);
	if (connect_stream_begin(req) == 0)
		follow(req, p, cursor, deadline);
	proc_unref(p, cursor);
}

static void rpc_connect(struct envd *e, struct http_req *req)
{
	int64_t deadline = call_deadline(req);
	struct wr_err err = {0};
	enum connect_code code;
	cleanup_json json_t *msg = NULL;
	if (connect_read_env_json(req, MAX_MSG, &msg, &code, &err) < 0)
		return stream_error(req, code, wr_err_msg(&err));
	uint32_t pid;
	const char *tag;
	if (selector(msg, &pid, &tag) < 0 || (!pid && !tag))
		return stream_error(req, CONNECT_INVALID_ARGUMENT,
				    "process selector (pid or tag) required");
	uint64_t *cursor = NULL;
	struct proc *p = procs_find(e->procs, pid, tag, true, &cursor);
	if (!p) {
		char m[300];
		if (pid)
			snprintf(m, sizeof(m), "process with pid %u not found", pid);
		else
			snprintf(m, sizeof(m), "process with tag %.200s not found", tag);
		return stream_error(req, CONNECT_NOT_FOUND, m);
	}
	if (connect_stream_begin(req) == 0)
		follow(req, p, cursor, deadline);
	proc_unref(p, cursor);
}

/* Unary calls on one selected process. */
static struct proc *select_proc(struct envd *e, struct http_req *req, json_t *msg)
{
	uint32_t pid;
	const char *tag;
	if (selector(msg, &pid, &tag) < 0 || (!pid && !tag)) {
		connect_reply_error(req, CONNECT_INVALID_ARGUMENT,
				    "process selector (pid or tag) required");
		return NULL;
	}
	struct proc *p = procs_find(e->procs, pid, tag, false, NULL);
	if (!p) {
		if (pid)
			connect_reply_error(req, CONNECT_NOT_FOUND, "process with pid %u not found",
					    pid);
		else
			connect_reply_error(req, CONNECT_NOT_FOUND, "process with tag %s not found",
					    tag);
	}
	return p;
}

/* Write one ProcessInput {stdin|pty: base64} to p. */
static int write_input(struct proc *p, const json_t *in, struct wr_err *err)
{
	const char *b64 = NULL;
	bool pty = false;
	if (wj_str(in, "stdin", &b64) < 0) {
		pty = true;
		if (wj_str(in, "pty", &b64) < 0)
			b64 = NULL;
	}
	cleanup_free uint8_t *data = NULL;
	size_t n = 0;
	if (!b64 || wj_b64_decode(b64, &data, &n) < 0)
		return wr_err_set(err, EBADMSG, "input.stdin or input.pty (base64) required");
	return proc_write_input(p, pty, data, n, err);
}

/* The Connect code of a failed input, signal, resize or close. */
static enum connect_code input_code(int r)
{
	return r == -EBADMSG		     ? CONNECT_INVALID_ARGUMENT
	       : r == -ESRCH		     ? CONNECT_NOT_FOUND
	       : r == -EINVAL || r == -EPIPE ? CONNECT_FAILED_PRECONDITION
					     : CONNECT_INTERNAL;
}

static void reply_result(struct http_req *req, int r, struct wr_err *err)
{
	if (r == 0) {
		cleanup_json json_t *o = json_object();
		connect_reply_json(req, o);
		return;
	}
	connect_reply_error(req, input_code(r), "%s", wr_err_msg(err));
}

static void rpc_unary(struct envd *e, struct http_req *req, const char *method)
{
	struct wr_err err = {0};
	enum connect_code code;
	cleanup_json json_t *msg = NULL;
	if (connect_read_json(req, MAX_MSG, &msg, &code, &err) < 0) {
		connect_reply_error(req, code, "%s", wr_err_msg(&err));
		return;
	}
	if (!strcmp(method, "List")) {
		cleanup_json json_t *o = json_pack("{s:o}", "processes", procs_list(e->procs));
		connect_reply_json(req, o);
		return;
	}
	struct proc *p = select_proc(e, req, msg);
	if (!p)
		return;
	int r;
	if (!strcmp(method, "SendInput")) {
		r = write_input(p, wj_get(msg, "input"), &err);
	} else if (!strcmp(method, "SendSignal")) {
		json_t *sv = wj_get(msg, "signal");
		int sig = 0;
		if (json_is_string(sv)) {
			const char *n = json_string_value(sv);
			sig = !strcmp(n, "SIGNAL_SIGKILL")   ? SIGKILL
			      : !strcmp(n, "SIGNAL_SIGTERM") ? SIGTERM
							     : 0;
		} else if (json_is_integer(sv)) {
			json_int_t n = json_integer_value(sv);
			sig = n == 9 || n == 15 ? (int)n : 0;
		}
		if (!sig) {
			connect_reply_error(req, CONNECT_INVALID_ARGUMENT,
					    "signal must be SIGNAL_SIGTERM or SIGNAL_SIGKILL");
			proc_unref(p, NULL);
			return;
		}
		r = proc_signal(p, sig, &err);
	} else if (!strcmp(method, "Update")) {
		json_t *size = wj_get(wj_get(msg, "pty"), "size");
		uint32_t cols = 0, rows = 0;
		if (!size || wj_u32(size, "cols", &cols) < 0 || wj_u32(size, "rows", &rows) < 0) {
			connect_reply_error(req, CONNECT_INVALID_ARGUMENT,
					    "pty.size {cols, rows} required");
			proc_unref(p, NULL);
			return;
		}
		r = proc_resize(p, cols, rows, &err);
	} else {
		r = proc_close_stdin(p, &err);
	}
	proc_unref(p, NULL);
	reply_result(req, r, &err);
}

/* StreamInput (client streaming): a start {process} message, then data {input} and keepalive
 * messages until the request body ends; the answer is one empty message and the end of the
 * stream, or only an end carrying the error. */
static void rpc_stream_input(struct envd *e, struct http_req *req)
{
	/* the body is a stream of input: no total size limit, only per message */
	http_req_set_body_limit(req, UINT64_MAX);
	struct wr_err err = {0};
	enum connect_code code = CONNECT_OK;
	struct proc *p = NULL;
	for (;;) {
		cleanup_json json_t *msg = NULL;
		int r = connect_read_env_json(req, MAX_MSG, &msg, &code, &err);
		if (r == -ENODATA) {
			code = CONNECT_OK;
			break;
		}
		if (r < 0)
			break;
		json_t *start = wj_get(msg, "start"), *data = wj_get(msg, "data");
		if (start) {
			uint32_t pid;
			const char *tag;
			if (p || selector(start, &pid, &tag) < 0 || (!pid && !tag)) {
				code = CONNECT_INVALID_ARGUMENT;
				wr_err_set(&err, EINVAL,
					   p ? "start sent twice"
					     : "start.process selector (pid or tag) required");
				break;
			}
			p = procs_find(e->procs, pid, tag, false, NULL);
			if (!p) {
				code = CONNECT_NOT_FOUND;
				if (pid)
					wr_err_set(&err, ESRCH, "process with pid %u not found",
						   pid);
				else
					wr_err_set(&err, ESRCH, "process with tag %s not found",
						   tag);
				break;
			}
		} else if (data) {
			if (!p) {
				code = CONNECT_FAILED_PRECONDITION;
				wr_err_set(&err, EINVAL, "data before the start message");
				break;
			}
			r = write_input(p, wj_get(data, "input"), &err);
			if (r < 0) {
				code = input_code(r);
				break;
			}
		} else if (!wj_get(msg, "keepalive")) {
			code = CONNECT_INVALID_ARGUMENT;
			wr_err_set(&err, EINVAL,
				   "a StreamInputRequest holds start, data or keepalive");
			break;
		}
	}
	if (code == CONNECT_OK && !p) {
		code = CONNECT_INVALID_ARGUMENT;
		wr_err_set(&err, EINVAL, "the stream ended before its start message");
	}
	if (p)
		proc_unref(p, NULL);
	if (connect_stream_begin(req) < 0)
		return;
	if (code != CONNECT_OK) {
		http_resp_close_after(req); /* the rest of the body is left unread */
		connect_stream_end(req, code, wr_err_msg(&err));
		return;
	}
	cleanup_json json_t *o = json_object();
	if (connect_stream_send(req, o) == 0)
		connect_stream_end(req, CONNECT_OK, NULL);
}

void envd_process_rpc(struct envd *e, struct http_req *req, const char *method)
{
	bool stream = !strcmp(method, "Start") || !strcmp(method, "Connect") ||
		      !strcmp(method, "StreamInput");
	bool unary = !strcmp(method, "List") || !strcmp(method, "SendInput") ||
		     !strcmp(method, "SendSignal") || !strcmp(method, "Update") ||
		     !strcmp(method, "CloseStdin");
	const char *ct = http_req_header(req, "Content-Type");
	if (!stream && !unary) {
		connect_reply_error(req, CONNECT_UNIMPLEMENTED,
				    "process.Process/%s is not implemented", method);
		return;
	}
	const char *want = stream ? "application/connect+json, application/connect+proto"
				  : "application/json, application/proto";
	if (!connect_content_type_ok(req, stream)) {
		http_resp_close_after(req);
		http_resp_headerf(req, "Accept-Post", "%s", want);
		envd_http_error(req, 415, "unsupported content type %s (want %s)",
				ct ? ct : "(none)", want);
		return;
	}
	if (!strcmp(method, "StreamInput"))
		rpc_stream_input(e, req);
	else if (stream && !strcmp(method, "Start"))
		rpc_start(e, req);
	else if (stream)
		rpc_connect(e, req);
	else
		rpc_unary(e, req, method);
}
