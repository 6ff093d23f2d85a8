/* SPDX-License-Identifier: MIT */
/* wrenn logs [--tail BYTES] ID: the VMM / serial console log, streamed to stdout. */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "cli/args.h"
#include "cli/util.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

static int to_stdout(const char *data, size_t n, void *ud)
{
	struct wr_err *err = ud;
	int r = write_full(1, data, n);
	return r < 0 ? wr_err_errno(err, -r, "write stdout") : 0;
}

int cmd_logs(struct cli *c, int argc, char **argv)
{
	const struct cli_cmd *cmd = cli_find("logs");
	const char *id = NULL;
	long tail = 0;
	struct wr_err err = {0};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--tail") == 0 && i + 1 < argc) {
			if (args_int(argv[++i], 1, 1L << 40, "--tail", &tail, &err) < 0)
				return cli_usage(cmd, "%s", wr_err_msg(&err));
		} else if (argv[i][0] == '-') {
			return cli_usage(cmd, "unknown option or missing value: '%s'", argv[i]);
		} else if (!id) {
			id = argv[i];
		} else {
			return cli_usage(cmd, "unexpected argument '%s'", argv[i]);
		}
	}
	if (!id)
		return cli_usage(cmd, "missing sandbox ID");
	signal(SIGPIPE, SIG_IGN);
	struct api a;
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	cleanup_free char *base = sandbox_path(&a, id, "/logs");
	cleanup_free char *path = tail ? xasprintf("%s?tail=%ld", base, tail) : xstrdup(base);
	struct api_req rq = API_REQ_INIT;
	rq.method = "GET";
	rq.path = path;
	rq.sink = to_stdout;
	rq.sink_ud = &err;
	int r = api_do(&a, &rq, NULL, &err);
	api_close(&a);
	if (r == -EPIPE)
		return CLI_EXIT_OK;
	return r < 0 ? cli_fail(&err) : CLI_EXIT_OK;
}
