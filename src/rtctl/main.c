/* SPDX-License-Identifier: MIT */
/*
 * wrenn-rtctl: a small driver over src/runtime for tests and benchmarks.
 *
 *   wrenn-rtctl [options] create [-n COUNT] [-t TEMPLATE] [-m MiB] [-c vCPUs] [-T ttl_s] [--secure]
 *                             [--first-echo: then /bin/echo through envd, print echo=<ms since start>]
 *                             [--total: then "created N of COUNT in MS ms" (wall time of all)]
 *   wrenn-rtctl [options] destroy ID...        (concurrently)
 *   wrenn-rtctl [options] exec ID CMD [ARG...] (envd process.Process/Start via runtime_connect)
 *   wrenn-rtctl [options] list | get ID | pause ID | resume ID | pause-resume ID
 *   wrenn-rtctl [options] timeout ID S | ns ID | open | wait SECONDS | race ID DELAY_MS
 *
 * Options: --data DIR --images DIR --kernel PATH --disk BACKEND --max N --pool N
 *          --ns-prefix P --veth-prefix P --nft-table T
 *          --vmm-bin PATH --envd-timeout MS --stop-on-close --no-reaper --no-auto-snapshot
 *          --warm N (warm pool floor; -1 = off) --warm-max N --warm-memory-mb N --warm-idle-s S
 *          --warm-parallel N (adaptive pool above the floor, runtime.h)
 *   wrenn-rtctl [options] warm-wait N|target [SECONDS]  (until N warm-pool entries are ready, or
 *                             every template's pool is at its target; default 60 s)
 *   wrenn-rtctl [options] warm-stat  ("warm-pool TEMPLATE VCPUSc MEMm floor=F target=T ready=R
 *                             building=B mib=M" per template)
 *   wrenn-rtctl [options] template-build NAME FROM | template-delete NAME
 *   wrenn-rtctl [options] prewarm TEMPLATE [VCPUS [MiB]]
 *   wrenn-rtctl [options] snapshot ID [NAME] | snapshots [ID] | snapshot-delete ID | fork ID N
 * Commands can be chained with "+" (one process; "@" = last created id).
 * Each process opens the runtime (sweep + re-attach) and closes it leaving
 * VMs running, so consecutive invocations exercise re-attach.
 */
#include "basic/base64.h"
#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/err.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "http/connect.h"
#include "http/http.h"
#include "runtime/runtime.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct runtime *rt;
static char last_id[RUNTIME_ID_MAX];
static const char *ns_prefix = "wrenn-ns-";

struct job {
	pthread_t th;
	const char *id;
	struct runtime_create_spec spec;
	struct runtime_info info;
	struct wr_err err;
	int r;
	double ms;
	bool echo;	/* then run /bin/echo in it through envd */
	double echo_ms; /* create start -> echo result */
};

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmd_exec(int argc, char **argv, struct wr_err *err);
static bool quiet_exec;

static void *create_job(void *arg)
{
	struct job *j = arg;
	double t0 = now_ms();
	j->r = runtime_create(rt, &j->spec, &j->info, &j->err);
	j->ms = now_ms() - t0;
	if (j->r == 0 && j->echo) {
		char *argv[] = {"exec", j->info.id, "/bin/echo", "first", NULL};
		quiet_exec = true;
		j->r = cmd_exec(4, argv, &j->err);
		j->echo_ms = now_ms() - t0;
	}
	return NULL;
}

static void *destroy_job(void *arg)
{
	struct job *j = arg;
	j->r = runtime_destroy(rt, j->id, &j->err);
	return NULL;
}

static int cmd_create(int argc, char **argv)
{
	struct runtime_create_spec spec = {0};
	int n = 1;
	cleanup_json json_t *env = json_object();
	static const struct option o[] = {{"secure", no_argument, NULL, 's'},
					  {"internet", no_argument, NULL, 'i'},
					  {"env", required_argument, NULL, 'e'},
					  {"id", required_argument, NULL, 'I'},
					  {"first-echo", no_argument, NULL, 'F'},
					  {"total", no_argument, NULL, 'X'},
					  {NULL, 0, NULL, 0}};
	bool echo = false, total = false;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "n:t:m:c:T:e:", o, NULL)) != -1) {
		switch (c) {
		case 'n':
			n = atoi(optarg);
			break;
		case 't':
			spec.template = optarg;
			break;
		case 'm':
			spec.memory_mb = atoi(optarg);
			break;
		case 'c':
			spec.vcpus = atoi(optarg);
			break;
		case 'T':
			spec.timeout_s = atoi(optarg);
			break;
		case 's':
			spec.secure = true;
			break;
		case 'i':
			spec.allow_internet = true;
			break;
		case 'I':
			spec.id = optarg;
			break;
		case 'F':
			echo = true;
			break;
		case 'X':
			total = true;
			break;
		case 'e': {
			char *eq = strchr(optarg, '=');
			if (!eq) {
				fprintf(stderr, "--env wants K=V\n");
				return 2;
			}
			*eq = '\0';
			json_object_set_new(env, optarg, json_string(eq + 1));
			break;
		}
		default:
			return 2;
		}
	}
	if (json_object_size(env))
		spec.env_vars = env;
	if (n < 1 || n > 256)
		return fprintf(stderr, "bad -n\n"), 2;
	struct job *jobs = xcalloc((size_t)n, sizeof(*jobs));
	double t0 = now_ms();
	for (int i = 0; i < n; i++) {
		jobs[i].spec = spec;
		jobs[i].echo = echo;
		pthread_create(&jobs[i].th, NULL, create_job, &jobs[i]);
	}
	int fails = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(jobs[i].th, NULL);
		if (jobs[i].r < 0) {
			fprintf(stderr, "create: %s\n", wr_err_msg(&jobs[i].err));
			fails++;
			continue;
		}
		printf("%s %.0f %s", jobs[i].info.id, jobs[i].ms,
		       jobs[i].info.create_path ? jobs[i].info.create_path : "");
		if (echo)
			printf(" echo=%.0f", jobs[i].echo_ms);
		printf("\n");
		snprintf(last_id, sizeof(last_id), "%s", jobs[i].info.id);
		runtime_info_done(&jobs[i].info);
	}
	if (total)
		printf("created %d of %d in %.0f ms\n", n - fails, n, now_ms() - t0);
	free(jobs);
	return fails ? 1 : 0;
}

static int cmd_destroy(int argc, char **argv)
{
	int n = argc - 1;
	struct job *jobs = xcalloc((size_t)n + 1, sizeof(*jobs));
	for (int i = 0; i < n; i++) {
		jobs[i].id = argv[i + 1];
		pthread_create(&jobs[i].th, NULL, destroy_job, &jobs[i]);
	}
	int fails = 0;
	for (int i = 0; i < n; i++) {
		pthread_join(jobs[i].th, NULL);
		if (jobs[i].r < 0) {
			fprintf(stderr, "destroy: %s\n", wr_err_msg(&jobs[i].err));
			fails++;
		}
	}
	free(jobs);
	return fails ? 1 : 0;
}

static void print_info(const struct runtime_info *i)
{
	printf("%s %s %s slot=%d vcpus=%d mem=%d end_at=%lld%s%s\n", i->id, i->template,
	       store_sb_state_name(i->state), i->slot, i->vcpus, i->memory_mb, (long long)i->end_at,
	       i->error ? " error=" : "", i->error ? i->error : "");
}

/* Run a command through envd's process.Process/Start; prints stdout, returns its exit code. */
static int cmd_exec(int argc, char **argv, struct wr_err *err)
{
	if (argc < 3)
		return wr_err_set(err, EINVAL, "exec ID CMD [ARG...]");
	int fd;
	int r = runtime_connect(rt, argv[1], 49983, 5000, &fd, err);
	if (r < 0)
		return r;
	cleanup_free char *token = NULL, *ver = NULL;
	runtime_envd_info(rt, argv[1], &token, &ver, NULL);
	json_t *args = json_array();
	for (int i = 3; i < argc; i++)
		json_array_append_new(args, json_string(argv[i]));
	cleanup_json json_t *msg =
		json_pack("{s:{s:s, s:o}}", "process", "cmd", argv[2], "args", args);
	cleanup_free char *js = json_dumps(msg, JSON_COMPACT);
	size_t jl = strlen(js);
	cleanup_free char *body = xmalloc(jl + 5);
	body[0] = 0;
	uint32_t be = htonl((uint32_t)jl);
	memcpy(body + 1, &be, 4);
	memcpy(body + 5, js, jl);
	cleanup_free char *auth = token ? xasprintf("X-Access-Token: %s", token) : NULL;
	const char *hdr[] = {auth, NULL};
	struct http_creq rq = {.method = "POST",
			       .target = "/process.Process/Start",
			       .headers = auth ? hdr : NULL,
			       .content_type = "application/connect+json",
			       .body = body,
			       .body_len = jl + 5};
	struct http_client *c = http_client_new(fd, true);
	http_client_set_timeout(c, 60000);
	char *resp = NULL;
	size_t rl = 0;
	int status = 0;
	r = http_client_do(c, &rq, 1 << 20, &status, &resp, &rl, err);
	http_client_free(c);
	if (r < 0)
		return r;
	if (status != 200) {
		r = wr_err_set(err, EPROTO, "Start answered %d: %.*s", status, (int)rl, resp);
		free(resp);
		return r;
	}
	int code = -1;
	for (size_t off = 0; off + 5 <= rl;) {
		uint32_t len;
		memcpy(&len, resp + off + 1, 4);
		len = ntohl(len);
		if (off + 5 + len > rl)
			break;
		cleanup_json json_t *m = json_loadb(resp + off + 5, len, 0, NULL);
		json_t *ev = json_object_get(m, "event");
		const char *b64 =
			json_string_value(json_object_get(json_object_get(ev, "data"), "stdout"));
		cleanup_free uint8_t *out = NULL;
		size_t outn = 0;
		if (b64 && base64_decode(b64, &out, &outn) == 0 && !quiet_exec)
			fwrite(out, 1, outn, stdout);
		json_t *end = json_object_get(ev, "end");
		if (end)
			code = (int)json_integer_value(json_object_get(end, "exitCode"));
		if (resp[off] & 2 && json_object_get(m, "error"))
			fprintf(stderr, "exec error: %s\n", resp + off + 5);
		off += 5 + len;
	}
	free(resp);
	fflush(stdout);
	return code;
}

/* One command; "@" in its arguments stands for the last created id. */
static int run_one(int cargc, char **cargv)
{
	for (int i = 1; i < cargc; i++)
		if (!strcmp(cargv[i], "@"))
			cargv[i] = last_id;
	const char *cmd = cargv[0];
	struct wr_err err = {0};
	int r = 0, rc = 0;
	if (!strcmp(cmd, "create")) {
		rc = cmd_create(cargc, cargv);
	} else if (!strcmp(cmd, "destroy")) {
		rc = cmd_destroy(cargc, cargv);
	} else if (!strcmp(cmd, "open")) {
		rc = 0;
	} else if (!strcmp(cmd, "list")) {
		struct runtime_info *rows = NULL;
		size_t n = 0;
		if ((r = runtime_list(rt, NULL, &rows, &n, &err)) >= 0)
			for (size_t i = 0; i < n; i++)
				print_info(&rows[i]);
		runtime_info_list_free(rows, n);
	} else if (!strcmp(cmd, "get") && cargc == 2) {
		struct runtime_info info;
		if ((r = runtime_get(rt, cargv[1], &info, &err)) >= 0) {
			print_info(&info);
			runtime_info_done(&info);
		}
	} else if (!strcmp(cmd, "ns") && cargc == 2) {
		struct runtime_info info;
		if ((r = runtime_get(rt, cargv[1], &info, &err)) >= 0) {
			printf("%s%d\n", ns_prefix, info.slot);
			runtime_info_done(&info);
		}
	} else if (!strcmp(cmd, "pause") && cargc == 2) {
		double t0 = now_ms();
		if ((r = runtime_pause(rt, cargv[1], &err)) >= 0)
			printf("paused %.0f\n", now_ms() - t0);
	} else if (!strcmp(cmd, "template-build") && cargc == 3) {
		double t0 = now_ms();
		if ((r = runtime_template_build(rt, cargv[1], cargv[2], 0, 0, &err)) >= 0)
			printf("built %s %.0f\n", cargv[1], now_ms() - t0);
	} else if (!strcmp(cmd, "snapshot") && (cargc == 2 || cargc == 3)) {
		double t0 = now_ms();
		struct runtime_snapshot sn = {0};
		if ((r = runtime_snapshot_create(rt, cargv[1], cargc == 3 ? cargv[2] : NULL, &sn,
						 &err)) >= 0)
			printf("%s %.0f apparent=%lld allocated=%lld\n", sn.id, now_ms() - t0,
			       (long long)sn.size_apparent, (long long)sn.size_allocated);
		runtime_snapshot_done(&sn);
	} else if (!strcmp(cmd, "prewarm") && cargc >= 2) {
		double t0 = now_ms();
		if ((r = runtime_template_prewarm(rt, cargv[1], cargc > 2 ? atoi(cargv[2]) : 0,
						  cargc > 3 ? atoi(cargv[3]) : 0, &err)) >= 0)
			printf("prewarmed %s %.0f\n", cargv[1], now_ms() - t0);
	} else if (!strcmp(cmd, "snapshots")) {
		struct runtime_snapshot *rows = NULL;
		size_t n = 0;
		if ((r = runtime_snapshot_list(rt, cargc > 1 ? cargv[1] : NULL, NULL, 0, &rows, &n,
					       NULL, &err)) >= 0)
			for (size_t i = 0; i < n; i++)
				printf("%s %s %s apparent=%lld allocated=%lld\n", rows[i].id,
				       rows[i].name ? rows[i].name : "-", rows[i].sandbox_id,
				       (long long)rows[i].size_apparent,
				       (long long)rows[i].size_allocated);
		runtime_snapshot_list_free(rows, n);
	} else if (!strcmp(cmd, "snapshot-delete") && cargc == 2) {
		r = runtime_snapshot_delete(rt, cargv[1], &err);
	} else if (!strcmp(cmd, "fork") && cargc == 3) {
		int cnt = atoi(cargv[2]);
		if (cnt < 1 || cnt > 100)
			cnt = 0;
		struct runtime_info *kids = xcalloc(cnt ? (size_t)cnt : 1, sizeof(*kids));
		struct wr_err *errs = xcalloc(cnt ? (size_t)cnt : 1, sizeof(*errs));
		double t0 = now_ms();
		if ((r = runtime_fork(rt, cargv[1], cnt, 0, kids, errs, &err)) >= 0)
			for (int i = 0; i < cnt; i++) {
				if (errs[i].code)
					fprintf(stderr, "fork child: %s\n", wr_err_msg(&errs[i]));
				else
					printf("%s %.0f fork\n", kids[i].id, now_ms() - t0);
				runtime_info_done(&kids[i]);
			}
		free(kids);
		free(errs);
	} else if (!strcmp(cmd, "template-delete") && cargc == 2) {
		r = runtime_template_delete(rt, cargv[1], &err);
	} else if (!strcmp(cmd, "race") && cargc == 3) {
		/* create cargv[1] on a thread, destroy it after cargv[2] ms */
		struct job j = {.spec = {.template = "minimal", .id = cargv[1]}};
		pthread_create(&j.th, NULL, create_job, &j);
		usleep((useconds_t)atoi(cargv[2]) * 1000);
		double t0 = now_ms();
		r = runtime_destroy(rt, cargv[1], &err);
		printf("destroy %d %.0f\n", r, now_ms() - t0);
		pthread_join(j.th, NULL);
		printf("create %d %s\n", j.r, j.r < 0 ? wr_err_msg(&j.err) : "ok");
		runtime_info_done(&j.info);
	} else if (!strcmp(cmd, "pause-resume") && cargc == 2) {
		/* one process: a re-attached VMM cannot be paused */
		double t0 = now_ms();
		if ((r = runtime_pause(rt, cargv[1], &err)) >= 0) {
			double t1 = now_ms();
			printf("paused %.0f\n", t1 - t0);
			fflush(stdout);
			if ((r = runtime_resume(rt, cargv[1], 0, &err)) >= 0)
				printf("resumed %.0f\n", now_ms() - t1);
		}
	} else if (!strcmp(cmd, "resume") && cargc == 2) {
		double t0 = now_ms();
		if ((r = runtime_resume(rt, cargv[1], 0, &err)) >= 0)
			printf("resumed %.0f\n", now_ms() - t0);
	} else if (!strcmp(cmd, "timeout") && cargc == 3) {
		r = runtime_set_timeout(rt, cargv[1], atoi(cargv[2]), &err);
	} else if (!strcmp(cmd, "exec")) {
		r = cmd_exec(cargc, cargv, &err);
		if (r >= 0)
			rc = r;
	} else if (!strcmp(cmd, "warm-stat")) {
		struct runtime_warm_stat *v = NULL;
		size_t n = runtime_warm_stats(rt, &v);
		for (size_t i = 0; i < n; i++)
			printf("warm-pool %s %dc %dm floor=%u target=%u ready=%u building=%u mib=%llu\n",
			       v[i].template, v[i].vcpus, v[i].memory_mb, v[i].floor, v[i].target,
			       v[i].ready, v[i].building, (unsigned long long)v[i].cost_mb);
		free(v);
	} else if (!strcmp(cmd, "warm-wait") && cargc >= 2 && !strcmp(cargv[1], "target")) {
		double t0 = now_ms(), limit = (cargc > 2 ? atof(cargv[2]) : 60) * 1000;
		unsigned ready = 0, target = 0;
		for (;;) {
			struct runtime_warm_stat *v = NULL;
			size_t n = runtime_warm_stats(rt, &v);
			bool at = n > 0;
			ready = target = 0;
			for (size_t i = 0; i < n; i++) {
				at = at && v[i].target > 0 && v[i].ready >= v[i].target;
				ready += v[i].ready;
				target += v[i].target;
			}
			free(v);
			if (at || now_ms() - t0 >= limit)
				break;
			usleep(20000);
		}
		if (ready < target || !target)
			r = wr_err_set(&err, ETIMEDOUT, "%u of %u warm entries ready", ready,
				       target);
		else
			printf("warm %u %.0f\n", ready, now_ms() - t0);
	} else if (!strcmp(cmd, "warm-wait") && cargc >= 2) {
		unsigned want = (unsigned)atoi(cargv[1]);
		double t0 = now_ms(), limit = (cargc > 2 ? atof(cargv[2]) : 60) * 1000;
		while (runtime_warm_ready(rt) < want && now_ms() - t0 < limit)
			usleep(20000);
		if (runtime_warm_ready(rt) < want)
			r = wr_err_set(&err, ETIMEDOUT, "%u of %u warm entries ready",
				       runtime_warm_ready(rt), want);
		else
			printf("warm %u %.0f\n", runtime_warm_ready(rt), now_ms() - t0);
	} else if (!strcmp(cmd, "wait")) {
		/* keep the runtime (and its reaper) up for N seconds */
		sleep(cargc > 1 ? (unsigned)atoi(cargv[1]) : 1);
	} else {
		fprintf(stderr, "wrenn-rtctl: unknown command %s\n", cmd);
		rc = 2;
	}
	if (r < 0) {
		fprintf(stderr, "wrenn-rtctl %s: %s\n", cmd, wr_err_msg(&err));
		rc = 1;
	}
	return rc;
}

int main(int argc, char **argv)
{
	log_init("wrenn-rtctl");
	struct runtime_config cfg = {0};
	static const struct option o[] = {{"data", required_argument, NULL, 'd'},
					  {"images", required_argument, NULL, 'i'},
					  {"kernel", required_argument, NULL, 'k'},
					  {"disk", required_argument, NULL, 'D'},
					  {"max", required_argument, NULL, 'M'},
					  {"pool", required_argument, NULL, 'p'},
					  {"vmm-bin", required_argument, NULL, 'b'},
					  {"envd-timeout", required_argument, NULL, 'E'},
					  {"stop-on-close", no_argument, NULL, 'S'},
					  {"no-reaper", no_argument, NULL, 'R'},
					  {"no-auto-snapshot", no_argument, NULL, 'A'},
					  {"ns-prefix", required_argument, NULL, 'N'},
					  {"veth-prefix", required_argument, NULL, 'V'},
					  {"nft-table", required_argument, NULL, 'F'},
					  {"warm", required_argument, NULL, 'W'},
					  {"warm-max", required_argument, NULL, 1001},
					  {"warm-memory-mb", required_argument, NULL, 1002},
					  {"warm-idle-s", required_argument, NULL, 1003},
					  {"warm-parallel", required_argument, NULL, 1004},
					  {NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "+", o, NULL)) != -1) {
		switch (c) {
		case 'd':
			cfg.data_dir = optarg;
			break;
		case 'i':
			cfg.images_dir = optarg;
			break;
		case 'k':
			cfg.kernel_path = optarg;
			break;
		case 'D':
			cfg.disk_backend = optarg;
			break;
		case 'M':
			cfg.max_sandboxes = (unsigned)atoi(optarg);
			break;
		case 'p':
			cfg.pool_size = (unsigned)atoi(optarg);
			break;
		case 'b':
			cfg.vmm_bin = optarg;
			break;
		case 'E':
			cfg.envd_timeout_ms = atoi(optarg);
			break;
		case 'S':
			cfg.stop_on_close = true;
			break;
		case 'A':
			cfg.no_auto_snapshot = true;
			break;
		case 'R':
			cfg.no_reaper = true;
			break;
		case 'N':
			cfg.ns_prefix = ns_prefix = optarg;
			break;
		case 'V':
			cfg.veth_prefix = optarg;
			break;
		case 'F':
			cfg.nft_table = optarg;
			break;
		case 'W':
			cfg.warm_pool = atoi(optarg);
			break;
		case 1001:
			cfg.warm_pool_max = (unsigned)atoi(optarg);
			break;
		case 1002:
			cfg.warm_pool_memory_mb = (unsigned)atoi(optarg);
			break;
		case 1003:
			cfg.warm_pool_idle_s = (unsigned)atoi(optarg);
			break;
		case 1004:
			cfg.warm_pool_parallel = (unsigned)atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: wrenn-rtctl [options] COMMAND ...\n");
		return 2;
	}
	struct wr_err err = {0};
	if (runtime_open(&cfg, &rt, &err) < 0) {
		fprintf(stderr, "wrenn-rtctl: %s\n", wr_err_msg(&err));
		return 1;
	}
	/* Commands separated by "+" run in this one process, in order; the
	 * first failure stops the chain. */
	int rc = 0;
	for (int i = optind; i < argc && rc == 0;) {
		int j = i;
		while (j < argc && strcmp(argv[j], "+"))
			j++;
		if (j > i)
			rc = run_one(j - i, argv + i);
		fflush(stdout);
		i = j + 1;
	}
	runtime_close(rt);
	return rc;
}
