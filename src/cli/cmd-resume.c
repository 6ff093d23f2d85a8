/* SPDX-License-Identifier: MIT */
/* wrenn resume [--timeout S] ID...: restore paused sandboxes. */
#include "cli/args.h"
#include "cli/util.h"

#include <string.h>

int cmd_resume(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	cleanup_json json_t *body = NULL;
	int o, rc = CLI_EXIT_OK;
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, &rc)) >= 0) {
		long v;
		struct wr_err err = {0};
		if (o != OPT_TIMEOUT)
			continue;
		if (args_int(optarg, 0, 86400 * 365, "--timeout", &v, &err) < 0)
			return cli_usage(cmd, "%s", wr_err_msg(&err));
		json_decref(body); /* a repeated --timeout: the last one wins */
		body = json_pack("{sI}", "timeout", (json_int_t)v);
	}
	if (o != CLI_OPT_EXIT)
		rc = for_each_id(c, cmd, argc - optind, argv + optind, "/resume", body, "resuming");
	return rc;
}
