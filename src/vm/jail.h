/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * The VMM jail (Firecracker's jailer is the model).  Under TCG, QEMU is not a
 * security boundary (its own documentation says so): one emulator bug gives
 * the guest whatever the QEMU process has.  So the process gets as little as
 * it can run with:
 *
 *   identity  its own uid/gid (base + network slot), no supplementary groups
 *             but the shared VMM group (template files it must read), never 0;
 *   caps      every set empty: effective, permitted, inheritable, ambient and
 *             the bounding set, securebits NOROOT locked, so not even an exec
 *             of a setuid binary gets root back;
 *   no_new_privs, so no exec gains privileges (setuid, file caps), which also
 *             lets QEMU install its seccomp filter;
 *   seccomp   QEMU's own -sandbox (vmm-qemu.c), Cloud Hypervisor's own filter;
 *   files     root pivoted into a tmpfs that holds, at their host paths, only
 *             /usr (read-only: the binary and its libraries), the kernel, the
 *             disk, the snapshot files and device nodes /dev/null, /dev/urandom
 *             and /dev/kvm with KVM.  Nothing else of the host exists there:
 *             no /proc, /sys, /etc, /home, /var, no other sandbox;
 *   network   the slot's namespace only; the TAP is opened by the launcher
 *             before the drop and handed over as an fd (QEMU), or opened by
 *             the agent and sent over the API socket with SCM_RIGHTS (Cloud
 *             Hypervisor, vmm-ch.c), so no CAP_NET_ADMIN and no /dev/net/tun
 *             in the jail;
 *   API       the QMP/API socket is bound by the launcher (root, 0600) and
 *             handed over listening, so the VMM needs no writable directory
 *             and only root (the agent) can connect, also after a restart.
 *
 * Paths keep their host spelling inside the jail, so the VMM's command line,
 * its snapshots and the agent's view agree without translation.
 *
 * The parent (a threaded agent) plans everything with malloc and stat;
 * after fork the child only runs jail_enter, which makes raw syscalls.
 */
#include "basic/err.h"

#include <stdbool.h>
#include <sys/types.h>

/* uid/gid range: VMM of network slot n runs as base + n; base itself is the
 * shared group that template files are readable by. */
#define JAIL_UID_BASE_DEFAULT 64000

struct jail_spec {
	uid_t uid;	  /* > 0 */
	gid_t gid;	  /* > 0 */
	gid_t shared_gid; /* supplementary group for shared template files; 0 = none */
	/* NULL-terminated host paths shown at the same path inside the jail. */
	const char *const *ro; /* read-only; made readable to shared_gid if not world-readable */
	const char *const *rw; /* read-write; chowned to uid:gid (its disk, its RAM file) */
	/* read-write for every VMM in shared_gid (a template's RAM file that QEMU 7.2 must
	 * open O_RDWR for a private mapping; see docs/SECURITY.md) */
	const char *const *shared_rw;
	/* NULL-terminated pairs target, link path: symlinks made inside the jail
	 * (the stable SandboxDir names of launch.h) */
	const char *const *links;
	bool kvm; /* /dev/kvm */
};

struct jail_plan;

/* Check the spec, stat and grant the files, and plan the mounts of a jail whose
 * root tmpfs is mounted at root_dir.  Runs in the parent. */
int jail_plan_new(const struct jail_spec *j, const char *root_dir, const char *exe,
		  struct jail_plan **ret, struct wr_err *err);
void jail_plan_free(struct jail_plan *p);
/* In the forked child, after the mount namespace is private and root_dir is a
 * fresh tmpfs: build the tree, pivot into it.  Async-signal-safe.  On failure
 * returns -errno and points *ret_step at a static description. */
int jail_build_root(const struct jail_plan *p, const char **ret_step);
/* Drop to the plan's uid/gid with no capabilities and no_new_privs.  Must be
 * the last step before exec.  Async-signal-safe. */
int jail_drop(const struct jail_plan *p, const char **ret_step);

/* Refuse a uid/gid range that collides with users or groups on the host:
 * base .. base + count must be unused (a VMM must never share an identity
 * with anything else). */
int jail_check_range(uid_t base, unsigned count, struct wr_err *err);
