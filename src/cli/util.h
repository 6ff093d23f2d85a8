/* SPDX-License-Identifier: MIT */
#pragma once
/* Helpers shared by several commands. */
#include "cli/api.h"
#include "cli/cli.h"

#include <jansson.h>

/* Parse the sandbox-shaping options of `run` and `create` (getopt from argv[0] = command name)
 * into a NewSandbox body.  Also takes run's extra options when `run_opts` is set.  Returns the
 * index of the first operand, or -1 after printing usage. */
struct run_opts {
	bool keep;
	const char *cwd;
	const char *user;
};
int sandbox_opts_parse(const struct cli_cmd *cmd, int argc, char **argv, json_t *body,
		       struct run_opts *run_opts);

/* Pretty JSON on stdout. */
void print_json(json_t *j);
/* Human table of a JSON array of Sandbox objects. */
void print_sandbox_table(json_t *arr);
/* "/v1/sandboxes/<escaped id><suffix>" */
char *sandbox_path(struct api *a, const char *id, const char *suffix);
/* Append "&key=<escaped val>" to the query *q (replaced by a new string). */
void query_add(struct api *a, char **q, const char *key, const char *val);
/* The SIZE and AGE columns of an object with sizeBytes and createdAt ("-" when absent). */
void fmt_size_age(json_t *o, char size[16], char age[16]);
/* Stream an exec request (body gets stream:true); remote output to fds 1 and 2.  *ret_exit is
 * the command's exit code. */
int exec_stream(struct api *a, const char *id, json_t *body, int *ret_exit, struct wr_err *err);
/* SIGINT/SIGTERM/SIGHUP set api_interrupted (so transfers abort and cleanup can run). */
void install_interrupt_handlers(void);
/* Apply a simple POST action to each id; prints each id done.  Returns the exit code. */
int for_each_id(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv, const char *suffix,
		json_t *body, const char *verb);
