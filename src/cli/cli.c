/* SPDX-License-Identifier: MIT */
#include "cli/cli.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_API_URL "http://127.0.0.1:3000"

#define SANDBOX_OPTS                                                                               \
	"options:\n"                                                                               \
	"  -t, --template NAME   template (server default: base)\n"                                \
	"  --vcpus N, --memory MB, --timeout SECONDS (0 = no expiry)\n"                            \
	"  -e, --env KEY=VALUE   environment of every process (repeatable)\n"                      \
	"  -m, --metadata K=V    metadata (repeatable)\n"                                          \
	"  --internet            allow internet access\n"
#define RUN_OPTS                                                                                   \
	"  -w, --workdir DIR, -u, --user USER   for the command\n"                                 \
	"  --keep                do not destroy the sandbox afterwards\n"                          \
	"exit status: the command's; 125 if wrenn itself failed; 130 if interrupted\n"

const struct cli_cmd cli_cmds[] = {
	{"run", cmd_run, "[-t TEMPLATE] [options] [--] CMD [ARG...]",
	 "create a sandbox, run a command in it, destroy it", SANDBOX_OPTS RUN_OPTS},
	{"create", cmd_create, "[-t TEMPLATE] [options]", "create a sandbox and print its ID",
	 SANDBOX_OPTS},
	{"ls", cmd_ls, "[--all] [--state S,...] [-t TEMPLATE] [-m KEY=VALUE]...", "list sandboxes",
	 NULL},
	{"info", cmd_info, "ID", "show one sandbox", NULL},
	{"exec", cmd_exec, "[-e K=V] [-w DIR] [-u USER] [-i] ID [--] CMD [ARG...]",
	 "run a command in a sandbox (output streamed; exit code is the command's)",
	 "  -i, --stdin   send all of stdin to the command\n"
	 "  --timeout S   kill the command after S seconds\n"
	 "exit status: the command's; 125 if wrenn itself failed; 130 if interrupted\n"},
	{"shell", cmd_shell, "[-u USER] [-c CMD] ID", "interactive terminal in a sandbox", NULL},
	{"cp", cmd_cp, "SRC DST   (one of them ID:/path; - is stdin/stdout)",
	 "copy a file between host and sandbox", NULL},
	{"pause", cmd_pause, "ID...", "pause sandboxes (memory snapshot, VMM stopped)", NULL},
	{"resume", cmd_resume, "[--timeout SECONDS] ID...", "resume paused sandboxes", NULL},
	{"kill", cmd_kill, "ID...", "destroy sandboxes", NULL},
	{"timeout", cmd_timeout, "ID SECONDS", "set a sandbox's time to live (0 = none)", NULL},
	{"logs", cmd_logs, "[--tail BYTES] ID", "print the VMM / serial console log", NULL},
	{"templates", cmd_templates, "[ls | build NAME [--from T] [--vcpus N] [--memory MB]]",
	 "list or build templates", NULL},
	{"keys", cmd_keys, "create [NAME] | ls | rm ID", "manage API keys", NULL},
	{"snapshot", cmd_snapshot, "create [--name N] ID | ls [--sandbox ID] | rm SNAPSHOT",
	 "snapshots of sandboxes", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

const struct cli_cmd *cli_find(const char *name)
{
	for (const struct cli_cmd *c = cli_cmds; name && c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

static void print_help(FILE *f)
{
	fprintf(f, "usage: wrenn [--api-url URL] [--api-key KEY] [--json] [-q] COMMAND [ARGS]\n\n"
		   "commands:\n");
	for (const struct cli_cmd *c = cli_cmds; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f,
		"\nenvironment: WRENN_API_URL (default " DEFAULT_API_URL ", or unix:/path.sock),\n"
		"             WRENN_API_KEY (else ~/.config/wrenn/key)\n"
		"`wrenn COMMAND --help` shows a command's options.\n");
}

int cli_usage(const struct cli_cmd *cmd, const char *fmt, ...)
{
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		fprintf(stderr, "wrenn: ");
		vfprintf(stderr, fmt, ap);
		fprintf(stderr, "\n");
		va_end(ap);
	}
	if (cmd) {
		fprintf(stderr, "usage: wrenn %s %s\n", cmd->name, cmd->args);
		if (cmd->options)
			fprintf(stderr, "%s", cmd->options);
	} else {
		fprintf(stderr, "run 'wrenn --help' for the list of commands\n");
	}
	return CLI_EXIT_USAGE;
}

int cli_fail(const struct wr_err *err)
{
	fprintf(stderr, "wrenn: %s\n", wr_err_msg(err));
	return CLI_EXIT_FAIL;
}

static bool progress_on(const struct cli *c)
{
	return !c->quiet && isatty(STDERR_FILENO);
}

void cli_progress(const struct cli *c, const char *fmt, ...)
{
	if (!progress_on(c))
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "\r\033[K");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

void cli_progress_end(const struct cli *c)
{
	if (progress_on(c))
		fprintf(stderr, "\r\033[K");
}

/* "--name=value" or "--name value"; returns the value and advances *i, or NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);
	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

int cli_parse_globals(struct cli *c, int argc, char **argv, struct wr_err *err)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		const char *v;
		if ((v = opt_value(argc, argv, &i, "--api-url"))) {
			free(c->api_url);
			c->api_url = xstrdup(v);
		} else if ((v = opt_value(argc, argv, &i, "--api-key"))) {
			free(c->api_key);
			c->api_key = xstrdup(v);
		} else if (strcmp(argv[i], "--json") == 0) {
			c->json = true;
		} else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
			c->quiet = true;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			return argc; /* no command: help */
		} else {
			return wr_err_set(err, EINVAL, "unknown or incomplete option '%s'",
					  argv[i]);
		}
	}
	return i;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

int cli_resolve_config(struct cli *c, struct wr_err *err)
{
	const char *e;
	if (!c->api_url)
		c->api_url = xstrdup((e = getenv("WRENN_API_URL")) && *e ? e : DEFAULT_API_URL);
	if (!c->api_key && (e = getenv("WRENN_API_KEY")) && *e)
		c->api_key = xstrdup(e);
	if (!c->api_key) {
		cleanup_free char *path = NULL;
		if ((e = getenv("XDG_CONFIG_HOME")) && *e)
			path = xasprintf("%s/wrenn/key", e);
		else if ((e = getenv("HOME")) && *e)
			path = xasprintf("%s/.config/wrenn/key", e);
		cleanup_free char *data = NULL;
		if (path) {
			int r = read_file(path, 4096, &data, NULL);
			if (r < 0 && r != -ENOENT)
				return wr_err_errno(err, -r, "read %s", path);
		}
		if (data && *trim(data))
			c->api_key = xstrdup(trim(data));
	}
	if (!c->api_key)
		return wr_err_set(err, EACCES,
				  "no API key: set WRENN_API_KEY, pass --api-key, or put it in "
				  "~/.config/wrenn/key");
	return 0;
}

void cli_done(struct cli *c)
{
	if (c->api_key)
		explicit_bzero(c->api_key, strlen(c->api_key));
	free(c->api_key);
	free(c->api_url);
	*c = (struct cli){0};
}

int cli_main(int argc, char **argv)
{
	struct cli c = {0};
	struct wr_err err = {0};
	int i = cli_parse_globals(&c, argc, argv, &err);
	int rc;
	if (i < 0) {
		rc = cli_usage(NULL, "%s", wr_err_msg(&err));
		goto out;
	}
	if (i >= argc || strcmp(argv[i], "help") == 0) {
		print_help(i >= argc && argc > 1 ? stdout : (i >= argc ? stderr : stdout));
		rc = i >= argc && argc <= 1 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
		goto out;
	}
	const struct cli_cmd *cmd = cli_find(argv[i]);
	if (!cmd) {
		rc = cli_usage(NULL, "unknown command '%s'", argv[i]);
		goto out;
	}
	for (int j = i + 1; j < argc && strcmp(argv[j], "--") != 0; j++)
		if (strcmp(argv[j], "-h") == 0 || strcmp(argv[j], "--help") == 0) {
			printf("usage: wrenn %s %s\n  %s\n%s", cmd->name, cmd->args, cmd->summary,
			       cmd->options ? cmd->options : "");
			rc = CLI_EXIT_OK;
			goto out;
		}
	if (cli_resolve_config(&c, &err) < 0) {
		rc = cli_fail(&err);
		if (strcmp(cmd->name, "run") == 0 || strcmp(cmd->name, "exec") == 0)
			rc = CLI_EXIT_INFRA;
		goto out;
	}
	rc = cmd->run(&c, argc - i, argv + i);
out:
	cli_done(&c);
	return rc;
}
