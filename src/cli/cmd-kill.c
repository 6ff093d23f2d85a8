/* SPDX-License-Identifier: MIT */
/* wrenn kill ID...: destroy; prints each id destroyed. */
#include "cli/util.h"

int cmd_kill(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	int rc, i = no_opts_parse(cmd, argc, argv, &rc);
	if (i < 0)
		return rc;
	return for_each_id(c, cmd, argc - i, argv + i, NULL, NULL, "destroying");
}
