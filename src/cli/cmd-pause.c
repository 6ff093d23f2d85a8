/* SPDX-License-Identifier: MIT */
/* wrenn pause ID...: memory snapshot, VMM stopped; prints each id paused. */
#include "cli/util.h"

int cmd_pause(struct cli *c, int argc, char **argv)
{
	return for_each_id(c, cli_find("pause"), argc, argv, "/pause", NULL, "pausing");
}
