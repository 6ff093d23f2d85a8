/* SPDX-License-Identifier: MIT */
/* filesystem.Filesystem service: Stat, MakeDir, Move, ListDir, Remove. */
#include "envd/fs.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "http/connect.h"
#include "http/json.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSG (1024 * 1024)
#define MAX_ENTRIES 100000

static void name_of(const char *file, unsigned id, char *out, size_t n)
{
	snprintf(out, n, "%u", id);
	cleanup_fclose FILE *f = fopen(file, "re");
	if (!f)
		return;
	if (!strcmp(file, "/etc/passwd")) {
		struct passwd *pw;
		while ((pw = fgetpwent(f)))
			if (pw->pw_uid == id) {
				snprintf(out, n, "%s", pw->pw_name);
				return;
			}
	} else {
		struct group *g;
		while ((g = fgetgrent(f)))
			if (g->gr_gid == id) {
				snprintf(out, n, "%s", g->gr_name);
				return;
			}
	}
}

/* Go's FileMode.String(): type letter then rwx triplets. */
static void perm_string(mode_t m, char out[11])
{
	out[0] = S_ISDIR(m)    ? 'd'
		 : S_ISLNK(m)  ? 'L'
		 : S_ISFIFO(m) ? 'p'
		 : S_ISSOCK(m) ? 'S'
		 : S_ISCHR(m)  ? 'c'
		 : S_ISBLK(m)  ? 'D'
			       : '-';
	const char *rwx = "rwxrwxrwx";
	for (int i = 0; i < 9; i++)
		out[1 + i] = (m & (1u << (8 - i))) ? rwx[i] : '-';
	out[10] = '\0';
}

static void rfc3339(const struct timespec *ts, char *out, size_t n)
{
	struct tm tm;
	gmtime_r(&ts->tv_sec, &tm);
	size_t k = strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm);
	if (ts->tv_nsec) {
		char frac[16];
		snprintf(frac, sizeof(frac), ".%09ld", ts->tv_nsec);
		size_t l = strlen(frac);
		while (l > 1 && frac[l - 1] == '0')
			frac[--l] = '\0';
		snprintf(out + k, n - k, "%sZ", frac);
	} else {
		snprintf(out + k, n - k, "Z");
	}
}

json_t *envd_entry_info(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return NULL;
	const char *base = strrchr(path, '/');
	base = base && base[1] ? base + 1 : path;
	const char *type = "FILE_TYPE_FILE";
	cleanup_free char *target = NULL;
	if (S_ISLNK(st.st_mode)) {
		type = "FILE_TYPE_SYMLINK";
		/* E2B's envd: the fully resolved absolute path, the link's own path when it
		 * cannot be resolved (dangling, a loop) */
		target = realpath(path, NULL);
		if (!target)
			target = xstrdup(path);
	} else if (S_ISDIR(st.st_mode)) {
		type = "FILE_TYPE_DIRECTORY";
	}
	char perm[11], owner[64], group[64], mt[64];
	perm_string(st.st_mode, perm);
	name_of("/etc/passwd", st.st_uid, owner, sizeof(owner));
	name_of("/etc/group", st.st_gid, group, sizeof(group));
	rfc3339(&st.st_mtim, mt, sizeof(mt));
	char size[32];
	snprintf(size, sizeof(size), "%lld", (long long)st.st_size);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s}", "name", base, "type",
			      type, "path", path, "size", size, "mode",
			      (json_int_t)(st.st_mode & 07777), "permissions", perm, "owner", owner,
			      "group", group, "modifiedTime", mt);
	if (target)
		json_object_set_new(o, "symlinkTarget", json_string(target));
	/* user.e2b.* extended attributes as metadata (also ones set out of band: a value that
	 * is not UTF-8 or longer than 4 KiB is left out rather than sent mangled) */
	json_t *meta = NULL;
	ssize_t nl = llistxattr(path, NULL, 0);
	cleanup_free char *names = nl > 0 ? xmalloc((size_t)nl) : NULL;
	if (names)
		nl = llistxattr(path, names, (size_t)nl);
	for (ssize_t i = 0; names && nl > 0 && i < nl; i += (ssize_t)strlen(names + i) + 1) {
		const char *xn = names + i;
		if (strncmp(xn, "user.e2b.", 9) || !xn[9])
			continue;
		char val[4096];
		ssize_t vl = lgetxattr(path, xn, val, sizeof(val) - 1);
		if (vl < 0)
			continue;
		json_t *v = json_stringn(val, (size_t)vl);
		if (!v)
			continue;
		if (!meta)
			meta = json_object();
		json_object_set_new(meta, xn + 9, v);
	}
	if (meta)
		json_object_set_new(o, "metadata", meta);
	return o;
}

static void reply_entry(struct http_req *req, const char *path)
{
	json_t *info = envd_entry_info(path);
	if (!info) {
		connect_reply_error(req, connect_code_from_errno(errno), "stat %s: %s", path,
				    strerror(errno));
		return;
	}
	cleanup_json json_t *o = json_pack("{s:o}", "entry", info);
	connect_reply_json(req, o);
}

static int not_dots(const struct dirent *de)
{
	return strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
}

/* Byte order, whatever the locale: E2B's envd walks directories in lexical order. */
static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Entries in lexical order, each directory followed by its own (depth-first), as E2B's. */
static int list_rec(const char *dir, unsigned depth, json_t *out)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, not_dots, by_name);
	if (n < 0)
		return -errno;
	int r = 0;
	for (int i = 0; i < n; i++) {
		if (r == 0 && json_array_size(out) >= MAX_ENTRIES)
			r = -E2BIG;
		if (r == 0) {
			cleanup_free char *p = !strcmp(dir, "/")
						       ? xasprintf("/%s", names[i]->d_name)
						       : xasprintf("%s/%s", dir, names[i]->d_name);
			json_t *e = envd_entry_info(p);
			if (e) {
				json_array_append_new(out, e);
				struct stat st;
				if (depth > 1 && lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
					list_rec(p, depth - 1, out);
			}
		}
		free(names[i]);
	}
	free(names);
	return r;
}

void envd_fs_rpc(struct envd *e, struct http_req *req, const char *method)
{
	const char *ct = http_req_header(req, "Content-Type");
	bool stream = !strcmp(method, "WatchDir");
	const char *want = stream ? "application/connect+json or application/connect+proto"
				  : "application/json or application/proto";
	if (!connect_content_type_ok(req, stream)) {
		http_resp_close_after(req);
		envd_http_error(req, 415, "unsupported content type %s (want %s)",
				ct ? ct : "(none)", want);
		return;
	}
	if (stream || !strcmp(method, "CreateWatcher") || !strcmp(method, "GetWatcherEvents") ||
	    !strcmp(method, "RemoveWatcher")) {
		envd_watch_rpc(e, req, method);
		return;
	}
	struct wr_err err = {0};
	enum connect_code code;
	cleanup_json json_t *msg = NULL;
	if (connect_read_json(req, MAX_MSG, &msg, &code, &err) < 0) {
		connect_reply_error(req, code, "%s", wr_err_msg(&err));
		return;
	}
	struct envd_user u;
	if (envd_request_user(e, req, &u, &err) < 0) {
		connect_reply_error(req, CONNECT_UNAUTHENTICATED, "%s", wr_err_msg(&err));
		return;
	}
	const char *p1 = NULL;
	if (!strcmp(method, "Move")) {
		const char *src = NULL, *dst = NULL;
		if (wj_str(msg, "source", &src) < 0 || wj_str(msg, "destination", &dst) < 0 ||
		    !*src || !*dst) {
			connect_reply_error(req, CONNECT_INVALID_ARGUMENT,
					    "source and destination required");
			return;
		}
		cleanup_free char *s = envd_resolve_path(src, &u);
		cleanup_free char *d = envd_resolve_path(dst, &u);
		cleanup_free char *parent = xstrdup(d);
		char *slash = strrchr(parent, '/');
		if (slash && slash != parent) {
			*slash = '\0';
			if (mkdir_p(parent, 0755) == 0)
				envd_chown(parent, &u);
		}
		if (rename(s, d) < 0) {
			int en = errno;
			connect_reply_error(req, connect_code_from_errno(en), "move %s to %s: %s",
					    s, d, strerror(en));
			return;
		}
		reply_entry(req, d);
		return;
	}
	if (!strcmp(method, "Stat") || !strcmp(method, "MakeDir") || !strcmp(method, "ListDir") ||
	    !strcmp(method, "Remove")) {
		if (wj_str(msg, "path", &p1) < 0) {
			connect_reply_error(req, CONNECT_INVALID_ARGUMENT, "path required");
			return;
		}
	} else {
		connect_reply_error(req, CONNECT_UNIMPLEMENTED,
				    "filesystem.Filesystem/%s is not implemented", method);
		return;
	}
	cleanup_free char *path = envd_resolve_path(p1, &u);
	if (!strcmp(method, "Stat")) {
		reply_entry(req, path);
	} else if (!strcmp(method, "MakeDir")) {
		struct stat st;
		if (lstat(path, &st) == 0) {
			connect_reply_error(req, CONNECT_ALREADY_EXISTS, "path %s already exists",
					    path);
			return;
		}
		/* Create missing parents owned by the user, like envd. */
		cleanup_free char *cur = xstrdup(path);
		for (char *s = cur + 1;; s++) {
			bool end = *s == '\0';
			if (*s == '/' || end) {
				char c = *s;
				*s = '\0';
				if (mkdir(cur, 0755) == 0) {
					envd_chown(cur, &u);
				} else if (errno != EEXIST) {
					int en = errno;
					connect_reply_error(req, connect_code_from_errno(en),
							    "mkdir %s: %s", cur, strerror(en));
					return;
				}
				*s = c;
			}
			if (end)
				break;
		}
		reply_entry(req, path);
	} else if (!strcmp(method, "ListDir")) {
		uint32_t depth = 1;
		if (wj_u32(msg, "depth", &depth) == -EINVAL) {
			connect_reply_error(req, CONNECT_INVALID_ARGUMENT, "invalid depth");
			return;
		}
		if (depth == 0)
			depth = 1;
		struct stat st;
		if (stat(path, &st) < 0) {
			connect_reply_error(req, connect_code_from_errno(errno), "path %s: %s",
					    path, strerror(errno));
			return;
		}
		if (!S_ISDIR(st.st_mode)) {
			connect_reply_error(req, CONNECT_INVALID_ARGUMENT,
					    "path %s is not a directory", path);
			return;
		}
		cleanup_json json_t *arr = json_array();
		int r = list_rec(path, depth, arr);
		if (r < 0) {
			connect_reply_error(req, connect_code_from_errno(r), "list %s: %s", path,
					    strerror(-r));
			return;
		}
		cleanup_json json_t *o = json_pack("{s:O}", "entries", arr);
		connect_reply_json(req, o);
	} else {
		if (!strcmp(path, "/")) {
			connect_reply_error(req, CONNECT_INVALID_ARGUMENT, "refusing to remove /");
			return;
		}
		int r = rm_rf(path);
		if (r < 0) {
			connect_reply_error(req, connect_code_from_errno(r), "remove %s: %s", path,
					    strerror(-r));
			return;
		}
		cleanup_json json_t *o = json_object();
		connect_reply_json(req, o);
	}
}
