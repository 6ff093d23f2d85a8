/* SPDX-License-Identifier: MIT */
/* wrenn kill ID...: destroy; prints each id destroyed. */
#include "cli/util.h"

int cmd_kill(struct cli *c, int argc, char **argv)
{
	return for_each_id(c, cli_find("kill"), argc, argv, NULL, NULL, "destroying");
}
