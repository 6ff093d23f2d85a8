/* SPDX-License-Identifier: MIT */
/* wrenn resume [--timeout S] ID...: restore paused sandboxes. */
#include "cli/args.h"
#include "cli/util.h"

#include <string.h>

int cmd_resume(struct cli *c, int argc, char **argv)
{
	const struct cli_cmd *cmd = cli_find("resume");
	json_t *body = NULL;
	if (argc >= 3 && strcmp(argv[1], "--timeout") == 0) {
		long v;
		struct wr_err err = {0};
		if (args_int(argv[2], 0, 86400 * 365, "--timeout", &v, &err) < 0)
			return cli_usage(cmd, "%s", wr_err_msg(&err));
		body = json_pack("{sI}", "timeout", (json_int_t)v);
		argv[2] = argv[0];
		argv += 2;
		argc -= 2;
	}
	int rc = for_each_id(c, cmd, argc, argv, "/resume", body, "resuming");
	json_decref(body);
	return rc;
}
