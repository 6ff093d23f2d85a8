/* SPDX-License-Identifier: MIT */
#include "cli/ctxtar.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CTX_IGNORE_MAX (1u << 20) /* bytes of .dockerignore */

void ctx_ignore_parse(struct ctx_ignore *ig, const char *text)
{
	*ig = (struct ctx_ignore){0};
	cleanup_free char *copy = xstrdup(text ? text : "");
	char *save = NULL;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		size_t n = strlen(l);
		while (n && (l[n - 1] == '\r' || l[n - 1] == ' ' || l[n - 1] == '\t'))
			l[--n] = '\0';
		while (*l == ' ' || *l == '\t')
			l++;
		if (!*l || *l == '#')
			continue;
		bool neg = *l == '!';
		if (neg)
			l++;
		while (l[0] == '/' || (l[0] == '.' && l[1] == '/'))
			l += l[0] == '/' ? 1 : 2;
		n = strlen(l);
		while (n > 1 && l[n - 1] == '/')
			l[--n] = '\0';
		if (!*l || strcmp(l, ".") == 0)
			continue;
		ig->pats = xrealloc(ig->pats, (ig->n + 1) * sizeof(*ig->pats));
		ig->neg = xrealloc(ig->neg, (ig->n + 1) * sizeof(*ig->neg));
		ig->pats[ig->n] = xstrdup(l);
		ig->neg[ig->n] = neg;
		ig->n++;
	}
}

void ctx_ignore_done(struct ctx_ignore *ig)
{
	for (size_t i = 0; i < ig->n; i++)
		free(ig->pats[i]);
	free(ig->pats);
	free(ig->neg);
	*ig = (struct ctx_ignore){0};
}

/* pattern against a path.  "**" spans whole directories: the part before it must match a leading
 * run of segments, the part after it (without its "/") a trailing run; "**" alone matches all. */
static bool glob_match(const char *pat, const char *path)
{
	const char *dd = strstr(pat, "**");
	if (!dd)
		return fnmatch(pat, path, FNM_PATHNAME) == 0;
	cleanup_free char *prefix = xstrndup(pat, (size_t)(dd - pat));
	const char *rest = dd[2] == '/' ? dd + 3 : dd + 2;
	for (const char *p = path;; p++) {
		if (p == path || p[-1] == '/') {
			cleanup_free char *head = xstrndup(path, (size_t)(p - path));
			if (fnmatch(prefix, head, FNM_PATHNAME) == 0) {
				if (!*rest)
					return true;
				for (const char *q = p; *q; q++)
					if ((q == p || q[-1] == '/') && glob_match(rest, q))
						return true;
			}
		}
		if (!*p)
			return false;
	}
}

/* a pattern matches a path or one of its parent directories */
static bool pat_match(const char *pat, const char *relpath)
{
	if (glob_match(pat, relpath))
		return true;
	cleanup_free char *p = xstrdup(relpath);
	for (char *s = strrchr(p, '/'); s; s = strrchr(p, '/')) {
		*s = '\0';
		if (glob_match(pat, p))
			return true;
	}
	return false;
}

bool ctx_ignore_match(const struct ctx_ignore *ig, const char *relpath)
{
	bool ignored = false;
	for (size_t i = 0; i < ig->n; i++)
		if (pat_match(ig->pats[i], relpath))
			ignored = !ig->neg[i];
	return ignored;
}

int ctx_dockerfile_path(const char *context_dir, const char *dockerfile, char **ret,
			struct wr_err *err)
{
	char ctx[PATH_MAX], dir[PATH_MAX];
	if (!realpath(context_dir, ctx))
		return wr_err_errno(err, errno, "context directory %s", context_dir);
	struct stat st;
	if (stat(ctx, &st) < 0 || !S_ISDIR(st.st_mode))
		return wr_err_set(err, ENOTDIR, "context %s is not a directory", context_dir);
	if (stat(dockerfile, &st) < 0)
		return wr_err_errno(err, errno, "Dockerfile %s", dockerfile);
	if (!S_ISREG(st.st_mode))
		return wr_err_set(err, EINVAL, "Dockerfile %s is not a regular file", dockerfile);
	/* the directory resolved, the name kept (a symlinked Dockerfile keeps its name) */
	cleanup_free char *d = xstrdup(dockerfile);
	char *slash = strrchr(d, '/');
	const char *base = slash ? slash + 1 : d;
	if (slash == d)
		strcpy(dir, "/");
	else if (!realpath(slash ? (*slash = '\0', d) : ".", dir))
		return wr_err_errno(err, errno, "Dockerfile %s", dockerfile);
	cleanup_free char *full = xasprintf("%s/%s", strcmp(dir, "/") == 0 ? "" : dir, base);
	size_t n = strcmp(ctx, "/") == 0 ? 0 : strlen(ctx);
	if (strncmp(full, ctx, n) == 0 && full[n] == '/' && full[n + 1])
		*ret = xstrdup(full + n + 1);
	else
		*ret = xstrdup(CTX_OUTSIDE_DOCKERFILE);
	return 0;
}

struct walk {
	struct archive *ar;
	const struct ctx_ignore *ig;
	const char *skip; /* the Dockerfile's place: written last */
	size_t count;
	struct wr_err *err;
};

static int ar_fail(struct walk *w, const char *what)
{
	return wr_err_set(w->err, EIO, "archive %s: %s", what, archive_error_string(w->ar));
}

/* one entry: `path` on disk, `name` in the archive */
static int add_entry(struct walk *w, const char *path, const char *name, const struct stat *st)
{
	struct archive_entry *e = archive_entry_new();
	archive_entry_copy_stat(e, st);
	archive_entry_set_pathname(e, name);
	int r = 0;
	cleanup_close int fd = -1;
	if (S_ISLNK(st->st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n < 0) {
			r = wr_err_errno(w->err, errno, "readlink %s", path);
			goto out;
		}
		target[n] = '\0';
		archive_entry_set_symlink(e, target);
		archive_entry_set_size(e, 0);
	} else if (S_ISREG(st->st_mode)) {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			r = wr_err_errno(w->err, errno, "open %s", path);
			goto out;
		}
	} else {
		archive_entry_set_size(e, 0);
	}
	if (archive_write_header(w->ar, e) != ARCHIVE_OK) {
		r = ar_fail(w, name);
		goto out;
	}
	for (int64_t left = S_ISREG(st->st_mode) ? st->st_size : 0; left > 0;) {
		char buf[65536];
		ssize_t n = read(fd, buf, left < (int64_t)sizeof(buf) ? (size_t)left : sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = wr_err_errno(w->err, errno, "read %s", path);
			goto out;
		}
		if (n == 0) {
			r = wr_err_set(w->err, EIO, "%s shrank while being archived", path);
			goto out;
		}
		if (archive_write_data(w->ar, buf, (size_t)n) != n) {
			r = ar_fail(w, name);
			goto out;
		}
		left -= n;
	}
	w->count++;
out:
	archive_entry_free(e);
	return r;
}

static int walk_dir(struct walk *w, const char *dir, const char *rel)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	if (n < 0)
		return wr_err_errno(w->err, errno, "read directory %s", dir);
	int r = 0;
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		if (r < 0 || strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
			continue;
		cleanup_free char *path = xasprintf("%s/%s", dir, nm);
		cleanup_free char *name = *rel ? xasprintf("%s/%s", rel, nm) : xstrdup(nm);
		if (strcmp(name, w->skip) == 0 || ctx_ignore_match(w->ig, name))
			continue;
		struct stat st;
		if (lstat(path, &st) < 0) {
			r = wr_err_errno(w->err, errno, "stat %s", path);
			continue;
		}
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode))
			continue; /* sockets, fifos, devices: nothing a build can copy */
		r = add_entry(w, path, name, &st);
		if (r >= 0 && S_ISDIR(st.st_mode))
			r = walk_dir(w, path, name);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

int ctx_tar_write(const char *context_dir, const char *dockerfile, const char *in_archive,
		  int out_fd, size_t *ret_count, struct wr_err *err)
{
	struct ctx_ignore ig;
	cleanup_free char *ign_path = xasprintf("%s/.dockerignore", context_dir);
	cleanup_free char *ign = NULL;
	int r = read_file(ign_path, CTX_IGNORE_MAX, &ign, NULL);
	if (r < 0 && r != -ENOENT)
		return wr_err_errno(err, -r, "read %s", ign_path);
	ctx_ignore_parse(&ig, ign);
	struct walk w = {.ar = archive_write_new(), .ig = &ig, .skip = in_archive, .err = err};
	if (archive_write_set_format_pax_restricted(w.ar) != ARCHIVE_OK ||
	    archive_write_open_fd(w.ar, out_fd) != ARCHIVE_OK) {
		r = ar_fail(&w, "open");
		goto out;
	}
	r = walk_dir(&w, context_dir, "");
	if (r >= 0) {
		struct stat st;
		if (stat(dockerfile, &st) < 0)
			r = wr_err_errno(err, errno, "Dockerfile %s", dockerfile);
		else
			r = add_entry(&w, dockerfile, in_archive, &st);
	}
	if (r >= 0 && archive_write_close(w.ar) != ARCHIVE_OK)
		r = ar_fail(&w, "close");
	if (r >= 0 && ret_count)
		*ret_count = w.count;
out:
	archive_write_free(w.ar);
	ctx_ignore_done(&ig);
	return r;
}
