/* SPDX-License-Identifier: MIT */
#include "cli/util.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "cli/args.h"
#include "cli/codec.h"
#include "cli/table.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int sandbox_opts_parse(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv,
		       json_t *body, struct run_opts *run_opts, int *ret_rc)
{
	cleanup_json json_t *env = json_object(), *meta = json_object();
	struct wr_err err = {0};
	int o, rc = -1;
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, ret_rc)) >= 0) {
		long v;
		switch (o) {
		case 't':
			json_object_set_new(body, "template", json_string(optarg));
			break;
		case OPT_VCPUS:
			if (args_int(optarg, 1, 64, "--vcpus", &v, &err) < 0)
				goto bad;
			json_object_set_new(body, "vcpus", json_integer(v));
			break;
		case OPT_MEMORY:
			if (args_int(optarg, 128, 1 << 20, "--memory (MB)", &v, &err) < 0)
				goto bad;
			json_object_set_new(body, "memoryMB", json_integer(v));
			break;
		case OPT_TIMEOUT:
			if (args_int(optarg, 0, 86400 * 365, "--timeout (seconds)", &v, &err) < 0)
				goto bad;
			json_object_set_new(body, "timeout", json_integer(v));
			break;
		case 'e':
			if (args_kv_into(env, optarg, "--env", &err) < 0)
				goto bad;
			break;
		case 'm':
			if (args_kv_into(meta, optarg, "--metadata", &err) < 0)
				goto bad;
			break;
		case OPT_INTERNET:
			json_object_set_new(body, "allowInternetAccess", json_true());
			break;
		case OPT_JSON:
			c->json = true;
			break;
		case OPT_KEEP:
			run_opts->keep = true;
			break;
		case 'w':
			run_opts->cwd = optarg;
			break;
		case 'u':
			run_opts->user = optarg;
			break;
		default:
			break; /* the table has no other option */
		}
	}
	if (o == CLI_OPT_EXIT)
		goto out;
	if (json_object_size(env))
		json_object_set(body, "envVars", env);
	if (json_object_size(meta))
		json_object_set(body, "metadata", meta);
	rc = optind;
	goto out;
bad:
	*ret_rc = cli_usage(cmd, "%s", wr_err_msg(&err));
out:
	return rc;
}

void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	if (s)
		printf("%s\n", s);
	free(s);
}

int list_cmd_run(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv,
		 const struct list_cmd *l)
{
	int rc;
	if (json_opts_parse(c, cmd, argc, argv, 0, 0, &rc) < 0)
		return rc;
	struct api a;
	struct wr_err err = {0};
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	cleanup_json json_t *resp = NULL;
	int r = api_json(&a, "GET", l->path, NULL, &resp, NULL, &err);
	api_close(&a);
	if (r < 0)
		return cli_fail(&err);
	json_t *arr = l->member ? json_object_get(resp, l->member) : resp;
	if (c->json) {
		print_json(arr ? arr : resp);
		return CLI_EXIT_OK;
	}
	struct table t;
	table_init(&t, l->ncols, l->headers);
	int64_t now = (int64_t)time(NULL);
	size_t i;
	json_t *e;
	json_array_foreach(arr, i, e)
	{
		l->row(&t, e, now);
	}
	table_print(&t, stdout);
	table_done(&t);
	return CLI_EXIT_OK;
}

static const char *str(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

void print_sandbox_table(json_t *arr)
{
	static const char *const hdr[] = {"ID",	    "TEMPLATE", "STATE",  "VCPUS",
					  "MEMORY", "AGE",	"EXPIRES"};
	struct table t;
	table_init(&t, 7, hdr);
	int64_t now = (int64_t)time(NULL);
	size_t i;
	json_t *sb;
	json_array_foreach(arr, i, sb)
	{
		char cpus[16], mem[24], age[16] = "-", exp[16] = "never";
		snprintf(cpus, sizeof(cpus), "%lld",
			 (long long)json_integer_value(json_object_get(sb, "vcpus")));
		snprintf(mem, sizeof(mem), "%lldM",
			 (long long)json_integer_value(json_object_get(sb, "memoryMB")));
		int64_t st = parse_rfc3339(str(sb, "startedAt"));
		if (st >= 0)
			fmt_duration(now - st, age, sizeof(age));
		int64_t end = parse_rfc3339(str(sb, "endAt"));
		if (end >= 0) {
			if (end <= now)
				snprintf(exp, sizeof(exp), "now");
			else
				fmt_duration(end - now, exp, sizeof(exp));
		}
		const char *row[] = {
			str(sb, "id"), str(sb, "template"), str(sb, "state"), cpus, mem, age, exp};
		table_add(&t, row);
	}
	table_print(&t, stdout);
	table_done(&t);
}

char *sandbox_path(struct api *a, const char *id, const char *suffix)
{
	cleanup_free char *e = api_esc(a, id);
	return xasprintf("/v1/sandboxes/%s%s", e, suffix ? suffix : "");
}

void query_add(struct api *a, char **q, const char *key, const char *val)
{
	cleanup_free char *e = api_esc(a, val);
	char *n = xasprintf("%s&%s=%s", *q, key, e);
	free(*q);
	*q = n;
}

void fmt_size_age(json_t *o, char size[16], char age[16])
{
	strcpy(size, "-");
	strcpy(age, "-");
	json_t *sz = json_object_get(o, "sizeBytes");
	if (json_is_integer(sz))
		fmt_bytes(json_integer_value(sz), size, 16);
	int64_t cr = parse_rfc3339(json_string_value(json_object_get(o, "createdAt")));
	if (cr >= 0)
		fmt_duration((int64_t)time(NULL) - cr, age, 16);
}

struct stream_ctx {
	struct ndjson nd;
	struct exec_sink sink;
	struct wr_err *err;
};

static int exec_sink_cb(const char *data, size_t n, void *ud)
{
	struct stream_ctx *s = ud;
	return ndjson_feed(&s->nd, data, n, exec_event, &s->sink, s->err);
}

int exec_stream(struct api *a, const char *id, json_t *body, int *ret_exit, struct wr_err *err)
{
	json_object_set_new(body, "stream", json_true());
	cleanup_free char *text = json_dumps(body, JSON_COMPACT);
	cleanup_free char *path = sandbox_path(a, id, "/exec");
	struct stream_ctx s = {.sink = {.out_fd = 1, .err_fd = 2, .exit_code = -1}, .err = err};
	struct api_req rq = API_REQ_INIT;
	rq.method = "POST";
	rq.path = path;
	rq.content_type = "application/json";
	rq.body = text;
	rq.body_len = strlen(text);
	rq.sink = exec_sink_cb;
	rq.sink_ud = &s;
	fflush(stdout);
	int r = api_do(a, &rq, NULL, err);
	if (r >= 0)
		r = ndjson_finish(&s.nd, exec_event, &s.sink, err);
	if (r >= 0 && s.sink.error)
		r = wr_err_set(err, EIO, "exec failed: %s", s.sink.error);
	else if (r >= 0 && s.sink.exit_code < 0)
		r = wr_err_set(err, EPROTO, "exec stream ended without an exit status");
	if (r >= 0)
		*ret_exit = s.sink.exit_code;
	ndjson_done(&s.nd);
	free(s.sink.error);
	return r;
}

static void on_interrupt(int sig)
{
	(void)sig;
	api_interrupted = 1;
}

void install_interrupt_handlers(void)
{
	struct sigaction sa = {.sa_handler = on_interrupt};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* a closed stdout pipe must show up as EPIPE, not kill us before cleanup */
	signal(SIGPIPE, SIG_IGN);
}

int for_each_id(struct cli *c, const struct cli_cmd *cmd, int nids, char **ids, const char *suffix,
		json_t *body, const char *verb)
{
	if (nids < 1)
		return cli_usage(cmd, "missing sandbox ID");
	struct api a;
	struct wr_err err = {0};
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	int rc = CLI_EXIT_OK;
	for (int i = 0; i < nids; i++) {
		cleanup_free char *path = sandbox_path(&a, ids[i], suffix);
		cli_progress(c, "%s %s...", verb, ids[i]);
		int r = api_json(&a, suffix ? "POST" : "DELETE", path, body, NULL, NULL, &err);
		cli_progress_end(c);
		if (r < 0) {
			fprintf(stderr, "wrenn: %s: %s\n", ids[i], wr_err_msg(&err));
			rc = CLI_EXIT_FAIL;
			if (r == -ECONNREFUSED)
				break;
			continue;
		}
		printf("%s\n", ids[i]);
	}
	api_close(&a);
	return rc;
}

int no_opts_parse(const struct cli_cmd *cmd, int argc, char **argv, int *ret_rc)
{
	int o;
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, ret_rc)) >= 0)
		;
	return o == CLI_OPT_EXIT ? -1 : optind;
}

int json_opts_parse(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv, int min,
		    int max, int *ret_rc)
{
	int o;
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, ret_rc)) >= 0)
		if (o == OPT_JSON)
			c->json = true;
	if (o == CLI_OPT_EXIT)
		return -1;
	int n = argc - optind;
	if (n < min || n > max) {
		*ret_rc = n < min ? cli_usage(cmd, "missing argument")
				  : cli_usage(cmd, "unexpected argument '%s'", argv[optind + max]);
		return -1;
	}
	return optind;
}
