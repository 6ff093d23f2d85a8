/* SPDX-License-Identifier: MIT */
#pragma once
/* Helpers shared by several commands. */
#include "cli/api.h"
#include "cli/cli.h"

#include "basic/cleanup-json.h"

#include <jansson.h>
#include <stdint.h>

/* Parse the options of `run` and `create` (argv[0] = command name, cmd's option table) into a
 * NewSandbox body and run_opts.  Returns the index of the first operand, or -1 after printing
 * help or usage (*ret_rc is then the exit code). */
struct run_opts {
	bool keep;
	const char *cwd;
	const char *user;
};
int sandbox_opts_parse(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv,
		       json_t *body, struct run_opts *run_opts, int *ret_rc);

/* Pretty JSON on stdout. */
void print_json(json_t *j);
/* A listing command (hosts ls, keys ls, teams ls): --json and no operands; GET path, then its
 * array (the answer's member `member`, or the answer itself when member is NULL) printed as JSON
 * with --json (the whole answer when the member is missing), else as a table of ncols columns
 * under headers, row() adding one row an element (now: time(NULL), for ages). */
struct table;
struct list_cmd {
	const char *path;
	const char *member;
	int ncols;
	const char *const *headers;
	void (*row)(struct table *t, json_t *elem, int64_t now);
};
/* Runs l's command; returns the exit code. */
int list_cmd_run(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv,
		 const struct list_cmd *l);
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
/* Apply a simple POST action to each id (argv[1..], after the options); prints each id done.
 * Returns the exit code. */
int for_each_id(struct cli *c, const struct cli_cmd *cmd, int nids, char **ids, const char *suffix,
		json_t *body, const char *verb);
/* Parse a command that takes no options but --help; returns the index of the first operand, or
 * -1 with *ret_rc set (help printed, or usage for an unknown option). */
int no_opts_parse(const struct cli_cmd *cmd, int argc, char **argv, int *ret_rc);
/* Parse a (sub)command whose only option is --json, with min..max operands.  Returns the index
 * of the first operand, or -1 with *ret_rc set (help, or usage printed). */
int json_opts_parse(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv, int min,
		    int max, int *ret_rc);
