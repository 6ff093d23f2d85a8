/* SPDX-License-Identifier: MIT */
/* wrenn exec ID -- CMD...: streamed output, exit code of the command. */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "cli/args.h"
#include "cli/codec.h"
#include "cli/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* stdin is sent in the request (base64), so it is bounded. */
#define EXEC_STDIN_MAX (64u << 20)

int cmd_exec(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	cleanup_json json_t *body = json_object(), *env = json_object();
	struct wr_err err = {0};
	bool want_stdin = false;
	int o, rc = CLI_EXIT_USAGE;
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, &rc)) >= 0) {
		long v;
		switch (o) {
		case 'e':
			if (args_kv_into(env, optarg, "--env", &err) < 0)
				goto usage;
			break;
		case 'w':
			json_object_set_new(body, "cwd", json_string(optarg));
			break;
		case 'u':
			json_object_set_new(body, "user", json_string(optarg));
			break;
		case 'i':
			want_stdin = true;
			break;
		case OPT_TIMEOUT:
			if (args_int(optarg, 0, 86400 * 365, "--timeout", &v, &err) < 0)
				goto usage;
			json_object_set_new(body, "timeout", json_integer(v));
			break;
		default:
			break;
		}
	}
	if (o == CLI_OPT_EXIT)
		goto out;
	const char *id;
	char **words;
	int nwords;
	if (args_split_cmd(argc - optind, argv + optind, true, &id, &words, &nwords, &err) < 0)
		goto usage;
	json_t *arr = json_array();
	for (int i = 0; i < nwords; i++)
		json_array_append_new(arr, json_string(words[i]));
	json_object_set_new(body, "cmd", arr);
	if (json_object_size(env))
		json_object_set(body, "env", env);
	rc = CLI_EXIT_INFRA;
	if (want_stdin) {
		cleanup_free char *data = NULL;
		size_t len = 0;
		int r = read_file("/dev/stdin", EXEC_STDIN_MAX, &data, &len);
		if (r < 0) {
			wr_err_errno(&err, -r, "read stdin (limit %u MiB)", EXEC_STDIN_MAX >> 20);
			cli_fail(&err);
			goto out;
		}
		cleanup_free char *b64 = b64_encode(data, len);
		json_object_set_new(body, "stdin", json_string_nocheck(b64));
	}
	install_interrupt_handlers();
	struct api a;
	if (api_open(&a, c, &err) < 0) {
		cli_fail(&err);
		goto out;
	}
	int code;
	if (exec_stream(&a, id, body, &code, &err) < 0) {
		fprintf(stderr, "wrenn: %s\n", wr_err_msg(&err));
		rc = api_interrupted ? 130 : exec_failure_exit(wr_err_msg(&err));
	} else {
		rc = code & 0xff;
	}
	api_close(&a);
	goto out;
usage:
	rc = cli_usage(cmd, "%s", wr_err_msg(&err));
out:
	return rc;
}
