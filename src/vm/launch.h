/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * The VMM launcher (the seed's semantics).
 *
 * The child joins /run/netns/<netns>, unshares its mount namespace, makes /
 * a recursive slave (host unmounts still reach it; nothing it mounts leaks
 * back), mounts a fresh tmpfs on sandbox_dir and puts symlinks there:
 * sandbox_dir/vmlinux -> kernel, sandbox_dir/rootfs -> rootfs. The VMM is
 * given only these stable names, so a snapshot that records them restores
 * against whatever disk the next launch links in. Symlinks rather than bind
 * mounts: both VMMs open the files by path at start (QEMU also for a qcow2
 * backing file), a symlink costs no mount, and it is what the seed does.
 *
 * The child runs in its own process group with stdin /dev/null and
 * stdout/stderr appended to log_path, optionally in a cgroup of its own
 * (cgroup.h), joined before exec so no VMM instruction runs unlimited.
 * With no_thp the VMM (and what it execs) gets no transparent huge pages
 * (PR_SET_THP_DISABLE; vmm.c says when and why).
 * The parent holds a pidfd. An exec failure (or any setup step) comes back
 * through a CLOEXEC pipe as a clear error; the child is reaped.
 *
 * Handed over at fixed fds, opened by the launcher while it is still root:
 *   LAUNCH_TAP_FD  the slot's TAP (tap_name, opened in the network namespace;
 *                  IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, QEMU's own flags), so the
 *                  VMM needs neither /dev/net/tun nor CAP_NET_ADMIN;
 *   LAUNCH_API_FD  the API socket (api_socket), bound 0600 and listening: the
 *                  VMM needs no writable directory and only root can connect.
 * With a jail (jail.h) the child then pivots into the jail and drops to its
 * uid with no capabilities.  The VMM gets a fixed environment (no agent
 * secrets): PATH and WRENN_VMM_API=<api_socket>, by which a restarted agent's
 * sweep recognises its VMMs.
 */
#include "basic/err.h"
#include "vm/cgroup.h"
#include "vm/jail.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct launch_spec {
	const char *netns;	   /* name in /run/netns; NULL = stay in the caller's (tests) */
	const char *sandbox_dir;   /* tmpfs mount point, created (and later removed) if absent */
	const char *kernel_path;   /* linked as <sandbox_dir>/vmlinux; NULL = no link */
	const char *rootfs_path;   /* linked as <sandbox_dir>/rootfs; NULL = no link */
	const char *log_path;	   /* stdout+stderr, O_APPEND, created 0640 */
	char *const *argv;	   /* argv[0]: absolute path or a name looked up in PATH */
	const char *cgroup_parent; /* cgroup2 directory or CGROUP_AUTO; NULL = no cgroup */
	const char *cgroup_name;   /* leaf name (the sandbox id) */
	struct cgroup_limits limits;
	bool cgroup_required;	      /* a cgroup failure fails the launch (else a warning) */
	const char *tap_name;	      /* TAP to open as LAUNCH_TAP_FD; NULL = none */
	const char *api_socket;	      /* unix socket to bind as LAUNCH_API_FD; NULL = none */
	const struct jail_spec *jail; /* NULL = not jailed (tests, tools) */
	bool no_thp; /* PR_SET_THP_DISABLE before exec (kept across it): 4 KiB pages only */
};

#define LAUNCH_TAP_FD 3
#define LAUNCH_API_FD 4
#define LAUNCH_ENV_API "WRENN_VMM_API="

struct launched {
	pid_t pid;	      /* also the process group id */
	int pidfd;	      /* -1 when nothing is running */
	bool reaped;	      /* exit status collected */
	int exit_status;      /* wait status once reaped */
	struct cgroup_set cg; /* cg.n == 0 when not in a cgroup of ours */
	char *made_dir;	      /* sandbox_dir if the launcher created it */
	char *warning;	      /* non-fatal setup problem (cgroup), or NULL */
};

#define LAUNCHED_INIT                                                                              \
	{                                                                                          \
		.pid = 0, .pidfd = -1                                                              \
	}

#define VMM_KERNEL_LINK "vmlinux"
#define VMM_ROOTFS_LINK "rootfs"

/* Attach to the persistent TAP name in /run/netns/<netns> (NULL = the caller's
 * namespace) with the launcher's flags, from a short-lived thread that joins the
 * namespace (the caller's threads never do); *ret_fd is the caller's.  For a
 * VMM that takes its TAP over its API socket (SCM_RIGHTS) rather than as an
 * inherited fd: Cloud Hypervisor (vmm-ch.c). */
int launch_open_tap(const char *netns, const char *name, int *ret_fd, struct wr_err *err);
/* Start the process; on failure nothing is left (child killed and reaped). */
int launch_vmm(const struct launch_spec *s, struct launched *ret, struct wr_err *err);
/* True while the process has not exited. */
bool launched_alive(struct launched *l);
/* Wait up to timeout_ms (<0 = forever) for exit and reap; 0 or -ETIMEDOUT. */
int launched_wait(struct launched *l, int timeout_ms);
/* SIGTERM to the group, wait term_ms, then SIGKILL; always reaps. */
void launched_stop(struct launched *l, int term_ms);
/* Stop if still running, close the pidfd, remove the cgroup and the
 * sandbox dir it made. Safe on LAUNCHED_INIT and twice. */
void launched_done(struct launched *l);
/* Close and free without stopping or removing anything (agent exit). */
void launched_forget(struct launched *l);
/* Last line(s) of a log file, for error messages; "" when unreadable. */
void launch_log_tail(const char *path, char *buf, size_t n);
