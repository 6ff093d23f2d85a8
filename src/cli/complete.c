/* SPDX-License-Identifier: MIT */
/* `wrenn completion bash|zsh`: a completion script generated from the command table, so options
 * and commands are completed from the same tables the parser uses.  The script follows the
 * parser's rule: options only before the first operand, no options after `--`. */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* `case` arm of _wrenn_spec for one (sub)command: options, options taking a value, subcommands,
 * operand kind */
static void spec_arm(FILE *f, const char *key, const struct cli_cmd *cmd)
{
	static const char *const kinds[] = {
		[CLI_ARG_NONE] = "none",   [CLI_ARG_SANDBOX] = "sandbox",
		[CLI_ARG_FILE] = "file",   [CLI_ARG_COMMAND] = "command",
		[CLI_ARG_OTHER] = "other",
	};
	fprintf(f, "\t'%s') _o='-h --help", key);
	for (const struct option *o = cmd->longopts; o && o->name; o++)
		fprintf(f, " --%s", o->name);
	for (const char *s = cmd->shortopts; s && *s; s++)
		if (*s != ':')
			fprintf(f, " -%c", *s);
	fprintf(f, "'; _a='");
	const char *sep = "";
	for (const struct option *o = cmd->longopts; o && o->name; o++)
		if (o->has_arg == required_argument) {
			fprintf(f, "%s--%s", sep, o->name);
			sep = " ";
		}
	for (const char *s = cmd->shortopts; s && *s; s++)
		if (s[1] == ':' && *s != ':') {
			fprintf(f, "%s-%c", sep, *s);
			sep = " ";
		}
	fprintf(f, "'; _s='");
	sep = "";
	for (const struct cli_cmd *s = cmd->subs; s && s->name; s++) {
		const char *w = strrchr(s->name, ' ');
		fprintf(f, "%s%s", sep, w ? w + 1 : s->name);
		sep = " ";
	}
	if (cmd == &cli_root)
		fprintf(f, "%shelp", sep);
	fprintf(f, "'; _k=%s ;;\n",
		strcmp(cmd->name, "completion") == 0 ? "shell" : kinds[cmd->operands]);
}

/* Shell-neutral part (bash and zsh): the table and the walk over the words before the cursor. */
static void common(FILE *f)
{
	fprintf(f, "_wrenn_spec() { # KEY -> _o options, _a options with a value, _s subcommands, "
		   "_k operands\n\tcase $1 in\n");
	spec_arm(f, "wrenn", &cli_root);
	for (const struct cli_cmd *c = cli_cmds; c->name; c++) {
		spec_arm(f, c->name, c);
		for (const struct cli_cmd *s = c->subs; s && s->name; s++)
			spec_arm(f, s->name, s);
	}
	fprintf(f, "\t*) _o=''; _a=''; _s=''; _k=none ;;\n\tesac\n}\n");
	fputs("_wrenn_walk() { # WORDS before the cursor -> _key, _nop (operands), _end (after --),\n"
	      "\t# _val (the cursor is an option's value)\n"
	      "\t_key=wrenn; _nop=0; _end=0; _val=0\n"
	      "\t_wrenn_spec wrenn\n"
	      "\twhile [ $# -gt 0 ]; do\n"
	      "\t\t_w=$1; shift\n"
	      "\t\tif [ $_end -eq 0 ] && [ $_nop -eq 0 ]; then\n"
	      "\t\t\tcase \" $_a \" in *\" $_w \"*)\n"
	      "\t\t\t\tif [ $# -eq 0 ]; then _val=1; return; fi\n"
	      "\t\t\t\tshift; continue ;;\n"
	      "\t\t\tesac\n"
	      "\t\t\tcase $_w in\n"
	      "\t\t\t--) _end=1; continue ;;\n"
	      "\t\t\t-*) continue ;;\n"
	      "\t\t\tesac\n"
	      "\t\t\tif [ -n \"$_s\" ]; then\n"
	      "\t\t\t\tif [ \"$_key\" = wrenn ]; then _key=$_w; else _key=\"$_key $_w\"; fi\n"
	      "\t\t\t\t_wrenn_spec \"$_key\"; continue\n"
	      "\t\t\tfi\n"
	      "\t\tfi\n"
	      "\t\t_nop=$((_nop + 1))\n"
	      "\tdone\n"
	      "}\n"
	      "_wrenn_action() { # CUR -> 'files', 'ids' or 'words LIST'\n"
	      "\tif [ $_val -eq 1 ]; then echo files; return; fi\n"
	      "\tif [ $_end -eq 0 ] && [ $_nop -eq 0 ]; then\n"
	      "\t\tcase $1 in -*) echo \"words $_o\"; return ;; esac\n"
	      "\t\tif [ -n \"$_s\" ]; then echo \"words $_s\"; return; fi\n"
	      "\tfi\n"
	      "\tcase $_k in\n"
	      "\tsandbox) echo ids ;;\n"
	      "\tcommand) if [ $_nop -eq 0 ]; then echo ids; else echo files; fi ;;\n"
	      "\tfile) echo files ;;\n"
	      "\tshell) echo 'words bash zsh' ;;\n"
	      "\t*) echo words ;;\n"
	      "\tesac\n"
	      "}\n"
	      "_wrenn_ids() { command wrenn -q ls 2>/dev/null | awk 'NR > 1 { print $1 }'; }\n",
	      f);
}

int cli_completion(FILE *f, const char *shell, struct wr_err *err)
{
	bool bash = strcmp(shell, "bash") == 0, zsh = strcmp(shell, "zsh") == 0;
	if (!bash && !zsh)
		return wr_err_set(err, EINVAL, "no completion for shell '%s' (bash or zsh)", shell);
	if (zsh)
		fputs("#compdef wrenn\n", f);
	fprintf(f,
		"# %s completion for wrenn " CLI_VERSION
		", generated from its command table by `wrenn completion %s`\n",
		shell, shell);
	common(f);
	if (bash) {
		fputs("_wrenn() {\n"
		      "\tlocal cur=${COMP_WORDS[COMP_CWORD]} _key _nop _end _val _o _a _s _k _w act\n"
		      "\t_wrenn_walk \"${COMP_WORDS[@]:1:COMP_CWORD-1}\"\n"
		      "\tact=$(_wrenn_action \"$cur\")\n"
		      "\tcase $act in\n"
		      "\tfiles) COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n"
		      "\tids) COMPREPLY=($(compgen -W \"$(_wrenn_ids)\" -- \"$cur\")) ;;\n"
		      "\t*) COMPREPLY=($(compgen -W \"${act#words}\" -- \"$cur\")) ;;\n"
		      "\tesac\n"
		      "}\n"
		      "complete -F _wrenn wrenn\n",
		      f);
	} else {
		fputs("_wrenn() {\n"
		      "\tlocal cur=${words[CURRENT]} _key _nop _end _val _o _a _s _k _w act\n"
		      "\t_wrenn_walk \"${(@)words[2,CURRENT-1]}\"\n"
		      "\tact=$(_wrenn_action \"$cur\")\n"
		      "\tcase $act in\n"
		      "\tfiles) _files ;;\n"
		      "\tids) compadd -- $(_wrenn_ids) ;;\n"
		      "\t*) compadd -- ${=act#words} ;;\n"
		      "\tesac\n"
		      "}\n"
		      "compdef _wrenn wrenn\n",
		      f);
	}
	return 0;
}

int cmd_completion(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	(void)c;
	int o, rc = CLI_EXIT_OK;
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, &rc)) >= 0)
		;
	if (o == CLI_OPT_EXIT)
		return rc;
	if (argc - optind != 1)
		return cli_usage(cmd, "name one shell: bash or zsh");
	struct wr_err err = {0};
	if (cli_completion(stdout, argv[optind], &err) < 0)
		return cli_usage(cmd, "%s", wr_err_msg(&err));
	return CLI_EXIT_OK;
}
