/* SPDX-License-Identifier: MIT */
/* The runtime's envd client: readiness (GET /health) and POST /init, over
 * sockets made inside the sandbox's network namespace. */
#include "runtime/runtime-internal.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "http/connect.h"
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
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

/* connect_ms bounds the TCP handshake, reply_ms the request once connected. */
static int request(struct sbx *s, const struct http_creq *rq, int connect_ms, int reply_ms,
		   int *ret_status, struct http_client **ret_c, struct wr_err *err)
{
	int fd = -1;
	int r = net_connect_in_ns(s->ns, VM_GUEST_IP, RUNTIME_ENVD_PORT, connect_ms, &fd, err);
	if (r < 0)
		return r;
	struct http_client *c = http_client_new(fd, true);
	http_client_set_timeout(c, (unsigned)reply_ms);
	http_client_set_deadline(c, (unsigned)reply_ms); /* the guest is untrusted */
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
	int64_t start = mono_ms(), deadline = start + timeout_ms;
	struct wr_err last = {0};
	int delay = 3;
	for (int attempt = 1;; attempt++) {
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
		/* Once connected, envd is up: a slow answer is a starved guest
		 * (many restores at once under TCG), and abandoning it would
		 * throw away the guest's work and start over. */
		int64_t left = deadline - mono_ms();
		int r = request(s, &rq, 500,
				(int)(left < 500     ? 500
				      : left > 15000 ? 15000
						     : left),
				&status, &c, &last);
		if (r >= 0) {
			const char *ver = http_client_header(c, "X-Envd-Version");
			if (status == 204 || status == 200) {
				free(s->envd_version);
				s->envd_version = xstrdup(ver && *ver ? ver : RUNTIME_ENVD_VERSION);
				http_client_free(c);
				log_debug("sandbox %s: envd ready after %d attempt(s), %lld ms",
					  s->id, attempt, (long long)(mono_ms() - start));
				return 0;
			}
			http_client_free(c);
			wr_err_set(&last, EPROTO, "GET /health answered %d", status);
		}
		log_debug("sandbox %s: envd attempt %d at %lld ms: %s", s->id, attempt,
			  (long long)(mono_ms() - start), wr_err_msg(&last));
		if (mono_ms() >= deadline)
			return wr_err_set(err, ETIMEDOUT,
					  "envd in sandbox %s not ready within %d ms (last: %s)",
					  s->id, timeout_ms, wr_err_msg(&last));
		/* A restored guest answers within tens of ms: poll tightly at first. */
		sleep_ms(delay);
		if (mono_ms() + timeout_ms - deadline > 300 && delay < 100)
			delay += 10;
	}
}

int rt_envd_init(struct sbx *s, json_t *env_vars, bool keep_auth, struct wr_err *err)
{
	char ts[64];
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct tm tm;
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%09ldZ", now.tv_nsec);

	cleanup_json json_t *j = json_pack("{s:s, s:s, s:s}", "timestamp", ts, "sandboxId", s->id,
					   "templateId", s->template);
	/* A built template's envd already holds the user and workdir its steps ended with. */
	cleanup_free char *mark =
		s->snapshot_dir ? xasprintf("%s/" RT_BUILD_DEFAULTS_MARK, s->snapshot_dir) : NULL;
	if (!mark || access(mark, F_OK) < 0) {
		json_object_set_new(j, "defaultUser", json_string("user"));
		json_object_set_new(j, "defaultWorkdir", json_string("/home/user"));
	}
	json_object_set_new(j, "envVars", env_vars ? json_incref(env_vars) : json_object());
	const char *held = s->init_auth ? s->init_auth : s->token;
	const char *tok = keep_auth ? held : s->token;
	json_object_set_new(j, "accessToken", json_string(tok ? tok : ""));
	/* A clone of a snapshot starts with the snapshot's kernel RNG state:
	 * fresh host entropy lets envd reseed it (RNDADDENTROPY + RNDRESEEDCRNG).
	 * envd ignores fields it does not know, so older guests just skip it. */
	unsigned char rnd[64];
	if (getrandom(rnd, sizeof(rnd), 0) == (ssize_t)sizeof(rnd)) {
		char hex[2 * sizeof(rnd) + 1];
		for (size_t i = 0; i < sizeof(rnd); i++)
			snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
		json_object_set_new(j, "entropy", json_string(hex));
	}
	cleanup_free char *body = json_dumps(j, JSON_COMPACT);

	const char *hdr[2] = {NULL, NULL};
	cleanup_free char *auth = NULL;
	if (held) {
		/* envd may already hold a token (resume, or the snapshot's source's);
		 * it then wants that one on /init. */
		auth = xasprintf("X-Access-Token: %s", held);
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
	int r = request(s, &rq, 10000, 10000, &status, &c, err);
	if (r < 0)
		return wr_err_prefix(err, r, "envd POST /init");
	http_client_free(c);
	if (status != 204 && status != 200)
		return wr_err_set(err, EPROTO, "envd POST /init answered %d", status);
	if (keep_auth)
		return 0;
	free(s->init_auth);
	s->init_auth = NULL;
	return 0;
}

int rt_envd_run(struct sbx *s, const char *cmd, const char *const *args, int timeout_ms,
		struct wr_err *err)
{
	json_t *argv = json_array();
	for (size_t i = 0; args && args[i]; i++)
		json_array_append_new(argv, json_string(args[i]));
	cleanup_json json_t *msg = json_pack("{s:{s:s, s:o}}", "process", "cmd", cmd, "args", argv);
	cleanup_free char *js = json_dumps(msg, JSON_COMPACT);
	size_t jl = strlen(js);
	cleanup_free char *body = xmalloc(jl + CONNECT_ENV_HDR);
	connect_env_header((uint8_t *)body, 0, (uint32_t)jl);
	memcpy(body + CONNECT_ENV_HDR, js, jl);
	/* Before /init envd holds the snapshot's token (a warm-up exec). */
	const char *held = s->init_auth ? s->init_auth : s->token;
	cleanup_free char *auth = held ? xasprintf("X-Access-Token: %s", held) : NULL;
	const char *hdr[] = {auth, NULL};
	struct http_creq rq = {.method = "POST",
			       .target = "/process.Process/Start",
			       .headers = auth ? hdr : NULL,
			       .content_type = "application/connect+json",
			       .body = body,
			       .body_len = jl + CONNECT_ENV_HDR};
	int fd = -1;
	int r = net_connect_in_ns(s->ns, VM_GUEST_IP, RUNTIME_ENVD_PORT, timeout_ms, &fd, err);
	if (r < 0)
		return r;
	struct http_client *c = http_client_new(fd, true);
	http_client_set_timeout(c, (unsigned)timeout_ms);
	http_client_set_deadline(c, (unsigned)timeout_ms);
	cleanup_free char *resp = NULL;
	size_t rl = 0;
	int status = 0;
	r = http_client_do(c, &rq, 1 << 20, &status, &resp, &rl, err);
	http_client_free(c);
	if (r < 0)
		return wr_err_prefix(err, r, "envd run %s", cmd);
	if (status != 200)
		return wr_err_set(err, EPROTO, "envd run %s: answered %d", cmd, status);
	/* The stream ends with an end event carrying the exit code. */
	for (size_t off = 0; off < rl;) {
		uint8_t flags;
		const uint8_t *pl;
		size_t plen;
		int n = connect_env_parse(resp + off, rl - off, 1 << 20, &flags, &pl, &plen);
		if (n < 0)
			break;
		off += (size_t)n;
		cleanup_json json_t *m = json_loadb((const char *)pl, plen, 0, NULL);
		json_t *end = json_object_get(json_object_get(m, "event"), "end");
		if (end) {
			int code = (int)json_integer_value(json_object_get(end, "exitCode"));
			return code == 0 ? 0
					 : wr_err_set(err, EIO, "envd run %s: exit code %d", cmd,
						      code);
		}
	}
	return wr_err_set(err, EPROTO, "envd run %s: no end event", cmd);
}

void rt_quiesce(struct sbx *s)
{
	/* envd's host-only POST /prepare: sync, then drop the page cache, so the
	 * snapshot is crash-consistent and its memory file carries fewer pages. */
	const char *held = s->init_auth ? s->init_auth : s->token;
	cleanup_free char *auth = held ? xasprintf("X-Access-Token: %s", held) : NULL;
	const char *hdr[] = {auth, NULL};
	struct http_creq rq = {.method = "POST",
			       .target = "/prepare",
			       .headers = auth ? hdr : NULL,
			       .content_type = "application/json",
			       .body = "{}",
			       .body_len = 2};
	struct wr_err e = {0};
	int fd = -1, status = 0;
	int r = net_connect_in_ns(s->ns, VM_GUEST_IP, RUNTIME_ENVD_PORT, 2000, &fd, &e);
	if (r == 0) {
		struct http_client *c = http_client_new(fd, true);
		http_client_set_timeout(c, 5000);
		http_client_set_deadline(c, 5000);
		cleanup_free char *resp = NULL;
		size_t rl = 0;
		r = http_client_do(c, &rq, 4096, &status, &resp, &rl, &e);
		http_client_free(c);
		if (r == 0 && status != 200)
			r = wr_err_set(&e, EPROTO, "answered %d", status);
	}
	if (r < 0)
		log_warn("sandbox %s: quiesce (envd /prepare) failed, snapshot is crash-consistent "
			 "only: %s",
			 s->id, wr_err_msg(&e));
}
