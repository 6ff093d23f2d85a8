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

	/* the agent-side TAP open (Cloud Hypervisor's): errors name the namespace or the TAP */
	int fd = -1;
	assert_int_equal(launch_open_tap("wrenn-no-such-ns", "tap0", &fd, &err), -ENOENT);
	assert_non_null(strstr(wr_err_msg(&err), "/run/netns/wrenn-no-such-ns"));
	assert_int_equal(launch_open_tap("a/b", "tap0", &fd, &err), -EINVAL);
	assert_int_equal(launch_open_tap(NULL, "", &fd, &err), -EINVAL);
	assert_int_equal(launch_open_tap(NULL, "tap-name-far-too-long", &fd, &err), -EINVAL);
	assert_int_equal(fd, -1);
}

/* The jail (jail.h) with /bin/sh as the "VMM": its identity, capabilities, what
 * its root holds, read-only vs its own files. */
static void test_jail(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		skip();
		return;
	}
	cleanup_free char *dir = xasprintf("%s/sbj", work);
	cleanup_free char *log = xasprintf("%s/vmmj.log", work);
	cleanup_free char *ro = xasprintf("%s/kernel", work);
	cleanup_free char *rw = xasprintf("%s/disk", work);
	/* the kernel through a link (as images/vmlinux often is): the target is granted */
	cleanup_free char *ro_real = xasprintf("%s/kernel.real", work);
	assert_int_equal(write_file_atomic(ro_real, "kernel\n", 7, 0600), 0);
	assert_int_equal(symlink(ro_real, ro), 0);
	assert_int_equal(write_file_atomic(rw, "disk\n", 5, 0644), 0);
	cleanup_free char *script = xasprintf(
		"id -u; id -g; id -G; ls -A /; cat %s/vmlinux; echo x >>%s/rootfs && echo rw-ok; "
		"(echo x >>%s) 2>/dev/null || echo ro-denied; test -e /etc/passwd || echo no-passwd; "
		"test -e /proc/self || echo no-proc; test -e %s || echo no-log; ls /dev; echo ready; "
		"sleep 2",
		dir, dir, ro, log);
	char *argv[] = {"/bin/sh", "-c", script, NULL};
	const char *ros[] = {ro, NULL}, *rws[] = {rw, NULL};
	struct jail_spec j = {
		.uid = 64991, .gid = 64991, .shared_gid = 64990, .ro = ros, .rw = rws};
	struct launch_spec s = {.sandbox_dir = dir,
				.kernel_path = ro,
				.rootfs_path = rw,
				.log_path = log,
				.argv = argv,
				.jail = &j};
	struct launched l;
	struct wr_err err = {0};
	int r = launch_vmm(&s, &l, &err);
	if (r < 0)
		fail_msg("launch: %s", wr_err_msg(&err));
	cleanup_free char *out = NULL;
	for (int i = 0; i < 500; i++) {
		free(out);
		out = NULL;
		if (read_file(log, 1 << 16, &out, NULL) == 0 && strstr(out, "ready\n"))
			break;
		usleep(10000);
	}
	assert_non_null(strstr(out, "ready\n"));
	cleanup_free char *statp = xasprintf("/proc/%d/status", (int)l.pid);
	cleanup_free char *st = NULL;
	assert_int_equal(read_file(statp, 1 << 16, &st, NULL), 0);
	assert_non_null(strstr(st, "Uid:\t64991\t64991\t64991\t64991"));
	assert_non_null(strstr(st, "Gid:\t64991\t64991\t64991\t64991"));
	assert_non_null(strstr(st, "NoNewPrivs:\t1"));
	const char *caps[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
	for (size_t i = 0; i < ARRAY_SIZE(caps); i++) {
		cleanup_free char *want = xasprintf("%s:\t0000000000000000", caps[i]);
		assert_non_null(strstr(st, want));
	}
	assert_int_equal(launched_wait(&l, 10000), 0);
	assert_int_equal(l.exit_status, 0);
	assert_non_null(strstr(out, "64991\n64991\n64991 64990\n"));
	/* the root: merged-/usr links, dev, the files' parents (under /tmp), usr */
	assert_non_null(strstr(out, "\nusr\n"));
	assert_non_null(strstr(out, "\ndev\n"));
	assert_null(strstr(out, "\nhome\n"));
	assert_null(strstr(out, "\nproc\n"));
	assert_null(strstr(out, "\nvar\n"));
	assert_non_null(strstr(
		out, "kernel\nrw-ok\nro-denied\nno-passwd\nno-proc\nno-log\nnull\nurandom\n"));
	/* its own file is its uid's; the read-only one is readable by the shared group */
	struct stat sr, sw;
	assert_int_equal(stat(ro, &sr), 0);
	assert_int_equal(stat(rw, &sw), 0);
	assert_int_equal(sw.st_uid, 64991);
	assert_int_equal(sr.st_uid, 0);
	assert_int_equal(sr.st_gid, 64990);
	assert_int_equal(sr.st_mode & 0777, 0640);
	launched_done(&l);
	assert_false(host_has_mount(dir));
}

static void test_jail_range(void **state)
{
	(void)state;
	struct wr_err err = {0};
	assert_int_equal(jail_check_range(0, 10, &err), -EINVAL);
	/* root's and nobody's ids are taken on any host */
	assert_int_equal(jail_check_range(65530, 10, &err), -EEXIST);
	assert_non_null(strstr(wr_err_msg(&err), "65534"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_links_log_and_cleanup),
		cmocka_unit_test(test_stop_kills_group),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_jail),
		cmocka_unit_test(test_jail_range),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
