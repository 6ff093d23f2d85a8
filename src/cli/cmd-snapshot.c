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
	json_t *all = json_array();
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
		json_t *resp = NULL;
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
		json_decref(resp);
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
	json_decref(all);
	return rc;
}

int cmd_snapshot(struct cli *c, int argc, char **argv)
{
	const struct cli_cmd *cmd = cli_find("snapshot");
	const char *name = NULL, *sandbox = NULL, *ops[3] = {0};
	int nops = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			c->json = true;
		else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			name = argv[++i];
		else if (strcmp(argv[i], "--sandbox") == 0 && i + 1 < argc)
			sandbox = argv[++i];
		else if (argv[i][0] == '-' || nops == 2)
			return cli_usage(cmd, "unexpected argument '%s'", argv[i]);
		else
			ops[nops++] = argv[i];
	}
	const char *sub = nops ? ops[0] : "ls";
	bool ok = (strcmp(sub, "ls") == 0 && nops <= 1 && !name) ||
		  (strcmp(sub, "create") == 0 && nops == 2 && !sandbox) ||
		  (strcmp(sub, "rm") == 0 && nops == 2 && !name && !sandbox);
	if (!ok)
		return cli_usage(cmd, "bad or incomplete subcommand");
	struct api a;
	struct wr_err err = {0};
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	int rc = CLI_EXIT_OK;
	if (strcmp(sub, "ls") == 0) {
		rc = snap_ls(c, &a, sandbox);
	} else if (strcmp(sub, "rm") == 0) {
		cleanup_free char *e = api_esc(&a, ops[1]);
		cleanup_free char *path = xasprintf("/v1/snapshots/%s", e);
		if (api_json(&a, "DELETE", path, NULL, NULL, NULL, &err) < 0)
			rc = cli_fail(&err);
	} else {
		cleanup_free char *path = sandbox_path(&a, ops[1], "/snapshots");
		json_t *body = json_object();
		if (name)
			json_object_set_new(body, "name", json_string(name));
		json_t *sn = NULL;
		cli_progress(c, "snapshotting %s...", ops[1]);
		int r = api_json(&a, "POST", path, body, &sn, NULL, &err);
		cli_progress_end(c);
		json_decref(body);
		if (r < 0) {
			rc = cli_fail(&err);
		} else if (c->json) {
			print_json(sn);
		} else {
			printf("%s\n", s(sn, "id") ? s(sn, "id") : "");
		}
		json_decref(sn);
	}
	api_close(&a);
	return rc;
}
