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
#define EXIT_CODES                                                                                 \
	"exit status: the command's; 125 if wrenn itself failed; 126 if the command cannot be\n"   \
	"run, 127 if it does not exist in the sandbox; 130 if interrupted\n"
#define RUN_OPTS                                                                                   \
	"  -w, --workdir DIR, -u, --user USER   for the command\n"                                 \
	"  --keep                do not destroy the sandbox afterwards\n" EXIT_CODES

#define OPT_END                                                                                    \
	{                                                                                          \
		NULL, 0, NULL, 0                                                                   \
	}
#define O_TEMPLATE                                                                                 \
	{                                                                                          \
		"template", required_argument, NULL, 't'                                           \
	}
#define O_ENV                                                                                      \
	{                                                                                          \
		"env", required_argument, NULL, 'e'                                                \
	}
#define O_METADATA                                                                                 \
	{                                                                                          \
		"metadata", required_argument, NULL, 'm'                                           \
	}
#define O_JSON                                                                                     \
	{                                                                                          \
		"json", no_argument, NULL, OPT_JSON                                                \
	}
#define O_SANDBOX_SHAPE                                                                            \
	O_TEMPLATE, {"vcpus", required_argument, NULL, OPT_VCPUS},                                 \
		{"memory", required_argument, NULL, OPT_MEMORY},                                   \
		{"timeout", required_argument, NULL, OPT_TIMEOUT}, O_ENV, O_METADATA,              \
	{                                                                                          \
		"internet", no_argument, NULL, OPT_INTERNET                                        \
	}

static const struct option opts_global[] = {
	{"api-url", required_argument, NULL, OPT_API_URL},
	{"api-key", required_argument, NULL, OPT_API_KEY},
	O_JSON,
	{"quiet", no_argument, NULL, 'q'},
	{"version", no_argument, NULL, OPT_VERSION},
	OPT_END,
};
static const struct option opts_run[] = {
	O_SANDBOX_SHAPE,
	{"keep", no_argument, NULL, OPT_KEEP},
	{"workdir", required_argument, NULL, 'w'},
	{"user", required_argument, NULL, 'u'},
	OPT_END,
};
static const struct option opts_create[] = {O_SANDBOX_SHAPE, O_JSON, OPT_END};
static const struct option opts_ls[] = {
	{"all", no_argument, NULL, 'a'},
	{"state", required_argument, NULL, 's'},
	O_TEMPLATE,
	O_METADATA,
	O_JSON,
	OPT_END,
};
static const struct option opts_json[] = {O_JSON, OPT_END};
static const struct option opts_key_create[] = {
	{"team", required_argument, NULL, OPT_TEAM}, O_JSON, OPT_END};
static const struct option opts_exec[] = {
	O_ENV,
	{"workdir", required_argument, NULL, 'w'},
	{"user", required_argument, NULL, 'u'},
	{"stdin", no_argument, NULL, 'i'},
	{"timeout", required_argument, NULL, OPT_TIMEOUT},
	OPT_END,
};
static const struct option opts_shell[] = {
	{"user", required_argument, NULL, 'u'},	   {"cwd", required_argument, NULL, 'w'},
	{"workdir", required_argument, NULL, 'w'}, O_ENV,
	{"command", required_argument, NULL, 'c'}, OPT_END,
};
static const struct option opts_timeout[] = {{"timeout", required_argument, NULL, OPT_TIMEOUT},
					     OPT_END};
static const struct option opts_logs[] = {
	{"tail", required_argument, NULL, OPT_TAIL},
	{"follow", no_argument, NULL, 'f'},
	OPT_END,
};
static const struct option opts_metrics[] = {
	{"start", required_argument, NULL, OPT_START_TIME},
	{"end", required_argument, NULL, OPT_END_TIME},
	O_JSON,
	OPT_END,
};
static const struct option opts_tpl_build[] = {
	{"file", required_argument, NULL, 'f'},
	{"tag", required_argument, NULL, 't'},
	{"cpu", required_argument, NULL, OPT_CPU},
	{"vcpus", required_argument, NULL, OPT_VCPUS},
	{"memory", required_argument, NULL, OPT_MEMORY},
	{"no-cache", no_argument, NULL, OPT_NO_CACHE},
	{"from", required_argument, NULL, OPT_FROM},
	O_JSON,
	OPT_END,
};
static const struct option opts_snap_create[] = {
	{"name", required_argument, NULL, OPT_NAME}, O_JSON, OPT_END};
static const struct option opts_snap_ls[] = {
	{"sandbox", required_argument, NULL, OPT_SANDBOX}, O_JSON, OPT_END};
static const struct option opts_events[] = {
	{"sandbox", required_argument, NULL, OPT_SANDBOX},
	{"host", required_argument, NULL, OPT_HOST},
	{"kind", required_argument, NULL, OPT_KIND},
	{"limit", required_argument, NULL, 'n'},
	O_JSON,
	OPT_END,
};

static const struct cli_cmd subs_templates[] = {
	{"templates ls", cmd_templates_ls, "[--json]", "list templates", NULL, "", opts_json, NULL,
	 CLI_ARG_NONE},
	{"templates build", cmd_templates_build,
	 "-f DOCKERFILE -t NAME [--cpu N] [--memory MB] [--no-cache] [--json] [CONTEXT_DIR]\n"
	 "       wrenn templates build [--from TEMPLATE] [--vcpus N] [--memory MB] NAME",
	 "build a template from a Dockerfile (or re-snapshot one at another size)",
	 "  -f, --file PATH       the Dockerfile (may be outside CONTEXT_DIR, default .)\n"
	 "  -t, --tag NAME        the template's name\n"
	 "  --cpu N, --memory MB  size of the template's sandboxes\n"
	 "  --no-cache            rebuild every step\n"
	 "  --json                print only the final build status\n"
	 "build logs are followed until the build ends (exit 0 ready, 1 error); Ctrl-C stops\n"
	 "following, the build continues on the server\n",
	 "f:t:", opts_tpl_build, NULL, CLI_ARG_FILE},
	{NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, CLI_ARG_NONE},
};
static const struct cli_cmd subs_keys[] = {
	{"keys ls", cmd_keys_ls, "[--json]", "list API keys", NULL, "", opts_json, NULL,
	 CLI_ARG_NONE},
	{"keys create", cmd_keys_create, "[--team TEAM] [--json] [NAME]",
	 "create an API key and print it",
	 "  --team TEAM   the key's team (created if new): it sees and controls only its\n"
	 "                team's sandboxes; without it the key is an operator key\n",
	 "", opts_key_create, NULL, CLI_ARG_OTHER},
	{"keys rm", cmd_keys_rm, "ID", "delete an API key", NULL, "", NULL, NULL, CLI_ARG_OTHER},
	{NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, CLI_ARG_NONE},
};
static const struct cli_cmd subs_teams[] = {
	{"teams ls", cmd_teams_ls, "[--json]", "list teams (operator key)", NULL, "", opts_json,
	 NULL, CLI_ARG_NONE},
	{NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, CLI_ARG_NONE},
};
static const struct cli_cmd subs_hosts[] = {
	{"hosts ls", cmd_hosts_ls, "[--json]", "list hosts (control plane, admin key)", NULL, "",
	 opts_json, NULL, CLI_ARG_NONE},
	{"hosts add", cmd_hosts_add, "[--json] NAME",
	 "register a host and print its credential (shown once)", NULL, "", opts_json, NULL,
	 CLI_ARG_OTHER},
	{"hosts drain", cmd_hosts_drain, "[--json] ID", "no new sandboxes on a host", NULL, "",
	 opts_json, NULL, CLI_ARG_OTHER},
	{"hosts rm", cmd_hosts_rm, "ID", "remove a host", NULL, "", NULL, NULL, CLI_ARG_OTHER},
	{NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, CLI_ARG_NONE},
};
static const struct cli_cmd subs_snapshot[] = {
	{"snapshot create", cmd_snapshot_create, "[--name N] [--json] ID", "snapshot a sandbox",
	 NULL, "", opts_snap_create, NULL, CLI_ARG_SANDBOX},
	{"snapshot ls", cmd_snapshot_ls, "[--sandbox ID] [--json]", "list snapshots", NULL, "",
	 opts_snap_ls, NULL, CLI_ARG_NONE},
	{"snapshot rm", cmd_snapshot_rm, "SNAPSHOT", "delete a snapshot", NULL, "", NULL, NULL,
	 CLI_ARG_OTHER},
	{NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, CLI_ARG_NONE},
};

static const struct option opts_vol_create[] = {
	{"size", required_argument, NULL, OPT_SIZE}, O_JSON, OPT_END};
static const struct cli_cmd subs_volumes[] = {
	{"volumes ls", cmd_volumes_ls, "[--json]", "list volumes", NULL, "", opts_json, NULL,
	 CLI_ARG_NONE},
	{"volumes create", cmd_volumes_create, "[--size SIZE] [--json] NAME",
	 "create a persistent volume and print its ID",
	 "  --size SIZE   e.g. 512M, 10G (default: the agent's volume_default_size_mb); the\n"
	 "                image is sparse: only what is written takes space\n",
	 "", opts_vol_create, NULL, CLI_ARG_OTHER},
	{"volumes rm", cmd_volumes_rm, "NAME-OR-ID",
	 "delete a volume (not while a sandbox uses it)", NULL, "", NULL, NULL, CLI_ARG_OTHER},
	{NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, CLI_ARG_NONE},
};
static int cmd_volumes(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	return cli_run_sub(c, cmd, argc, argv, "ls");
}

static int cmd_templates(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	return cli_run_sub(c, cmd, argc, argv, "ls");
}
static int cmd_keys(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	return cli_run_sub(c, cmd, argc, argv, "ls");
}
static int cmd_teams(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	return cli_run_sub(c, cmd, argc, argv, "ls");
}
static int cmd_hosts(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	return cli_run_sub(c, cmd, argc, argv, "ls");
}
static int cmd_snapshot(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	return cli_run_sub(c, cmd, argc, argv, "ls");
}

const struct cli_cmd cli_cmds[] = {
	{"run", cmd_run, "[-t TEMPLATE] [options] CMD [ARG...]",
	 "create a sandbox, run a command in it, destroy it", SANDBOX_OPTS RUN_OPTS,
	 "t:e:m:w:u:", opts_run, NULL, CLI_ARG_OTHER},
	{"create", cmd_create, "[-t TEMPLATE] [options]", "create a sandbox and print its ID",
	 SANDBOX_OPTS, "t:e:m:", opts_create, NULL, CLI_ARG_NONE},
	{"ls", cmd_ls, "[-a|--all] [--state S,...] [-t TEMPLATE] [-m KEY=VALUE]... [--json]",
	 "list sandboxes", NULL, "as:t:m:", opts_ls, NULL, CLI_ARG_NONE},
	{"info", cmd_info, "[--json] ID", "show one sandbox", NULL, "", opts_json, NULL,
	 CLI_ARG_SANDBOX},
	{"exec", cmd_exec, "[-e K=V] [-w DIR] [-u USER] [-i] [--timeout S] ID CMD [ARG...]",
	 "run a command in a sandbox (output streamed; exit code is the command's)",
	 "options stop at ID: what follows is the command and its own options\n"
	 "  -i, --stdin   send all of stdin to the command\n"
	 "  --timeout S   kill the command after S seconds\n" EXIT_CODES,
	 "e:w:u:i", opts_exec, NULL, CLI_ARG_COMMAND},
	{"shell", cmd_shell, "[-u USER] [-w DIR] [-e K=V]... [-c CMD] ID",
	 "interactive terminal in a sandbox",
	 "  -u, --user USER       log in as USER\n"
	 "  -w, --cwd DIR         start in DIR\n"
	 "  -e, --env KEY=VALUE   environment of the shell (repeatable)\n"
	 "  -c, --command CMD     run CMD instead of a login shell\n",
	 "u:w:e:c:", opts_shell, NULL, CLI_ARG_SANDBOX},
	{"cp", cmd_cp, "SRC DST   (one of them ID:/path; - is stdin/stdout)",
	 "copy a file between host and sandbox", NULL, "", NULL, NULL, CLI_ARG_FILE},
	{"pause", cmd_pause, "ID...", "pause sandboxes (memory snapshot, VMM stopped)", NULL, "",
	 NULL, NULL, CLI_ARG_SANDBOX},
	{"resume", cmd_resume, "[--timeout SECONDS] ID...", "resume paused sandboxes", NULL, "",
	 opts_timeout, NULL, CLI_ARG_SANDBOX},
	{"kill", cmd_kill, "ID...", "destroy sandboxes", NULL, "", NULL, NULL, CLI_ARG_SANDBOX},
	{"timeout", cmd_timeout, "ID SECONDS", "set a sandbox's time to live (0 = none)", NULL, "",
	 NULL, NULL, CLI_ARG_SANDBOX},
	{"logs", cmd_logs, "[-f] [--tail BYTES] ID", "print the VMM / serial console log",
	 "  -f, --follow       keep printing new output until the sandbox ends or Ctrl-C\n"
	 "  --tail BYTES       start with the last BYTES bytes\n",
	 "f", opts_logs, NULL, CLI_ARG_SANDBOX},
	{"metrics", cmd_metrics, "[--start T] [--end T] [--json] ID",
	 "CPU, memory and disk of a sandbox (a point every 5 s, kept 24 h after it ends)",
	 "  --start T   from T on (unix seconds or RFC 3339)\n"
	 "  --end T     up to T\n",
	 "", opts_metrics, NULL, CLI_ARG_SANDBOX},
	{"templates", cmd_templates, "[ls | build ...]", "list or build templates", NULL, "",
	 opts_json, subs_templates, CLI_ARG_NONE},
	{"keys", cmd_keys, "[ls | create [--team TEAM] [NAME] | rm ID]", "manage API keys", NULL,
	 "", opts_json, subs_keys, CLI_ARG_NONE},
	{"teams", cmd_teams, "[ls]", "teams and their keys and sandboxes", NULL, "", opts_json,
	 subs_teams, CLI_ARG_NONE},
	{"snapshot", cmd_snapshot, "[ls [--sandbox ID] | create [--name N] ID | rm SNAPSHOT]",
	 "snapshots of sandboxes", NULL, "", opts_json, subs_snapshot, CLI_ARG_NONE},
	{"volumes", cmd_volumes, "[ls | create [--size SIZE] NAME | rm NAME]",
	 "persistent volumes (mounted into sandboxes with E2B volumeMounts)", NULL, "", opts_json,
	 subs_volumes, CLI_ARG_NONE},
	{"hosts", cmd_hosts, "[ls | add NAME | drain ID | rm ID]",
	 "hosts of a control plane (several hosts)", NULL, "", opts_json, subs_hosts, CLI_ARG_NONE},
	{"events", cmd_events, "[--sandbox ID] [--host ID] [--kind KIND] [-n N] [--json]",
	 "what changed and why: sandboxes, placements, hosts (newest N, oldest first)",
	 "  --sandbox ID   one sandbox's events\n"
	 "  --host ID      one host's (control plane)\n"
	 "  --kind KIND    one kind (created, killed, placed, host_lost, ...)\n"
	 "  -n, --limit N  the newest N events (1..1000, default 100)\n",
	 "n:", opts_events, NULL, CLI_ARG_NONE},
	{"completion", cmd_completion, "bash | zsh",
	 "print a shell completion script (e.g. source <(wrenn completion bash))", NULL, "", NULL,
	 NULL, CLI_ARG_OTHER},
	{"version", cmd_version, "", "print the version of wrenn", NULL, "", NULL, NULL,
	 CLI_ARG_NONE},
	{NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, CLI_ARG_NONE},
};

const struct cli_cmd cli_root = {
	"wrenn",     NULL,     "[--api-url URL] [--api-key KEY] [--json] [-q] COMMAND [ARGS]",
	NULL,	     NULL,     "q",
	opts_global, cli_cmds, CLI_ARG_NONE,
};

const struct cli_cmd *cli_find(const char *name)
{
	for (const struct cli_cmd *c = cli_cmds; name && c->name; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

const struct cli_cmd *cli_find_sub(const struct cli_cmd *cmd, const char *name)
{
	for (const struct cli_cmd *c = cmd->subs; c && name && c->name; c++) {
		const char *w = strrchr(c->name, ' ');
		if (strcmp(w ? w + 1 : c->name, name) == 0)
			return c;
	}
	return NULL;
}

int cli_help(const struct cli_cmd *cmd)
{
	printf("usage: wrenn %s %s\n  %s\n%s", cmd->name, cmd->args, cmd->summary,
	       cmd->options ? cmd->options : "");
	for (const struct cli_cmd *s = cmd->subs; s && s->name; s++)
		printf("  wrenn %s %s\n      %s\n", s->name, s->args, s->summary);
	return CLI_EXIT_OK;
}

#define CLI_MAX_LONGOPTS 24

int cli_getopt(const struct cli_cmd *cmd, int argc, char **argv, int *ret_rc)
{
	char shortopts[64];
	struct option longopts[CLI_MAX_LONGOPTS];
	size_t n = 0;
	snprintf(shortopts, sizeof(shortopts), "+:h%s", cmd->shortopts ? cmd->shortopts : "");
	for (const struct option *o = cmd->longopts; o && o->name && n < CLI_MAX_LONGOPTS - 2; o++)
		longopts[n++] = *o;
	longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
	longopts[n] = (struct option){NULL, 0, NULL, 0};
	opterr = 0;
	int o = getopt_long(argc, argv, shortopts, longopts, NULL);
	if (o == 'h') {
		*ret_rc = cmd == &cli_root ? CLI_EXIT_OK : cli_help(cmd);
		return CLI_OPT_EXIT;
	}
	if (o == '?' || o == ':') {
		/* optopt is the short option, or the value of a long one (0 when unknown); a
		 * short one may sit in a cluster ("-iZ"), so name it alone */
		const char *what = argv[optind - 1];
		char s[3] = {'-', (char)optopt, '\0'};
		if (optopt > 0 && optopt < 0x100 && strncmp(what, "--", 2) != 0)
			what = s;
		*ret_rc = cli_usage(cmd == &cli_root ? NULL : cmd,
				    o == ':' ? "option '%s' needs a value" : "unknown option '%s'",
				    what);
		return CLI_OPT_EXIT;
	}
	return o;
}

int cli_run_sub(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv, const char *def)
{
	int o, rc = CLI_EXIT_OK;
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, &rc)) >= 0)
		if (o == OPT_JSON)
			c->json = true;
	if (o == CLI_OPT_EXIT)
		return rc;
	char *defv[] = {(char *)def, NULL};
	const char *name = optind < argc ? argv[optind] : def;
	const struct cli_cmd *sub = cli_find_sub(cmd, name);
	if (!sub)
		return cli_usage(cmd, "unknown subcommand '%s'", name);
	if (optind < argc)
		return sub->run(c, sub, argc - optind, argv + optind);
	return sub->run(c, sub, 1, defv);
}

int cmd_version(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	(void)c;
	int o, rc = CLI_EXIT_OK;
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, &rc)) >= 0)
		;
	if (o == CLI_OPT_EXIT)
		return rc;
	if (optind < argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	printf("wrenn " CLI_VERSION "\n");
	return CLI_EXIT_OK;
}

static void print_help(FILE *f)
{
	fprintf(f, "usage: wrenn %s\n\ncommands:\n", cli_root.args);
	for (const struct cli_cmd *c = cli_cmds; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f, "\nglobal options: --api-url URL, --api-key KEY, --json, -q/--quiet, --version\n"
		   "environment: WRENN_API_URL (default " DEFAULT_API_URL ", or unix:/path.sock),\n"
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

int cli_parse_globals(struct cli *c, int argc, char **argv, struct wr_err *err)
{
	int o, rc = CLI_EXIT_OK;
	optind = 0;
	while ((o = cli_getopt(&cli_root, argc, argv, &rc)) >= 0) {
		switch (o) {
		case OPT_API_URL:
			free(c->api_url);
			c->api_url = xstrdup(optarg);
			break;
		case OPT_API_KEY:
			free(c->api_key);
			c->api_key = xstrdup(optarg);
			break;
		case OPT_JSON:
			c->json = true;
			break;
		case 'q':
			c->quiet = true;
			break;
		case OPT_VERSION:
			c->version = true;
			break;
		default:
			break;
		}
	}
	if (o == CLI_OPT_EXIT && rc == CLI_EXIT_OK)
		return argc; /* -h: no command, help */
	if (o == CLI_OPT_EXIT)
		return wr_err_set(err, EINVAL, "bad global option (see above)");
	return optind;
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
		rc = CLI_EXIT_USAGE; /* cli_getopt printed the usage */
		goto out;
	}
	if (c.version) {
		printf("wrenn " CLI_VERSION "\n");
		rc = CLI_EXIT_OK;
		goto out;
	}
	if (i >= argc || strcmp(argv[i], "help") == 0) {
		/* `wrenn` alone: help on stderr, usage error; `wrenn -h`, `wrenn help`: stdout */
		bool asked = argc > 1;
		if (asked && i < argc && i + 1 < argc && cli_find(argv[i + 1])) {
			rc = cli_help(cli_find(argv[i + 1]));
			goto out;
		}
		print_help(asked ? stdout : stderr);
		rc = asked ? CLI_EXIT_OK : CLI_EXIT_USAGE;
		goto out;
	}
	const struct cli_cmd *cmd = cli_find(argv[i]);
	if (!cmd) {
		rc = cli_usage(NULL, "unknown command '%s'", argv[i]);
		goto out;
	}
	rc = cmd->run(&c, cmd, argc - i, argv + i);
out:
	cli_done(&c);
	return rc;
}
