/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * The VMM interface: one running VMM process per sandbox, two backends
 * (QEMU microvm over QMP, Cloud Hypervisor over REST), same lifecycle:
 *
 *   vmm_new -> vmm_start -> vmm_boot -> running <-> vmm_pause/vmm_resume
 *   paused  -> vmm_snapshot(dir) (the VM stays paused) -> vmm_stop
 *   vmm_new -> vmm_restore(dir) (a fresh process restored from dir) -> running
 *   vmm_stop: graceful (QMP quit / CH vm.shutdown + vmm.shutdown), then
 *             SIGTERM to the process group, then SIGKILL; always reaped.
 *
 * The process is started by the launcher (launch.h) inside the sandbox's
 * network namespace with a private tmpfs SandboxDir holding the kernel and
 * rootfs links, so both backends see the same stable paths on every start.
 *
 * Snapshot directory layout (both backends write wrenn-vmm.json):
 *   QEMU: state (device state, migration stream) and memory (guest RAM
 *         when it is file-backed; see vmm_params.mem_file)
 *   CH:   config.json, state.json, memory-ranges (Cloud Hypervisor's own)
 */
#include "basic/err.h"
#include "vm/kvm.h"
#include "vm/launch.h"
#include "vm/vmconfig.h"

#include <jansson.h>

#include <stdbool.h>
#include <stdint.h>

struct vmm_params {
	const struct vm_config *cfg; /* validated; must outlive the vmm */
	enum vmm_kind kind;
	enum vm_accel accel;
	const char *bin; /* VMM binary; NULL = cfg->vmm_bin (CH) or "qemu-system-x86_64" */
	const char *rootfs_format; /* "raw" or "qcow2"; NULL = raw */
	const char *log_path;	   /* VMM output and guest serial console (required) */
	/*
	 * QEMU: guest RAM in this file, mapped shared, so a snapshot needs no RAM
	 * copy (x-ignore-shared). NULL = anonymous RAM (a snapshot then carries
	 * the RAM in the state stream). On restore: the file to map shared
	 * (resume in place); NULL = map the snapshot's memory private (a clone).
	 */
	const char *mem_file;
	bool shared_mem; /* CH: memory.shared (needed for its offload paths) */
	/* cgroup2 dir or CGROUP_AUTO for a per-sandbox cgroup (cgroup.h); NULL = none */
	const char *cgroup_parent;
	bool cgroup_required; /* fail the launch without one (else a logged warning) */
	int cpu_weight;	      /* 0 = default */
	uint64_t memory_max;  /* cgroup memory limit; 0 = guest RAM + VMM_OVERHEAD_MB */
	int pids_max;	      /* 0 = VMM_PIDS_MAX */
	int api_timeout_ms;   /* per API call and for the socket; 0 = 10 s */
	/* Jail (jail.h): uid/gid of this VMM, 0 = not jailed; shared_gid may read
	 * template files.  Extra read-only paths (e.g. a qcow2 backing file) are
	 * found by the backend. */
	uid_t jail_uid;
	gid_t jail_gid, jail_shared_gid;
	/* CH: token-bucket limit on the guest NIC (NetConfig.rate_limiter_config;
	 * CH applies it to transmit and receive); 0 = none. QEMU refuses it. */
	uint64_t net_bytes_per_sec;
	uint64_t net_ops_per_sec;
};

/*
 * VMM memory beyond guest RAM, for the cgroup limit (QEMU TCG, measured).
 * How: QEMU 7.2 microvm, TCG, 1 vCPU, 512 MiB anonymous guest RAM, debian
 * template, jailed in its own cgroup (v1 memory controller here); booted to
 * envd, 3 s idle, then 8 HTTP requests to envd; read the cgroup's
 * memory.max_usage_in_bytes and the Rss of the guest-RAM mapping in
 * /proc/<pid>/smaps (2026-12-04, this 2-core TCG host).  Result: peak 566 MiB with
 * guest RAM fully resident (512 MiB: init_on_free touches every page), so
 * QEMU itself costs ~54 MiB (heap, thread stacks, TCG translation cache,
 * page cache of the disk it read).  The TCG translation buffer grows with
 * the variety of guest code (up to QEMU's 1 GiB tb-size, lazily touched)
 * and page cache charged to the cgroup grows with guest I/O, so the limit
 * keeps 256 MiB: ~4x the measured idle cost.  Page cache is reclaimed under
 * the limit; only anonymous growth past it ends in the OOM killer.
 */
#define VMM_OVERHEAD_MB 256
/*
 * QEMU's TCG translation cache, bounded (QEMU's own default is up to 1 GiB on a 64-bit host).
 * A guest running much varied code grows it lazily: `npm --version` twice in the base
 * template (node's JIT output is new guest code every run) took a 512 MiB guest's QEMU to
 * 784 MiB anonymous RSS and the cgroup OOM killer ended the sandbox (2026-12-05).  128 MiB
 * keeps guest RAM + cache + QEMU's ~54 MiB inside VMM_OVERHEAD_MB; a fuller cache is
 * flushed and refilled, which costs time, not correctness.
 */
#define VMM_TCG_TB_MB 128
#define VMM_PIDS_MAX 256 /* threads: vCPUs, I/O workers (QEMU's pool caps at 64), RCU */

enum vmm_state {
	VMM_STATE_NONE,	   /* no process */
	VMM_STATE_CREATED, /* process up, VM defined, not running yet */
	VMM_STATE_RUNNING,
	VMM_STATE_PAUSED,
	VMM_STATE_SHUTDOWN, /* guest powered off / VM gone, process may remain */
	VMM_STATE_UNKNOWN,
};

struct vmm;

struct vmm_ops {
	const char *name;
	int (*start)(struct vmm *v, struct wr_err *err); /* launch, VM defined, not running */
	int (*boot)(struct vmm *v, struct wr_err *err);
	int (*pause)(struct vmm *v, struct wr_err *err);
	int (*resume)(struct vmm *v, struct wr_err *err);
	int (*snapshot)(struct vmm *v, const char *dir, struct wr_err *err); /* VM paused */
	int (*restore)(struct vmm *v, const char *dir, bool resume, struct wr_err *err);
	int (*info)(struct vmm *v, enum vmm_state *ret, struct wr_err *err);
	/* Reconnect the API to a live process (agent restart); sets v->state. */
	int (*attach)(struct vmm *v, struct wr_err *err);
	int (*shutdown)(struct vmm *v, struct wr_err *err); /* ask the VMM to exit */
	void (*free_priv)(struct vmm *v);		    /* close API connections */
};

struct vmm {
	const struct vmm_ops *ops;
	struct vmm_params p;
	struct launched proc; /* pid (= process group), pidfd, cgroup */
	enum vmm_state state; /* last known */
	char *socket_path;    /* API socket (cfg->socket_path) */
	char *sandbox_dir;    /* tmpfs mount point inside the VMM's mount ns */
	char *kernel_link;    /* <sandbox_dir>/vmlinux */
	char *rootfs_link;    /* <sandbox_dir>/rootfs */
	bool mem_is_snapshot; /* the live RAM file is a snapshot's memory: no resume */
	void *priv;	      /* backend state */
};

extern const struct vmm_ops vmm_qemu_ops;
extern const struct vmm_ops vmm_ch_ops;

/* Check params and make the object; no process yet. */
int vmm_new(const struct vmm_params *p, struct vmm **ret, struct wr_err *err);
/* Launch the VMM and define the VM (QEMU: -S, CH: vm.create); not running yet. */
int vmm_start(struct vmm *v, struct wr_err *err);
/* Start the guest (QEMU: cont; CH: vm.boot). */
int vmm_boot(struct vmm *v, struct wr_err *err);
int vmm_pause(struct vmm *v, struct wr_err *err);
int vmm_resume(struct vmm *v, struct wr_err *err);
/* Write a snapshot of the paused VM into dir (created if missing); the VM stays paused. */
int vmm_snapshot(struct vmm *v, const char *dir, struct wr_err *err);
/* Instead of vmm_start: launch a fresh VMM restored from dir; running if resume. */
int vmm_restore(struct vmm *v, const char *dir, bool resume, struct wr_err *err);
/* Instead of vmm_start: adopt the live VMM process pid that a previous agent
 * started for this config (same socket path), reconnect its API and read its
 * state.  The process is then ours to pause, snapshot and stop; it is not our
 * child, so its exit status is not collected.  -ESRCH if it is gone. */
int vmm_reattach(struct vmm *v, pid_t pid, struct wr_err *err);
/* Ask the VMM for the VM state (updates v->state). */
int vmm_info(struct vmm *v, enum vmm_state *ret, struct wr_err *err);
/* Graceful stop with a deadline, then SIGTERM/SIGKILL; reaps, removes the
 * socket, cgroup and sandbox dir. 0 when the VMM exited by itself in time. */
int vmm_stop(struct vmm *v, int timeout_ms, struct wr_err *err);
/* Let go of a live VMM without stopping it (agent exit): API connections
 * and pidfd closed; process, socket, cgroup and sandbox dir stay for a later
 * vmm_reattach.  Then free it with vmm_free. */
void vmm_detach(struct vmm *v);
/* Stop (forced if needed) and release everything. NULL-safe. */
void vmm_free(struct vmm *v);
pid_t vmm_pid(const struct vmm *v);
int vmm_pidfd(const struct vmm *v);
const char *vmm_state_name(enum vmm_state s);

/* QEMU at bin maps a read-only RAM file private and writable (readonly=on,
 * rom=off, QEMU >= 8.2): clones then get their template's RAM file read-only.
 * Probed once per binary (vmm-qemu.c). */
bool vmm_qemu_ro_private(const char *bin);

/* QEMU's guest CPU model: "host" under KVM; under TCG env WRENN_TCG_CPU, else
 * VMM_TCG_CPU_DEFAULT.  Nehalem (x86-64-v2: SSE4.2, POPCNT) boots faster and runs
 * `bash -l` and envd file transfer faster than "max" under TCG (bench/cpu-model.sh,
 * docs/ARCHITECTURE.md); WRENN_TCG_CPU=max gives guests AVX/AVX2.  Snapshots record
 * the model and restore only under the same one; automatic snapshot templates key on it. */
#define VMM_TCG_CPU_DEFAULT "Nehalem"
/*
 * Kernel arguments a TCG guest gets after the seed's command line (no kvm-clock there):
 * - no_timer_check: on a loaded host the boot-time IO-APIC timer check can miss its window and
 *   panic ("IO-APIC + timer doesn't work!", 1 cold boot in 10 with 10 concurrent boots at load
 *   ~28); the emulated PIT works, only the check is timing-sensitive.
 * - tsc=reliable: the clocksource watchdog compared the TSC with jiffies (whose ticks an emulated
 *   guest on a busy host loses), marked the TSC unstable and fell back to refined-jiffies, which
 *   needs the periodic 250 Hz tick: every idle sandbox burned ~1.2% of a host core (1255 local
 *   timer interrupts in 5 s).  QEMU's emulated TSC follows the host clock, so it is kept, and
 *   NO_HZ_IDLE stops the tick of an idle guest.
 * - lapic_timer_khz=1000000: QEMU's emulated local APIC timer counts at 1 GHz and TCG has no
 *   TSC-deadline timer, so the kernel calibrated the APIC timer against PIT jiffies at every boot
 *   (100 ms counting + 100 ms verifying, apic=verbose).  The parameter is ours
 *   (guest/kernel/patches/0001-x86-apic-lapic_timer_khz.patch) and takes the kernel's "already
 *   calibrated" path; boot_to_init_tcg 1100 -> 845 ms (bench/boot.sh, interleaved, n=12 each,
 *   load 1.4-2.5; 714 ms at load ~1.2).  A kernel
 *   without the patch hands it to init as an environment variable and calibrates as before.
 *   (noapictimer was measured too: the same boot gain, but an idle guest then wakes every
 *   55 ms on the PIT's 16-bit counter: 0.4-0.5% of a host core instead of 0.1%.)
 * - pty.legacy_count=0: the kernel (CONFIG_LEGACY_PTYS) registers 256 BSD pty pairs at boot,
 *   ~50 ms of a TCG boot (pty_init, initcall_debug); nothing in a sandbox opens /dev/ptyXX
 *   (envd and every userland use /dev/ptmx), which stays as it was.
 * - tsc_early_khz=<host kHz> (vmm_tcg_kernel_args, when vm_host_tsc_khz() knows it): the guest's
 *   TSC is the host's under TCG (vm/tsc.h); without it the guest calibrates against the emulated
 *   PIT, which on a loaded host often fails and leaves it on jiffies (3-12 s boots).  Host
 *   specific, so not part of the snapshot key: a restore keeps what its boot had.
 * Part of the automatic snapshot key: snapshots of guests booted without them are rebuilt.
 */
#define VMM_TCG_KERNEL_ARGS "no_timer_check tsc=reliable lapic_timer_khz=1000000 pty.legacy_count=0"
/* The seed's command line `seed` plus VMM_TCG_KERNEL_ARGS and, with tsc_khz > 0,
 * tsc_early_khz=; malloc'd. */
char *vmm_tcg_kernel_args(const char *seed, unsigned tsc_khz);
const char *vmm_qemu_cpu(enum vm_accel accel);

/* Cloud Hypervisor's snapshot staging directory: <socket path> + this (vmm-ch.c). */
#define VMM_CH_STAGE_SUFFIX ".snapshot"
/* Used by the backends.  vmm_launch_files: the launcher binds the API socket
 * (LAUNCH_API_FD) and opens the TAP (LAUNCH_TAP_FD); ro/rw/shared_rw are the
 * jail's files (jail.h). */
int vmm_launch_files(struct vmm *v, char *const *argv, const char *const *ro, const char *const *rw,
		     const char *const *shared_rw, struct wr_err *err);
/* Like vmm_launch_files with the API socket only: no TAP at LAUNCH_TAP_FD (Cloud
 * Hypervisor takes it over the API socket, see vmm-ch.c). */
int vmm_launch_api(struct vmm *v, char *const *argv, const char *const *ro, const char *const *rw,
		   struct wr_err *err);
/* The backing file named in a qcow2 header (absolute, or relative to the image's
 * directory), malloc'd; NULL when there is none or the file is not qcow2.  Both
 * backends show a disk's backing chain read-only in the jail. */
char *vmm_qcow2_backing(const char *path);
/* Error with the tail of the VMM log appended when the process is gone. */
int vmm_fail(struct vmm *v, int r, struct wr_err *err);
int vmm_write_meta(const char *dir, json_t *meta, struct wr_err *err);
int vmm_read_meta(const char *dir, json_t **ret, struct wr_err *err);
