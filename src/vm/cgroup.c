/* SPDX-License-Identifier: MIT */
#include "vm/cgroup.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#define CGROUP_ROOT "/sys/fs/cgroup"

bool cgroup_is_v2(const char *path)
{
	cleanup_free char *p = xstrdup(path);
	for (;;) {
		struct statfs s;
		if (statfs(p, &s) == 0)
			return s.f_type == CGROUP2_SUPER_MAGIC;
		char *slash = strrchr(p, '/');
		if (errno != ENOENT || !slash || slash == p)
			return false;
		*slash = '\0';
	}
}

static bool fs_is(const char *path, long magic)
{
	struct statfs s;
	return statfs(path, &s) == 0 && s.f_type == magic;
}

static int write_str(const char *dir, const char *file, const char *s)
{
	cleanup_free char *p = xasprintf("%s/%s", dir, file);
	cleanup_close int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return write_full(fd, s, strlen(s));
}

static bool file_has_word(const char *path, const char *word)
{
	cleanup_free char *buf = NULL;
	if (read_file(path, 4096, &buf, NULL) < 0)
		return false;
	size_t wl = strlen(word);
	for (char *p = buf; (p = strstr(p, word)); p += wl)
		if ((p == buf || p[-1] == ' ') && (!p[wl] || p[wl] == ' ' || p[wl] == '\n'))
			return true;
	return false;
}

/* The agent's own cgroup path for a v1 controller, or "" for cgroup2 (ctrl NULL). */
static char *own_path(const char *ctrl)
{
	cleanup_free char *buf = NULL;
	if (read_file("/proc/self/cgroup", 1 << 16, &buf, NULL) < 0)
		return NULL;
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *ctrls = c1 + 1, *path = c2 + 1;
		if (!ctrl) {
			if (!*ctrls)
				return xstrdup(path);
			continue;
		}
		cleanup_free char *list = xstrdup(ctrls);
		char *s2 = NULL;
		for (char *w = strtok_r(list, ",", &s2); w; w = strtok_r(NULL, ",", &s2))
			if (!strcmp(w, ctrl))
				return xstrdup(path);
	}
	return NULL;
}

static char *join(const char *mnt, const char *own)
{
	return xasprintf("%s%s", mnt, strcmp(own, "/") ? own : "");
}

/* True when the agent is the only process in cgroup dir. */
static bool only_us(const char *dir)
{
	cleanup_free char *p = xasprintf("%s/cgroup.procs", dir);
	cleanup_free char *buf = NULL;
	if (read_file(p, 1 << 16, &buf, NULL) < 0)
		return false;
	char *save = NULL;
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (atoi(l) != (int)getpid())
			return false;
	return true;
}

/*
 * cgroup2 with the memory controller: <own>/wrenn.slice when the agent's own cgroup can
 * give controllers to children (cgroup2 allows that only to a cgroup without processes:
 * an agent alone in it, as under systemd's Delegate=yes, moves itself into <own>/agent);
 * else <root>/wrenn.slice (the root cgroup may have both), outside the agent's own
 * limits.
 */
static int auto_v2(char **ret, struct wr_err *err)
{
	(void)err;
	const char *mnts[] = {CGROUP_ROOT, CGROUP_ROOT "/unified"};
	for (size_t i = 0; i < ARRAY_SIZE(mnts); i++) {
		if (!fs_is(mnts[i], CGROUP2_SUPER_MAGIC))
			continue;
		cleanup_free char *own = own_path(NULL);
		cleanup_free char *base = own ? join(mnts[i], own) : xstrdup(mnts[i]);
		/* Moved into <own>/agent by an earlier call (below). */
		size_t bl = strlen(base);
		if (bl > 6 && !strcmp(base + bl - 6, "/agent"))
			base[bl - 6] = '\0';
		cleanup_free char *ctl = xasprintf("%s/cgroup.controllers", base);
		if (strcmp(base, mnts[i]) && file_has_word(ctl, "memory")) {
			int r = write_str(base, "cgroup.subtree_control", "+memory +cpu +pids");
			if (r == -EBUSY && only_us(base)) {
				cleanup_free char *leaf = xasprintf("%s/agent", base);
				char pid[24];
				snprintf(pid, sizeof(pid), "%d", (int)getpid());
				if ((mkdir(leaf, 0755) == 0 || errno == EEXIST) &&
				    write_str(leaf, "cgroup.procs", pid) >= 0)
					r = write_str(base, "cgroup.subtree_control",
						      "+memory +cpu +pids");
			}
			if (r >= 0) {
				*ret = xasprintf("%s/" CGROUP_SLICE, base);
				return 1;
			}
		}
		cleanup_free char *rctl = xasprintf("%s/cgroup.controllers", mnts[i]);
		if (file_has_word(rctl, "memory")) {
			write_str(mnts[i], "cgroup.subtree_control", "+memory +cpu +pids");
			*ret = xasprintf("%s/" CGROUP_SLICE, mnts[i]);
			return 1;
		}
	}
	return 0;
}

static void set_close(struct cgroup_set *s, size_t i)
{
	if (s->procs_fd[i] >= 0)
		close(s->procs_fd[i]);
	s->procs_fd[i] = -1;
}

/* dir's parent, if it is a wrenn.slice (NULL otherwise; caller frees). */
static char *slice_of(const char *dir)
{
	const char *slash = strrchr(dir, '/');
	size_t sl = strlen(CGROUP_SLICE);
	if (!slash || (size_t)(slash - dir) < sl + 1 ||
	    strncmp(slash - sl, CGROUP_SLICE, sl) != 0 || slash[-(long)sl - 1] != '/')
		return NULL;
	return xstrndup(dir, (size_t)(slash - dir));
}

/*
 * A wrenn.slice is the agent's: created with its first sandbox's cgroup and removed with the
 * last one's (rmdir fails while other sandboxes' cgroups are in it, which is fine), so no
 * agent run leaves an empty slice in any hierarchy.  A create racing with that removal finds
 * the slice gone (ENOENT) and makes it again.
 */
static int mkdir_in_slice(const char *dir)
{
	for (int tries = 0; tries < 4; tries++) {
		if (mkdir(dir, 0755) == 0 || errno == EEXIST)
			return 0;
		if (errno != ENOENT)
			return -errno;
		cleanup_free char *slice = slice_of(dir);
		if (!slice || (mkdir(slice, 0755) < 0 && errno != EEXIST))
			return -ENOENT;
	}
	return -ENOENT;
}

static int add_dir(struct cgroup_set *s, char *dir, struct wr_err *err)
{
	int mr = mkdir_in_slice(dir);
	if (mr < 0) {
		int r = wr_err_errno(err, -mr, "mkdir %s", dir);
		free(dir);
		return r;
	}
	s->dir[s->n] = dir;
	s->procs_fd[s->n] = -1;
	s->n++;
	return 0;
}

static int set_limit(const char *dir, const char *file, const char *val, struct wr_err *err)
{
	int r = write_str(dir, file, val);
	if (r < 0)
		return wr_err_errno(err, r, "%s/%s = %s", dir, file, val);
	return 0;
}

static int limits_v2(const char *dir, const struct cgroup_limits *l, struct wr_err *err)
{
	char buf[64];
	int r = 0;
	if (l->memory_max) {
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)l->memory_max);
		r = set_limit(dir, "memory.max", buf, err);
		/* No swap for guest RAM: the limit is the limit. */
		if (r >= 0)
			write_str(dir, "memory.swap.max", "0");
	}
	if (r >= 0 && l->vcpus) {
		snprintf(buf, sizeof(buf), "%d 100000", l->vcpus * 100000);
		r = set_limit(dir, "cpu.max", buf, err);
	}
	if (r >= 0 && l->pids_max) {
		snprintf(buf, sizeof(buf), "%d", l->pids_max);
		r = set_limit(dir, "pids.max", buf, err);
	}
	if (r >= 0 && l->cpu_weight) {
		snprintf(buf, sizeof(buf), "%d", l->cpu_weight);
		r = set_limit(dir, "cpu.weight", buf, err);
	}
	return r;
}

static const char *const v1_ctrls[CGROUP_MAX_DIRS] = {"memory", "cpu", "pids"};

static int limits_v1(const char *ctrl, const char *dir, const struct cgroup_limits *l,
		     struct wr_err *err)
{
	char buf[64];
	if (!strcmp(ctrl, "memory") && l->memory_max) {
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)l->memory_max);
		return set_limit(dir, "memory.limit_in_bytes", buf, err);
	}
	if (!strcmp(ctrl, "cpu") && l->vcpus) {
		snprintf(buf, sizeof(buf), "%d", l->vcpus * 100000);
		int r = set_limit(dir, "cpu.cfs_period_us", "100000", err);
		return r < 0 ? r : set_limit(dir, "cpu.cfs_quota_us", buf, err);
	}
	if (!strcmp(ctrl, "pids") && l->pids_max) {
		snprintf(buf, sizeof(buf), "%d", l->pids_max);
		return set_limit(dir, "pids.max", buf, err);
	}
	return 0;
}

/* The v1 hierarchies' wrenn.slice dirs (memory, cpu, pids), where mounted. */
static size_t v1_parents(char *ret[CGROUP_MAX_DIRS], const char *ret_ctrl[CGROUP_MAX_DIRS])
{
	size_t n = 0;
	for (size_t i = 0; i < CGROUP_MAX_DIRS; i++) {
		cleanup_free char *mnt = xasprintf(CGROUP_ROOT "/%s", v1_ctrls[i]);
		if (!fs_is(mnt, CGROUP_SUPER_MAGIC))
			continue;
		cleanup_free char *own = own_path(v1_ctrls[i]);
		if (!own)
			continue;
		cleanup_free char *base = join(mnt, own);
		ret[n] = xasprintf("%s/" CGROUP_SLICE, base);
		ret_ctrl[n++] = v1_ctrls[i];
	}
	return n;
}

static int open_procs(struct cgroup_set *s, struct wr_err *err)
{
	for (size_t i = 0; i < s->n; i++) {
		cleanup_free char *procs = xasprintf("%s/cgroup.procs", s->dir[i]);
		s->procs_fd[i] = open(procs, O_WRONLY | O_CLOEXEC);
		if (s->procs_fd[i] < 0)
			return wr_err_errno(err, errno, "open %s", procs);
	}
	return 0;
}

int cgroup_create(const char *parent, const char *name, const struct cgroup_limits *l,
		  struct cgroup_set *ret, struct wr_err *err)
{
	*ret = (struct cgroup_set){0};
	for (size_t i = 0; i < CGROUP_MAX_DIRS; i++)
		ret->procs_fd[i] = -1;
	if (!name || !*name || strchr(name, '/') || name[0] == '.')
		return wr_err_set(err, EINVAL, "bad cgroup name \"%s\"", name ? name : "");
	struct cgroup_set s = *ret;
	int r;
	if (strcmp(parent, CGROUP_AUTO)) {
		if (!cgroup_is_v2(parent))
			return wr_err_set(err, EOPNOTSUPP, "%s is not on a cgroup2 filesystem",
					  parent);
		if ((r = mkdir_p(parent, 0755)) < 0)
			return wr_err_errno(err, r, "mkdir %s", parent);
		/* Best effort on the way down; a missing controller fails below. */
		if (!strncmp(parent, CGROUP_ROOT "/", strlen(CGROUP_ROOT) + 1))
			write_str(CGROUP_ROOT, "cgroup.subtree_control", "+memory +cpu +pids");
		write_str(parent, "cgroup.subtree_control", "+memory +cpu +pids");
		r = add_dir(&s, xasprintf("%s/%s", parent, name), err);
		if (r >= 0)
			r = limits_v2(s.dir[0], l, err);
	} else {
		char *slice = NULL;
		r = auto_v2(&slice, err);
		if (r > 0) {
			if (mkdir(slice, 0755) < 0 && errno != EEXIST)
				r = wr_err_errno(err, errno, "mkdir %s", slice);
			else if ((r = write_str(slice, "cgroup.subtree_control",
						"+memory +cpu +pids")) < 0)
				r = wr_err_errno(err, r, "enable controllers in %s", slice);
			if (r >= 0)
				r = add_dir(&s, xasprintf("%s/%s", slice, name), err);
			if (r >= 0)
				r = limits_v2(s.dir[0], l, err);
			free(slice);
		} else if (r == 0) {
			char *parents[CGROUP_MAX_DIRS];
			const char *ctrls[CGROUP_MAX_DIRS];
			size_t n = v1_parents(parents, ctrls);
			s.v1 = true;
			if (n == 0)
				r = wr_err_set(err, EOPNOTSUPP,
					       "no cgroup2 memory controller and no cgroup v1 "
					       "memory/cpu/pids hierarchy under " CGROUP_ROOT);
			for (size_t i = 0; i < n; i++) {
				if (r >= 0 && mkdir(parents[i], 0755) < 0 && errno != EEXIST)
					r = wr_err_errno(err, errno, "mkdir %s", parents[i]);
				if (r >= 0)
					r = add_dir(&s, xasprintf("%s/%s", parents[i], name), err);
				if (r >= 0)
					r = limits_v1(ctrls[i], s.dir[s.n - 1], l, err);
				free(parents[i]);
			}
		}
	}
	if (r >= 0)
		r = open_procs(&s, err);
	if (r < 0) {
		cgroup_set_remove(&s);
		return r;
	}
	*ret = s;
	return 0;
}

int cgroup_of_pid(pid_t pid, const char *name, struct cgroup_set *ret)
{
	*ret = (struct cgroup_set){0};
	for (size_t i = 0; i < CGROUP_MAX_DIRS; i++)
		ret->procs_fd[i] = -1;
	cleanup_free char *path = xasprintf("/proc/%d/cgroup", (int)pid);
	cleanup_free char *buf = NULL;
	if (read_file(path, 1 << 16, &buf, NULL) < 0)
		return -errno;
	cleanup_free char *tail = xasprintf("/" CGROUP_SLICE "/%s", name);
	size_t tl = strlen(tail);
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line && ret->n < CGROUP_MAX_DIRS;
	     line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		const char *p = c2 + 1;
		size_t pl = strlen(p);
		if (pl < tl || strcmp(p + pl - tl, tail))
			continue;
		char *dir = NULL;
		if (!c1[1]) {
			const char *mnt = fs_is(CGROUP_ROOT, CGROUP2_SUPER_MAGIC) ? CGROUP_ROOT
										  : CGROUP_ROOT
						  "/unified";
			dir = xasprintf("%s%s", mnt, p);
		} else {
			for (size_t i = 0; i < CGROUP_MAX_DIRS && !dir; i++)
				if (strstr(c1 + 1, v1_ctrls[i]))
					dir = xasprintf(CGROUP_ROOT "/%s%s", v1_ctrls[i], p);
			ret->v1 = true;
		}
		if (dir) {
			ret->dir[ret->n] = dir;
			ret->procs_fd[ret->n++] = -1;
		}
	}
	return 0;
}

void cgroup_set_close_fds(struct cgroup_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		set_close(s, i);
}

void cgroup_set_remove(struct cgroup_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		cgroup_remove(s->dir[i]);
	cgroup_set_forget(s);
}

void cgroup_set_forget(struct cgroup_set *s)
{
	cgroup_set_close_fds(s);
	for (size_t i = 0; i < s->n; i++) {
		free(s->dir[i]);
		s->dir[i] = NULL;
	}
	s->n = 0;
}

void cgroup_remove_name(const char *parent, const char *name)
{
	if (!parent || !name || !*name || strchr(name, '/') || name[0] == '.')
		return;
	if (strcmp(parent, CGROUP_AUTO)) {
		cleanup_free char *p = xasprintf("%s/%s", parent, name);
		cgroup_remove(p);
		return;
	}
	const char *mnts[] = {CGROUP_ROOT, CGROUP_ROOT "/unified"};
	cleanup_free char *own = own_path(NULL);
	for (size_t i = 0; own && i < ARRAY_SIZE(mnts); i++) {
		if (!fs_is(mnts[i], CGROUP2_SUPER_MAGIC))
			continue;
		cleanup_free char *base = join(mnts[i], own);
		/* The agent may have moved itself into <own>/agent. */
		size_t bl = strlen(base);
		if (bl > 6 && !strcmp(base + bl - 6, "/agent"))
			base[bl - 6] = '\0';
		cleanup_free char *p = xasprintf("%s/" CGROUP_SLICE "/%s", base, name);
		cgroup_remove(p);
		cleanup_free char *rp = xasprintf("%s/" CGROUP_SLICE "/%s", mnts[i], name);
		cgroup_remove(rp);
	}
	char *parents[CGROUP_MAX_DIRS];
	const char *ctrls[CGROUP_MAX_DIRS];
	size_t np = v1_parents(parents, ctrls);
	for (size_t i = 0; i < np; i++) {
		cleanup_free char *p = xasprintf("%s/%s", parents[i], name);
		cgroup_remove(p);
		free(parents[i]);
	}
}

int cgroup_remove(const char *path)
{
	if (!path)
		return 0;
	for (int i = 0; i < 100; i++) {
		if (rmdir(path) == 0 || errno == ENOENT) {
			/* the last sandbox takes the agent's slice with it (see mkdir_in_slice) */
			cleanup_free char *slice = slice_of(path);
			if (slice)
				(void)rmdir(slice);
			return 0;
		}
		if (errno != EBUSY)
			return -errno;
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
	}
	return -EBUSY;
}
