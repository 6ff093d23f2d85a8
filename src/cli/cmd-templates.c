/* SPDX-License-Identifier: MIT */
/* wrenn templates [ls] | templates build -f Dockerfile -t NAME [...] [CONTEXT_DIR]
 *                       | templates build NAME [--from T] [--vcpus N] [--memory MB] */
#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "cli/args.h"
#include "cli/build.h"
#include "cli/table.h"
#include "cli/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int list(struct cli *c, struct api *a)
{
	struct wr_err err = {0};
	cleanup_json json_t *resp = NULL;
	if (api_json(a, "GET", "/v1/templates", NULL, &resp, NULL, &err) < 0)
		return cli_fail(&err);
	json_t *arr = json_object_get(resp, "templates");
	if (c->json) {
		print_json(arr ? arr : resp);
		return CLI_EXIT_OK;
	}
	static const char *const hdr[] = {"NAME", "KIND", "PARENT", "SIZE", "AGE"};
	struct table t;
	table_init(&t, 5, hdr);
	size_t i;
	json_t *tp;
	json_array_foreach(arr, i, tp)
	{
		char size[16], age[16];
		fmt_size_age(tp, size, age);
		const char *row[] = {json_string_value(json_object_get(tp, "name")),
				     json_string_value(json_object_get(tp, "kind")),
				     json_string_value(json_object_get(tp, "parent")), size, age};
		table_add(&t, row);
	}
	table_print(&t, stdout);
	table_done(&t);
	return CLI_EXIT_OK;
}

/* POST /v1/templates/{name}/build: a template re-snapshotted at another size */
static int resnapshot(struct cli *c, const char *name, json_t *body)
{
	struct api a;
	struct wr_err err = {0};
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	cleanup_free char *en = api_esc(&a, name);
	cleanup_free char *path = xasprintf("/v1/templates/%s/build", en);
	cleanup_json json_t *tp = NULL;
	cli_progress(c, "building template %s...", name);
	int r = api_json(&a, "POST", path, body, &tp, NULL, &err);
	cli_progress_end(c);
	api_close(&a);
	if (r < 0)
		return cli_fail(&err);
	if (c->json)
		print_json(tp);
	else
		printf("%s\n", name);
	return CLI_EXIT_OK;
}

int cmd_templates_build(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	struct tpl_build b = {.cpu = -1, .memory_mb = -1};
	const char *from = NULL;
	long vcpus = -1;
	bool cpu_given = false;
	struct wr_err err = {0};
	int o, rc = CLI_EXIT_OK;
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, &rc)) >= 0) {
		long v;
		switch (o) {
		case 'f':
			b.dockerfile = optarg;
			break;
		case 't':
			b.name = optarg;
			break;
		case OPT_CPU:
			if (args_int(optarg, 1, 64, "--cpu", &v, &err) < 0)
				return cli_usage(cmd, "%s", wr_err_msg(&err));
			b.cpu = v;
			cpu_given = true;
			break;
		case OPT_VCPUS:
			if (args_int(optarg, 1, 64, "--vcpus", &vcpus, &err) < 0)
				return cli_usage(cmd, "%s", wr_err_msg(&err));
			break;
		case OPT_MEMORY:
			if (args_int(optarg, 128, 1 << 20, "--memory (MB)", &v, &err) < 0)
				return cli_usage(cmd, "%s", wr_err_msg(&err));
			b.memory_mb = v;
			break;
		case OPT_NO_CACHE:
			b.no_cache = true;
			break;
		case OPT_FROM:
			from = optarg;
			break;
		case OPT_JSON:
			c->json = true;
			break;
		default:
			break;
		}
	}
	if (o == CLI_OPT_EXIT)
		return rc;
	int nops = argc - optind;
	if (!b.name && !b.dockerfile) {
		/* the older form: re-snapshot a template at another size */
		if (cpu_given || b.no_cache)
			return cli_usage(cmd, "--cpu and --no-cache need -f DOCKERFILE -t NAME");
		if (nops == 0)
			return cli_usage(cmd, "missing -t NAME (or a template NAME)");
		if (nops > 1)
			return cli_usage(cmd, "unexpected argument '%s'", argv[optind + 1]);
		cleanup_json json_t *body = json_object();
		if (from)
			json_object_set_new(body, "from", json_string(from));
		if (vcpus > 0)
			json_object_set_new(body, "vcpus", json_integer(vcpus));
		if (b.memory_mb > 0)
			json_object_set_new(body, "memoryMB", json_integer(b.memory_mb));
		return resnapshot(c, argv[optind], body);
	}
	if (from)
		return cli_usage(cmd, "--from is for re-snapshotting; a Dockerfile says FROM");
	if (vcpus > 0) {
		if (cpu_given)
			return cli_usage(cmd, "give --cpu or --vcpus, not both");
		b.cpu = vcpus;
	}
	if (!b.name)
		return cli_usage(cmd, "missing -t NAME");
	if (nops > 1)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind + 1]);
	b.context = nops ? argv[optind] : ".";
	cleanup_free char *df = NULL;
	if (!b.dockerfile)
		b.dockerfile = df = xasprintf("%s/Dockerfile", b.context);
	return tpl_build_run(c, &b);
}

int cmd_templates_ls(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	int rc;
	if (json_opts_parse(c, cmd, argc, argv, 0, 0, &rc) < 0)
		return rc;
	struct api a;
	struct wr_err err = {0};
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	rc = list(c, &a);
	api_close(&a);
	return rc;
}
