/* SPDX-License-Identifier: MIT */
/* wrenn create: new sandbox; prints its id (or the whole object with --json). */
#include "cli/util.h"

#include <stdio.h>

int cmd_create(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	cleanup_json json_t *body = json_object();
	struct run_opts ro = {0};
	int rc, i = sandbox_opts_parse(c, cmd, argc, argv, body, &ro, &rc);
	if (i < 0)
		return rc;
	if (i < argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[i]);
	struct api a;
	struct wr_err err = {0};
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	cleanup_json json_t *sb = NULL;
	cli_progress(c, "creating sandbox...");
	int r = api_json(&a, "POST", "/v1/sandboxes", body, &sb, NULL, &err);
	cli_progress_end(c);
	api_close(&a);
	if (r < 0)
		return cli_fail(&err);
	if (c->json)
		print_json(sb);
	else
		printf("%s\n", json_string_value(json_object_get(sb, "id")));
	return CLI_EXIT_OK;
}
