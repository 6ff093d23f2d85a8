/* SPDX-License-Identifier: MIT */
/* wrenn info ID: one sandbox, as "key: value" lines or JSON. */
#include "basic/cleanup.h"
#include "cli/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_info(struct cli *c, int argc, char **argv)
{
	const struct cli_cmd *cmd = cli_find("info");
	const char *id = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			c->json = true;
		else if (argv[i][0] == '-')
			return cli_usage(cmd, "unknown option '%s'", argv[i]);
		else if (!id)
			id = argv[i];
		else
			return cli_usage(cmd, "unexpected argument '%s'", argv[i]);
	}
	if (!id)
		return cli_usage(cmd, "missing sandbox ID");
	struct api a;
	struct wr_err err = {0};
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	cleanup_free char *path = sandbox_path(&a, id, NULL);
	json_t *sb = NULL;
	int r = api_json(&a, "GET", path, NULL, &sb, NULL, &err);
	api_close(&a);
	if (r < 0)
		return cli_fail(&err);
	if (c->json) {
		print_json(sb);
	} else {
		const char *k;
		json_t *v;
		json_object_foreach(sb, k, v)
		{
			if (strcmp(k, "envdAccessToken") == 0)
				continue; /* a credential; --json shows it */
			if (json_is_string(v)) {
				printf("%-20s %s\n", k, json_string_value(v));
			} else {
				char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
				printf("%-20s %s\n", k, s ? s : "?");
				free(s);
			}
		}
	}
	json_decref(sb);
	return CLI_EXIT_OK;
}
