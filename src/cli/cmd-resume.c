/* SPDX-License-Identifier: MIT */
/* wrenn resume [--timeout S] ID...: restore paused sandboxes. */
#include "cli/args.h"
#include "cli/util.h"

#include <string.h>

int cmd_resume(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	long timeout = -1; /* a repeated --timeout: the last one wins */
	int o, rc = CLI_EXIT_OK;
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, &rc)) >= 0) {
		struct wr_err err = {0};
		if (o == OPT_TIMEOUT &&
		    args_int(optarg, 0, 86400 * 365, "--timeout", &timeout, &err) < 0)
			return cli_usage(cmd, "%s", wr_err_msg(&err));
	}
	if (o == CLI_OPT_EXIT)
		return rc;
	cleanup_json json_t *body =
		timeout >= 0 ? json_pack("{sI}", "timeout", (json_int_t)timeout) : NULL;
	return for_each_id(c, cmd, argc - optind, argv + optind, "/resume", body, "resuming");
}
