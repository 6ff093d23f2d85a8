/* SPDX-License-Identifier: MIT */
#pragma once
/* The `wrenn` CLI: global state, the command table, exit codes. */
#include "basic/err.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#define CLI_VERSION "0.1.0"

/* Exit codes of wrenn itself.  `run` and `exec` exit with the remote command's code instead, and
 * with CLI_EXIT_INFRA when wrenn fails, so a failing command is not mistaken for a broken CLI. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2
#define CLI_EXIT_INFRA 125
/* Like docker: the command could not be invoked (126) or was not found (127) in the sandbox. */
#define CLI_EXIT_CANNOT_EXEC 126
#define CLI_EXIT_NOT_FOUND 127

struct cli {
	char *api_url; /* http(s)://host:port or unix:/path/to.sock */
	char *api_key;
	bool json;    /* --json: machine-readable output */
	bool quiet;   /* -q: no progress on stderr */
	bool version; /* --version */
};

/* Values of long options without a short form (the tables are in cli.c). */
enum cli_opt {
	OPT_VCPUS = 0x100,
	OPT_MEMORY,
	OPT_TIMEOUT,
	OPT_INTERNET,
	OPT_KEEP,
	OPT_JSON,
	OPT_TAIL,
	OPT_NAME,
	OPT_SANDBOX,
	OPT_FROM,
	OPT_CPU,
	OPT_NO_CACHE,
	OPT_API_URL,
	OPT_API_KEY,
	OPT_VERSION,
	OPT_TEAM,
	OPT_SIZE,
	OPT_START_TIME,
	OPT_END_TIME,
	OPT_HOST,
	OPT_KIND,
};

/* What a command's operands are (for shell completion). */
enum cli_operand {
	CLI_ARG_NONE,
	CLI_ARG_SANDBOX, /* sandbox IDs */
	CLI_ARG_FILE,	 /* local paths */
	CLI_ARG_COMMAND, /* ID, then a command line */
	CLI_ARG_OTHER,	 /* free words */
};

/* One command (or subcommand: name "keys ls").  The option tables are the single source of truth
 * for parsing (cli_getopt), help and the generated shell completion. */
struct cli_cmd {
	const char *name;
	int (*run)(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
	const char *args;	       /* usage line after the command name */
	const char *summary;	       /* one line for `wrenn --help` */
	const char *options;	       /* option help (may be NULL) */
	const char *shortopts;	       /* getopt short options (no '+', ':' or 'h': added) */
	const struct option *longopts; /* may be NULL; --help is always accepted */
	const struct cli_cmd *subs;    /* subcommands (NULL name ends), run by cli_run_sub */
	enum cli_operand operands;
};

extern const struct cli_cmd cli_root; /* global options; subs = the commands */
extern const struct cli_cmd cli_cmds[];
const struct cli_cmd *cli_find(const char *name);
/* A subcommand of cmd by its last word ("ls" finds "keys ls"). */
const struct cli_cmd *cli_find_sub(const struct cli_cmd *cmd, const char *name);

/* getopt_long over argv (argv[0] = command name) with cmd's options, stopping at the first
 * operand (docker's rule: `wrenn exec ID df -h` leaves "-h" to df).  Set optind = 0 before the
 * first call.  Returns the next option, -1 at the first operand / end (optind indexes it), or
 * CLI_OPT_EXIT after printing help (-h/--help, *ret_rc = 0) or usage for an unknown option or a
 * missing value (*ret_rc = CLI_EXIT_USAGE). */
#define CLI_OPT_EXIT (-2)
int cli_getopt(const struct cli_cmd *cmd, int argc, char **argv, int *ret_rc);
/* Help of a command on stdout; returns CLI_EXIT_OK. */
int cli_help(const struct cli_cmd *cmd);
/* Run a command that has subcommands: its own options (--json, --help), then the subcommand
 * (default `def` when none is given) with the remaining arguments. */
int cli_run_sub(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv, const char *def);
/* Shell completion script generated from the command table ("bash" or "zsh"). */
int cli_completion(FILE *f, const char *shell, struct wr_err *err);

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
int cmd_run(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_create(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_ls(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_info(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_exec(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_shell(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_cp(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_pause(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_resume(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_kill(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_timeout(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_logs(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_metrics(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_templates_ls(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_templates_build(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_keys_ls(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_volumes_ls(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_volumes_create(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_volumes_rm(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
/* "512", "512M", "10G", "1T" -> MiB; -EINVAL otherwise (cmd-volumes.c).  Pure. */
int cli_parse_size_mb(const char *v, long long *ret);
int cmd_keys_create(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_teams_ls(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_keys_rm(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_hosts_ls(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_hosts_add(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_hosts_drain(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_hosts_rm(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_snapshot_create(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_snapshot_ls(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_snapshot_rm(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_events(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_completion(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
int cmd_version(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv);
