/* SPDX-License-Identifier: MIT */
#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "basic/fdio.h"
#include "basic/spawn.h"
#include "disk/disk.h"
#include "disk/qcow2-template.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *qemu_img(void)
{
	const char *e = getenv("WRENN_QEMU_IMG");
	return e && *e ? e : "/usr/bin/qemu-img";
}

static int qcow2_probe(const char *data_dir, struct wr_err *err)
{
	(void)data_dir;
	if (access(qemu_img(), X_OK) < 0) {
		wr_err_errno(err, errno, "%s", qemu_img());
		return 0;
	}
	return 1;
}

/* Run argv, output (stdout+stderr, trimmed to one line) into out. */
static int run(char *const argv[], char *out, size_t outsz, int *ret_status, struct wr_err *err)
{
	return spawn_capture(argv, NULL, out, outsz, ret_status, err);
}

/* The first clone of a (backing, size) runs qemu-img and keeps what it wrote; later
 * ones write those bytes (see qcow2-template.h): 0 done, < 0 error. */
static int overlay_from_qemu_img(const char *abs, off_t size, const char *dest, bool cacheable,
				 struct wr_err *err)
{
	char *argv[] = {(char *)qemu_img(), "create",	  "-q", "-f", "qcow2", "-F", "raw", "-b",
			(char *)abs,	    (char *)dest, NULL};
	char out[512];
	int st = 0;
	int r = run(argv, out, sizeof(out), &st, err);
	if (r >= 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
		r = wr_err_set(err, EIO, "qemu-img create overlay %s: %s", dest,
			       *out ? out : "failed");
	if (r < 0 || !cacheable)
		return r;
	/* Read back before anything else opens the file: the VMM starts on it only after
	 * clone returns, so these are qemu-img's bytes. */
	cleanup_free char *img = NULL;
	size_t len = 0;
	/* Not kept (unreadable, not qcow2): the next clone runs qemu-img again. */
	if (read_file(dest, 1u << 20, &img, &len) == 0)
		(void)qcow2_tpl_put(abs, size, img, len);
	return 0;
}

static int qcow2_clone(const char *tpl, const char *dest, struct disk_result *ret,
		       struct wr_err *err)
{
	if (strlen(dest) >= sizeof(ret->path))
		return wr_err_set(err, ENAMETOOLONG, "path too long: %s", dest);
	/* The overlay records the backing path; it must be absolute so the
	 * VMM finds it from any working directory (and so a copy of an overlay is
	 * as valid as the original wherever it is written). */
	cleanup_free char *abs = realpath(tpl, NULL);
	if (!abs)
		return wr_err_errno(err, errno, "template %s", tpl);
	struct stat sb;
	if (stat(abs, &sb) < 0)
		return wr_err_errno(err, errno, "template %s", abs);
	/* qemu-img takes the overlay's virtual size from the backing file: only a regular
	 * file's st_size is that size, so only those are cached. */
	bool cacheable = S_ISREG(sb.st_mode);
	/* qemu-img would overwrite an existing file: reserve the name first */
	cleanup_close int fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return wr_err_errno(err, errno, "create %s", dest);
	cleanup_free void *img = NULL;
	size_t len = 0;
	int r;
	if (cacheable && qcow2_tpl_get(abs, sb.st_size, &img, &len) == 1) {
		r = write_full(fd, img, len);
		if (r < 0)
			r = wr_err_errno(err, -r, "write overlay %s", dest);
	} else {
		r = overlay_from_qemu_img(abs, sb.st_size, dest, cacheable, err);
	}
	if (r < 0) {
		unlink(dest);
		return r;
	}
	*ret = (struct disk_result){.format = DISK_FORMAT_QCOW2};
	snprintf(ret->path, sizeof(ret->path), "%s", dest);
	return 0;
}

static int qcow2_remove(const struct disk_result *d, struct wr_err *err)
{
	if (unlink(d->path) < 0 && errno != ENOENT)
		return wr_err_errno(err, errno, "remove %s", d->path);
	return 0;
}

const struct disk_ops disk_qcow2_ops = {
	.name = "qcow2",
	.probe = qcow2_probe,
	.clone = qcow2_clone,
	.remove = qcow2_remove,
};
