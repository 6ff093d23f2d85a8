/* SPDX-License-Identifier: MIT */
#include "init/mounts.h"

#include "basic/cleanup.h"
#include "init/console.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

struct mount_spec {
	const char *source;
	const char *target;
	const char *type;
	unsigned long flags;
	const char *data;
	mode_t mode; /* for the mount point we create */
};

#define NOSUID_NODEV_NOEXEC (MS_NOSUID | MS_NODEV | MS_NOEXEC)

static const struct mount_spec specs[] = {
	{"proc", "/proc", "proc", NOSUID_NODEV_NOEXEC, NULL, 0555},
	{"sysfs", "/sys", "sysfs", NOSUID_NODEV_NOEXEC, NULL, 0555},
	/* the kernel mounts it already with DEVTMPFS_MOUNT; a kernel without it needs us */
	{"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755", 0755},
	{"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "mode=0620,ptmxmode=0666,gid=5",
	 0755},
	{"tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777", 01777},
	{"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755", 0755},
	{"cgroup2", "/sys/fs/cgroup", "cgroup2", NOSUID_NODEV_NOEXEC, "nsdelegate", 0555},
};

/* A directory is a mount point when it is on another device than its parent. */
static int is_mountpoint(const char *path)
{
	struct stat a, b;
	char parent[256];
	if (stat(path, &a) < 0)
		return -errno;
	if (strcmp(path, "/") == 0)
		return 1;
	snprintf(parent, sizeof(parent), "%s/..", path);
	if (stat(parent, &b) < 0)
		return -errno;
	return a.st_dev != b.st_dev;
}

static int mount_one(const struct mount_spec *m)
{
	if (mkdir(m->target, m->mode) < 0 && errno != EEXIST) {
		int e = errno;
		con_log("error: cannot create mount point %s: %s%s", m->target, strerror(e),
			e == ENOSPC  ? " (root filesystem is full)"
			: e == EROFS ? " (root filesystem is read-only)"
				     : "");
		return -e;
	}
	if (is_mountpoint(m->target) > 0)
		return 0;
	if (mount(m->source, m->target, m->type, m->flags, m->data) < 0) {
		int e = errno;
		con_log("error: mount %s on %s: %s", m->type, m->target, strerror(e));
		return -e;
	}
	return 0;
}

int mounts_setup(void)
{
	int failures = 0;
	for (size_t i = 0; i < ARRAY_SIZE(specs); i++)
		if (mount_one(&specs[i]) < 0)
			failures++;
	/* /tmp lives on the root disk, as in E2B's sandboxes: its files take no guest RAM and
	 * keep user xattrs (E2B file metadata), which a tmpfs on this kernel (6.1) does not. */
	if ((mkdir("/tmp", 01777) < 0 && errno != EEXIST) || chmod("/tmp", 01777) < 0) {
		con_log("error: cannot prepare /tmp: %s", strerror(errno));
		failures++;
	}
	/* /dev/ptmx must point at the devpts instance for ptys to work in containers too */
	if (access("/dev/ptmx", F_OK) < 0 && symlink("pts/ptmx", "/dev/ptmx") < 0)
		con_log("warning: cannot create /dev/ptmx: %s", strerror(errno));
	return failures;
}

void mounts_check_root_space(void)
{
	struct statvfs s;
	if (statvfs("/", &s) < 0) {
		con_log("warning: statvfs /: %s", strerror(errno));
		return;
	}
	if (s.f_flag & ST_RDONLY)
		con_log("warning: root filesystem is mounted read-only");
	if (s.f_bavail == 0)
		con_log("error: root filesystem is full (0 blocks free): writes in the sandbox will fail with ENOSPC");
	else if (s.f_favail == 0 && s.f_files > 0)
		con_log("error: root filesystem has no free inodes: creating files will fail");
}
