/* SPDX-License-Identifier: MIT */
/*
 * Dockerfile -> E2B v2 build request (the JSON the npm SDK's Template sends).
 *
 * Reading follows the Dockerfile reference: parser directives (only at the top), comments,
 * line continuations with the escape character, instruction keywords case-insensitive, shell-word
 * processing (quotes, escapes, $VAR / ${VAR} / ${VAR:-w} / ${VAR:+w}) in the instructions
 * Docker substitutes (FROM, COPY, ADD, ENV, ARG, WORKDIR, USER, EXPOSE, LABEL), never in RUN,
 * CMD or ENTRYPOINT (the shell does it there).
 *
 * Like the SDK's own Template.fromDockerfile, the steps start with USER root and WORKDIR / (Docker's
 * defaults for build steps) and end with USER user / WORKDIR /home/user when the file set none (E2B's
 * defaults for the sandbox). ARG values in scope reach RUN steps as exported shell variables, as in
 * Docker, without persisting into the template's environment.
 */
#include "build/dockerfile.h"
#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growable NUL-terminated string. */
struct sbuf {
	char *s;
	size_t len, cap;
};

static void sb_addn(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_addc(struct sbuf *b, char c)
{
	sb_addn(b, &c, 1);
}

static void sb_adds(struct sbuf *b, const char *s)
{
	sb_addn(b, s, strlen(s));
}

/* The string (never NULL); ownership moves to the caller. */
static char *sb_take(struct sbuf *b)
{
	char *s = b->s ? b->s : xstrdup("");
	*b = (struct sbuf){0};
	return s;
}

struct df {
	char esc;
	unsigned line;		  /* first physical line of the instruction being parsed */
	const json_t *build_args; /* caller's overrides {name: string} */
	json_t *used_build_args;  /* names consumed by an ARG */
	json_t *meta_args;	  /* ARGs before FROM: name -> string or null */
	json_t *args;		  /* ARGs of the stage, in declaration order */
	json_t *env;		  /* ENV of the stage */
	json_t *steps, *notes;
	json_t *from_key, *from_val; /* "fromImage"/"fromTemplate" and the name */
	char *workdir;
	bool user_set, workdir_set;
	json_t *cmd, *entrypoint; /* array (exec form) or string (shell form) */
	struct wr_err *err;
};

static int df_fail(struct df *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int df_fail(struct df *d, const char *fmt, ...)
{
	char msg[WR_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return wr_err_set(d->err, EINVAL, "Dockerfile line %u: %s", d->line, msg);
}

static void df_note(struct df *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void df_note(struct df *d, const char *fmt, ...)
{
	cleanup_free char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	va_end(ap);
	json_array_append_new(d->notes, json_sprintf("Dockerfile line %u: %s", d->line, msg));
}

/* POSIX-shell quoting as the SDK's shellQuote does it: bare when only safe characters. */
static void shell_quote(struct sbuf *b, const char *s)
{
	bool safe = *s != '\0';
	for (const char *p = s; *p && safe; p++)
		safe = isalnum((unsigned char)*p) || strchr("_@%+=:,./-", *p);
	if (safe) {
		sb_adds(b, s);
		return;
	}
	sb_addc(b, '\'');
	for (const char *p = s; *p; p++) {
		if (*p == '\'')
			sb_adds(b, "'\"'\"'");
		else
			sb_addc(b, *p);
	}
	sb_addc(b, '\'');
}

static void shell_join(struct sbuf *b, const json_t *arr)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		if (i > 0)
			sb_addc(b, ' ');
		shell_quote(b, json_string_value(v));
	}
}

/* Value of a variable for substitution: ENV wins over ARG (Docker's rule); NULL when unset. */
static const char *df_lookup(const struct df *d, const char *name, bool meta)
{
	json_t *v;
	if (meta)
		return json_string_value(json_object_get(d->meta_args, name));
	v = json_object_get(d->env, name);
	if (v)
		return json_string_value(v);
	return json_string_value(json_object_get(d->args, name));
}

static bool is_name_start(char c)
{
	return isalpha((unsigned char)c) || c == '_';
}

static bool is_name_char(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/*
 * Shell-word processing of an instruction's arguments. `*pp` points into the text; reads up to the
 * end (keep_space: one word, whitespace kept as in ENV's legacy form) or up to the next unquoted
 * whitespace. subst: expand variables; meta: with the ARGs before FROM only (FROM's scope).
 * Returns 1 and the word, 0 at the end of the text, -EINVAL on a malformed substitution.
 */
static int df_word(struct df *d, const char **pp, bool subst, bool meta, bool keep_space,
		   char **ret)
{
	const char *p = *pp;
	struct sbuf b = {0};
	char quote = 0;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0') {
		*pp = p;
		return 0;
	}
	for (; *p; p++) {
		char c = *p;
		if (!quote && !keep_space && (c == ' ' || c == '\t'))
			break;
		if (quote == '\'') {
			if (c == '\'')
				quote = 0;
			else
				sb_addc(&b, c);
			continue;
		}
		if (c == d->esc) {
			char n = p[1];
			if (n == '\0')
				break;
			if (quote == '"' && n != '"' && n != '$' && n != d->esc) {
				sb_addc(&b, c);
				continue;
			}
			sb_addc(&b, n);
			p++;
			continue;
		}
		if (!quote && (c == '\'' || c == '"')) {
			quote = c;
			continue;
		}
		if (quote == '"' && c == '"') {
			quote = 0;
			continue;
		}
		if (c == '$' && subst && (p[1] == '{' || is_name_start(p[1]))) {
			cleanup_free char *name = NULL;
			const char *val;
			if (p[1] != '{') {
				const char *s = p + 1;
				while (is_name_char(p[1]))
					p++;
				name = xstrndup(s, (size_t)(p + 1 - s));
				val = df_lookup(d, name, meta);
				if (val)
					sb_adds(&b, val);
				continue;
			}
			const char *s = p + 2, *e = s;
			while (is_name_char(*e))
				e++;
			if (e == s || !is_name_start(*s)) {
				free(b.s);
				return df_fail(d, "bad substitution in \"%s\"", *pp);
			}
			name = xstrndup(s, (size_t)(e - s));
			val = df_lookup(d, name, meta);
			if (*e == '}') {
				if (val)
					sb_adds(&b, val);
				p = e;
				continue;
			}
			if (*e == '\0') {
				free(b.s);
				return df_fail(d, "missing '}' in \"%s\"", *pp);
			}
			if (e[0] != ':' || (e[1] != '-' && e[1] != '+')) {
				free(b.s);
				return df_fail(
					d,
					"bad substitution in \"%s\" (supported: ${VAR}, ${VAR:-word}, ${VAR:+word})",
					*pp);
			}
			const char *w = e + 2, *we = strchr(w, '}');
			if (!we) {
				free(b.s);
				return df_fail(d, "missing '}' in \"%s\"", *pp);
			}
			bool set = val && *val;
			if (e[1] == '-')
				sb_addn(&b, set ? val : w, set ? strlen(val) : (size_t)(we - w));
			else if (set)
				sb_addn(&b, w, (size_t)(we - w));
			p = we;
			continue;
		}
		sb_addc(&b, c);
	}
	if (quote) {
		free(b.s);
		return df_fail(d, "unterminated quote in \"%s\"", *pp);
	}
	if (keep_space)
		while (b.len > 0 && (b.s[b.len - 1] == ' ' || b.s[b.len - 1] == '\t'))
			b.s[--b.len] = '\0';
	*pp = p;
	*ret = sb_take(&b);
	return 1;
}

/* All words of `text` into a new array. */
static int df_words(struct df *d, const char *text, bool subst, bool meta, json_t **ret)
{
	cleanup_json json_t *arr = json_array();
	for (;;) {
		cleanup_free char *w = NULL;
		int r = df_word(d, &text, subst, meta, false, &w);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		json_array_append_new(arr, json_string(w));
	}
	*ret = TAKE_PTR(arr);
	return 0;
}

/* JSON exec form ["a", "b"]: an array of strings, or NULL (shell form). */
static json_t *exec_form(const char *rest)
{
	json_t *e;
	size_t i;
	if (*rest != '[')
		return NULL;
	cleanup_json json_t *v = json_loads(rest, JSON_DECODE_ANY, NULL);
	if (!json_is_array(v))
		return NULL;
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e))
			return NULL;
	}
	return TAKE_PTR(v);
}

static void add_step(struct df *d, const char *type, json_t *args)
{
	json_array_append_new(d->steps,
			      json_pack("{s:s, s:o, s:b}", "type", type, "args", args, "force", 0));
}

static bool has_heredoc(const char *rest)
{
	for (const char *p = strstr(rest, "<<"); p; p = strstr(p + 2, "<<")) {
		const char *q = p + 2;
		if (p != rest && p[-1] != ' ' && p[-1] != '\t')
			continue;
		if (*q == '-')
			q++;
		if (*q == '"' || *q == '\'')
			q++;
		if (is_name_start(*q))
			return true;
	}
	return false;
}

/* "--name=value" flags at the start of `*pp` (after substitution); stops at the first non-flag. */
static int next_flag(struct df *d, const char **pp, char **ret_name, char **ret_value)
{
	const char *p = *pp;
	cleanup_free char *w = NULL;
	while (*p == ' ' || *p == '\t')
		p++;
	if (strncmp(p, "--", 2) != 0)
		return 0;
	int r = df_word(d, &p, true, false, false, &w);
	if (r <= 0)
		return r;
	char *eq = strchr(w, '=');
	*ret_name = xstrndup(w + 2, eq ? (size_t)(eq - w - 2) : strlen(w + 2));
	*ret_value = eq ? xstrdup(eq + 1) : NULL;
	*pp = p;
	return 1;
}

static int do_from(struct df *d, const char *rest)
{
	cleanup_json json_t *words = NULL;
	const char *p = rest;
	int r;

	if (d->from_key)
		return df_fail(d, "multi-stage builds are not supported (a second FROM)");
	for (;;) {
		cleanup_free char *name = NULL, *value = NULL;
		r = next_flag(d, &p, &name, &value);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		if (strcmp(name, "platform") == 0 && value && strcmp(value, "linux/amd64") == 0)
			continue;
		return df_fail(d, "FROM --%s%s%s is not supported", name, value ? "=" : "",
			       value ? value : "");
	}
	r = df_words(d, p, true, true, &words);
	if (r < 0)
		return r;
	size_t n = json_array_size(words);
	if (n != 1 &&
	    !(n == 3 && strcasecmp(json_string_value(json_array_get(words, 1)), "AS") == 0))
		return df_fail(d, "FROM takes an image or template name and an optional AS name");
	const char *ref = json_string_value(json_array_get(words, 0));
	if (*ref == '\0')
		return df_fail(d, "FROM names no image (empty after substitution)");
	if (strcmp(ref, "scratch") == 0)
		return df_fail(
			d,
			"FROM scratch is not supported: a template needs a base image or template");
	d->from_key = json_string(strpbrk(ref, ":/@") ? "fromImage" : "fromTemplate");
	d->from_val = json_string(ref);
	return 0;
}

static int do_arg(struct df *d, const char *rest)
{
	const char *p = rest;
	json_t *scope = d->from_key ? d->args : d->meta_args;
	bool any = false;
	for (;;) {
		cleanup_free char *w = NULL;
		/* The default is substituted; the name part has no '$' worth expanding. */
		int r = df_word(d, &p, true, !d->from_key, false, &w);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		any = true;
		char *eq = strchr(w, '=');
		if (eq)
			*eq = '\0';
		const char *name = w;
		if (!is_name_start(*name))
			return df_fail(d, "ARG: invalid name \"%s\"", name);
		for (const char *c = name; *c; c++)
			if (!is_name_char(*c))
				return df_fail(d, "ARG: invalid name \"%s\"", name);
		json_t *over = json_object_get(d->build_args, name);
		json_t *val;
		if (over) {
			val = json_incref(over);
			json_object_set_new(d->used_build_args, name, json_true());
		} else if (eq) {
			val = json_string(eq + 1);
		} else if (d->from_key && json_string_value(json_object_get(d->meta_args, name))) {
			/* Docker: a bare ARG after FROM takes the value of the global ARG. */
			val = json_incref(json_object_get(d->meta_args, name));
		} else {
			val = json_null();
		}
		json_object_set_new(scope, name, val);
	}
	if (!any)
		return df_fail(d, "ARG needs a name");
	return 0;
}

static int do_env(struct df *d, const char *rest)
{
	cleanup_json json_t *args = json_array(), *pairs = json_object();
	const char *p = rest;
	cleanup_free char *first = NULL;
	int r;

	/* Legacy form "ENV KEY value with spaces": the first word has no '='. */
	const char *q = rest;
	while (*q == ' ' || *q == '\t')
		q++;
	size_t klen = strcspn(q, " \t=");
	if (klen > 0 && q[klen] != '=') {
		cleanup_free char *value = NULL;
		first = xstrndup(q, klen);
		p = q + klen;
		r = df_word(d, &p, true, false, true, &value);
		if (r < 0)
			return r;
		if (r == 0)
			return df_fail(d, "ENV %s needs a value", first);
		json_array_append_new(args, json_string(first));
		json_array_append_new(args, json_string(value));
		json_object_set_new(pairs, first, json_string(value));
	} else {
		for (;;) {
			cleanup_free char *w = NULL;
			r = df_word(d, &p, true, false, false, &w);
			if (r < 0)
				return r;
			if (r == 0)
				break;
			char *eq = strchr(w, '=');
			if (!eq || eq == w)
				return df_fail(d, "ENV: expected KEY=VALUE, got \"%s\"", w);
			*eq = '\0';
			json_array_append_new(args, json_string(w));
			json_array_append_new(args, json_string(eq + 1));
			json_object_set_new(pairs, w, json_string(eq + 1));
		}
		if (json_array_size(args) == 0)
			return df_fail(d, "ENV needs KEY=VALUE");
	}
	json_object_update(d->env, pairs);
	add_step(d, "ENV", TAKE_PTR(args));
	return 0;
}

static int do_run(struct df *d, const char *rest)
{
	struct sbuf b = {0};
	const char *k;
	json_t *v;

	if (strncmp(rest, "--", 2) == 0) {
		size_t n = strcspn(rest, " \t=");
		return df_fail(d, "RUN %.*s is not supported", (int)n, rest);
	}
	if (has_heredoc(rest))
		return df_fail(d, "heredocs (<<EOF) are not supported");
	if (*rest == '\0')
		return df_fail(d, "RUN needs a command");
	/* ARG values reach the command's environment (Docker's rule), unless an ENV shadows them. */
	json_object_foreach(d->args, k, v)
	{
		if (!json_is_string(v) || json_object_get(d->env, k))
			continue;
		sb_adds(&b, b.len ? " " : "export ");
		sb_adds(&b, k);
		sb_addc(&b, '=');
		shell_quote(&b, json_string_value(v));
	}
	if (b.len)
		sb_adds(&b, "; ");
	cleanup_json json_t *exec = exec_form(rest);
	if (exec) {
		if (json_array_size(exec) == 0) {
			free(b.s);
			return df_fail(d, "RUN needs a command");
		}
		shell_join(&b, exec);
	} else {
		sb_adds(&b, rest);
	}
	cleanup_free char *cmd = sb_take(&b);
	add_step(d, "RUN", json_pack("[s]", cmd));
	return 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* A context-relative source: leading '/' dropped (Docker's rule), no escape with "..". */
static int copy_source(struct df *d, const char *src, char **ret)
{
	while (*src == '/')
		src++;
	if (*src == '\0')
		return df_fail(d,
			       "COPY source \"/\" is the whole context: name a directory or \".\"");
	int depth = 0;
	for (const char *c = src; *c;) {
		size_t n = strcspn(c, "/");
		if (n == 2 && strncmp(c, "..", 2) == 0)
			depth--;
		else if (n > 0 && !(n == 1 && *c == '.'))
			depth++;
		if (depth < 0)
			return df_fail(d, "COPY source \"%s\" is outside the build context", src);
		c += n;
		while (*c == '/')
			c++;
	}
	*ret = xstrdup(src);
	return 0;
}

static int do_copy(struct df *d, const char *keyword, const char *rest)
{
	cleanup_free char *chown = NULL, *mode = NULL;
	cleanup_json json_t *words = NULL;
	const char *p = rest;
	bool add = strcmp(keyword, "ADD") == 0;
	int r;

	if (has_heredoc(rest))
		return df_fail(d, "heredocs (<<EOF) are not supported");
	for (;;) {
		cleanup_free char *name = NULL, *value = NULL;
		r = next_flag(d, &p, &name, &value);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		if ((strcmp(name, "chown") == 0 || strcmp(name, "chmod") == 0) &&
		    (!value || !*value))
			return df_fail(d, "%s --%s needs a value", keyword, name);
		if (strcmp(name, "chown") == 0) {
			free(chown);
			chown = TAKE_PTR(value);
		} else if (strcmp(name, "chmod") == 0) {
			char *end;
			unsigned long m = strtoul(value, &end, 8);
			if (*value == '\0' || *end || m > 07777)
				return df_fail(d, "%s --chmod=%s: only octal modes are supported",
					       keyword, value);
			free(mode);
			mode = xasprintf("%04lo", m);
		} else if (strcmp(name, "from") == 0) {
			return df_fail(
				d,
				"%s --from is not supported (multi-stage builds are not supported)",
				keyword);
		} else {
			return df_fail(d, "%s --%s is not supported", keyword, name);
		}
	}
	while (*p == ' ' || *p == '\t')
		p++;
	words = exec_form(p);
	if (words) {
		/* JSON form: no word splitting, but Docker still substitutes variables. */
		size_t i;
		json_t *w;
		json_array_foreach(words, i, w)
		{
			cleanup_free char *out = NULL;
			const char *qp = json_string_value(w);
			r = df_word(d, &qp, true, false, true, &out);
			if (r < 0)
				return r;
			json_array_set_new(words, i, json_string(r ? out : ""));
		}
	} else {
		r = df_words(d, p, true, false, &words);
		if (r < 0)
			return r;
	}
	size_t n = json_array_size(words);
	if (n < 2)
		return df_fail(d, "%s needs at least one source and a destination", keyword);
	const char *dest = json_string_value(json_array_get(words, n - 1));
	if (*dest == '\0')
		return df_fail(d, "%s destination is empty", keyword);
	cleanup_free char *dest_abs = NULL;
	if (dest[0] != '/') {
		/* Relative to the WORKDIR at this point, as in Docker; "." and "./" name it. */
		size_t wl = strlen(d->workdir);
		while (dest[0] == '.' && dest[1] == '/')
			dest += 2;
		if (strcmp(dest, ".") == 0)
			dest = "";
		dest_abs = xasprintf("%s%s%s", d->workdir,
				     wl && d->workdir[wl - 1] == '/' ? "" : "/", dest);
		dest = dest_abs;
	}
	for (size_t i = 0; i + 1 < n; i++) {
		const char *src = json_string_value(json_array_get(words, i));
		cleanup_free char *rel = NULL;
		if (strstr(src, "://") || strncmp(src, "git@", 4) == 0)
			return df_fail(
				d, "%s of a URL (%s) is not supported: download it in a RUN step",
				keyword, src);
		if (add &&
		    (has_suffix(src, ".tar") || has_suffix(src, ".tar.gz") ||
		     has_suffix(src, ".tgz") || has_suffix(src, ".tar.bz2") ||
		     has_suffix(src, ".tbz2") || has_suffix(src, ".tar.xz") ||
		     has_suffix(src, ".txz") || has_suffix(src, ".tar.zst") ||
		     has_suffix(src, ".gz") || has_suffix(src, ".bz2") || has_suffix(src, ".xz")))
			return df_fail(
				d,
				"ADD of a local archive (%s) is not supported (Docker would extract it): use COPY and RUN tar",
				src);
		r = copy_source(d, src, &rel);
		if (r < 0)
			return r;
		add_step(
			d, "COPY",
			json_pack("[s, s, s, s]", rel, dest, chown ? chown : "", mode ? mode : ""));
	}
	return 0;
}

static int do_workdir(struct df *d, const char *rest)
{
	cleanup_free char *w = NULL;
	const char *p = rest;
	int r = df_word(d, &p, true, false, true, &w);
	if (r < 0)
		return r;
	if (r == 0 || *w == '\0')
		return df_fail(d, "WORKDIR needs a path");
	char *path;
	if (w[0] == '/') {
		path = xstrdup(w);
	} else {
		size_t wl = strlen(d->workdir);
		path = xasprintf("%s%s%s", d->workdir, wl && d->workdir[wl - 1] == '/' ? "" : "/",
				 w);
	}
	free(d->workdir);
	d->workdir = path;
	d->workdir_set = true;
	add_step(d, "WORKDIR", json_pack("[s]", path));
	return 0;
}

static int do_user(struct df *d, const char *rest)
{
	cleanup_json json_t *words = NULL;
	int r = df_words(d, rest, true, false, &words);
	if (r < 0)
		return r;
	if (json_array_size(words) != 1 || *json_string_value(json_array_get(words, 0)) == '\0')
		return df_fail(d, "USER takes one user[:group]");
	d->user_set = true;
	add_step(d, "USER", json_pack("[O]", json_array_get(words, 0)));
	return 0;
}

static int do_cmd(struct df *d, const char *keyword, const char *rest)
{
	json_t **slot = strcmp(keyword, "CMD") == 0 ? &d->cmd : &d->entrypoint;
	json_t *v = exec_form(rest);
	if (!v) {
		if (*rest == '\0')
			return df_fail(d, "%s needs a command", keyword);
		v = json_string(rest);
	}
	cleanup_json json_t *prev = *slot; /* a later CMD/ENTRYPOINT replaces an earlier one */
	*slot = v;
	return 0;
}

static int do_expose_label(struct df *d, const char *keyword, const char *rest)
{
	cleanup_json json_t *words = NULL;
	int r = df_words(d, rest, true, false, &words);
	if (r < 0)
		return r;
	if (json_array_size(words) == 0)
		return df_fail(d, "%s needs an argument", keyword);
	struct sbuf b = {0};
	shell_join(&b, words);
	cleanup_free char *text = sb_take(&b);
	if (strcmp(keyword, "EXPOSE") == 0)
		df_note(d,
			"EXPOSE %s noted: ports are not published, every sandbox port is reachable through the proxy",
			text);
	else
		df_note(d, "LABEL %s noted: labels are not stored in the template", text);
	return 0;
}

/* The start command as one shell command line, combined as Docker combines CMD and ENTRYPOINT. */
static char *start_cmd(const struct df *d)
{
	struct sbuf b = {0};
	if (json_is_string(d->entrypoint))
		return xstrdup(json_string_value(d->entrypoint));
	if (json_is_array(d->entrypoint)) {
		shell_join(&b, d->entrypoint);
		if (json_is_array(d->cmd) && json_array_size(d->cmd) > 0) {
			sb_addc(&b, ' ');
			shell_join(&b, d->cmd);
		} else if (json_is_string(d->cmd)) {
			sb_adds(&b, " /bin/sh -c ");
			shell_quote(&b, json_string_value(d->cmd));
		}
		return b.len ? sb_take(&b) : NULL;
	}
	if (json_is_string(d->cmd))
		return xstrdup(json_string_value(d->cmd));
	if (json_is_array(d->cmd) && json_array_size(d->cmd) > 0) {
		shell_join(&b, d->cmd);
		return sb_take(&b);
	}
	return NULL;
}

static int df_instruction(struct df *d, char *text)
{
	char *p = text;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t klen = strcspn(p, " \t");
	cleanup_free char *kw = xstrndup(p, klen);
	for (char *c = kw; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	char *rest = p + klen;
	while (*rest == ' ' || *rest == '\t')
		rest++;
	size_t rl = strlen(rest);
	while (rl > 0 && (rest[rl - 1] == ' ' || rest[rl - 1] == '\t'))
		rest[--rl] = '\0';

	if (strcmp(kw, "FROM") == 0)
		return do_from(d, rest);
	if (strcmp(kw, "ARG") == 0)
		return do_arg(d, rest);
	static const char *const known[] = {"RUN",  "COPY", "ADD",	  "ENV",    "WORKDIR",
					    "USER", "CMD",  "ENTRYPOINT", "EXPOSE", "LABEL"};
	bool is_known = false;
	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		is_known |= strcmp(kw, known[i]) == 0;
	if (!is_known) {
		static const char *const docker[] = {"HEALTHCHECK", "VOLUME", "ONBUILD",
						     "STOPSIGNAL",  "SHELL",  "MAINTAINER"};
		for (size_t i = 0; i < ARRAY_SIZE(docker); i++)
			if (strcmp(kw, docker[i]) == 0)
				return df_fail(d, "%s is not supported", kw);
		return df_fail(d, "unknown instruction \"%s\"", kw);
	}
	if (!d->from_key)
		return df_fail(d, "%s before FROM (only ARG may come before FROM)", kw);
	if (strcmp(kw, "RUN") == 0)
		return do_run(d, rest);
	if (strcmp(kw, "COPY") == 0 || strcmp(kw, "ADD") == 0)
		return do_copy(d, kw, rest);
	if (strcmp(kw, "ENV") == 0)
		return do_env(d, rest);
	if (strcmp(kw, "WORKDIR") == 0)
		return do_workdir(d, rest);
	if (strcmp(kw, "USER") == 0)
		return do_user(d, rest);
	if (strcmp(kw, "CMD") == 0 || strcmp(kw, "ENTRYPOINT") == 0)
		return do_cmd(d, kw, rest);
	return do_expose_label(d, kw, rest);
}

/* "# name=value" at the top of the file. Returns true and fills name/value when it is one. */
static bool parse_directive(const char *line, char **ret_name, char **ret_value)
{
	const char *p = line;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p++ != '#')
		return false;
	while (*p == ' ' || *p == '\t')
		p++;
	const char *n = p;
	while (is_name_char(*p))
		p++;
	if (p == n)
		return false;
	const char *ne = p;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p++ != '=')
		return false;
	while (*p == ' ' || *p == '\t')
		p++;
	size_t vl = strlen(p);
	while (vl > 0 && (p[vl - 1] == ' ' || p[vl - 1] == '\t'))
		vl--;
	*ret_name = xstrndup(n, (size_t)(ne - n));
	for (char *c = *ret_name; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	*ret_value = xstrndup(p, vl);
	return true;
}

static void df_done(struct df *d)
{
	json_decref(d->used_build_args);
	json_decref(d->meta_args);
	json_decref(d->args);
	json_decref(d->env);
	json_decref(d->steps);
	json_decref(d->notes);
	json_decref(d->from_key);
	json_decref(d->from_val);
	json_decref(d->cmd);
	json_decref(d->entrypoint);
	free(d->workdir);
}

static int df_lines(struct df *d, const char *text, size_t len)
{
	bool directives = true, seen_escape = false, seen_syntax = false;
	struct sbuf cur = {0};
	unsigned lineno = 0;
	bool open = false; /* an instruction continues on the next line */
	int r = 0;

	for (size_t pos = 0; pos < len || open;) {
		if (pos >= len) {
			/* File ends after a continuation: the instruction ends here (Docker does the same). */
			r = df_instruction(d, cur.s ? cur.s : (char[]){0});
			open = false;
			break;
		}
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		cleanup_free char *line = xstrndup(text + pos, n);
		pos += n + (nl ? 1 : 0);
		lineno++;
		if (strlen(line) != n) {
			r = wr_err_set(d->err, EINVAL, "Dockerfile line %u: NUL byte", lineno);
			break;
		}
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';

		if (directives) {
			cleanup_free char *name = NULL, *value = NULL;
			if (parse_directive(line, &name, &value)) {
				d->line = lineno;
				if (strcmp(name, "escape") == 0) {
					if (seen_escape) {
						r = df_fail(
							d,
							"only one escape parser directive can be used");
						break;
					}
					if (strcmp(value, "\\") != 0 && strcmp(value, "`") != 0) {
						r = df_fail(
							d,
							"invalid escape token '%s' does not match ` or \\",
							value);
						break;
					}
					d->esc = value[0];
					seen_escape = true;
					continue;
				}
				if (strcmp(name, "syntax") == 0) {
					if (!seen_syntax)
						df_note(d,
							"syntax=%s ignored: wrenn parses the Dockerfile itself",
							value);
					seen_syntax = true;
					continue;
				}
				/* Unknown directives are comments and end the directive block (Docker). */
			}
			directives = false;
		}

		const char *t = line;
		while (*t == ' ' || *t == '\t')
			t++;
		if (*t == '#' || *t == '\0')
			continue; /* comment or blank, also inside a continuation */
		if (!open)
			d->line = lineno;
		size_t l = n;
		while (l > 0 && (line[l - 1] == ' ' || line[l - 1] == '\t'))
			l--;
		if (l > 0 && line[l - 1] == d->esc) {
			sb_addn(&cur, line, l - 1);
			open = true;
			continue;
		}
		sb_adds(&cur, line);
		open = false;
		r = df_instruction(d, cur.s);
		free(cur.s);
		cur = (struct sbuf){0};
		if (r < 0)
			break;
	}
	free(cur.s);
	return r;
}

int dockerfile_parse(const char *text, size_t len, const json_t *build_args, json_t **ret_build,
		     json_t **ret_notes, struct wr_err *err)
{
	struct df d = {
		.esc = '\\',
		.build_args = build_args,
		.used_build_args = json_object(),
		.meta_args = json_object(),
		.args = json_object(),
		.env = json_object(),
		.steps = json_array(),
		.notes = json_array(),
		.workdir = xstrdup("/"),
		.err = err,
	};
	const char *k;
	json_t *v;
	int r;

	if (build_args && !json_is_object(build_args)) {
		df_done(&d);
		return wr_err_set(err, EINVAL, "build args: not an object");
	}
	json_object_foreach((json_t *)build_args, k, v) if (!json_is_string(v))
	{
		df_done(&d);
		return wr_err_set(err, EINVAL, "build arg %s: not a string", k);
	}

	/* Docker's defaults for build steps; E2B's for the sandbox are appended at the end. */
	add_step(&d, "USER", json_pack("[s]", "root"));
	add_step(&d, "WORKDIR", json_pack("[s]", "/"));
	/* A UTF-8 byte order mark is not part of the first line (Docker drops it too). */
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		text += 3;
		len -= 3;
	}
	r = df_lines(&d, text, len);
	if (r < 0) {
		df_done(&d);
		return r;
	}
	if (!d.from_key) {
		df_done(&d);
		return wr_err_set(err, EINVAL, "Dockerfile: no FROM instruction");
	}
	if (!d.user_set)
		add_step(&d, "USER", json_pack("[s]", "user"));
	if (!d.workdir_set)
		add_step(&d, "WORKDIR", json_pack("[s]", "/home/user"));
	json_object_foreach((json_t *)build_args, k, v) if (!json_object_get(d.used_build_args, k))
		json_array_append_new(
			d.notes,
			json_sprintf("build arg %s is not declared by an ARG: not used", k));

	cleanup_json json_t *build = json_object();
	json_object_set(build, json_string_value(d.from_key), d.from_val);
	json_object_set(build, "steps", d.steps);
	json_object_set_new(build, "force", json_false());
	cleanup_free char *start = start_cmd(&d);
	if (start)
		json_object_set_new(build, "startCmd", json_string(start));
	*ret_build = TAKE_PTR(build);
	if (ret_notes)
		*ret_notes = json_incref(d.notes);
	df_done(&d);
	return 0;
}
