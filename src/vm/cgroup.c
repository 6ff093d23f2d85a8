/* SPDX-License-Identifier: MIT */
#include "vm/cgroup.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

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

static int write_str(const char *dir, const char *file, const char *s)
{
	cleanup_free char *p = xasprintf("%s/%s", dir, file);
	cleanup_close int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return write_full(fd, s, strlen(s));
}

/* Controllers must be enabled in every ancestor's subtree_control for the
 * leaf to have memory.max / cpu.weight; failure just means no limit. */
static void enable_controllers(const char *parent)
{
	cleanup_free char *p = xstrdup(parent);
	char *root_end = strstr(p, "/sys/fs/cgroup") == p ? p + strlen("/sys/fs/cgroup") : NULL;
	if (root_end) {
		char saved = *root_end;
		*root_end = '\0';
		write_str(p, "cgroup.subtree_control", "+memory +cpu");
		*root_end = saved;
	}
	write_str(parent, "cgroup.subtree_control", "+memory +cpu");
}

int cgroup_create(const char *parent, const char *name, uint64_t memory_max, int cpu_weight,
		  char **ret_path, int *ret_procs_fd, struct wr_err *err)
{
	if (!cgroup_is_v2(parent))
		return wr_err_set(err, EOPNOTSUPP, "%s is not on a cgroup2 filesystem", parent);
	int r = mkdir_p(parent, 0755);
	if (r < 0)
		return wr_err_errno(err, r, "mkdir %s", parent);
	enable_controllers(parent);
	cleanup_free char *path = xasprintf("%s/%s", parent, name);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return wr_err_errno(err, errno, "mkdir %s", path);
	char buf[32];
	if (memory_max) {
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)memory_max);
		if ((r = write_str(path, "memory.max", buf)) < 0) {
			cgroup_remove(path);
			return wr_err_errno(err, r, "%s/memory.max", path);
		}
	}
	if (cpu_weight) {
		snprintf(buf, sizeof(buf), "%d", cpu_weight);
		if ((r = write_str(path, "cpu.weight", buf)) < 0) {
			cgroup_remove(path);
			return wr_err_errno(err, r, "%s/cpu.weight", path);
		}
	}
	cleanup_free char *procs = xasprintf("%s/cgroup.procs", path);
	int fd = open(procs, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		r = wr_err_errno(err, errno, "open %s", procs);
		cgroup_remove(path);
		return r;
	}
	*ret_procs_fd = fd;
	*ret_path = TAKE_PTR(path);
	return 0;
}

int cgroup_remove(const char *path)
{
	if (!path)
		return 0;
	for (int i = 0; i < 100; i++) {
		if (rmdir(path) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -errno;
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
	}
	return -EBUSY;
}
