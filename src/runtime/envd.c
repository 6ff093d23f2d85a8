/* SPDX-License-Identifier: MIT */
/* The runtime's envd client: readiness (GET /health) and POST /init, over
 * sockets made inside the sandbox's network namespace. */
#include "runtime/runtime-internal.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "http/http.h"

#include <errno.h>
#include <string.h>
#include <time.h>

static void sleep_ms(int ms)
{
	nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L}, NULL);
}

static int64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int request(struct sbx *s, const struct http_creq *rq, int timeout_ms, int *ret_status,
		   struct http_client **ret_c, struct wr_err *err)
{
	int fd = -1;
	int r = net_connect_in_ns(s->ns, VM_GUEST_IP, RUNTIME_ENVD_PORT, timeout_ms, &fd, err);
	if (r < 0)
		return r;
	struct http_client *c = http_client_new(fd, true);
	http_client_set_timeout(c, (unsigned)timeout_ms);
	r = http_client_do(c, rq, 64 * 1024, ret_status, NULL, NULL, err);
	if (r < 0) {
		http_client_free(c);
		return r;
	}
	*ret_c = c;
	return 0;
}

int rt_envd_wait(struct sbx *s, int timeout_ms, struct wr_err *err)
{
	int64_t deadline = mono_ms() + timeout_ms;
	struct wr_err last = {0};
	int delay = 10;
	for (;;) {
		if (atomic_load(&s->cancel))
			return wr_err_set(err, ECANCELED, "sandbox %s: create cancelled by destroy",
					  s->id);
		if (s->vmm && !launched_alive(&s->vmm->proc)) {
			char tail[300];
			launch_log_tail(s->log_path, tail, sizeof(tail));
			return wr_err_set(err, EIO, "VMM exited before envd was ready%s%s",
					  tail[0] ? "; log: " : "", tail);
		}
		int status = 0;
		struct http_client *c = NULL;
		wr_err_clear(&last);
		struct http_creq rq = {.method = "GET", .target = "/health"};
		int r = request(s, &rq, 500, &status, &c, &last);
		if (r >= 0) {
			const char *ver = http_client_header(c, "X-Envd-Version");
			if (status == 204 || status == 200) {
				free(s->envd_version);
				s->envd_version = xstrdup(ver && *ver ? ver : RUNTIME_ENVD_VERSION);
				http_client_free(c);
				return 0;
			}
			http_client_free(c);
			wr_err_set(&last, EPROTO, "GET /health answered %d", status);
		}
		if (mono_ms() >= deadline)
			return wr_err_set(err, ETIMEDOUT,
					  "envd in sandbox %s not ready within %d ms (last: %s)",
					  s->id, timeout_ms, wr_err_msg(&last));
		sleep_ms(delay);
		if (delay < 100)
			delay += 10;
	}
}

int rt_envd_init(struct sbx *s, json_t *env_vars, struct wr_err *err)
{
	char ts[64];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct tm tm;
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%09ldZ", now.tv_nsec);

	json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "timestamp", ts, "defaultUser", "user",
			      "defaultWorkdir", "/home/user", "sandboxId", s->id, "templateId",
			      s->template);
	json_object_set_new(j, "envVars", env_vars ? json_incref(env_vars) : json_object());
	json_object_set_new(j, "accessToken", json_string(s->token ? s->token : ""));
	cleanup_free char *body = json_dumps(j, JSON_COMPACT);
	json_decref(j);

	const char *hdr[2] = {NULL, NULL};
	cleanup_free char *auth = NULL;
	if (s->token) {
		/* envd may already hold a token (resume); it then wants it on /init. */
		auth = xasprintf("X-Access-Token: %s", s->token);
		hdr[0] = auth;
	}
	struct http_creq rq = {.method = "POST",
			       .target = "/init",
			       .headers = hdr,
			       .content_type = "application/json",
			       .body = body,
			       .body_len = strlen(body)};
	int status = 0;
	struct http_client *c = NULL;
	int r = request(s, &rq, 10000, &status, &c, err);
	if (r < 0)
		return wr_err_prefix(err, r, "envd POST /init");
	http_client_free(c);
	if (status != 204 && status != 200)
		return wr_err_set(err, EPROTO, "envd POST /init answered %d", status);
	return 0;
}
