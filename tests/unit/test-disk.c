/* SPDX-License-Identifier: MIT */
/* src/disk: dm table/name builders, backend choice, errors of the file backends. */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "disk/disk.h"
#include "disk/dm-table.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dm_params),
		cmocka_unit_test(test_dm_name),
		cmocka_unit_test(test_choose),
		cmocka_unit_test(test_detect_errors),
		cmocka_unit_test(test_clone_errors_leave_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
