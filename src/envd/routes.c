/* SPDX-License-Identifier: MIT */
/* Routing, auth and the small plain-HTTP routes (/health /init /envs /metrics). */
#include "envd/envd.h"
#include "envd/codec.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "http/connect.h"
#include "http/json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define MAX_RPC_BODY (4 * 1024 * 1024)
#define MAX_INIT_BODY (1024 * 1024)

void envd_http_error(struct http_req *req, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	wj_reply_error(req, status, true, fmt, ap);
	va_end(ap);
}

void envd_init(struct envd *e, struct http_req *req)
{
	cleanup_free char *body = NULL;
	size_t len = 0;
	int r = http_req_read_all(req, MAX_INIT_BODY, &body, &len);
	if (r < 0)
		return envd_http_error(req, r == -EFBIG ? 413 : 400, "cannot read body: %s",
				       strerror(-r));
	char eb[200];
	cleanup_json json_t *j = len ? wj_parse(body, len, eb, sizeof(eb)) : json_object();
	if (!j)
		return envd_http_error(req, 400, "invalid JSON: %s", eb);
	if (!json_is_object(j)) {
		return envd_http_error(req, 400, "body must be a JSON object");
	}
	json_t *vars = wj_get(j, "envVars");
	const char *k;
	json_t *v;
	if (vars && !json_is_object(vars))
		goto bad;
	json_object_foreach(vars, k, v) if (!json_is_string(v) || !*k || strchr(k, '=')) goto bad;
	const char *tok = NULL, *user = NULL, *wd = NULL, *ts = NULL, *sid = NULL, *tid = NULL,
		   *hex = NULL;
	if (wj_str(j, "entropy", &hex) == -EINVAL) {
		return envd_http_error(req, 400, "entropy: must be a hex string");
	}
	unsigned char rnd[ENVD_MAX_ENTROPY];
	size_t nrnd = 0;
	if (hex) {
		struct wr_err err = {0};
		if (envd_hex_decode(hex, rnd, sizeof(rnd), &nrnd, &err) < 0) {
			return envd_http_error(req, 400, "entropy: %s", wr_err_msg(&err));
		}
	}
	if (wj_str(j, "accessToken", &tok) == -EINVAL ||
	    wj_str(j, "defaultUser", &user) == -EINVAL ||
	    wj_str(j, "defaultWorkdir", &wd) == -EINVAL || wj_str(j, "timestamp", &ts) == -EINVAL ||
	    wj_str(j, "sandboxId", &sid) == -EINVAL || wj_str(j, "templateId", &tid) == -EINVAL)
		goto bad;
	if (user && *user) {
		struct envd_user u;
		struct wr_err err = {0};
		if (envd_user_lookup(e, user, &u, &err) < 0) {
			return envd_http_error(req, 400, "defaultUser: %s", wr_err_msg(&err));
		}
	}
	if (ts && *ts) {
		struct tm tm = {0};
		const char *rest = strptime(ts, "%Y-%m-%dT%H:%M:%S", &tm);
		if (!rest)
			goto bad;
		long nsec = 0;
		if (*rest == '.') {
			long scale = 100000000;
			for (rest++; *rest >= '0' && *rest <= '9'; rest++, scale /= 10)
				nsec += (*rest - '0') * scale;
		}
		time_t t = timegm(&tm);
		if (*rest == '+' || *rest == '-') {
			int hh = 0, mm = 0;
			if (sscanf(rest + 1, "%d:%d", &hh, &mm) == 2)
				t -= (*rest == '+' ? 1 : -1) * (hh * 3600 + mm * 60);
		}
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		/* Only step the clock when it is off: a snapshot resume can be hours behind. */
		if (llabs((long long)(now.tv_sec - t)) > 1 && geteuid() == 0) {
			struct timespec set = {.tv_sec = t, .tv_nsec = nsec > 0 ? nsec : 0};
			if (clock_settime(CLOCK_REALTIME, &set) < 0)
				log_warn("init: clock_settime: %s", strerror(errno));
		}
	}
	/* Best effort: a failure (not root, old kernel) must not fail /init. */
	envd_add_entropy(rnd, nrnd);
	explicit_bzero(rnd, sizeof(rnd));
	pthread_mutex_lock(&e->lock);
	json_object_foreach(vars, k, v) json_object_set(e->env, k, v);
	if (sid && *sid) {
		json_object_set_new(e->env, "E2B_SANDBOX", json_string("true"));
		json_object_set_new(e->env, "E2B_SANDBOX_ID", json_string(sid));
	}
	if (tid && *tid)
		json_object_set_new(e->env, "E2B_TEMPLATE_ID", json_string(tid));
	if (tok) {
		/* Kept on disk first: a token that would not survive a restart is an error. */
		struct wr_err err = {0};
		if (envd_token_store(e->token_path, tok, &err) < 0) {
			pthread_mutex_unlock(&e->lock);
			return envd_http_error(req, 500, "access token: %s", wr_err_msg(&err));
		}
		free(e->access_token);
		e->access_token = *tok ? xstrdup(tok) : NULL;
	}
	if (user && *user) {
		free(e->default_user);
		e->default_user = xstrdup(user);
	}
	if (wd && *wd) {
		free(e->default_workdir);
		e->default_workdir = xstrdup(wd);
	}
	pthread_mutex_unlock(&e->lock);
	http_resp_header(req, "Cache-Control", "no-store");
	http_resp_send(req, 204, NULL, NULL, 0);
	return;
bad:
	envd_http_error(req, 400, "invalid /init body: wrong field types");
}

void envd_envs(struct envd *e, struct http_req *req)
{
	pthread_mutex_lock(&e->lock);
	size_t len;
	cleanup_free char *s = wj_dump(e->env, &len);
	pthread_mutex_unlock(&e->lock);
	http_resp_send(req, 200, "application/json", s, len);
}

static int cpu_sample(unsigned long long *busy, unsigned long long *total)
{
	cleanup_fclose FILE *f = fopen("/proc/stat", "re");
	unsigned long long v[8] = {0};
	if (!f || fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
			 &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
		return -EIO;
	*total = 0;
	for (int i = 0; i < 8; i++)
		*total += v[i];
	*busy = *total - v[3] - v[4];
	return 0;
}

void envd_metrics(struct envd *e, struct http_req *req)
{
	(void)e;
	unsigned long long b1 = 0, t1 = 0, b2 = 0, t2 = 0;
	double pct = 0;
	if (cpu_sample(&b1, &t1) == 0) {
		usleep(100000);
		if (cpu_sample(&b2, &t2) == 0 && t2 > t1)
			pct = 100.0 * (double)(b2 - b1) / (double)(t2 - t1);
	}
	long long mem_total = 0, mem_avail = 0, cached = 0, buffers = 0;
	cleanup_fclose FILE *f = fopen("/proc/meminfo", "re");
	char line[256];
	while (f && fgets(line, sizeof(line), f)) {
		long long kb;
		if (sscanf(line, "MemTotal: %lld kB", &kb) == 1)
			mem_total = kb * 1024;
		else if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
			mem_avail = kb * 1024;
		else if (sscanf(line, "Cached: %lld kB", &kb) == 1)
			cached = kb * 1024;
		else if (sscanf(line, "Buffers: %lld kB", &kb) == 1)
			buffers = kb * 1024;
	}
	long long used = mem_total - mem_avail;
	struct statvfs vfs;
	long long dtotal = 0, dused = 0;
	if (statvfs("/", &vfs) == 0) {
		dtotal = (long long)vfs.f_blocks * (long long)vfs.f_frsize;
		dused = dtotal - (long long)vfs.f_bfree * (long long)vfs.f_frsize;
	}
	cleanup_json json_t *j = json_pack(
		"{s:I, s:i, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "ts", (json_int_t)time(NULL),
		"cpu_count", (int)sysconf(_SC_NPROCESSORS_ONLN), "cpu_used_pct", pct, "mem_total",
		(json_int_t)mem_total, "mem_used", (json_int_t)used, "mem_cache",
		(json_int_t)(cached + buffers), "mem_total_mib", (json_int_t)(mem_total >> 20),
		"mem_used_mib", (json_int_t)(used >> 20), "disk_used", (json_int_t)dused,
		"disk_total", (json_int_t)dtotal);
	size_t len;
	cleanup_free char *s = wj_dump(j, &len);
	http_resp_send(req, 200, "application/json", s, len);
}

static void cors(struct http_req *req)
{
	http_resp_header(req, "Access-Control-Allow-Origin", "*");
}

void envd_route(struct http_req *req, void *userdata)
{
	struct envd *e = userdata;
	const char *m = http_req_method(req);
	const char *p = http_req_path(req);
	bool get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
	bool post = !strcmp(m, "POST");
	cors(req);
	if (!strcmp(m, "OPTIONS")) {
		http_resp_header(req, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
		http_resp_header(req, "Access-Control-Allow-Headers", "*");
		http_resp_send(req, 204, NULL, NULL, 0);
		return;
	}
	if (!strcmp(p, "/health")) {
		if (!get)
			return envd_http_error(req, 405, "method not allowed");
		http_resp_header(req, "X-Envd-Version", ENVD_VERSION);
		http_resp_send(req, 204, NULL, NULL, 0);
		return;
	}
	if (!strcmp(p, "/files")) {
		if (get)
			return envd_files_get(e, req);
		if (post)
			return envd_files_post(e, req);
		return envd_http_error(req, 405, "method not allowed");
	}
	/* Everything else needs the token when one is set. */
	const char *denied = envd_auth_error(e, req, NULL, NULL, NULL);
	if (denied)
		return envd_http_error(req, 401, "%s", denied);
	if (!strcmp(p, "/init")) {
		if (!post)
			return envd_http_error(req, 405, "method not allowed");
		return envd_init(e, req);
	}
	if (!strcmp(p, "/prepare")) {
		if (!post)
			return envd_http_error(req, 405, "method not allowed");
		return envd_prepare(e, req);
	}
	if (!strcmp(p, "/envs") && get)
		return envd_envs(e, req);
	if (!strcmp(p, "/metrics") && get)
		return envd_metrics(e, req);
	const char *svc = NULL;
	if (!strncmp(p, "/process.Process/", 17))
		svc = "process";
	else if (!strncmp(p, "/filesystem.Filesystem/", 23))
		svc = "filesystem";
	if (svc) {
		if (!post) {
			http_resp_header(req, "Allow", "POST");
			return envd_http_error(req, 405, "method not allowed");
		}
		int64_t cl = http_req_content_length(req);
		if (cl > MAX_RPC_BODY) {
			http_resp_close_after(req);
			return envd_http_error(req, 413, "request body larger than %d bytes",
					       MAX_RPC_BODY);
		}
		http_req_set_body_limit(req, MAX_RPC_BODY);
		if (connect_timeout_ms(req) < 0)
			return connect_reply_error(req, CONNECT_INVALID_ARGUMENT,
						   "invalid Connect-Timeout-Ms"),
			       (void)0;
		const char *method = strchr(p + 1, '/') + 1;
		if (envd_rpc_codec(req, svc, method) == -ENOENT)
			return connect_reply_error(req, CONNECT_UNIMPLEMENTED,
						   "%s is not implemented", p + 1),
			       (void)0;
		if (svc[0] == 'p')
			envd_process_rpc(e, req, method);
		else
			envd_fs_rpc(e, req, method);
		connect_use_codec(req, NULL, NULL, NULL);
		return;
	}
	envd_http_error(req, 404, "no route for %s %s", m, p);
}
