/* SPDX-License-Identifier: MIT */
/* Running build steps in the build VM: envd's Connect process service and /files, /init. */
#include "build/build-internal.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "http/connect.h"
#include "http/http.h"
#include "http/json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ENVD_PORT RUNTIME_ENVD_PORT
#define MAX_FRAME (4u << 20)

char *build_shell_quote(const char *s)
{
	size_t n = 2;
	for (const char *p = s; *p; p++)
		n += *p == '\'' ? 4 : 1;
	char *out = xmalloc(n + 1), *o = out;
	*o++ = '\'';
	for (const char *p = s; *p; p++) {
		if (*p == '\'') {
			memcpy(o, "'\\''", 4);
			o += 4;
		} else {
			*o++ = *p;
		}
	}
	*o++ = '\'';
	*o = 0;
	return out;
}

static char *basic_auth(const char *user)
{
	cleanup_free char *up = xasprintf("%s:", user ? user : "root");
	cleanup_free char *b = wj_b64_encode(up, strlen(up));
	return xasprintf("Authorization: Basic %s", b);
}

static int envd_client(struct runtime *rt, const char *id, unsigned timeout_ms,
		       struct http_client **ret, struct wr_err *err)
{
	int fd = -1;
	int r = runtime_connect(rt, id, ENVD_PORT, 5000, &fd, err);
	if (r < 0)
		return r;
	struct http_client *c = http_client_new(fd, true);
	http_client_set_timeout(c, timeout_ms);
	*ret = c;
	return 0;
}

/* Split decoded output into lines for the callback; keeps the unfinished tail in *acc. */
static void feed_lines(const struct build_exec *x, char **acc, size_t *acc_len, const uint8_t *d,
		       size_t n, bool is_err, bool flush)
{
	*acc = xrealloc(*acc, *acc_len + n + 1);
	memcpy(*acc + *acc_len, d, n);
	*acc_len += n;
	(*acc)[*acc_len] = 0;
	char *start = *acc, *nl;
	while ((nl = memchr(start, '\n', *acc_len - (size_t)(start - *acc)))) {
		*nl = 0;
		if (nl > start && nl[-1] == '\r')
			nl[-1] = 0;
		if (x->line)
			x->line(x->ud, start, is_err);
		start = nl + 1;
	}
	size_t rest = *acc_len - (size_t)(start - *acc);
	if (flush && rest) {
		if (x->line)
			x->line(x->ud, start, is_err);
		rest = 0;
	}
	memmove(*acc, start, rest);
	*acc_len = rest;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int build_exec_run(struct runtime *rt, const char *sandbox_id, const struct build_exec *x,
		   int *ret_exit, struct wr_err *err)
{
	/* bash as E2B runs it where the image has bash, else /bin/sh (busybox images) */
	cleanup_json json_t *proc =
		json_pack("{s:s, s:[s,s,s,s]}", "cmd", "/bin/sh", "args", "-c",
			  "[ -x /bin/bash ] && exec /bin/bash -l -c \"$1\"; exec /bin/sh -c \"$1\"",
			  "sh", x->cmd);
	json_object_set_new(proc, "envs", x->envs ? json_deep_copy(x->envs) : json_object());
	if (x->cwd && *x->cwd)
		json_object_set_new(proc, "cwd", json_string(x->cwd));
	cleanup_json json_t *msg = json_pack("{s:o}", "process", TAKE_PTR(proc));
	cleanup_free char *js = json_dumps(msg, JSON_COMPACT);
	size_t jl = strlen(js);
	cleanup_free char *body = xmalloc(jl + CONNECT_ENV_HDR);
	connect_env_header((uint8_t *)body, 0, (uint32_t)jl);
	memcpy(body + CONNECT_ENV_HDR, js, jl);
	cleanup_free char *auth = basic_auth(x->user);
	const char *hdr[] = {auth, "Keepalive-Ping-Interval: 10", "Connect-Protocol-Version: 1",
			     NULL};
	struct http_creq rq = {.method = "POST",
			       .target = "/process.Process/Start",
			       .headers = hdr,
			       .content_type = "application/connect+json",
			       .body = body,
			       .body_len = jl + CONNECT_ENV_HDR};
	struct http_client *c = NULL;
	int r = envd_client(rt, sandbox_id, 60000, &c, err);
	if (r < 0)
		return r;
	if ((r = http_client_send(c, &rq, err)) < 0 ||
	    (r = http_client_read_head(c, false, err)) < 0) {
		http_client_free(c);
		return wr_err_prefix(err, r, "envd process start");
	}
	if (http_client_status(c) != 200) {
		cleanup_free char *eb = NULL;
		size_t el = 0;
		http_client_read_all(c, 4096, &eb, &el, NULL);
		r = wr_err_set(err, EPROTO, "envd process start answered %d: %s",
			       http_client_status(c), eb ? eb : "");
		http_client_free(c);
		return r;
	}
	int64_t deadline = x->timeout_ms > 0 ? mono_ms() + x->timeout_ms : 0;
	cleanup_free uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	cleanup_free char *out_acc = NULL, *err_acc = NULL;
	size_t out_len = 0, err_len = 0;
	int code = -1;
	bool ended = false;
	r = 0;
	while (!ended) {
		if (x->stop && atomic_load(x->stop)) {
			r = wr_err_set(err, ECANCELED, "cancelled: the agent is stopping");
			break;
		}
		if (deadline && mono_ms() > deadline) {
			r = wr_err_set(err, ETIMEDOUT, "timed out after %d s",
				       x->timeout_ms / 1000);
			break;
		}
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 131072;
			buf = xrealloc(buf, cap);
		}
		ssize_t n = http_client_read(c, buf + len, cap - len);
		if (n < 0) {
			r = wr_err_errno(err, (int)-n, "reading the process stream");
			break;
		}
		if (n == 0) {
			r = wr_err_set(err, EPROTO, "process stream ended without an end event");
			break;
		}
		len += (size_t)n;
		size_t off = 0;
		while (off < len && !ended) {
			uint8_t flags;
			const uint8_t *pl;
			size_t plen;
			int k = connect_env_parse(buf + off, len - off, MAX_FRAME, &flags, &pl,
						  &plen);
			if (k == -EAGAIN)
				break;
			if (k < 0) {
				r = wr_err_set(err, EPROTO, "malformed process stream frame");
				ended = true;
				break;
			}
			off += (size_t)k;
			cleanup_json json_t *m = json_loadb((const char *)pl, plen, 0, NULL);
			if (flags & CONNECT_FLAG_END) {
				json_t *e = json_object_get(m, "error");
				if (e)
					r = wr_err_set(
						err, EIO, "envd: %s",
						json_string_value(json_object_get(e, "message"))
							?: "process failed");
				else if (code < 0)
					r = wr_err_set(err, EPROTO, "process stream ended early");
				ended = true;
				break;
			}
			json_t *ev = json_object_get(m, "event");
			json_t *data = json_object_get(ev, "data");
			json_t *end = json_object_get(ev, "end");
			if (json_object_get(ev, "start") && x->background) {
				code = 0;
				ended = true;
			} else if (data) {
				const char *so = json_string_value(json_object_get(data, "stdout"));
				const char *se = json_string_value(json_object_get(data, "stderr"));
				uint8_t *d = NULL;
				size_t dl = 0;
				if (so && wj_b64_decode(so, &d, &dl) == 0)
					feed_lines(x, &out_acc, &out_len, d, dl, false, false);
				else if (se && wj_b64_decode(se, &d, &dl) == 0)
					feed_lines(x, &err_acc, &err_len, d, dl, true, false);
				free(d);
			} else if (end) {
				const char *st = json_string_value(json_object_get(end, "status"));
				code = (int)json_integer_value(json_object_get(end, "exitCode"));
				int sig = 0;
				if (code == 0 && st && sscanf(st, "signal: %d", &sig) == 1)
					code = 128 + sig;
				else if (code == 0 && st && strncmp(st, "signal", 6) == 0)
					code = 137;
				ended = true;
			}
		}
		memmove(buf, buf + off, len - off);
		len -= off;
	}
	if (out_len)
		feed_lines(x, &out_acc, &out_len, (const uint8_t *)"", 0, false, true);
	if (err_len)
		feed_lines(x, &err_acc, &err_len, (const uint8_t *)"", 0, true, true);
	http_client_free(c);
	if (r < 0)
		return r;
	*ret_exit = code;
	return 0;
}

int build_exec_upload(struct runtime *rt, const char *sandbox_id, const char *local_path,
		      const char *guest_path, const char *user, struct wr_err *err)
{
	cleanup_close int fd = open(local_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return wr_err_errno(err, errno, "open %s", local_path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return wr_err_errno(err, errno, "stat %s", local_path);
	cleanup_free char *q = http_escape(guest_path, true);
	cleanup_free char *target = xasprintf("/files?path=%s", q);
	cleanup_free char *auth = basic_auth(user);
	const char *hdr[] = {auth, NULL};
	struct http_creq rq = {.method = "POST",
			       .target = target,
			       .headers = hdr,
			       .content_type = "application/octet-stream",
			       .chunked = true};
	struct http_client *c = NULL;
	int r = envd_client(rt, sandbox_id, 120000, &c, err);
	if (r < 0)
		return r;
	if ((r = http_client_send(c, &rq, err)) < 0)
		goto out;
	char buf[65536];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = wr_err_errno(err, errno, "read %s", local_path);
			goto out;
		}
		if (n == 0)
			break;
		if ((r = http_client_write(c, buf, (size_t)n, err)) < 0)
			goto out;
	}
	if ((r = http_client_end(c, err)) < 0 || (r = http_client_read_head(c, false, err)) < 0)
		goto out;
	if (http_client_status(c) != 200) {
		cleanup_free char *eb = NULL;
		size_t el = 0;
		http_client_read_all(c, 4096, &eb, &el, NULL);
		r = wr_err_set(err, EIO, "envd upload of %s answered %d: %s", guest_path,
			       http_client_status(c), eb ? eb : "");
	}
out:
	http_client_free(c);
	return r < 0 ? wr_err_prefix(err, r, "upload to the build VM") : 0;
}

int build_exec_init(struct runtime *rt, const char *sandbox_id, json_t *envs, const char *user,
		    const char *workdir, struct wr_err *err)
{
	cleanup_json json_t *j = json_object();
	json_object_set_new(j, "envVars", envs ? json_deep_copy(envs) : json_object());
	if (user)
		json_object_set_new(j, "defaultUser", json_string(user));
	if (workdir)
		json_object_set_new(j, "defaultWorkdir", json_string(workdir));
	cleanup_free char *body = json_dumps(j, JSON_COMPACT);
	struct http_creq rq = {.method = "POST",
			       .target = "/init",
			       .content_type = "application/json",
			       .body = body,
			       .body_len = strlen(body)};
	struct http_client *c = NULL;
	int r = envd_client(rt, sandbox_id, 10000, &c, err);
	if (r < 0)
		return r;
	int status = 0;
	cleanup_free char *resp = NULL;
	size_t rl = 0;
	r = http_client_do(c, &rq, 4096, &status, &resp, &rl, err);
	http_client_free(c);
	if (r < 0)
		return wr_err_prefix(err, r, "envd /init");
	if (status != 204 && status != 200)
		return wr_err_set(err, EPROTO, "envd /init answered %d: %s", status,
				  resp ? resp : "");
	return 0;
}
