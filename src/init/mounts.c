/* SPDX-License-Identifier: MIT */
#include "init/mounts.h"

#include "basic/cleanup.h"
#include "init/cmdline.h"
#include "init/console.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* /dev/<name> of the virtio disk whose serial is `serial`, or -ENOENT. */
static int find_disk(const char *serial, char *dev, size_t devsz)
{
	DIR *d = opendir("/sys/block");
	if (!d)
		return -errno;
	int r = -ENOENT;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "vd", 2))
			continue;
		char path[300], buf[64] = {0};
		snprintf(path, sizeof(path), "/sys/block/%s/serial", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
			n--;
		if (n > 0 && (size_t)n == strlen(serial) && !memcmp(buf, serial, (size_t)n)) {
			snprintf(dev, devsz, "/dev/%s", e->d_name);
			r = 0;
			break;
		}
	}
	closedir(d);
	return r;
}

/* mkdir -p with 0755 (the path was checked: absolute, no . or ..) */
static int make_dirs(const char *path)
{
	char buf[256];
	snprintf(buf, sizeof(buf), "%s", path);
	for (char *s = buf + 1;; s++) {
		if (*s != '/' && *s)
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		if (!c)
			return 0;
		*s = c;
	}
}

int mounts_volumes(const char *cmdline)
{
	struct init_vol v[INIT_VOL_MAX];
	size_t n = 0;
	struct wr_err err = {0};
	if (cmdline_volumes(cmdline, v, &n, &err) < 0) {
		con_log("error: volumes: %s", wr_err_msg(&err));
		return 1;
	}
	int failures = 0;
	for (size_t i = 0; i < n; i++) {
		char dev[300];
		int r = -ENOENT;
		/* the disk shows up with the virtio probe; give it a moment */
		for (int tries = 0;
		     tries < 50 && (r = find_disk(v[i].serial, dev, sizeof(dev))) < 0; tries++)
			usleep(20000);
		if (r < 0) {
			con_log("error: volume %s: no disk with that serial: %s", v[i].serial,
				strerror(-r));
			failures++;
			continue;
		}
		struct stat st;
		if (lstat(v[i].path, &st) == 0 && !S_ISDIR(st.st_mode)) {
			con_log("error: volume %s: %s exists and is not a directory", v[i].serial,
				v[i].path);
			failures++;
			continue;
		}
		if ((r = make_dirs(v[i].path)) < 0 ||
		    (mount(dev, v[i].path, "ext4", MS_NOSUID | MS_NODEV, NULL) < 0 &&
		     (r = -errno))) {
			con_log("error: volume %s: mount %s on %s: %s", v[i].serial, dev, v[i].path,
				strerror(-r));
			failures++;
		}
	}
	return failures;
}
