/* SPDX-License-Identifier: MIT */
/* Backend-independent part of the VMM interface: checks, launch, stop. */
#include "vm/vmm.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define META_FILE "wrenn-vmm.json"

const char *vmm_state_name(enum vmm_state s)
{
	static const char *const names[] = {"none",   "created",  "running",
					    "paused", "shutdown", "unknown"};
	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "unknown";
}

/* Paths that end up in QEMU -object/-drive option strings: a comma would
 * start a new option, so reject it rather than escape it. */
static int check_opt_path(const char *what, const char *p, struct wr_err *err)
{
	if (p && (p[0] != '/' || strpbrk(p, ",'\n")))
		return wr_err_set(err, EINVAL,
				  "%s must be an absolute path without commas, quotes or newlines: "
				  "\"%s\"",
				  what, p);
	return 0;
}

int vmm_new(const struct vmm_params *p, struct vmm **ret, struct wr_err *err)
{
	if (!p->cfg)
		return wr_err_set(err, EINVAL, "vmm: no VM config");
	int r = vm_config_validate(p->cfg, err);
	if (r < 0)
		return r;
	const struct vm_config *c = p->cfg;
	if (!c->sandbox_dir || !c->socket_path)
		return wr_err_set(err, EINVAL, "vmm: SandboxDir and SocketPath must be set");
	if (!p->log_path)
		return wr_err_set(err, EINVAL, "vmm: a log path is required");
	if (p->rootfs_format && strcmp(p->rootfs_format, "raw") &&
	    strcmp(p->rootfs_format, "qcow2"))
		return wr_err_set(err, EINVAL, "vmm: rootfs format \"%s\" is not raw or qcow2",
				  p->rootfs_format);
	if (p->kind != VMM_KIND_CH && (p->net_bytes_per_sec || p->net_ops_per_sec))
		return wr_err_set(err, ENOTSUP,
				  "vmm: a guest NIC rate limit needs cloud-hypervisor");
	if ((r = check_opt_path("log path", p->log_path, err)) < 0 ||
	    (r = check_opt_path("memory file", p->mem_file, err)) < 0)
		return r;

	struct vmm *v = xcalloc(1, sizeof(*v));
	v->ops = p->kind == VMM_KIND_CH ? &vmm_ch_ops : &vmm_qemu_ops;
	v->p = *p;
	if (!v->p.api_timeout_ms)
		v->p.api_timeout_ms = 10000;
	if (!v->p.memory_max)
		v->p.memory_max = ((uint64_t)c->memory_mb + VMM_OVERHEAD_MB) << 20;
	if (!v->p.pids_max)
		v->p.pids_max = VMM_PIDS_MAX;
	v->proc = (struct launched)LAUNCHED_INIT;
	v->state = VMM_STATE_NONE;
	v->socket_path = xstrdup(c->socket_path);
	v->sandbox_dir = xstrdup(c->sandbox_dir);
	v->kernel_link = xasprintf("%s/" VMM_KERNEL_LINK, c->sandbox_dir);
	v->rootfs_link = xasprintf("%s/" VMM_ROOTFS_LINK, c->sandbox_dir);
	*ret = v;
	return 0;
}

/* The launcher always binds the API socket (LAUNCH_API_FD); tap: it also opens the TAP. */
static int launch_common(struct vmm *v, char *const *argv, bool tap, const char *const *ro,
			 const char *const *rw, const char *const *shared_rw, struct wr_err *err)
{
	if (v->proc.pid > 0)
		return wr_err_set(err, EBUSY, "vmm %s: already started", v->p.cfg->sandbox_id);
	/* A stale socket from a crashed run would make the client talk to nobody. */
	if (unlink(v->socket_path) < 0 && errno != ENOENT)
		return wr_err_errno(err, errno, "remove stale socket %s", v->socket_path);
	struct jail_spec j = {
		.uid = v->p.jail_uid,
		.gid = v->p.jail_gid,
		.shared_gid = v->p.jail_shared_gid,
		.ro = ro,
		.rw = rw,
		.shared_rw = shared_rw,
		.kvm = v->p.accel == VM_ACCEL_KVM,
	};
	struct launch_spec s = {
		.netns = v->p.cfg->network_namespace,
		.sandbox_dir = v->sandbox_dir,
		.kernel_path = v->p.cfg->kernel_path,
		.rootfs_path = v->p.cfg->rootfs_path,
		.log_path = v->p.log_path,
		.argv = argv,
		.cgroup_parent = v->p.cgroup_parent,
		.cgroup_name = v->p.cfg->sandbox_id,
		.cgroup_required = v->p.cgroup_required,
		.limits = {.memory_max = v->p.memory_max,
			   .vcpus = v->p.cfg->vcpus,
			   .pids_max = v->p.pids_max,
			   .cpu_weight = v->p.cpu_weight},
		.tap_name = tap ? v->p.cfg->tap_device : NULL,
		.api_socket = v->socket_path,
		.jail = v->p.jail_uid ? &j : NULL,
		/*
		 * An emulated guest's RAM in 4 KiB pages.  QEMU asks for transparent huge pages
		 * for guest RAM and its translation cache (MADV_HUGEPAGE).  Where wrenn runs
		 * without KVM, the host is typically itself a VM, and there a fresh 2 MiB page
		 * cost ~20 ms: touching 256 MiB took 2.6 s with huge pages against 0.09 s with
		 * 4 KiB ones, always on this CI machine, and a cold boot clears all its RAM
		 * (init_on_free=1): boots 8 s apart took 3.5-5.2 s, 0.72-0.74 s without
		 * (bench/boot.sh, interleaved).  Under TCG the guest's memory goes through
		 * QEMU's own software TLB, so the host's TLB gains little from huge pages.
		 * Under KVM they back the guest's second-level page tables: kept there.
		 */
		.no_thp = v->p.accel != VM_ACCEL_KVM,
	};
	return launch_vmm(&s, &v->proc, err);
}

int vmm_launch_files(struct vmm *v, char *const *argv, const char *const *ro, const char *const *rw,
		     const char *const *shared_rw, struct wr_err *err)
{
	return launch_common(v, argv, true, ro, rw, shared_rw, err);
}

int vmm_launch_api(struct vmm *v, char *const *argv, const char *const *ro, const char *const *rw,
		   struct wr_err *err)
{
	return launch_common(v, argv, false, ro, rw, NULL, err);
}

char *vmm_qcow2_backing(const char *path)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	unsigned char h[20];
	if (fd < 0 || pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) || memcmp(h, "QFI\xfb", 4))
		return NULL;
	uint64_t off;
	uint32_t len;
	memcpy(&off, h + 8, 8);
	memcpy(&len, h + 16, 4);
	off = be64toh(off);
	len = be32toh(len);
	if (!off || !len || len > 1023)
		return NULL;
	char name[1024];
	if (pread(fd, name, len, (off_t)off) != (ssize_t)len)
		return NULL;
	name[len] = '\0';
	if (name[0] == '/')
		return xstrdup(name);
	cleanup_free char *copy = xstrdup(path);
	return xasprintf("%s/%s", dirname(copy), name);
}

int vmm_fail(struct vmm *v, int r, struct wr_err *err)
{
	if (v->proc.pid > 0 && !launched_alive(&v->proc)) {
		char tail[300];
		launch_log_tail(v->p.log_path, tail, sizeof(tail));
		launched_wait(&v->proc, 0);
		v->state = VMM_STATE_NONE;
		return wr_err_prefix(err, r, "VMM exited (status %d%s%s)", v->proc.exit_status,
				     tail[0] ? ", log: " : "", tail);
	}
	return r;
}

static int need_proc(struct vmm *v, const char *what, struct wr_err *err)
{
	if (v->proc.pid <= 0 || v->proc.reaped)
		return wr_err_set(err, ESRCH, "vmm %s: %s: no VMM process", v->p.cfg->sandbox_id,
				  what);
	return 0;
}

#define CALL(v, what, ...)                                                                         \
	({                                                                                         \
		int _r = need_proc(v, what, err);                                                  \
		if (_r >= 0)                                                                       \
			_r = (v)->ops->__VA_ARGS__;                                                \
		_r < 0 ? vmm_fail(v, _r, err) : _r;                                                \
	})

int vmm_start(struct vmm *v, struct wr_err *err)
{
	int r = v->ops->start(v, err);
	if (r < 0) {
		r = vmm_fail(v, r, err);
		vmm_stop(v, 0, NULL);
		return wr_err_prefix(err, r, "start %s", v->ops->name);
	}
	return r;
}

int vmm_restore(struct vmm *v, const char *dir, bool resume, struct wr_err *err)
{
	if (dir[0] != '/' || strpbrk(dir, ",'\n"))
		return wr_err_set(err, EINVAL,
				  "snapshot dir must be an absolute path without "
				  "commas, quotes or newlines: \"%s\"",
				  dir);
	int r = v->ops->restore(v, dir, resume, err);
	if (r < 0) {
		r = vmm_fail(v, r, err);
		vmm_stop(v, 0, NULL);
		return wr_err_prefix(err, r, "restore %s from %s", v->ops->name, dir);
	}
	return r;
}

int vmm_reattach(struct vmm *v, pid_t pid, struct wr_err *err)
{
	if (v->proc.pid > 0)
		return wr_err_set(err, EBUSY, "vmm %s: already has a process",
				  v->p.cfg->sandbox_id);
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return wr_err_errno(err, errno, "vmm %s: pidfd_open %d", v->p.cfg->sandbox_id,
				    (int)pid);
	v->proc.pid = pid;
	v->proc.pidfd = fd;
	/* Its cgroup, so a destroy after the restart removes it. */
	cgroup_of_pid(pid, v->p.cfg->sandbox_id, &v->proc.cg);
	/* Assume running until asked: vmm_stop must still end it if attach fails. */
	v->state = VMM_STATE_RUNNING;
	int r = v->ops->attach(v, err);
	if (r < 0)
		return wr_err_prefix(err, r, "re-attach %s pid %d", v->ops->name, (int)pid);
	return 0;
}

int vmm_boot(struct vmm *v, struct wr_err *err)
{
	return CALL(v, "boot", boot(v, err));
}

int vmm_pause(struct vmm *v, struct wr_err *err)
{
	return CALL(v, "pause", pause(v, err));
}

int vmm_resume(struct vmm *v, struct wr_err *err)
{
	if (v->mem_is_snapshot)
		return wr_err_set(err, EBUSY,
				  "vmm %s: guest RAM is now the snapshot's memory file; restore "
				  "from the snapshot instead of resuming",
				  v->p.cfg->sandbox_id);
	return CALL(v, "resume", resume(v, err));
}

int vmm_snapshot(struct vmm *v, const char *dir, struct wr_err *err)
{
	if (dir[0] != '/' || strpbrk(dir, ",'\n"))
		return wr_err_set(err, EINVAL,
				  "snapshot dir must be an absolute path without "
				  "commas, quotes or newlines: \"%s\"",
				  dir);
	int r = mkdir_p(dir, 0750);
	if (r < 0)
		return wr_err_errno(err, r, "mkdir %s", dir);
	return CALL(v, "snapshot", snapshot(v, dir, err));
}

int vmm_info(struct vmm *v, enum vmm_state *ret, struct wr_err *err)
{
	if (v->proc.pid <= 0 || !launched_alive(&v->proc)) {
		launched_wait(&v->proc, 0);
		v->state = VMM_STATE_NONE;
		*ret = v->state;
		return 0;
	}
	return CALL(v, "info", info(v, ret, err));
}

int vmm_stop(struct vmm *v, int timeout_ms, struct wr_err *err)
{
	int r = 0;
	bool had_proc = v->proc.pid > 0;
	if (v->proc.pid > 0 && !v->proc.reaped) {
		if (timeout_ms > 0 && launched_alive(&v->proc)) {
			struct wr_err e = {0};
			if (v->ops->shutdown(v, &e) < 0 && launched_alive(&v->proc))
				r = wr_err_prefix(&e, e.code, "graceful stop");
			else if (launched_wait(&v->proc, timeout_ms) < 0)
				r = wr_err_set(&e, ETIMEDOUT, "VMM did not exit within %d ms",
					       timeout_ms);
			if (r < 0 && err)
				*err = e;
		}
		launched_stop(&v->proc, 1000);
	}
	if (v->ops->free_priv)
		v->ops->free_priv(v);
	launched_done(&v->proc);
	v->proc = (struct launched)LAUNCHED_INIT;
	/* Not after vmm_detach: the socket belongs to a VMM still running. */
	if (had_proc) {
		unlink(v->socket_path);
		/* Cloud Hypervisor >= v53 keeps <socket>.lock beside its socket (path=
		 * only), and a jailed one its snapshot staging directory (emptied after
		 * each snapshot; rmdir leaves a non-empty one alone). */
		cleanup_free char *lock = xasprintf("%s.lock", v->socket_path);
		unlink(lock);
		cleanup_free char *stage = xasprintf("%s" VMM_CH_STAGE_SUFFIX, v->socket_path);
		rmdir(stage);
	}
	v->state = VMM_STATE_NONE;
	return r;
}

void vmm_detach(struct vmm *v)
{
	if (v->ops->free_priv)
		v->ops->free_priv(v);
	launched_forget(&v->proc);
	v->state = VMM_STATE_NONE;
}

void vmm_free(struct vmm *v)
{
	if (!v)
		return;
	vmm_stop(v, 0, NULL);
	free(v->socket_path);
	free(v->sandbox_dir);
	free(v->kernel_link);
	free(v->rootfs_link);
	free(v);
}

pid_t vmm_pid(const struct vmm *v)
{
	return v->proc.pid;
}

int vmm_pidfd(const struct vmm *v)
{
	return v->proc.pidfd;
}

int vmm_write_meta(const char *dir, json_t *meta, struct wr_err *err)
{
	cleanup_free char *path = xasprintf("%s/" META_FILE, dir);
	cleanup_free char *s = json_dumps(meta, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (!s)
		return wr_err_set(err, ENOMEM, "encode %s", path);
	int r = write_file_atomic(path, s, strlen(s), 0640);
	if (r < 0)
		return wr_err_errno(err, r, "write %s", path);
	return 0;
}

int vmm_read_meta(const char *dir, json_t **ret, struct wr_err *err)
{
	cleanup_free char *path = xasprintf("%s/" META_FILE, dir);
	json_error_t je;
	json_t *j = json_load_file(path, 0, &je);
	if (!j)
		return wr_err_set(err, access(path, F_OK) < 0 ? ENOENT : EINVAL,
				  "snapshot metadata %s: %s", path, je.text);
	*ret = j;
	return 0;
}
