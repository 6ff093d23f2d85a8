/* SPDX-License-Identifier: MIT */
#include "envd/envd.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "http/json.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static void fill_groups(const struct envd *e, struct envd_user *u)
{
	u->groups[0] = u->gid;
	u->ngroups = 1;
	cleanup_fclose FILE *f = fopen(e->group_path, "re");
	if (!f)
		return;
	struct group *g;
	while ((g = fgetgrent(f)) && u->ngroups < (int)ARRAY_SIZE(u->groups)) {
		if (g->gr_gid == u->gid)
			continue;
		for (char **m = g->gr_mem; m && *m; m++)
			if (!strcmp(*m, u->name)) {
				u->groups[u->ngroups++] = g->gr_gid;
				break;
			}
	}
}

int envd_user_lookup(const struct envd *e, const char *name, struct envd_user *ret,
		     struct wr_err *err)
{
	if (!name || !*name || strlen(name) >= sizeof(ret->name))
		return wr_err_set(err, EACCES, "invalid username: '%s'", name ? name : "");
	cleanup_fclose FILE *f = fopen(e->passwd_path, "re");
	if (!f)
		return wr_err_errno(err, errno, "open %s", e->passwd_path);
	struct passwd *pw;
	while ((pw = fgetpwent(f))) {
		if (strcmp(pw->pw_name, name))
			continue;
		memset(ret, 0, sizeof(*ret));
		snprintf(ret->name, sizeof(ret->name), "%s", pw->pw_name);
		ret->uid = pw->pw_uid;
		ret->gid = pw->pw_gid;
		snprintf(ret->home, sizeof(ret->home), "%s",
			 pw->pw_dir && *pw->pw_dir ? pw->pw_dir : "/");
		snprintf(ret->shell, sizeof(ret->shell), "%s",
			 pw->pw_shell && *pw->pw_shell ? pw->pw_shell : "/bin/sh");
		fill_groups(e, ret);
		return 0;
	}
	return wr_err_set(err, EACCES, "invalid username: '%s': no such user", name);
}

/* Basic base64("user:") -> user; NULL when absent or malformed. */
static char *basic_user(const char *h)
{
	if (!h || strncasecmp(h, "Basic ", 6))
		return NULL;
	uint8_t *dec;
	size_t n;
	if (wj_b64_decode(h + 6, &dec, &n) < 0)
		return NULL;
	char *s = xstrndup((char *)dec, n);
	free(dec);
	char *colon = strchr(s, ':');
	if (colon)
		*colon = '\0';
	return s;
}

static char *self_name(const struct envd *e)
{
	cleanup_fclose FILE *f = fopen(e->passwd_path, "re");
	struct passwd *pw;
	while (f && (pw = fgetpwent(f)))
		if (pw->pw_uid == getuid())
			return xstrdup(pw->pw_name);
	return xstrdup("root");
}

int envd_request_user(struct envd *e, struct http_req *req, struct envd_user *ret,
		      struct wr_err *err)
{
	cleanup_free char *name = basic_user(http_req_header(req, "Authorization"));
	if (!name || !*name) {
		free(name);
		pthread_mutex_lock(&e->lock);
		name = e->default_user ? xstrdup(e->default_user) : NULL;
		pthread_mutex_unlock(&e->lock);
		if (!name)
			name = self_name(e);
	}
	return envd_user_lookup(e, name, ret, err);
}

char *envd_resolve_path(const char *path, const struct envd_user *u)
{
	cleanup_free char *abs = NULL;
	if (!path || !*path)
		abs = xstrdup(u->home);
	else if (!strcmp(path, "~"))
		abs = xstrdup(u->home);
	else if (!strncmp(path, "~/", 2))
		abs = xasprintf("%s/%s", u->home, path + 2);
	else if (path[0] == '/')
		abs = xstrdup(path);
	else
		abs = xasprintf("%s/%s", u->home, path);
	/* Lexical clean: collapse "//", ".", "..". */
	size_t n = strlen(abs);
	char *out = xmalloc(n + 2);
	size_t o = 0;
	const char *p = abs;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		size_t k = strcspn(p, "/");
		if (k == 1 && p[0] == '.') {
		} else if (k == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else {
			out[o++] = '/';
			memcpy(out + o, p, k);
			o += k;
		}
		p += k;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

int envd_chown(const char *path, const struct envd_user *u)
{
	if (geteuid() != 0)
		return 0;
	if (lchown(path, u->uid, u->gid) < 0)
		return -errno;
	return 0;
}
