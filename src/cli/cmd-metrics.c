/* SPDX-License-Identifier: MIT */
/* wrenn metrics [--start T] [--end T] [--json] ID: the sandbox's CPU, memory and disk points
 * (sampled every 5 s by the agent, GET /sandboxes/{id}/metrics); T is unix seconds or RFC 3339. */
#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "cli/table.h"
#include "cli/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* unix seconds or RFC 3339 */
static int parse_time(const char *s, const char *what, int64_t *ret, struct wr_err *err)
{
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (!errno && end != s && !*end && v >= 0) {
		*ret = v;
		return 0;
	}
	int64_t t = parse_rfc3339(s);
	if (t < 0)
		return wr_err_set(err, EINVAL, "%s: '%s' is not unix seconds or an RFC 3339 time",
				  what, s);
	*ret = t;
	return 0;
}

static void print_table(json_t *arr)
{
	static const char *const hdr[] = {"TIME", "CPU%", "CPUS", "MEM", "DISK"};
	struct table t;
	table_init(&t, 5, hdr);
	size_t i;
	json_t *p;
	json_array_foreach(arr, i, p)
	{
		char cpu[16], cpus[16], mu[16], mt[16], du[16], dt[16], mem[40], disk[40];
		snprintf(cpu, sizeof(cpu), "%.1f",
			 json_number_value(json_object_get(p, "cpuUsedPct")));
		snprintf(cpus, sizeof(cpus), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(p, "cpuCount")));
		fmt_bytes(json_integer_value(json_object_get(p, "memUsed")), mu, sizeof(mu));
		fmt_bytes(json_integer_value(json_object_get(p, "memTotal")), mt, sizeof(mt));
		fmt_bytes(json_integer_value(json_object_get(p, "diskUsed")), du, sizeof(du));
		fmt_bytes(json_integer_value(json_object_get(p, "diskTotal")), dt, sizeof(dt));
		snprintf(mem, sizeof(mem), "%s/%s", mu, mt);
		snprintf(disk, sizeof(disk), "%s/%s", du, dt);
		const char *row[] = {json_string_value(json_object_get(p, "timestamp")), cpu, cpus,
				     mem, disk};
		table_add(&t, row);
	}
	table_print(&t, stdout);
	table_done(&t);
}

int cmd_metrics(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	int64_t start = -1, end = -1;
	struct wr_err err = {0};
	int o, rc = CLI_EXIT_OK;
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, &rc)) >= 0) {
		if (o == OPT_JSON)
			c->json = true;
		else if (o == OPT_START_TIME && parse_time(optarg, "--start", &start, &err) < 0)
			return cli_usage(cmd, "%s", wr_err_msg(&err));
		else if (o == OPT_END_TIME && parse_time(optarg, "--end", &end, &err) < 0)
			return cli_usage(cmd, "%s", wr_err_msg(&err));
	}
	if (o == CLI_OPT_EXIT)
		return rc;
	if (optind >= argc)
		return cli_usage(cmd, "missing sandbox ID");
	if (optind + 1 < argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind + 1]);
	if (start >= 0 && end >= 0 && start > end)
		return cli_usage(cmd, "--start is after --end");
	struct api a;
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	cleanup_free char *id = api_esc(&a, argv[optind]);
	cleanup_free char *q = xstrdup("");
	if (start >= 0) {
		char *n = xasprintf("%s&start=%" PRId64, q, start);
		free(q);
		q = n;
	}
	if (end >= 0) {
		char *n = xasprintf("%s&end=%" PRId64, q, end);
		free(q);
		q = n;
	}
	cleanup_free char *path =
		xasprintf("/sandboxes/%s/metrics%s%s", id, *q ? "?" : "", *q ? q + 1 : "");
	cleanup_json json_t *arr = NULL;
	int r = api_json(&a, "GET", path, NULL, &arr, NULL, &err);
	api_close(&a);
	if (r < 0)
		return cli_fail(&err);
	if (!json_is_array(arr)) {
		wr_err_set(&err, EPROTO, "the agent answered something other than a list");
		return cli_fail(&err);
	}
	if (c->json)
		print_json(arr);
	else
		print_table(arr);
	return CLI_EXIT_OK;
}
