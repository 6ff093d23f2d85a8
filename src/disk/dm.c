/* SPDX-License-Identifier: MIT */
#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "disk/disk.h"
#include "disk/dm-table.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/dm-ioctl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define DM_CONTROL "/dev/mapper/control"
#define DM_BUF 4096

static int dm_probe(const char *data_dir, struct wr_err *err)
{
	(void)data_dir;
	if (access(DM_CONTROL, R_OK | W_OK) < 0) {
		wr_err_errno(err, errno, "%s (kernel without device-mapper?)", DM_CONTROL);
		return 0;
	}
	if (access("/dev/loop-control", R_OK | W_OK) < 0) {
		wr_err_errno(err, errno, "/dev/loop-control");
		return 0;
	}
	return 1;
}

/* LOOP_CTL_GET_FREE + LOOP_CONFIGURE; AUTOCLEAR so the device goes away
 * when its last user (our fd, then the dm table) lets go. */
static int loop_attach(int backing, bool ro, int *ret_fd, dev_t *ret_dev, struct wr_err *err)
{
	cleanup_close int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return wr_err_errno(err, errno, "open /dev/loop-control");
	for (int tries = 0; tries < 16; tries++) {
		int n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0)
			return wr_err_errno(err, errno, "LOOP_CTL_GET_FREE");
		char path[32];
		snprintf(path, sizeof(path), "/dev/loop%d", n);
		cleanup_close int fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
		if (fd < 0)
			return wr_err_errno(err, errno, "open %s", path);
		struct loop_config cfg = {.fd = (unsigned int)backing};
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (ro ? LO_FLAGS_READ_ONLY : 0);
		if (ioctl(fd, LOOP_CONFIGURE, &cfg) < 0) {
			if (errno == EBUSY)
				continue; /* raced with another user of that device */
			return wr_err_errno(err, errno, "LOOP_CONFIGURE %s", path);
		}
		struct stat st;
		if (fstat(fd, &st) < 0)
			return wr_err_errno(err, errno, "stat %s", path);
		*ret_dev = st.st_rdev;
		*ret_fd = TAKE_FD(fd);
		return 0;
	}
	return wr_err_set(err, EBUSY, "no free loop device");
}

static struct dm_ioctl *dm_hdr(char *buf, const char *name)
{
	memset(buf, 0, DM_BUF);
	struct dm_ioctl *io = (struct dm_ioctl *)buf;
	io->version[0] = DM_VERSION_MAJOR;
	io->data_size = DM_BUF;
	io->data_start = sizeof(*io);
	snprintf(io->name, sizeof(io->name), "%s", name);
	return io;
}

static int dm_remove_name(int ctl, const char *name, struct wr_err *err)
{
	_Alignas(8) char buf[DM_BUF];
	for (int tries = 0;; tries++) {
		struct dm_ioctl *io = dm_hdr(buf, name);
		if (ioctl(ctl, DM_DEV_REMOVE, io) == 0)
			return 0;
		if (errno == ENXIO)
			return 0;
		if (errno != EBUSY || tries >= 20)
			return wr_err_errno(err, errno, "remove dm device %s", name);
		nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
	}
}

static int dm_clone(const char *tpl, const char *dest, struct disk_result *ret, struct wr_err *err)
{
	/* declared before the first goto: the fail paths run their cleanups */
	cleanup_close int lo_origin = -1, lo_cow = -1;
	char name[DM_NAME_LEN];
	int r = dm_name_for(dest, name, sizeof(name), err);
	if (r < 0)
		return r;
	if (strlen(dest) >= sizeof(ret->cow))
		return wr_err_set(err, ENAMETOOLONG, "path too long: %s", dest);
	cleanup_close int ctl = open(DM_CONTROL, O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return wr_err_errno(err, errno, "open %s", DM_CONTROL);
	cleanup_close int origin = open(tpl, O_RDONLY | O_CLOEXEC);
	if (origin < 0)
		return wr_err_errno(err, errno, "open template %s", tpl);
	struct stat st;
	if (fstat(origin, &st) < 0)
		return wr_err_errno(err, errno, "stat %s", tpl);
	if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size % 512)
		return wr_err_set(err, EINVAL, "template %s: not a non-empty multiple of 512 bytes",
				  tpl);
	cleanup_close int cow = open(dest, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (cow < 0)
		return wr_err_errno(err, errno, "create %s", dest);
	if (ftruncate(cow, (off_t)dm_cow_size((uint64_t)st.st_size)) < 0) {
		r = wr_err_errno(err, errno, "size %s", dest);
		goto fail_file;
	}
	dev_t d_origin, d_cow;
	r = loop_attach(origin, true, &lo_origin, &d_origin, err);
	if (r < 0)
		goto fail_file;
	r = loop_attach(cow, false, &lo_cow, &d_cow, err);
	if (r < 0)
		goto fail_file;

	_Alignas(8) char buf[DM_BUF];
	struct dm_ioctl *io = dm_hdr(buf, name);
	if (ioctl(ctl, DM_DEV_CREATE, io) < 0) {
		r = wr_err_errno(err, errno, "create dm device %s", name);
		goto fail_file;
	}
	dev_t dev = (dev_t)io->dev;

	io = dm_hdr(buf, name);
	io->target_count = 1;
	struct dm_target_spec *spec = (struct dm_target_spec *)(buf + sizeof(*io));
	spec->sector_start = 0;
	spec->length = (uint64_t)st.st_size / 512;
	snprintf(spec->target_type, sizeof(spec->target_type), "snapshot");
	char *params = (char *)(spec + 1);
	r = dm_snapshot_params(params, DM_BUF - sizeof(*io) - sizeof(*spec) - 8, d_origin, d_cow,
			       err);
	if (r < 0)
		goto fail_dm;
	if (ioctl(ctl, DM_TABLE_LOAD, io) < 0) {
		r = wr_err_errno(err, errno, "load snapshot table into %s", name);
		goto fail_dm;
	}
	io = dm_hdr(buf, name); /* DM_DEV_SUSPEND without the suspend flag = resume */
	if (ioctl(ctl, DM_DEV_SUSPEND, io) < 0) {
		r = wr_err_errno(err, errno, "resume %s", name);
		goto fail_dm;
	}
	*ret = (struct disk_result){.format = DISK_FORMAT_RAW};
	/* devtmpfs names the node dm-<minor>; /dev/mapper/<name> needs udev */
	snprintf(ret->path, sizeof(ret->path), "/dev/dm-%u", minor(dev));
	snprintf(ret->cow, sizeof(ret->cow), "%s", dest);
	snprintf(ret->dm_name, sizeof(ret->dm_name), "%s", name);
	return 0; /* loop fds close here; the table keeps the devices */

fail_dm:
	dm_remove_name(ctl, name, NULL);
fail_file:
	unlink(dest);
	return r;
}

static int dm_remove(const struct disk_result *d, struct wr_err *err)
{
	int r = 0;
	if (d->dm_name[0]) {
		cleanup_close int ctl = open(DM_CONTROL, O_RDWR | O_CLOEXEC);
		if (ctl < 0)
			return wr_err_errno(err, errno, "open %s", DM_CONTROL);
		r = dm_remove_name(ctl, d->dm_name, err);
		if (r < 0)
			return r; /* keep the CoW file while the device may use it */
	}
	if (d->cow[0] && unlink(d->cow) < 0 && errno != ENOENT)
		return wr_err_errno(err, errno, "remove %s", d->cow);
	return 0;
}

const struct disk_ops disk_dm_ops = {
	.name = "dm",
	.probe = dm_probe,
	.clone = dm_clone,
	.remove = dm_remove,
};
