/* SPDX-License-Identifier: MIT */
/* wrenn snapshot create [--name N] ID | ls [--sandbox ID] | rm SNAPSHOT */
#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "cli/table.h"
#include "cli/util.h"

#include <stdio.h>
#include <string.h>

static const char *s(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static int snap_ls(struct cli *c, struct api *a, const char *sandbox)
{
	struct wr_err err = {0};
	cleanup_json json_t *all = json_array();
	cleanup_free char *cursor = NULL;
	cleanup_free char *q = NULL;
	if (sandbox) {
		cleanup_free char *e = api_esc(a, sandbox);
		q = xasprintf("sandboxId=%s&", e);
	}
	int rc = CLI_EXIT_OK;
	for (int page = 0; page < 10000; page++) {
		cleanup_free char *ec = cursor ? api_esc(a, cursor) : NULL;
		cleanup_free char *path = xasprintf("/v1/snapshots?%slimit=100%s%s", q ? q : "",
						    ec ? "&cursor=" : "", ec ? ec : "");
		cleanup_json json_t *resp = NULL;
		char *next = NULL;
		if (api_json(a, "GET", path, NULL, &resp, &next, &err) < 0) {
			rc = cli_fail(&err);
			break;
		}
		json_array_extend(all, json_object_get(resp, "snapshots"));
		const char *nc = s(resp, "nextCursor");
		free(cursor);
		cursor = nc ? xstrdup(nc) : TAKE_PTR(next);
		free(next);
		if (!cursor)
			break;
	}
	if (rc == CLI_EXIT_OK && c->json) {
		print_json(all);
	} else if (rc == CLI_EXIT_OK) {
		static const char *const hdr[] = {"ID",	      "NAME", "SANDBOX",
						  "TEMPLATE", "SIZE", "AGE"};
		struct table t;
		table_init(&t, 6, hdr);
		size_t i;
		json_t *sn;
		json_array_foreach(all, i, sn)
		{
			char size[16], age[16];
			fmt_size_age(sn, size, age);
			const char *row[] = {s(sn, "id"),	s(sn, "name"), s(sn, "sandboxId"),
					     s(sn, "template"), size,	       age};
			table_add(&t, row);
		}
		table_print(&t, stdout);
		table_done(&t);
	}
	return rc;
}

int cmd_snapshot_ls(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *sandbox = NULL;
	int o, rc = CLI_EXIT_OK;
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, &rc)) >= 0) {
		if (o == OPT_JSON)
			c->json = true;
		else if (o == OPT_SANDBOX)
			sandbox = optarg;
	}
	if (o == CLI_OPT_EXIT)
		return rc;
	if (optind < argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	struct api a;
	struct wr_err err = {0};
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	rc = snap_ls(c, &a, sandbox);
	api_close(&a);
	return rc;
}

int cmd_snapshot_rm(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	int rc, i = json_opts_parse(c, cmd, argc, argv, 1, 1, &rc);
	if (i < 0)
		return rc;
	struct api a;
	struct wr_err err = {0};
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	cleanup_free char *e = api_esc(&a, argv[i]);
	cleanup_free char *path = xasprintf("/v1/snapshots/%s", e);
	rc = api_json(&a, "DELETE", path, NULL, NULL, NULL, &err) < 0 ? cli_fail(&err)
								      : CLI_EXIT_OK;
	api_close(&a);
	return rc;
}

int cmd_snapshot_create(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *name = NULL;
	int o, rc = CLI_EXIT_OK;
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, &rc)) >= 0) {
		if (o == OPT_JSON)
			c->json = true;
		else if (o == OPT_NAME)
			name = optarg;
	}
	if (o == CLI_OPT_EXIT)
		return rc;
	if (optind >= argc)
		return cli_usage(cmd, "missing sandbox ID");
	if (optind + 1 < argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind + 1]);
	const char *id = argv[optind];
	struct api a;
	struct wr_err err = {0};
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	cleanup_free char *path = sandbox_path(&a, id, "/snapshots");
	cleanup_json json_t *body = json_object();
	if (name)
		json_object_set_new(body, "name", json_string(name));
	cleanup_json json_t *sn = NULL;
	cli_progress(c, "snapshotting %s...", id);
	int r = api_json(&a, "POST", path, body, &sn, NULL, &err);
	cli_progress_end(c);
	if (r < 0)
		rc = cli_fail(&err);
	else if (c->json)
		print_json(sn);
	else
		printf("%s\n", s(sn, "id") ? s(sn, "id") : "");
	api_close(&a);
	return rc;
}
