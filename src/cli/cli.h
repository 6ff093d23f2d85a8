/* SPDX-License-Identifier: MIT */
#pragma once
/* The `wrenn` CLI: global state, the command table, exit codes. */
#include "basic/err.h"

#include <stdbool.h>

/* Exit codes of wrenn itself.  `run` and `exec` exit with the remote command's code instead, and
 * with CLI_EXIT_INFRA when wrenn fails, so a failing command is not mistaken for a broken CLI. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_INFRA 125

struct cli {
	char *api_url; /* http(s)://host:port or unix:/path/to.sock */
	char *api_key;
	bool json;  /* --json: machine-readable output */
	bool quiet; /* -q: no progress on stderr */
};

struct cli_cmd {
	const char *name;
	int (*run)(struct cli *c, int argc, char **argv);
	const char *args;    /* usage line after the command name */
	const char *summary; /* one line for `wrenn --help` */
	const char *options; /* option help (may be NULL) */
};

extern const struct cli_cmd cli_cmds[];
const struct cli_cmd *cli_find(const char *name);

/* Entry point (main.c calls it; tests can too). */
int cli_main(int argc, char **argv);
/* Parse global options (before the command name).  Returns the index of the command name,
 * argc when absent, or -1 (usage error, message in err) */
int cli_parse_globals(struct cli *c, int argc, char **argv, struct wr_err *err);
/* Fill api_url / api_key from environment and key file where not given. */
int cli_resolve_config(struct cli *c, struct wr_err *err);
void cli_done(struct cli *c);

/* "usage: wrenn NAME ARGS" to stderr; returns CLI_EXIT_USAGE. */
int cli_usage(const struct cli_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* "wrenn: message" to stderr; returns CLI_EXIT_FAIL. */
int cli_fail(const struct wr_err *err);
/* Progress line on stderr (only when stderr is a terminal and not -q). */
void cli_progress(const struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_progress_end(const struct cli *c);

/* Commands (one file each). */
int cmd_run(struct cli *c, int argc, char **argv);
int cmd_create(struct cli *c, int argc, char **argv);
int cmd_ls(struct cli *c, int argc, char **argv);
int cmd_info(struct cli *c, int argc, char **argv);
int cmd_exec(struct cli *c, int argc, char **argv);
int cmd_shell(struct cli *c, int argc, char **argv);
int cmd_cp(struct cli *c, int argc, char **argv);
int cmd_pause(struct cli *c, int argc, char **argv);
int cmd_resume(struct cli *c, int argc, char **argv);
int cmd_kill(struct cli *c, int argc, char **argv);
int cmd_timeout(struct cli *c, int argc, char **argv);
int cmd_logs(struct cli *c, int argc, char **argv);
int cmd_templates(struct cli *c, int argc, char **argv);
int cmd_keys(struct cli *c, int argc, char **argv);
int cmd_snapshot(struct cli *c, int argc, char **argv);
