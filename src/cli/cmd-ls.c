/* SPDX-License-Identifier: MIT */
/* wrenn ls: all pages of GET /v1/sandboxes as a table or one JSON array. */
#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "cli/args.h"
#include "cli/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_ls(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *state = NULL, *tpl = NULL;
	cleanup_json json_t *meta = json_object();
	struct wr_err err = {0};
	int o, rc = CLI_EXIT_OK;
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, &rc)) >= 0) {
		switch (o) {
		case 'a':
			state = "creating,running,paused,killed,error";
			break;
		case 's':
			state = optarg;
			break;
		case 't':
			tpl = optarg;
			break;
		case 'm':
			if (args_kv_into(meta, optarg, "--metadata", &err) < 0)
				return cli_usage(cmd, "%s", wr_err_msg(&err));
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
	if (optind < argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	struct api a;
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	/* the query, without the cursor */
	cleanup_free char *q = xstrdup("limit=100");
	if (state)
		query_add(&a, &q, "state", state);
	if (tpl)
		query_add(&a, &q, "template", tpl);
	if (json_object_size(meta)) {
		/* metadata=<urlencoded "k=v&k2=v2">, each key and value encoded first (as E2B) */
		cleanup_free char *pairs = xstrdup("");
		const char *k;
		json_t *v;
		json_object_foreach(meta, k, v)
		{
			cleanup_free char *ek = api_esc(&a, k);
			cleanup_free char *ev = api_esc(&a, json_string_value(v));
			char *n = xasprintf("%s%s%s=%s", pairs, *pairs ? "&" : "", ek, ev);
			free(pairs);
			pairs = n;
		}
		cleanup_free char *e = api_esc(&a, pairs);
		char *n = xasprintf("%s&metadata=%s", q, e);
		free(q);
		q = n;
	}

	cleanup_json json_t *all = json_array();
	cleanup_free char *cursor = NULL;
	rc = CLI_EXIT_OK;
	for (int page = 0; page < 10000; page++) {
		cleanup_free char *ec = cursor ? api_esc(&a, cursor) : NULL;
		cleanup_free char *path =
			xasprintf("/v1/sandboxes?%s%s%s", q, ec ? "&cursor=" : "", ec ? ec : "");
		cleanup_json json_t *resp = NULL;
		char *next = NULL;
		if (api_json(&a, "GET", path, NULL, &resp, &next, &err) < 0) {
			rc = cli_fail(&err);
			break;
		}
		json_t *list = json_object_get(resp, "sandboxes");
		if (!json_is_array(list)) {
			free(next);
			wr_err_set(&err, EPROTO, "list: response has no 'sandboxes' array");
			rc = cli_fail(&err);
			break;
		}
		json_array_extend(all, list);
		const char *nc = json_string_value(json_object_get(resp, "nextCursor"));
		free(cursor);
		cursor = nc ? xstrdup(nc) : TAKE_PTR(next);
		free(next);
		if (!cursor)
			break;
	}
	if (rc == CLI_EXIT_OK) {
		if (c->json)
			print_json(all);
		else
			print_sandbox_table(all);
	}
	api_close(&a);
	return rc;
}
