/* SPDX-License-Identifier: MIT */
/* wrenn pause ID...: memory snapshot, VMM stopped; prints each id paused. */
#include "cli/util.h"

int cmd_pause(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	int rc, i = no_opts_parse(cmd, argc, argv, &rc);
	if (i < 0)
		return rc;
	return for_each_id(c, cmd, argc - i, argv + i, "/pause", NULL, "pausing");
}
