/* SPDX-License-Identifier: MIT */
/* wrenn timeout ID SECONDS: new time to live (0 = none). */
#include "basic/cleanup.h"
#include "cli/args.h"
#include "cli/util.h"

int cmd_timeout(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	int rc, i = no_opts_parse(cmd, argc, argv, &rc);
	if (i < 0)
		return rc;
	argc -= i - 1;
	argv += i - 1;
	if (argc != 3)
		return cli_usage(cmd, "need a sandbox ID and a number of seconds");
	long v;
	struct wr_err err = {0};
	if (args_int(argv[2], 0, 86400 * 365, "SECONDS", &v, &err) < 0)
		return cli_usage(cmd, "%s", wr_err_msg(&err));
	struct api a;
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	cleanup_free char *path = sandbox_path(&a, argv[1], "/timeout");
	cleanup_json json_t *body = json_pack("{sI}", "timeout", (json_int_t)v);
	int r = api_json(&a, "POST", path, body, NULL, NULL, &err);
	api_close(&a);
	return r < 0 ? cli_fail(&err) : CLI_EXIT_OK;
}
