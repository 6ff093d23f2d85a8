/* SPDX-License-Identifier: MIT */
/* wrenn templates [ls] | templates build NAME [--from T] [--vcpus N] [--memory MB] */
#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "cli/args.h"
#include "cli/table.h"
#include "cli/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int list(struct cli *c, struct api *a)
{
	struct wr_err err = {0};
	json_t *resp = NULL;
	if (api_json(a, "GET", "/v1/templates", NULL, &resp, NULL, &err) < 0)
		return cli_fail(&err);
	json_t *arr = json_object_get(resp, "templates");
	if (c->json) {
		print_json(arr ? arr : resp);
		json_decref(resp);
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
	json_decref(resp);
	return CLI_EXIT_OK;
}

static int build(struct cli *c, struct api *a, const struct cli_cmd *cmd, int argc, char **argv)
{
	struct wr_err err = {0};
	const char *name = NULL;
	json_t *body = json_object();
	int rc;
	for (int i = 0; i < argc; i++) {
		long v;
		if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
			json_object_set_new(body, "from", json_string(argv[++i]));
		} else if (strcmp(argv[i], "--vcpus") == 0 && i + 1 < argc) {
			if (args_int(argv[++i], 1, 64, "--vcpus", &v, &err) < 0)
				goto usage;
			json_object_set_new(body, "vcpus", json_integer(v));
		} else if (strcmp(argv[i], "--memory") == 0 && i + 1 < argc) {
			if (args_int(argv[++i], 128, 1 << 20, "--memory", &v, &err) < 0)
				goto usage;
			json_object_set_new(body, "memoryMB", json_integer(v));
		} else if (argv[i][0] == '-' || name) {
			wr_err_set(&err, EINVAL, "unexpected argument '%s'", argv[i]);
			goto usage;
		} else {
			name = argv[i];
		}
	}
	if (!name) {
		wr_err_set(&err, EINVAL, "missing template NAME");
		goto usage;
	}
	cleanup_free char *en = api_esc(a, name);
	cleanup_free char *path = xasprintf("/v1/templates/%s/build", en);
	json_t *tp = NULL;
	cli_progress(c, "building template %s...", name);
	int r = api_json(a, "POST", path, body, &tp, NULL, &err);
	cli_progress_end(c);
	json_decref(body);
	if (r < 0)
		return cli_fail(&err);
	if (c->json)
		print_json(tp);
	else
		printf("%s\n", name);
	json_decref(tp);
	return CLI_EXIT_OK;
usage:
	json_decref(body);
	rc = cli_usage(cmd, "%s", wr_err_msg(&err));
	return rc;
}

int cmd_templates(struct cli *c, int argc, char **argv)
{
	const struct cli_cmd *cmd = cli_find("templates");
	int i = 1;
	if (i < argc && strcmp(argv[i], "--json") == 0) {
		c->json = true;
		i++;
	}
	const char *sub = i < argc ? argv[i++] : "ls";
	if (strcmp(sub, "ls") != 0 && strcmp(sub, "build") != 0)
		return cli_usage(cmd, "unknown subcommand '%s'", sub);
	if (strcmp(sub, "ls") == 0) {
		for (; i < argc; i++) {
			if (strcmp(argv[i], "--json") != 0)
				return cli_usage(cmd, "unexpected argument '%s'", argv[i]);
			c->json = true;
		}
	}
	struct api a;
	struct wr_err err = {0};
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	int rc = strcmp(sub, "ls") == 0 ? list(c, &a) : build(c, &a, cmd, argc - i, argv + i);
	api_close(&a);
	return rc;
}
