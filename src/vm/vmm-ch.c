/* SPDX-License-Identifier: MIT */
/*
 * Cloud Hypervisor backend: `cloud-hypervisor --api-socket fd=4` through the
 * launcher, then REST (ch-api.c).  Restore starts a bare CH and sends
 * vm.restore; CH rebuilds the VM from the snapshot's config.json, whose disk
 * path is the stable <SandboxDir>/rootfs link.
 *
 * The version vmm.ping reports is checked on every launch and attach
 * (older than CH_MIN_MAJOR: refused) and kept in priv: vm.restore's
 * fields depend on it (ch-api.h).
 *
 * Confinement: CH runs in the same jail as QEMU (jail.h): its own uid/gid of
 * the slot, no capabilities, no_new_privs, root pivoted into the SandboxDir
 * tmpfs showing only its kernel (and a qcow2 disk's backing chain) read-only,
 * its disks, the snapshot staging directory, a restore's snapshot files
 * read-only and /dev/null, /dev/urandom, /dev/kvm.  CH's own seccomp filters
 * stay on (we never pass --seccomp false).  What a jailed CH cannot do
 * itself, and how each is handed to it (read in CH's source, v51-v53):
 *
 * - The API socket.  `--api-socket path=` makes CH bind the socket, and from
 *   v53 create and lock <socket>.lock beside it: both need a writable
 *   directory.  `--api-socket fd=N` (CH >= v16, main.rs parse_api_socket ->
 *   start_http_fd_thread) serves an already-listening socket and takes no
 *   lock, so the launcher binds it (root, 0600: only the agent connects) and
 *   hands it over as LAUNCH_API_FD, as for QEMU's QMP socket.
 *
 * - The TAP.  Given a name, CH opens it itself (net_util open_tap: open
 *   /dev/net/tun, TUNGETFEATURES, TUNSETIFF IFF_TAP|IFF_NO_PI|IFF_VNET_HDR;
 *   then SIOCSIFADDR if an ip is set, SIOCSIFHWADDR for host_mac, SIOCSIFMTU
 *   for mtu, SIOCSIFFLAGS IFF_UP unless already up, TUNSETVNETHDRSZ,
 *   TUNSETOFFLOAD).  The SIOCSIF* ones need CAP_NET_ADMIN; TUNSETIFF on a
 *   persistent TAP works without it only for the TAP's TUNSETOWNER/
 *   TUNSETGROUP owner, and needs /dev/net/tun in the jail.  Given fds, CH
 *   only does TUNGETIFF/TUNSETIFF (EEXIST ignored)/TUNSETVNETHDRSZ on them
 *   (Tap::from_tap_fd), none privileged.  vm.create drops fds sent with it
 *   (http_endpoint.rs VmCreate, v51-v53), so the VM is created without a NIC
 *   and the NIC is added with vm.add-net carrying the TAP by SCM_RIGHTS
 *   before vm.boot (CH adds it to the config of a VM not yet booted); a
 *   restore passes the TAP as vm.restore "net_fds" (RestoreConfig, v51+).
 *   The agent opens the TAP in the slot's namespace (launch_open_tap), so
 *   the jail has no /dev/net/tun and the TAP needs no owner change.  Both
 *   calls exist in every version we drive (>= v51).
 *
 * - Snapshots.  vm.snapshot writes config.json, state.json and memory-ranges
 *   into the directory of its destination_url; no fd variant exists.  The
 *   target directory is only known at snapshot time, long after the jail was
 *   built, so the jail shows one staging directory read-write,
 *   <API socket>.snapshot (beside the socket, as CH's own <socket>.lock: one
 *   per VMM, never shared with another sandbox's), CH writes there, and the
 *   agent moves the files into the target (rename; copy across file
 *   systems), owned by root, mode 0640.  While the VMM lives the staging
 *   directory is only ever emptied, never replaced: the jail's bind mount
 *   holds that inode; vmm_stop removes it with the socket.
 *
 * - Restore.  The snapshot's own files (config.json, state.json,
 *   memory-ranges*) are shown read-only at their paths.  OnDemand memory
 *   needs a userfaultfd that serves kernel faults (KVM touching guest RAM):
 *   /dev/userfaultfd is root's (0600) and userfaultfd(2) without
 *   UFFD_USER_MODE_ONLY needs CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1,
 *   neither of which a jailed CH has, so a jailed restore copies the memory
 *   (memory_restore_mode Copy); unjailed keeps OnDemand.
 */
#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "vm/ch-api.h"
#include "vm/vmm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CH_MAX_SNAP_FILES 8

struct ch_priv {
	struct ch_version ver;
};

static struct ch_api api(struct vmm *v)
{
	struct ch_priv *p = v->priv;
	return (struct ch_api){.socket_path = v->socket_path,
			       .timeout_ms = v->p.api_timeout_ms,
			       .ver = p ? p->ver : (struct ch_version){0, 0}};
}

/* vmm.ping answered with ver: keep it if we can drive that version. */
static int set_version(struct vmm *v, const struct ch_version *ver, struct wr_err *err)
{
	int r = ch_version_check(ver, err);
	if (r < 0)
		return r;
	if (!v->priv)
		v->priv = xcalloc(1, sizeof(struct ch_priv));
	((struct ch_priv *)v->priv)->ver = *ver;
	return 0;
}

static void ch_free_priv(struct vmm *v)
{
	free(v->priv);
	v->priv = NULL;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool jailed(const struct vmm *v)
{
	return v->p.jail_uid != 0;
}

/* Where a jailed CH writes its snapshots: beside its API socket. */
static char *stage_dir(const struct vmm *v)
{
	return xasprintf("%s" VMM_CH_STAGE_SUFFIX, v->socket_path);
}

/* Remove what is in dir (CH writes plain files), keeping dir itself. */
static int empty_dir(const char *dir, struct wr_err *err)
{
	cleanup_closedir DIR *d = opendir(dir);
	if (!d)
		return wr_err_errno(err, errno, "open %s", dir);
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
			return wr_err_errno(err, errno, "remove %s/%s", dir, de->d_name);
	return 0;
}

/* The staging directory, present and empty. */
static int stage_ready(const char *stage, struct wr_err *err)
{
	if (mkdir(stage, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return wr_err_errno(err, errno, "mkdir %s", stage);
	struct stat st;
	if (lstat(stage, &st) < 0 || !S_ISDIR(st.st_mode))
		return wr_err_set(err, ENOTDIR, "%s is not a directory", stage);
	return empty_dir(stage, err);
}

static int copy_file(const char *src, const char *dst, struct wr_err *err)
{
	cleanup_close int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return wr_err_errno(err, errno, "open %s", src);
	cleanup_close int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (out < 0)
		return wr_err_errno(err, errno, "create %s", dst);
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (n < 0)
			return wr_err_errno(err, errno, "copy %s to %s", src, dst);
		if (n == 0)
			break;
	}
	if (fsync(out) < 0)
		return wr_err_errno(err, errno, "fsync %s", dst);
	return unlink(src) < 0 ? wr_err_errno(err, errno, "remove %s", src) : 0;
}

/* Move what CH wrote into stage to dir: regular files only (the jailed VMM
 * wrote them: nothing else is taken), root's, 0640. */
static int unstage(const char *stage, const char *dir, struct wr_err *err)
{
	cleanup_closedir DIR *d = opendir(stage);
	if (!d)
		return wr_err_errno(err, errno, "open %s", stage);
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		cleanup_free char *from = xasprintf("%s/%s", stage, de->d_name);
		cleanup_free char *to = xasprintf("%s/%s", dir, de->d_name);
		struct stat st;
		if (lstat(from, &st) < 0 || !S_ISREG(st.st_mode))
			return wr_err_set(err, EPERM, "snapshot staging: %s is not a regular file",
					  from);
		if (rename(from, to) < 0) {
			if (errno != EXDEV)
				return wr_err_errno(err, errno, "move %s to %s", from, to);
			int r = copy_file(from, to, err);
			if (r < 0)
				return r;
		}
		/* O_NOFOLLOW: to is ours now, but never follow a link the VMM might have made. */
		cleanup_close int fd = open(to, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fchown(fd, 0, 0) < 0 || fchmod(fd, 0640) < 0)
			return wr_err_errno(err, errno, "own %s", to);
	}
	return 0;
}

/* Launch and wait until vmm.ping answers (or the process dies).  snap_ro: a
 * restore's snapshot files, shown read-only in the jail. */
static int launch(struct vmm *v, const char *const *snap_ro, struct wr_err *err)
{
	const struct vm_config *c = v->p.cfg;
	char api_fd[16];
	snprintf(api_fd, sizeof(api_fd), "fd=%d", LAUNCH_API_FD);
	char *argv[] = {(char *)(v->p.bin ? v->p.bin : c->vmm_bin), "--api-socket", api_fd, NULL};
	/* The jail: kernel and a qcow2 disk's backing chain read-only; the disk,
	 * the volumes and the snapshot staging directory its own. */
	char *backing[4] = {0};
	const char *ro[2 + ARRAY_SIZE(backing) + CH_MAX_SNAP_FILES] = {c->kernel_path};
	size_t nro = 1, nb = 0;
	for (const char *img = c->rootfs_path; img && nb < ARRAY_SIZE(backing);) {
		if (!(backing[nb] = vmm_qcow2_backing(img)))
			break;
		ro[nro++] = backing[nb];
		img = backing[nb++];
	}
	for (const char *const *f = snap_ro; f && *f && nro < ARRAY_SIZE(ro) - 1; f++)
		ro[nro++] = *f;
	cleanup_free char *stage = stage_dir(v);
	const char *rw[3 + VM_MAX_EXTRA_DISKS] = {c->rootfs_path};
	size_t nrw = 1;
	for (int i = 0; i < c->n_extra_disks && i < VM_MAX_EXTRA_DISKS; i++)
		rw[nrw++] = c->extra_disks[i].path;
	int r = 0;
	if (jailed(v)) {
		rw[nrw++] = stage;
		r = stage_ready(stage, err);
	}
	if (r >= 0)
		r = vmm_launch_api(v, argv, ro, rw, err);
	for (size_t i = 0; i < ARRAY_SIZE(backing); i++)
		free(backing[i]);
	if (r < 0)
		return r;
	struct ch_api a = api(v);
	long long deadline = now_ms() + v->p.api_timeout_ms;
	struct ch_version ver;
	for (;;) {
		struct wr_err e = {0};
		r = ch_api_ping(&a, &ver, &e);
		if (r == -EPROTO) /* it answered, but not with a version */
			return wr_err_set(err, EPROTO, "%s", wr_err_msg(&e));
		if (r == 0)
			break;
		if (!launched_alive(&v->proc))
			return wr_err_set(err, ESRCH,
					  "cloud-hypervisor exited before its API "
					  "socket answered");
		if (now_ms() >= deadline)
			return wr_err_set(err, ETIMEDOUT, "API socket did not answer in %d ms: %s",
					  v->p.api_timeout_ms, wr_err_msg(&e));
		nanosleep(&(struct timespec){.tv_nsec = 5 * 1000 * 1000}, NULL);
	}
	return set_version(v, &ver, err);
}

static int open_tap(struct vmm *v, int *ret_fd, struct wr_err *err)
{
	return launch_open_tap(v->p.cfg->network_namespace, v->p.cfg->tap_device, ret_fd, err);
}

static int ch_start(struct vmm *v, struct wr_err *err)
{
	int r = launch(v, NULL, err);
	if (r < 0)
		return r;
	const struct vm_config *c = v->p.cfg;
	cleanup_free char *cmdline = vm_config_kernel_args(c);
	const char *xd[VM_MAX_EXTRA_DISKS], *xs[VM_MAX_EXTRA_DISKS];
	int nx = 0;
	for (; nx < c->n_extra_disks && nx < VM_MAX_EXTRA_DISKS; nx++) {
		xd[nx] = c->extra_disks[nx].path;
		xs[nx] = c->extra_disks[nx].serial;
	}
	struct ch_vm_spec s = {
		.extra_disks = xd,
		.extra_serials = xs,
		.n_extra = nx,
		.kernel = v->kernel_link,
		.cmdline = cmdline,
		.vcpus = c->vcpus,
		.memory_bytes = (uint64_t)c->memory_mb << 20,
		.shared_mem = v->p.shared_mem,
		.disk = v->rootfs_link,
		.disk_format = v->p.rootfs_format,
		.mac = c->tap_mac,
		.serial_file = NULL,
		.net_limit = {.bytes_per_sec = v->p.net_bytes_per_sec,
			      .ops_per_sec = v->p.net_ops_per_sec},
	};
	struct ch_api a = api(v);
	if ((r = ch_api_create(&a, &s, err)) < 0)
		return r;
	cleanup_close int tap = -1;
	if ((r = open_tap(v, &tap, err)) < 0 || (r = ch_api_add_net(&a, &s, tap, err)) < 0)
		return r;
	v->state = VMM_STATE_CREATED;
	return 0;
}

static int put(struct vmm *v, const char *ep, enum vmm_state next, struct wr_err *err)
{
	struct ch_api a = api(v);
	int r = ch_api_put(&a, ep, err);
	if (r < 0)
		return r;
	v->state = next;
	return 0;
}

static int ch_boot(struct vmm *v, struct wr_err *err)
{
	return put(v, "vm.boot", VMM_STATE_RUNNING, err);
}

static int ch_pause(struct vmm *v, struct wr_err *err)
{
	return put(v, "vm.pause", VMM_STATE_PAUSED, err);
}

static int ch_resume(struct vmm *v, struct wr_err *err)
{
	return put(v, "vm.resume", VMM_STATE_RUNNING, err);
}

static int ch_snapshot(struct vmm *v, const char *dir, struct wr_err *err)
{
	int r;
	if (v->state == VMM_STATE_RUNNING && (r = ch_pause(v, err)) < 0)
		return r;
	struct ch_api a = api(v);
	if (jailed(v)) {
		/* CH can write only its staging directory (see the top of this file). */
		cleanup_free char *stage = stage_dir(v);
		if ((r = stage_ready(stage, err)) < 0 ||
		    (r = ch_api_snapshot(&a, stage, err)) < 0 || (r = unstage(stage, dir, err)) < 0)
			return r;
	} else if ((r = ch_api_snapshot(&a, dir, err)) < 0) {
		return r;
	}
	cleanup_json json_t *meta =
		json_pack("{s:s, s:s, s:i, s:i, s:s}", "backend", "cloud-hypervisor", "accel",
			  "kvm", "memory_mb", v->p.cfg->memory_mb, "vcpus", v->p.cfg->vcpus,
			  "rootfs_format", v->p.rootfs_format ? v->p.rootfs_format : "raw");
	return vmm_write_meta(dir, meta, err);
}

/* The snapshot's NIC: *ret_id (malloc'd) when it is fd-backed (ours since the
 * jail), NULL when CH would open a TAP by name (a snapshot taken before). */
static int snapshot_net(const char *dir, char **ret_id, struct wr_err *err)
{
	cleanup_free char *path = xasprintf("%s/config.json", dir);
	json_error_t je;
	cleanup_json json_t *cfg = json_load_file(path, 0, &je);
	if (!cfg)
		return wr_err_set(err, access(path, F_OK) < 0 ? ENOENT : EINVAL, "snapshot %s: %s",
				  path, je.text);
	json_t *net = json_array_get(json_object_get(cfg, "net"), 0);
	const char *id = json_string_value(json_object_get(net, "id"));
	*ret_id = net && json_object_get(net, "fds") && id ? xstrdup(id) : NULL;
	return 0;
}

/* CH's files in a snapshot directory (what vm.restore reads), malloc'd paths
 * in ret (NULL-terminated, at most max - 1). */
static int snapshot_files(const char *dir, char **ret, size_t max, struct wr_err *err)
{
	cleanup_closedir DIR *d = opendir(dir);
	if (!d)
		return wr_err_errno(err, errno, "open %s", dir);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < max - 1)
		if (!strcmp(de->d_name, "config.json") || !strcmp(de->d_name, "state.json") ||
		    !strncmp(de->d_name, "memory-ranges", 13))
			ret[n++] = xasprintf("%s/%s", dir, de->d_name);
	ret[n] = NULL;
	return 0;
}

static int ch_restore(struct vmm *v, const char *dir, bool resume, struct wr_err *err)
{
	cleanup_json json_t *meta = NULL;
	int r = vmm_read_meta(dir, &meta, err);
	if (r < 0)
		return r;
	const char *b = json_string_value(json_object_get(meta, "backend"));
	if (!b || strcmp(b, "cloud-hypervisor"))
		return wr_err_set(err, EINVAL, "snapshot was taken by %s, not cloud-hypervisor",
				  b ?: "an unknown VMM");
	cleanup_free char *net_id = NULL;
	if ((r = snapshot_net(dir, &net_id, err)) < 0)
		return r;
	if (!net_id && jailed(v))
		return wr_err_set(err, ENOTSUP,
				  "snapshot %s names its TAP instead of taking it as an fd (taken "
				  "by an unjailed VMM before wrenn jailed cloud-hypervisor); a "
				  "jailed VMM cannot open a TAP",
				  dir);
	char *files[CH_MAX_SNAP_FILES] = {0};
	if ((r = snapshot_files(dir, files, ARRAY_SIZE(files), err)) >= 0)
		r = launch(v, (const char *const *)files, err);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		free(files[i]);
	if (r < 0)
		return r;
	cleanup_close int tap = -1;
	if (net_id && (r = open_tap(v, &tap, err)) < 0)
		return r;
	struct ch_api a = api(v);
	struct ch_restore o = {
		.resume = resume, .on_demand = !jailed(v), .net_id = net_id, .tap_fd = tap};
	if ((r = ch_api_restore(&a, dir, &o, err)) < 0)
		return r;
	v->state = resume ? VMM_STATE_RUNNING : VMM_STATE_PAUSED;
	return 0;
}

static enum vmm_state map_state(const char *s)
{
	if (!strcmp(s, "Created"))
		return VMM_STATE_CREATED;
	if (!strcmp(s, "Running"))
		return VMM_STATE_RUNNING;
	if (!strcmp(s, "Paused") || !strcmp(s, "BreakPoint"))
		return VMM_STATE_PAUSED;
	if (!strcmp(s, "Shutdown"))
		return VMM_STATE_SHUTDOWN;
	return VMM_STATE_UNKNOWN;
}

static int ch_info(struct vmm *v, enum vmm_state *ret, struct wr_err *err)
{
	struct ch_api a = api(v);
	cleanup_free char *s = NULL;
	int r = ch_api_state(&a, &s, err);
	if (r < 0)
		return r;
	v->state = *ret = map_state(s);
	return 0;
}

static int ch_attach(struct vmm *v, struct wr_err *err)
{
	struct ch_api a = api(v);
	struct ch_version ver;
	int r = ch_api_ping(&a, &ver, err);
	if (r < 0 || (r = set_version(v, &ver, err)) < 0)
		return r;
	enum vmm_state st;
	return ch_info(v, &st, err);
}

static int ch_shutdown(struct vmm *v, struct wr_err *err)
{
	struct ch_api a = api(v);
	/* vm.shutdown fails when no VM is booted; the VMM must go anyway. */
	if (v->state == VMM_STATE_RUNNING || v->state == VMM_STATE_PAUSED)
		ch_api_put(&a, "vm.shutdown", NULL);
	return ch_api_put(&a, "vmm.shutdown", err);
}

const struct vmm_ops vmm_ch_ops = {
	.name = "cloud-hypervisor",
	.start = ch_start,
	.boot = ch_boot,
	.pause = ch_pause,
	.resume = ch_resume,
	.snapshot = ch_snapshot,
	.restore = ch_restore,
	.info = ch_info,
	.attach = ch_attach,
	.shutdown = ch_shutdown,
	.free_priv = ch_free_priv,
};
