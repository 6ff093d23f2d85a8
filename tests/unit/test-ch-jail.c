/* SPDX-License-Identifier: MIT */
/*
 * Cloud Hypervisor jailed, end to end: the backend (vmm-ch.c) drives the fake
 * CH program (fake-ch-main.c, built with the tests) through the real launcher
 * and jail, in a network namespace of the test's own with a persistent tap0.
 * What the VMM process is (/proc/<pid>/status: uid, NoNewPrivs, capabilities;
 * its root; its fds: the API socket at fd 4, the TAP it got over the socket),
 * and that create, boot, pause, snapshot (through the staging directory),
 * restore (the TAP again, the snapshot files read-only), re-attach and stop
 * work through it.  The fake reaches files only through the jail, so a path
 * the backend sent from outside it fails the call.  Needs root; the real
 * binary is tried only in test_real_ch, skipped without it.
 */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "vm/ch-api.h"
#include "vm/vmm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
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

#define UID 64981
#define SHARED_GID 64980

static char work[64];
static char ns[48];
static char fake[PATH_MAX];
static char fake_top[64]; /* the fake's first path component: the jail shows it */
static pid_t vmm_pids[4]; /* the VMMs launched, killed by teardown if a test failed */

static void track(pid_t pid)
{
	for (size_t i = 0; i < ARRAY_SIZE(vmm_pids); i++)
		if (!vmm_pids[i]) {
			vmm_pids[i] = pid;
			return;
		}
}

static int run(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cleanup_free char *cmd = NULL;
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	return system(cmd);
}

static int setup(void **state)
{
	(void)state;
	if (geteuid() != 0)
		return 0;
	strcpy(work, "/tmp/test-chjail-XXXXXX");
	if (!mkdtemp(work))
		return -1;
	snprintf(ns, sizeof(ns), "wrenn-tchj-%d", (int)getpid());
	/* the slot's namespace as net/tap.c makes it: a persistent IFF_TAP|IFF_NO_PI tap0, up */
	if (run("ip netns add %s && ip -n %s tuntap add dev tap0 mode tap && "
		"ip -n %s link set tap0 up",
		ns, ns, ns) != 0)
		return -1;
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = '\0';
	snprintf(fake, sizeof(fake), "%s/fake-cloud-hypervisor", dirname(self));
	size_t top = strcspn(fake + 1, "/");
	if (top >= sizeof(fake_top))
		return -1;
	memcpy(fake_top, fake + 1, top);
	fake_top[top] = '\0';
	return access(fake, X_OK);
}

static int teardown(void **state)
{
	(void)state;
	if (geteuid() != 0)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(vmm_pids); i++)
		if (vmm_pids[i] > 0)
			kill(-vmm_pids[i], SIGKILL); /* its own process group (launch.h) */
	run("ip netns del %s 2>/dev/null", ns);
	rm_rf(work);
	return 0;
}

static char *wpath(const char *name)
{
	return xasprintf("%s/%s", work, name);
}

static void config(struct vm_config *c, const char *bin)
{
	cleanup_free char *kernel = wpath("vmlinux");
	cleanup_free char *disk = wpath("rootfs.img");
	cleanup_free char *sock = wpath("api.sock");
	cleanup_free char *vmdir = wpath("vm");
	vm_config_set(&c->sandbox_id, "cl-chjail");
	vm_config_set(&c->kernel_path, kernel);
	vm_config_set(&c->rootfs_path, disk);
	vm_config_set(&c->network_namespace, ns);
	vm_config_set(&c->guest_ip, VM_GUEST_IP);
	vm_config_set(&c->gateway_ip, VM_GATEWAY_IP);
	vm_config_set(&c->net_mask, VM_NET_MASK);
	vm_config_set(&c->socket_path, sock);
	vm_config_set(&c->sandbox_dir, vmdir);
	vm_config_set(&c->vmm_bin, bin);
	vm_config_apply_defaults(c);
}

static struct vmm_params params(const struct vm_config *c, const char *log)
{
	return (struct vmm_params){.cfg = c,
				   .kind = VMM_KIND_CH,
				   .accel = VM_ACCEL_TCG, /* no /dev/kvm in the jail here */
				   .log_path = log,
				   .api_timeout_ms = 5000,
				   .jail_uid = UID,
				   .jail_gid = UID,
				   .jail_shared_gid = SHARED_GID};
}

static char *proc_file(pid_t pid, const char *what)
{
	cleanup_free char *p = xasprintf("/proc/%d/%s", (int)pid, what);
	char *out = NULL;
	size_t len = 0;
	if (read_file(p, 1 << 16, &out, &len) < 0)
		fail_msg("read %s", p);
	for (size_t i = 0; i < len; i++)
		if (out[i] == '\0')
			out[i] = ' '; /* cmdline */
	return out;
}

/* The process is the jail's: its uid/gid, no capability in any set, no_new_privs,
 * and a root holding only the jail's entries. */
static void assert_jailed(pid_t pid)
{
	cleanup_free char *st = proc_file(pid, "status");
	cleanup_free char *uid = xasprintf("Uid:\t%d\t%d\t%d\t%d\n", UID, UID, UID, UID);
	cleanup_free char *gid = xasprintf("Gid:\t%d\t%d\t%d\t%d\n", UID, UID, UID, UID);
	cleanup_free char *groups = xasprintf("Groups:\t%d \n", SHARED_GID);
	assert_non_null(strstr(st, uid));
	assert_non_null(strstr(st, gid));
	assert_non_null(strstr(st, groups));
	assert_non_null(strstr(st, "NoNewPrivs:\t1\n"));
	const char *caps[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
	for (size_t i = 0; i < ARRAY_SIZE(caps); i++) {
		cleanup_free char *want = xasprintf("%s:\t0000000000000000\n", caps[i]);
		assert_non_null(strstr(st, want));
	}
	/* its root: what the jail put there (work's first component is "tmp"), nothing else */
	static const char *const allowed[] = {"usr",   "bin",	 "sbin", "lib", "lib64",
					      "lib32", "libx32", "dev",	 "etc", "tmp"};
	cleanup_free char *root = xasprintf("/proc/%d/root", (int)pid);
	DIR *d = opendir(root);
	assert_non_null(d);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		bool ok = !strcmp(de->d_name, fake_top);
		for (size_t i = 0; i < ARRAY_SIZE(allowed); i++)
			ok = ok || !strcmp(de->d_name, allowed[i]);
		if (!ok)
			fail_msg("jail root has %s", de->d_name);
		n++;
	}
	closedir(d);
	assert_true(n >= 3);
	const char *absent[] = {"/etc/passwd", "/proc/self",   "/home",
				"/var",	       "/dev/net/tun", "/root"};
	for (size_t i = 0; i < ARRAY_SIZE(absent); i++) {
		cleanup_free char *p = xasprintf("%s%s", root, absent[i]);
		if (access(p, F_OK) == 0)
			fail_msg("%s is visible in the jail", absent[i]);
	}
	/* of the work directory only what it was given: not the log, not the socket */
	cleanup_free char *log = xasprintf("%s%s/vmm.log", root, work);
	cleanup_free char *sock = xasprintf("%s%s/api.sock", root, work);
	assert_int_equal(access(log, F_OK), -1);
	assert_int_equal(access(sock, F_OK), -1);
	/* the API socket was handed over (fd=4); the TAP came over it, not inherited at
	 * LAUNCH_TAP_FD (3: whatever the VMM opened itself, never the TAP) */
	cleanup_free char *cmd = proc_file(pid, "cmdline");
	assert_non_null(strstr(cmd, "--api-socket fd=4"));
	cleanup_free char *fd3 = xasprintf("/proc/%d/fd/3", (int)pid);
	char l[64] = "";
	ssize_t n3 = readlink(fd3, l, sizeof(l) - 1);
	assert_true(n3 < 0 || strncmp(l, "/dev/net/tun", 12));
}

/* The TAP the VMM holds: an fd on /dev/net/tun attached to tap0 (fdinfo "iff:"). */
static bool holds_tap(pid_t pid)
{
	cleanup_free char *dir = xasprintf("/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	assert_non_null(d);
	bool found = false;
	struct dirent *de;
	while (!found && (de = readdir(d))) {
		cleanup_free char *info = xasprintf("/proc/%d/fdinfo/%s", (int)pid, de->d_name);
		cleanup_free char *s = NULL;
		if (read_file(info, 4096, &s, NULL) == 0 && strstr(s, "iff:\ttap0"))
			found = true;
	}
	closedir(d);
	return found;
}

static void assert_state(struct vmm *v, enum vmm_state want)
{
	enum vmm_state st;
	struct wr_err err = {0};
	if (vmm_info(v, &st, &err) < 0)
		fail_msg("vm.info: %s", wr_err_msg(&err));
	assert_int_equal(st, want);
}

#define OK(call)                                                                                   \
	do {                                                                                       \
		struct wr_err err_ = {0};                                                          \
		err = &err_;                                                                       \
		if ((call) < 0)                                                                    \
			fail_msg("%s: %s", #call, wr_err_msg(&err_));                              \
	} while (0)

static void test_jailed_lifecycle(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		skip();
		return;
	}
	struct wr_err *err = NULL;
	cleanup_free char *kernel = wpath("vmlinux");
	cleanup_free char *disk = wpath("rootfs.img");
	cleanup_free char *log = wpath("vmm.log");
	cleanup_free char *snap = wpath("snap");
	cleanup_free char *stage = wpath("api.sock.snapshot");
	cleanup_free char *sock = wpath("api.sock");
	/* the kernel root's and unreadable to others (the jail grants its shared group) */
	assert_int_equal(write_file_atomic(kernel, "kernel", 6, 0600), 0);
	assert_int_equal(write_file_atomic(disk, "raw disk image stand-in.........", 32, 0644), 0);
	struct vm_config c = {0};
	config(&c, fake);
	struct vmm_params p = params(&c, log);
	struct vmm *v = NULL;
	OK(vmm_new(&p, &v, err));
	OK(vmm_start(v, err));
	pid_t pid = vmm_pid(v);
	track(pid);
	assert_jailed(pid);
	assert_state(v, VMM_STATE_CREATED);
	/* boot opens the kernel and the disk through the <SandboxDir> links inside the
	 * jail, and the NIC's fd as a TAP */
	OK(vmm_boot(v, err));
	assert_state(v, VMM_STATE_RUNNING);
	assert_true(holds_tap(pid));
	/* the API socket: the launcher's, root's, 0600; no <socket>.lock (fd=, not path=) */
	struct stat st;
	assert_int_equal(stat(sock, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	cleanup_free char *lock = xasprintf("%s.lock", sock);
	assert_int_equal(access(lock, F_OK), -1);

	/* a snapshot straight into a directory outside the jail cannot be written... */
	struct ch_api a = {.socket_path = sock, .timeout_ms = 5000, .ver = {53, 0}};
	cleanup_free char *outside = wpath("outside");
	assert_int_equal(mkdir(outside, 0777), 0);
	OK(vmm_pause(v, err));
	struct wr_err e2 = {0};
	assert_int_equal(ch_api_snapshot(&a, outside, &e2), -EIO);
	/* ...so the backend has CH write its staging directory and moves the files */
	OK(vmm_snapshot(v, snap, err));
	const char *files[] = {"config.json", "state.json", "memory-ranges", "wrenn-vmm.json"};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		cleanup_free char *f = xasprintf("%s/%s", snap, files[i]);
		assert_int_equal(stat(f, &st), 0);
		assert_int_equal(st.st_uid, 0);
		assert_int_equal(st.st_mode & 0777, 0640);
	}
	DIR *d = opendir(stage);
	assert_non_null(d);
	int n = 0;
	for (struct dirent *de; (de = readdir(d));)
		n += de->d_name[0] != '.';
	closedir(d);
	assert_int_equal(n, 0); /* emptied into snap */
	OK(vmm_stop(v, 5000, err));
	vmm_free(v);
	v = NULL;
	assert_int_equal(access(stage, F_OK), -1); /* gone with the socket */

	/* restore: a fresh jailed VMM, the snapshot files read-only, the TAP again */
	OK(vmm_new(&p, &v, err));
	OK(vmm_restore(v, snap, true, err));
	pid = vmm_pid(v);
	track(pid);
	assert_jailed(pid);
	assert_true(holds_tap(pid));
	assert_state(v, VMM_STATE_RUNNING);
	cleanup_free char *jcfg = xasprintf("/proc/%d/root%s/config.json", (int)pid, snap);
	cleanup_free char *jstate = xasprintf("/proc/%d/root%s/state.json", (int)pid, snap);
	cleanup_free char *jmeta = xasprintf("/proc/%d/root%s/wrenn-vmm.json", (int)pid, snap);
	assert_int_equal(access(jcfg, R_OK), 0);
	assert_int_equal(access(jmeta, F_OK), -1); /* only CH's own files */
	int fd = open(jstate, O_WRONLY | O_CLOEXEC);
	assert_int_equal(fd, -1); /* read-only mount */
	assert_int_equal(errno, EROFS);

	/* what the backend sent (the fake logs each request): the NIC never by name, the
	 * TAP with add-net and restore, a jailed restore copies memory (no userfaultfd) */
	cleanup_free char *out = NULL;
	assert_int_equal(read_file(log, 1 << 20, &out, NULL), 0);
	assert_null(strstr(out, "\"tap\""));
	assert_non_null(strstr(out, "PUT /api/v1/vm.create nfds=0 status=204"));
	assert_non_null(strstr(out, "PUT /api/v1/vm.add-net nfds=1 status=204"));
	assert_non_null(strstr(out, "PUT /api/v1/vm.restore nfds=1 status=204"));
	assert_non_null(strstr(out, "\"memory_restore_mode\":\"Copy\""));
	assert_non_null(strstr(out, "\"net_fds\":[{\"id\":\"" CH_NET_ID "\",\"num_fds\":1}]"));
	cleanup_free char *dest = xasprintf("\"destination_url\":\"file://%s\"", stage);
	assert_non_null(strstr(out, dest));

	/* re-attach after an agent restart: the process stays, a new object adopts it */
	vmm_detach(v);
	vmm_free(v);
	assert_int_equal(kill(pid, 0), 0);
	OK(vmm_new(&p, &v, err));
	OK(vmm_reattach(v, pid, err));
	assert_int_equal(v->state, VMM_STATE_RUNNING);
	OK(vmm_pause(v, err));
	cleanup_free char *snap2 = wpath("snap2");
	OK(vmm_snapshot(v, snap2, err));
	OK(vmm_stop(v, 5000, err));
	assert_int_equal(kill(pid, 0), -1);
	vmm_free(v);
	vm_config_done(&c);
}

/* An old snapshot whose NIC is a TAP by name cannot be restored jailed: said so. */
static void test_named_tap_snapshot_refused(void **state)
{
	(void)state;
	if (geteuid() != 0) {
		skip();
		return;
	}
	cleanup_free char *old = wpath("old-snap");
	cleanup_free char *log = wpath("vmm2.log");
	assert_int_equal(mkdir(old, 0750), 0);
	cleanup_free char *cfgp = xasprintf("%s/config.json", old);
	const char *cfg = "{\"net\":[{\"tap\":\"tap0\",\"mac\":\"02:fc:00:00:00:05\"}]}";
	assert_int_equal(write_file_atomic(cfgp, cfg, strlen(cfg), 0640), 0);
	json_t *meta = json_pack("{s:s}", "backend", "cloud-hypervisor");
	struct wr_err err = {0};
	assert_int_equal(vmm_write_meta(old, meta, &err), 0);
	json_decref(meta);
	struct vm_config c = {0};
	config(&c, fake);
	struct vmm_params p = params(&c, log);
	struct vmm *v = NULL;
	assert_int_equal(vmm_new(&p, &v, &err), 0);
	assert_int_equal(vmm_restore(v, old, true, &err), -ENOTSUP);
	assert_non_null(strstr(wr_err_msg(&err), "a jailed VMM cannot open a TAP"));
	assert_int_equal(vmm_pid(v), 0); /* refused before anything was launched */
	vmm_free(v);
	vm_config_done(&c);
}

/* The real binary in the same jail: only where it is installed and KVM works. */
static void test_real_ch(void **state)
{
	(void)state;
	const char *bin = getenv("WRENN_CH_BIN") ?: "/usr/local/bin/cloud-hypervisor";
	if (geteuid() != 0 || access(bin, X_OK) < 0 || access("/dev/kvm", R_OK | W_OK) < 0) {
		print_message("needs the real cloud-hypervisor binary (%s or WRENN_CH_BIN) and "
			      "/dev/kvm: skipped\n",
			      bin);
		skip();
		return;
	}
	struct wr_err *err = NULL;
	cleanup_free char *kernel = wpath("vmlinux");
	cleanup_free char *disk = wpath("rootfs.img");
	cleanup_free char *log = wpath("vmm-real.log");
	write_file_atomic(kernel, "kernel", 6, 0600);
	write_file_atomic(disk, "raw disk image stand-in.........", 32, 0644);
	struct vm_config c = {0};
	config(&c, bin);
	struct vmm_params p = params(&c, log);
	p.accel = VM_ACCEL_KVM;
	struct vmm *v = NULL;
	OK(vmm_new(&p, &v, err));
	/* create + add-net (the TAP by SCM_RIGHTS) with its own seccomp on */
	OK(vmm_start(v, err));
	track(vmm_pid(v));
	assert_jailed(vmm_pid(v));
	/* CH filters each of its threads (vmm, http, vcpu ...): one at least is */
	bool filtered = false;
	cleanup_free char *tasks = xasprintf("/proc/%d/task", (int)vmm_pid(v));
	DIR *d = opendir(tasks);
	assert_non_null(d);
	for (struct dirent *de; !filtered && (de = readdir(d));) {
		cleanup_free char *f = xasprintf("%s/%s/status", tasks, de->d_name);
		cleanup_free char *s = NULL;
		filtered = de->d_name[0] != '.' && read_file(f, 1 << 16, &s, NULL) == 0 &&
			   strstr(s, "Seccomp:\t2\n");
	}
	closedir(d);
	assert_true(filtered);
	OK(vmm_stop(v, 5000, err));
	vmm_free(v);
	vm_config_done(&c);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jailed_lifecycle),
		cmocka_unit_test(test_named_tap_snapshot_refused),
		cmocka_unit_test(test_real_ch),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
