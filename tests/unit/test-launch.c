/* SPDX-License-Identifier: MIT */
/* The launcher with /bin/sh as the "VMM": private tmpfs + links, log,
 * process group, exec failure reporting, cleanup. Needs root (mount ns). */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "vm/launch.h"

#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char work[64];

static int setup(void **state)
{
	(void)state;
	strcpy(work, "/tmp/test-launch-XXXXXX");
	return mkdtemp(work) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	rm_rf(work);
	return 0;
}

static bool host_has_mount(const char *dir)
{
	cleanup_free char *m = NULL;
	if (read_file("/proc/self/mounts", 1 << 20, &m, NULL) < 0)
		return false;
	cleanup_free char *needle = xasprintf(" %s ", dir);
	return strstr(m, needle) != NULL;
}

static void test_links_log_and_cleanup(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		skip();
		return;
	}
	cleanup_free char *dir = xasprintf("%s/sb", work);
	cleanup_free char *log = xasprintf("%s/vmm.log", work);
	cleanup_free char *script = xasprintf(
		"readlink %s/vmlinux %s/rootfs; stat -f -c %%T %s; echo pgid=$(ps -o pgid= "
		"$$ | tr -d ' ') pid=$$; echo err >&2",
		dir, dir, dir);
	char *argv[] = {"sh", "-c", script, NULL};
	struct launch_spec s = {.sandbox_dir = dir,
				.kernel_path = "/etc/hostname",
				.rootfs_path = "/etc/passwd",
				.log_path = log,
				.argv = argv,
				/* not cgroup2 here: a warning, not a failure */
				.cgroup_parent = work,
				.cgroup_name = "cl-x"};
	struct launched l;
	struct wr_err err = {0};
	assert_int_equal(launch_vmm(&s, &l, &err), 0);
	assert_true(l.pidfd >= 0);
	assert_non_null(l.warning);
	assert_non_null(strstr(l.warning, "not on a cgroup2 filesystem"));
	assert_int_equal(l.cg.n, 0);
	assert_int_equal(launched_wait(&l, 10000), 0);
	assert_int_equal(l.exit_status, 0);
	cleanup_free char *out = NULL;
	assert_int_equal(read_file(log, 1 << 16, &out, NULL), 0);
	assert_non_null(strstr(out, "/etc/hostname\n/etc/passwd\ntmpfs\n"));
	char want[64];
	snprintf(want, sizeof(want), "pgid=%d pid=%d", l.pid, l.pid);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "err\n"));
	/* the tmpfs lived only in the child's mount namespace */
	assert_false(host_has_mount(dir));
	launched_done(&l);
	assert_int_equal(access(dir, F_OK), -1); /* dir made by the launcher is removed */
	launched_done(&l);			 /* twice is fine */
}

static void test_stop_kills_group(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		skip();
		return;
	}
	cleanup_free char *dir = xasprintf("%s/sb2", work);
	cleanup_free char *log = xasprintf("%s/vmm2.log", work);
	cleanup_free char *pidf = xasprintf("%s/child.pid", work);
	cleanup_free char *script =
		xasprintf("trap '' TERM; sleep 100 & echo $! > %s; wait; sleep 100", pidf);
	char *argv[] = {"/bin/sh", "-c", script, NULL};
	struct launch_spec s = {.sandbox_dir = dir, .log_path = log, .argv = argv};
	struct launched l;
	struct wr_err err = {0};
	assert_int_equal(launch_vmm(&s, &l, &err), 0);
	cleanup_free char *pid = NULL;
	for (int i = 0; i < 500 && read_file(pidf, 64, &pid, NULL) < 0; i++)
		usleep(10000);
	assert_non_null(pid);
	pid_t child = atoi(pid);
	assert_true(launched_alive(&l));
	assert_int_equal(launched_wait(&l, 50), -ETIMEDOUT);
	/* the leader ignores SIGTERM: the launcher must escalate to SIGKILL */
	launched_stop(&l, 200);
	assert_false(launched_alive(&l));
	assert_true(l.reaped);
	usleep(100000);
	/* the grandchild went with the group (dead or a zombie awaiting init) */
	cleanup_free char *statp = xasprintf("/proc/%d/stat", child);
	cleanup_free char *st = NULL;
	if (read_file(statp, 4096, &st, NULL) == 0)
		assert_non_null(strstr(st, ") Z "));
	launched_done(&l);
}

static void test_errors(void **state)
{
	(void)state;
	cleanup_free char *dir = xasprintf("%s/sb3", work);
	cleanup_free char *log = xasprintf("%s/vmm3.log", work);
	struct launched l;
	struct wr_err err = {0};
	char *missing[] = {"/nonexistent/qemu", NULL};
	struct launch_spec s = {.sandbox_dir = dir, .log_path = log, .argv = missing};
	assert_int_equal(launch_vmm(&s, &l, &err), -ENOENT);
	assert_non_null(strstr(wr_err_msg(&err), "/nonexistent/qemu"));

	char *sh[] = {"/bin/sh", "-c", "true", NULL};
	s.argv = sh;
	s.netns = "wrenn-no-such-ns";
	assert_int_equal(launch_vmm(&s, &l, &err), -ENOENT);
	assert_non_null(strstr(wr_err_msg(&err), "/run/netns/wrenn-no-such-ns"));
	s.netns = NULL;
	s.kernel_path = "/nonexistent/vmlinux";
	assert_int_equal(launch_vmm(&s, &l, &err), -ENOENT);
	assert_non_null(strstr(wr_err_msg(&err), "kernel /nonexistent/vmlinux"));
	s.kernel_path = NULL;
	if (geteuid() == 0) {
		/* a directory passes access(X_OK) but exec fails: reported via the pipe */
		char *direxe[] = {"/tmp", NULL};
		s.argv = direxe;
		assert_int_equal(launch_vmm(&s, &l, &err), -EACCES);
		assert_non_null(strstr(wr_err_msg(&err), "exec"));
		assert_int_equal(access(dir, F_OK), -1);
	}
	/* nothing leaked: no pidfd, no dir */
	assert_int_equal(l.pidfd, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_links_log_and_cleanup),
		cmocka_unit_test(test_stop_kills_group),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
