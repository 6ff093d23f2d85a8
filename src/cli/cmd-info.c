/* SPDX-License-Identifier: MIT */
/* wrenn info ID: one sandbox, as "key: value" lines or JSON. */
#include "basic/cleanup.h"
#include "cli/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_info(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	int o, rc = CLI_EXIT_OK;
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, &rc)) >= 0)
		if (o == OPT_JSON)
			c->json = true;
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
	cleanup_free char *path = sandbox_path(&a, id, NULL);
	cleanup_json json_t *sb = NULL;
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
	return CLI_EXIT_OK;
}
