/* SPDX-License-Identifier: MIT */
/* wrenn run: create, exec (streamed), destroy; exits with the command's code. */
#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "cli/args.h"
#include "cli/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *argv_json(char **cmd, int n)
{
	json_t *a = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(a, json_string(cmd[i]));
	return a;
}

int cmd_run(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	struct run_opts ro = {0};
	cleanup_json json_t *body = json_object();
	int urc, i = sandbox_opts_parse(c, cmd, argc, argv, body, &ro, &urc);
	if (i < 0)
		return urc;
	struct wr_err err = {0};
	char **words;
	int nwords;
	if (args_split_cmd(argc - i, argv + i, false, NULL, &words, &nwords, &err) < 0)
		return cli_usage(cmd, "%s", wr_err_msg(&err));
	install_interrupt_handlers();
	struct api a;
	if (api_open(&a, c, &err) < 0) {
		cli_fail(&err);
		return CLI_EXIT_INFRA;
	}
	int rc = CLI_EXIT_INFRA;
	cleanup_json json_t *sb = NULL;
	const char *tpl = json_string_value(json_object_get(body, "template"));
	cli_progress(c, "creating sandbox (%s)...", tpl ? tpl : "default template");
	int r = api_json(&a, "POST", "/v1/sandboxes", body, &sb, NULL, &err);
	cli_progress_end(c);
	const char *id = json_string_value(json_object_get(sb, "id"));
	if (r < 0 || !id) {
		if (r >= 0)
			wr_err_set(&err, EPROTO, "create: response has no sandbox id");
		cli_fail(&err);
		goto out;
	}
	int code = -1;
	{
		cleanup_json json_t *ex = json_object();
		json_object_set_new(ex, "cmd", argv_json(words, nwords));
		if (ro.cwd)
			json_object_set_new(ex, "cwd", json_string(ro.cwd));
		if (ro.user)
			json_object_set_new(ex, "user", json_string(ro.user));
		r = exec_stream(&a, id, ex, &code, &err);
	}
	bool interrupted = api_interrupted;
	if (r < 0) {
		fprintf(stderr, "wrenn: %s: %s\n", id, wr_err_msg(&err));
		rc = exec_failure_exit(wr_err_msg(&err));
	} else {
		rc = code & 0xff;
	}
	if (interrupted)
		rc = 130;
	if (ro.keep) {
		fprintf(stderr, "wrenn: sandbox %s kept\n", id);
	} else {
		/* cleanup must run even after Ctrl-C */
		api_interrupted = 0;
		cleanup_free char *path = sandbox_path(&a, id, NULL);
		cli_progress(c, "destroying %s...", id);
		struct wr_err derr = {0};
		if (api_json(&a, "DELETE", path, NULL, NULL, NULL, &derr) < 0) {
			cli_progress_end(c);
			fprintf(stderr, "wrenn: destroy %s: %s\n", id, wr_err_msg(&derr));
			if (rc == 0)
				rc = CLI_EXIT_INFRA;
		}
		cli_progress_end(c);
	}
out:
	api_close(&a);
	return rc;
}
