/* SPDX-License-Identifier: MIT */
/* src/disk: dm table/name builders, backend choice, errors of the file backends. */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "disk/disk.h"
#include "disk/dm-table.h"
#include "disk/qcow2-template.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static void test_dm_params(void **state)
{
	(void)state;
	char b[64];
	assert_int_equal(dm_snapshot_params(b, sizeof(b), makedev(7, 3), makedev(7, 12), NULL), 0);
	assert_string_equal(b, "7:3 7:12 P 8");
	assert_int_equal(
		dm_snapshot_params(b, sizeof(b), makedev(259, 1048575), makedev(7, 0), NULL), 0);
	assert_string_equal(b, "259:1048575 7:0 P 8");
	struct wr_err e = {0};
	assert_int_equal(dm_snapshot_params(b, 8, makedev(7, 3), makedev(7, 12), &e), -ENOBUFS);
}

static void test_dm_name(void **state)
{
	(void)state;
	char b[128];
	assert_int_equal(
		dm_name_for("/var/lib/wrenn/sandboxes/cl-ab12/rootfs.cow", b, sizeof(b), NULL), 0);
	assert_string_equal(b, "wrenn-cl-ab12");
	struct wr_err e = {0};
	assert_int_equal(dm_name_for("rootfs.cow", b, sizeof(b), &e), -EINVAL);
	assert_int_equal(dm_name_for("/rootfs.cow", b, sizeof(b), &e), -EINVAL);
	assert_int_equal(dm_name_for("/a/../rootfs.cow", b, sizeof(b), &e), -EINVAL);
	assert_int_equal(dm_name_for("/a/b c/rootfs.cow", b, sizeof(b), &e), -EINVAL);
	assert_int_equal(dm_name_for("/a/abcdefgh/x", b, 10, &e), -ENAMETOOLONG);
	assert_true(dm_cow_size(1u << 30) > (1u << 30));
}

static void test_choose(void **state)
{
	(void)state;
	struct disk_probe_result p = {.dm_ok = true, .reflink_ok = true, .qcow2_ok = true};
	assert_string_equal(disk_choose(&p), "reflink"); /* dm only when enabled */
	p.dm_enabled = true;
	assert_string_equal(disk_choose(&p), "dm");
	p.dm_ok = false;
	assert_string_equal(disk_choose(&p), "reflink");
	p.reflink_ok = false;
	assert_string_equal(disk_choose(&p), "qcow2");
	p.qcow2_ok = false;
	assert_null(disk_choose(&p)); /* never a silent full copy */
	assert_ptr_equal(disk_ops_by_name("qcow2"), &disk_qcow2_ops);
	assert_null(disk_ops_by_name("copy"));
	assert_null(disk_ops_by_name(NULL));
}

static void test_detect_errors(void **state)
{
	(void)state;
	const struct disk_ops *o = NULL;
	struct wr_err e = {0};
	assert_int_equal(disk_detect("/tmp", "floppy", &o, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "floppy"));
	wr_err_clear(&e);
	assert_true(disk_detect("/nonexistent/wrenn", NULL, &o, &e) < 0);
	assert_non_null(strstr(e.msg, "/nonexistent/wrenn"));
	wr_err_clear(&e);
	/* no qemu-img and (on tmpfs/ext4) no reflink: a clear refusal */
	setenv("WRENN_QEMU_IMG", "/nonexistent/qemu-img", 1);
	assert_int_equal(disk_detect("/tmp", "qcow2", &o, &e), -EOPNOTSUPP);
	assert_non_null(strstr(e.msg, "/nonexistent/qemu-img"));
	unsetenv("WRENN_QEMU_IMG");
}

static void test_clone_errors_leave_nothing(void **state)
{
	(void)state;
	cleanup_free char *d = xstrdup("/tmp/test-disk-XXXXXX");
	assert_non_null(mkdtemp(d));
	cleanup_free char *tpl = xasprintf("%s/tpl", d);
	cleanup_free char *dst = xasprintf("%s/clone", d);
	cleanup_free char *missing = xasprintf("%s/missing", d);
	assert_int_equal(write_file_atomic(tpl, "x", 1, 0644), 0);
	struct disk_result r;
	struct wr_err e = {0};
	assert_int_equal(disk_reflink_ops.clone(missing, dst, &r, &e), -ENOENT);
	assert_int_equal(access(dst, F_OK), -1);
	assert_int_equal(disk_qcow2_ops.clone(missing, dst, &r, &e), -ENOENT);
	assert_int_equal(access(dst, F_OK), -1);
	/* an existing destination is never overwritten */
	assert_int_equal(write_file_atomic(dst, "keep", 4, 0644), 0);
	assert_int_equal(disk_qcow2_ops.clone(tpl, dst, &r, &e), -EEXIST);
	assert_int_equal(disk_reflink_ops.clone(tpl, dst, &r, &e), -EEXIST);
	cleanup_free char *got = NULL;
	assert_int_equal(read_file(dst, 64, &got, NULL), 0);
	assert_string_equal(got, "keep");
	/* removing what is already gone is fine */
	struct disk_result gone = {.format = DISK_FORMAT_RAW};
	snprintf(gone.path, sizeof(gone.path), "%s", missing);
	assert_int_equal(disk_reflink_ops.remove(&gone, NULL), 0);
	assert_int_equal(rm_rf(d), 0);
}

static void qemu_img_create(const char *backing, const char *dest)
{
	cleanup_free char *cmd =
		xasprintf("/usr/bin/qemu-img create -q -f qcow2 -F raw -b %s %s", backing, dest);
	assert_int_equal(system(cmd), 0);
}

static void assert_same_file(const char *a, const char *b)
{
	cleanup_free char *x = NULL, *y = NULL;
	size_t xn = 0, yn = 0;
	assert_int_equal(read_file(a, 1u << 20, &x, &xn), 0);
	assert_int_equal(read_file(b, 1u << 20, &y, &yn), 0);
	assert_int_equal(xn, yn);
	assert_memory_equal(x, y, xn);
}

/* Only the first clone of a (template, size) runs qemu-img; the others copy its bytes and
 * are the file qemu-img would have made (qemu-img check/info agree). */
static void test_qcow2_overlay_copy(void **state)
{
	(void)state;
	if (access("/usr/bin/qemu-img", X_OK) < 0)
		skip();
	qcow2_tpl_flush();
	cleanup_free char *d = xstrdup("/tmp/test-disk-XXXXXX");
	assert_non_null(mkdtemp(d));
	cleanup_free char *tpl = xasprintf("%s/tpl.raw", d);
	cleanup_free char *rel = xasprintf("%s/./tpl.raw", d);
	cleanup_free char *a = xasprintf("%s/a.qcow2", d);
	cleanup_free char *b = xasprintf("%s/b.qcow2", d);
	cleanup_free char *c = xasprintf("%s/c.qcow2", d);
	cleanup_free char *ref = xasprintf("%s/ref.qcow2", d);
	assert_int_equal(write_file_atomic(tpl, "x", 1, 0644), 0);
	assert_int_equal(truncate(tpl, 64 << 20), 0);
	struct disk_result r;
	struct wr_err e = {0};
	assert_int_equal(disk_qcow2_ops.clone(tpl, a, &r, &e), 0);
	assert_int_equal(r.format, DISK_FORMAT_QCOW2);
	/* no qemu-img any more: the second clone is the cached copy, under another name of
	 * the same template */
	setenv("WRENN_QEMU_IMG", "/nonexistent/qemu-img", 1);
	assert_int_equal(disk_qcow2_ops.clone(rel, b, &r, &e), 0);
	assert_string_equal(r.path, b);
	unsetenv("WRENN_QEMU_IMG");
	qemu_img_create(tpl, ref);
	assert_same_file(a, ref);
	assert_same_file(b, ref);
	cleanup_free char *check = xasprintf("/usr/bin/qemu-img check -q %s", b);
	assert_int_equal(system(check), 0);
	cleanup_free char *info =
		xasprintf("/usr/bin/qemu-img info %s | grep -qx 'backing file: %s' && "
			  "/usr/bin/qemu-img info %s | grep -q '(67108864 bytes)'",
			  b, tpl, b);
	assert_int_equal(system(info), 0);
	/* a template that grew is another overlay (its virtual size), made by qemu-img again */
	assert_int_equal(truncate(tpl, 96 << 20), 0);
	setenv("WRENN_QEMU_IMG", "/nonexistent/qemu-img", 1);
	assert_true(disk_qcow2_ops.clone(tpl, c, &r, &e) < 0);
	assert_int_equal(access(c, F_OK), -1);
	unsetenv("WRENN_QEMU_IMG");
	assert_int_equal(disk_qcow2_ops.clone(tpl, c, &r, &e), 0);
	assert_int_equal(unlink(ref), 0);
	qemu_img_create(tpl, ref);
	assert_same_file(c, ref);
	/* an existing destination is still never overwritten by a copy */
	assert_int_equal(disk_qcow2_ops.clone(tpl, a, &r, &e), -EEXIST);
	/* what does not look like qcow2 is never kept */
	assert_int_equal(qcow2_tpl_put(tpl, 1, "not a qcow2 image at all", 24), -EINVAL);
	qcow2_tpl_flush();
	assert_int_equal(rm_rf(d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dm_params),
		cmocka_unit_test(test_dm_name),
		cmocka_unit_test(test_choose),
		cmocka_unit_test(test_detect_errors),
		cmocka_unit_test(test_clone_errors_leave_nothing),
		cmocka_unit_test(test_qcow2_overlay_copy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
