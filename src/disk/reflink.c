/* SPDX-License-Identifier: MIT */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "disk/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char *why(int e)
{
	return (e == EOPNOTSUPP || e == ENOTTY || e == EINVAL || e == EXDEV)
		       ? "filesystem does not support reflinks (FICLONE)"
		       : strerror(e);
}

/* The only honest test is to clone a block on the data dir's filesystem. */
static int reflink_probe(const char *data_dir, struct wr_err *err)
{
	cleanup_free char *a = xasprintf("%s/.reflink-probe-XXXXXX", data_dir);
	cleanup_free char *b = xasprintf("%s/.reflink-probe-XXXXXX", data_dir);
	cleanup_close int fa = mkostemp(a, O_CLOEXEC);
	if (fa < 0)
		return wr_err_errno(err, errno, "create probe file in %s", data_dir);
	unlink(a);
	cleanup_close int fb = mkostemp(b, O_CLOEXEC);
	if (fb < 0)
		return wr_err_errno(err, errno, "create probe file in %s", data_dir);
	unlink(b);
	char block[4096];
	memset(block, 0x5a, sizeof(block));
	int r = write_full(fa, block, sizeof(block));
	if (r < 0)
		return wr_err_errno(err, -r, "write probe file in %s", data_dir);
	if (ioctl(fb, FICLONE, fa) < 0) {
		wr_err_set(err, EOPNOTSUPP, "%s: %s", data_dir, why(errno));
		return 0;
	}
	return 1;
}

static int reflink_clone(const char *tpl, const char *dest, struct disk_result *ret,
			 struct wr_err *err)
{
	if (strlen(dest) >= sizeof(ret->path))
		return wr_err_set(err, ENAMETOOLONG, "path too long: %s", dest);
	cleanup_close int in = open(tpl, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return wr_err_errno(err, errno, "open template %s", tpl);
	cleanup_close int out = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0)
		return wr_err_errno(err, errno, "create %s", dest);
	if (ioctl(out, FICLONE, in) < 0) {
		int e = errno;
		unlink(dest);
		return wr_err_set(err, e, "reflink %s to %s: %s", tpl, dest, why(e));
	}
	*ret = (struct disk_result){.format = DISK_FORMAT_RAW};
	snprintf(ret->path, sizeof(ret->path), "%s", dest);
	return 0;
}

static int unlink_remove(const struct disk_result *d, struct wr_err *err)
{
	if (unlink(d->path) < 0 && errno != ENOENT)
		return wr_err_errno(err, errno, "remove %s", d->path);
	return 0;
}

const struct disk_ops disk_reflink_ops = {
	.name = "reflink",
	.probe = reflink_probe,
	.clone = reflink_clone,
	.remove = unlink_remove,
};
