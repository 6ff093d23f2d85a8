/* SPDX-License-Identifier: MIT */
#include "envd/wtree.h"
#include "envd/fs.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define EVENTS                                                                                     \
	(IN_CREATE | IN_MODIFY | IN_DELETE | IN_DELETE_SELF | IN_MOVED_FROM | IN_MOVED_TO |        \
	 IN_MOVE_SELF | IN_ATTRIB)

struct wdir {
	int wd;
	char *rel; /* "" for the root */
};

struct wtree {
	int fd;
	char *root;
	bool recursive, include_entry;
	struct wdir *d;
	size_t n;
};

int wtree_fd(const struct wtree *t)
{
	return t->fd;
}

size_t wtree_count(const struct wtree *t)
{
	return t->n;
}

static struct wdir *by_wd(struct wtree *t, int wd)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->d[i].wd == wd)
			return &t->d[i];
	return NULL;
}

static void drop_at(struct wtree *t, size_t i)
{
	free(t->d[i].rel);
	t->d[i] = t->d[--t->n];
}

static char *join(const char *a, const char *b)
{
	return *a ? xasprintf("%s/%s", a, b) : xstrdup(b);
}

static char *abs_of(const struct wtree *t, const char *rel)
{
	if (!*rel)
		return xstrdup(t->root);
	return !strcmp(t->root, "/") ? xasprintf("/%s", rel) : xasprintf("%s/%s", t->root, rel);
}

static int add_one(struct wtree *t, const char *rel, struct wr_err *err)
{
	cleanup_free char *p = abs_of(t, rel);
	/* The root may be reached through a symlink (the SDK stats it like
	 * that); below it, symlinked directories are not ours to follow. */
	uint32_t mask = EVENTS | IN_ONLYDIR | (*rel ? IN_DONT_FOLLOW : 0);
	int wd = inotify_add_watch(t->fd, p, mask);
	if (wd < 0)
		return wr_err_errno(err, errno, "watch %s", p);
	struct wdir *w = by_wd(t, wd);
	if (w) { /* same directory reached again under a new name */
		free(w->rel);
		w->rel = xstrdup(rel);
		return 0;
	}
	if (t->n >= WTREE_MAX_DIRS) {
		inotify_rm_watch(t->fd, wd);
		return wr_err_set(err, ENOSPC, "watch %s: more than %d directories", t->root,
				  WTREE_MAX_DIRS);
	}
	t->d = xrealloc(t->d, sizeof(*t->d) * (t->n + 1));
	t->d[t->n++] = (struct wdir){.wd = wd, .rel = xstrdup(rel)};
	return 0;
}

static const char *const type_names[] = {"EVENT_TYPE_CREATE", "EVENT_TYPE_RENAME",
					 "EVENT_TYPE_CHMOD", "EVENT_TYPE_WRITE",
					 "EVENT_TYPE_REMOVE"};
enum { T_CREATE, T_RENAME, T_CHMOD, T_WRITE, T_REMOVE };

static json_t *make_event(const struct wtree *t, const char *rel, int type)
{
	json_t *ev = json_pack("{s:s, s:s}", "name", *rel ? rel : ".", "type", type_names[type]);
	/* Only entries that exist at this path now can carry info; a removed or
	 * renamed-away path may already hold something else. */
	if (t->include_entry && (type == T_CREATE || type == T_WRITE || type == T_CHMOD)) {
		cleanup_free char *p = abs_of(t, rel);
		json_t *info = envd_entry_info(p);
		if (info)
			json_object_set_new(ev, "entry", info);
	}
	return ev;
}

/* Watch rel and, when recursive, every directory below it (breadth first,
 * no recursion: depth is bounded only by PATH_MAX).  When found is not
 * NULL, CREATE events for what the directories already hold are appended. */
static int add_tree(struct wtree *t, const char *rel, json_t *found, struct wr_err *err)
{
	int r = add_one(t, rel, err);
	if (r < 0 || !t->recursive)
		return r;
	char **queue = xmalloc(sizeof(char *));
	size_t head = 0, tail = 0, cap = 1;
	queue[tail++] = xstrdup(rel);
	while (head < tail && r == 0) {
		cleanup_free char *dir = queue[head++];
		cleanup_free char *p = abs_of(t, dir);
		cleanup_closedir DIR *d = opendir(p);
		if (!d)
			continue; /* gone already: its removal is reported by the parent */
		struct dirent *de;
		while ((de = readdir(d)) && r == 0) {
			if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
				continue;
			cleanup_free char *child = join(dir, de->d_name);
			if (found)
				json_array_append_new(found, make_event(t, child, T_CREATE));
			bool isdir = de->d_type == DT_DIR;
			if (de->d_type == DT_UNKNOWN) {
				struct stat st;
				cleanup_free char *cp = abs_of(t, child);
				isdir = lstat(cp, &st) == 0 && S_ISDIR(st.st_mode);
			}
			if (!isdir)
				continue;
			r = add_one(t, child, err);
			if (r == -ENOENT || r == -ENOTDIR) {
				wr_err_clear(err);
				r = 0; /* raced with a removal */
				continue;
			}
			if (r == 0) {
				if (tail == cap) {
					cap *= 2;
					queue = xrealloc(queue, sizeof(char *) * cap);
				}
				queue[tail++] = TAKE_PTR(child);
			}
		}
	}
	while (head < tail)
		free(queue[head++]);
	free(queue);
	return r;
}

/* A directory moved away: its watches would report under stale names. */
static void drop_tree(struct wtree *t, const char *rel)
{
	size_t l = strlen(rel);
	for (size_t i = t->n; i-- > 0;) {
		const char *r = t->d[i].rel;
		if (*r && !strncmp(r, rel, l) && (r[l] == '\0' || r[l] == '/')) {
			inotify_rm_watch(t->fd, t->d[i].wd);
			drop_at(t, i);
		}
	}
}

int wtree_open(const char *root, bool recursive, bool include_entry, struct wtree **ret,
	       struct wr_err *err)
{
	struct stat st;
	if (stat(root, &st) < 0)
		return wr_err_errno(err, errno, "path %s", root);
	if (!S_ISDIR(st.st_mode))
		return wr_err_set(err, ENOTDIR, "path %s is not a directory", root);
	int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (fd < 0)
		return wr_err_errno(err, errno, "inotify");
	struct wtree *t = xcalloc(1, sizeof(*t));
	t->fd = fd;
	t->root = xstrdup(root);
	t->recursive = recursive;
	t->include_entry = include_entry;
	int r = add_tree(t, "", NULL, err);
	if (r < 0) {
		wtree_free(t);
		return r;
	}
	*ret = t;
	return 0;
}

void wtree_free(struct wtree *t)
{
	if (!t)
		return;
	if (t->fd >= 0)
		close(t->fd); /* drops every watch */
	for (size_t i = 0; i < t->n; i++)
		free(t->d[i].rel);
	free(t->d);
	free(t->root);
	free(t);
}

/* One raw event.  Returns emit's negative value, or the first structural
 * error in *first_err (processing goes on). */
/* An unnamed O_TMPFILE in a watched directory (envd stages uploads that way)
 * shows up as "#<inode>", a name no directory entry has: not a user's file. */
static bool tmpfile_event(const struct wtree *t, const char *rel, const char *name)
{
	if (name[0] != '#' || !name[1])
		return false;
	for (const char *p = name + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	cleanup_free char *abs = xasprintf("%s/%s", t->root, rel);
	struct stat st;
	return lstat(abs, &st) < 0 && errno == ENOENT;
}

static int handle(struct wtree *t, const struct inotify_event *ev, wtree_emit_fn emit, void *ud,
		  int *first_err, struct wr_err *err)
{
	struct wdir *w = by_wd(t, ev->wd);
	if (ev->mask & IN_IGNORED) {
		if (w)
			drop_at(t, (size_t)(w - t->d));
		return 0;
	}
	if (!w)
		return 0; /* a watch we already dropped */
	bool self = ev->len == 0 || !ev->name[0];
	/* A subdirectory's own delete/move is reported by its parent. */
	if (self && w->rel[0])
		return 0;
	cleanup_free char *rel = self ? xstrdup("") : join(w->rel, ev->name);
	if (!self && tmpfile_event(t, rel, ev->name))
		return 0;
	bool isdir = ev->mask & IN_ISDIR;
	cleanup_json json_t *found = NULL;
	if (t->recursive && isdir && !self && (ev->mask & IN_MOVED_FROM))
		drop_tree(t, rel);
	if (t->recursive && isdir && !self && (ev->mask & (IN_CREATE | IN_MOVED_TO))) {
		/* Before it is reported: a client that reacts by writing into
		 * the new directory must already be watched. */
		found = json_array();
		struct wr_err e2 = {0};
		int r = add_tree(t, rel, found, &e2);
		if (r < 0 && r != -ENOENT && r != -ENOTDIR && !*first_err) {
			*first_err = r;
			if (err)
				*err = e2;
		}
	}
	static const uint32_t masks[] = {
		[T_CREATE] = IN_CREATE | IN_MOVED_TO,
		[T_RENAME] = IN_MOVED_FROM | IN_MOVE_SELF,
		[T_CHMOD] = IN_ATTRIB,
		[T_WRITE] = IN_MODIFY,
		[T_REMOVE] = IN_DELETE | IN_DELETE_SELF,
	};
	for (int k = 0; k < (int)ARRAY_SIZE(masks); k++) {
		if (!(ev->mask & masks[k]))
			continue;
		int r = emit(ud, make_event(t, rel, k));
		if (r < 0)
			return r;
	}
	for (size_t i = 0; found && i < json_array_size(found); i++) {
		int r = emit(ud, json_incref(json_array_get(found, i)));
		if (r < 0)
			return r;
	}
	return 0;
}

int wtree_process(struct wtree *t, wtree_emit_fn emit, void *ud, struct wr_err *err)
{
	_Alignas(struct inotify_event) char buf[16384];
	int first_err = 0;
	bool overflow = false;
	for (;;) {
		ssize_t n = read(t->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return wr_err_errno(err, n < 0 ? errno : EIO, "read inotify events");
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				overflow = true;
				continue;
			}
			int r = handle(t, ev, emit, ud, &first_err, err);
			if (r < 0)
				return r;
		}
	}
	if (first_err)
		return first_err;
	if (overflow)
		return wr_err_set(err, EOVERFLOW,
				  "inotify queue overflowed under %s: events were lost", t->root);
	return 0;
}
