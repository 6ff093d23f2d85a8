/* SPDX-License-Identifier: MIT */
#pragma once
#include "disk/disk.h"
#include "net/netns.h"
#include "net/slot.h"
#include "runtime/runtime.h"
#include "runtime/undo.h"
#include "runtime/warm-policy.h"
#include "vm/kvm.h"
#include "vm/vmconfig.h"
#include "vm/vmm.h"

#include <pthread.h>
#include <stdatomic.h>

#define RT_STATE_FILE "runtime.json"
#define RT_SNAP_DIR "snapshot"
#define RT_LOG_FILE "vmm.log"
#define RT_SOCK_FILE "vmm.sock"
#define RT_SNAP_TOKEN_FILE "envd-token" /* in a snapshot dir: the token its envd holds */
#define RT_CREATE_BASE_TEMPLATE_MEM 512

/* Lifecycle operations checked against the state machine. */
enum rt_op { RT_OP_DESTROY, RT_OP_PAUSE, RT_OP_RESUME, RT_OP_CONNECT, RT_OP_SET_TIMEOUT };
/* 0 allowed, 1 allowed but nothing to do, -EBUSY/-ENOENT refused (message in err). */
int rt_state_check(enum rt_op op, enum store_sb_state st, const char *id, struct wr_err *err);

struct rt_template {
	char *name;
	char *rootfs;
	char *kernel;
	char *snapshot_dir;   /* snapshot template: restore from here instead of booting */
	int vcpus, memory_mb; /* fixed by a snapshot template */
};

/* File in a snapshot template's dir: envd there holds its own default user/workdir (a custom
 * build), so /init does not send E2B's defaults. */
#define RT_BUILD_DEFAULTS_MARK "envd-defaults"
/* File in a snapshot template's dir: a built template, whose creates the warm pool serves
 * like a built-in's (written at the end of its build, so it holds across restarts; snapshots,
 * forks and build-step checkpoints have none). */
#define RT_WARM_MARK "warm-pool"

/* Internal create variants (template build). */
struct rt_create_opts {
	const char *mem_file; /* guest RAM in this file, mapped shared */
	bool no_init;	      /* stop after envd /health (template build) */
};
int rt_create(struct runtime *rt, const struct runtime_create_spec *spec,
	      const struct rt_create_opts *o, char ret_id[RUNTIME_ID_MAX], struct wr_err *err);

/* One live sandbox (creating, running or paused). */
struct sbx {
	char id[RUNTIME_ID_MAX];
	struct runtime *rt;
	pthread_mutex_t lock; /* serialises lifecycle operations on this sandbox */
	int refs;	      /* under rt->lock */
	bool listed;	      /* in rt->sbx (under rt->lock) */
	atomic_bool cancel;   /* a destroy wants the create to stop */
	atomic_bool creating;
	enum store_sb_state state; /* under lock */
	char *template;
	char *rootfs_template; /* template image cloned from */
	char *snapshot_dir;    /* restore instead of boot (snapshot template) */
	char *kernel;
	int vcpus, memory_mb, timeout_s;
	bool allow_internet;
	char **allow_out, **deny_out; /* egress policy (network.c), NULL-terminated */
	bool private_traffic;
	char *traffic_token;
	char *mask_host; /* maskRequestHost (network.c), NULL = none */
	char *token;
	char *team;	 /* owning team, "" = the operator's (per-team cap) */
	char *init_auth; /* token envd holds before /init (snapshot's source); NULL = token */
	char *envd_version;
	int slot; /* -1 none */
	char ns[NETNS_NAME_MAX];
	const struct disk_ops *disk_ops;
	struct disk_result disk;
	bool has_disk;
	char *dir;	/* <data>/sandboxes/<id> */
	char *vm_dir;	/* <data>/vm/<id> (tmpfs mount point inside the VMM's ns) */
	char *log_path; /* <dir>/vmm.log */
	struct vm_config cfg;
	struct vmm *vmm;
	const char *create_path; /* "snapshot" | "boot" | NULL (static) */
	pid_t pid;		 /* VMM pid (also when re-attached) */
	bool reattached;
	bool hidden; /* template build: not listed */
	bool warm;   /* a warm-pool entry: VM restored and paused, no row yet (warm.c) */
	/* attached volumes (vol-attach.c), recorded in runtime.json; added under rt->lock */
	struct rt_vol {
		char *id, *image, *mount;
	} vols[VM_MAX_EXTRA_DISKS];
	int nvols;
};

/* Volumes of a sandbox (volumes.c): look up spec's mounts in s->team; claim them for s (all or
 * none, -EBUSY naming the holder); release what s holds; add them to s->cfg; runtime.json. */
int rt_vol_resolve(struct sbx *s, const struct runtime_create_spec *sp, struct wr_err *err);
int rt_vol_claim(struct sbx *s, struct wr_err *err);
void rt_vol_release(struct sbx *s);
int rt_vol_config(struct sbx *s, struct wr_err *err);
void rt_vol_free(struct sbx *s);
void rt_vol_state_write(const struct sbx *s, json_t *j);
void rt_vol_state_read(struct sbx *s, const json_t *j);

/* Egress policy (network.c): apply s's allow_out/deny_out to its live slot; re-install both
 * egress tables after a re-attach; runtime.json fields; runtime_info fields. */
int rt_net_apply(struct sbx *s, struct wr_err *err);
int rt_net_reapply(struct sbx *s, struct wr_err *err);
void rt_net_state_write(const struct sbx *s, json_t *j);
void rt_net_state_read(struct sbx *s, const json_t *j);
void rt_net_info(struct runtime_info *ret, const struct sbx *s);
char **rt_strv_dup(char *const *v);
void rt_strv_free(char **v);

struct rt_warm_key;
#define RT_WARM_PAR_MAX 4 /* warm-pool filler threads at most */

/*
 * Threads and locks of the runtime.
 *
 * Threads: the callers (the agent's HTTP connection threads, one per connection; rtctl's main
 * thread), the TTL reaper (reaper.c, rt->reaper), the warm-pool filler (warm.c,
 * rt->warm_threads, warm_par of them), the automatic-snapshot builder (autosnap.c, rt->auto_thread, one at a time)
 * and short-lived fork workers (snapshot.c, joined by the caller that started them).
 *
 * Locks, outermost first; a thread holding one may take only those below it:
 *   1. sbx->lock        serialises lifecycle operations on one sandbox (create, destroy, pause,
 *                       resume, snapshot, timeout); held across VMM and envd calls.  Never two
 *                       sandbox locks at once.
 *   2. rt->warm_lock    the warm pool's keys and entries (+ warm_cond); released while the
 *                       filler builds an entry.  Never taken under sbx->lock.
 *   3. rt->auto_lock    the auto-snapshot builder's flags; held only around starting or joining
 *                       that thread (the builder itself takes it last, to clear auto_busy).
 *      rt->reaper_lock  the reaper's running flag (+ reaper_cond); released while it reaps.
 *   4. rt->lock         the registry: rt->sbx, nsbx, every sbx's refs and listed, closing.
 *                       Taken under sbx->lock (insert, unlist, put) and under warm_lock (the
 *                       filler counts sandboxes); nothing is taken under it.  rt->cond is
 *                       broadcast when a reference count drops to 0 (no waiter today).
 *   5. leaves: the store's mutex (every store_* call), the slot pool's mutex (slot_*), taken
 *      under any of the above and never holding another lock; so is the metrics lock
 *      (metrics.c: points, console lines, counters), which the metrics sampler thread
 *      (rt->metrics, ticks every second) takes only while it holds nothing else.
 * Atomics without a lock: sbx->cancel, sbx->creating, rt->creates.
 */
#define RT_AUTO_PENDING_MAX 8
struct auto_job;

struct runtime {
	char *data_dir, *images_dir, *kernel_path, *sandboxes_dir, *vmroot_dir;
	struct store *store;
	bool own_store;
	int lock_fd; /* flock on <data_dir>/runtime.lock: one runtime per data dir */
	struct slot_pool *pool;
	const struct disk_ops *disk_ops;
	struct vmm_choice vmm;
	char *vmm_bin;
	int envd_timeout_ms;
	unsigned max_sandboxes;
	uid_t jail_uid_base;	      /* VMM of slot n runs as base + n; 0 = not jailed */
	char *cgroup_parent;	      /* CGROUP_AUTO, a cgroup2 dir, or NULL = none */
	int max_vcpus, max_memory_mb; /* create limits (400 above them) */
	unsigned max_per_team;	      /* live sandboxes per team; 0 = no cap */
	bool stop_on_close;
	struct rt_template *tpl;
	size_t ntpl;

	pthread_mutex_t lock; /* sbx list, counts */
	pthread_cond_t cond;
	struct sbx **sbx;
	size_t nsbx, capsbx;
	bool closing;
	bool auto_snapshot;
	pthread_mutex_t auto_lock; /* the background auto-snapshot builder */
	pthread_t auto_thread;
	bool auto_busy, auto_started, auto_closed;
	/* builds asked for while one runs, run by the same builder thread after it, in order (a
	 * request dropped here left a template shape booting until its next create) */
	struct auto_job *auto_pending[RT_AUTO_PENDING_MAX];
	size_t auto_npending;
	/* warm pool (warm.c) */
	pthread_mutex_t warm_lock;
	pthread_cond_t warm_cond;
	struct rt_warm_key **warm;
	size_t nwarm;
	unsigned warm_target;	/* the floor: ready entries per key when idle; 0 = off */
	struct wp_cfg warm_cfg; /* sizing policy (warm-policy.h) */
	unsigned warm_par;	/* filler threads = entries built at once */
	uint64_t warm_serial;	/* last key serial */
	struct sbx *warm_building[RT_WARM_PAR_MAX]; /* per filler thread */
	pthread_t warm_threads[RT_WARM_PAR_MAX];
	unsigned warm_nthreads;
	unsigned long warm_gen; /* bumped (+ warm_cond) when a build ends: ready or dropped */
	bool warm_stop;
	atomic_int creates;	    /* creates in flight: the filler waits for 0 */
	int64_t log_max_bytes;	    /* vmm.log rotation size (logcap.c) */
	uint64_t net_bytes_per_sec; /* guest NIC limit (Cloud Hypervisor only); 0 = none */
	pthread_t reaper;
	bool reaper_running;
	pthread_mutex_t reaper_lock;
	pthread_cond_t reaper_cond;
	struct rt_metrics *metrics; /* metrics.c */
	pthread_t probe_thread;	    /* QEMU's RAM-mapping probe, run at open (runtime.c) */
	bool probe_started;
	/* creates hold it shared, the removal of a fetched template (template-gc.c) exclusive */
	pthread_rwlock_t tpl_gc_lock;
};

/* metrics and console logs in memory (metrics.c); the sampler runs with the reaper */
void rt_metrics_init(struct runtime *rt);
int rt_metrics_start(struct runtime *rt, struct wr_err *err);
void rt_metrics_stop(struct runtime *rt);
void rt_metrics_free(struct runtime *rt);
void rt_metrics_created(struct runtime *rt, int r, double seconds);
void rt_metrics_restored(struct runtime *rt, double seconds);
void rt_metrics_warm(struct runtime *rt, bool hit);
/* envd /metrics fields into p (mem_total set: memory is checked against it); -EPROTO naming
 * the field when a value is not an integer or out of range.  Pure. */
int rt_metrics_from_envd(const json_t *m, int64_t mem_total, struct metric_point *p,
			 struct wr_err *err);

/* registry (runtime.c) */
struct sbx *rt_sbx_new(struct runtime *rt, const char *id);
/* Insert; -EEXIST if the id is live, -ENOSPC past max_sandboxes. */
int rt_sbx_insert(struct runtime *rt, struct sbx *s, struct wr_err *err);
void rt_sbx_unlist(struct runtime *rt, struct sbx *s);
/* Find and take a reference; NULL when unknown. */
struct sbx *rt_sbx_get(struct runtime *rt, const char *id);
void rt_sbx_put(struct sbx *s);
/* Fill info from the store row + in-memory state. */
int rt_info_fill(struct runtime *rt, const char *id, struct runtime_info *ret, struct wr_err *err);

/* per-sandbox host objects (sbx.c) */
void rt_sbx_paths(struct runtime *rt, struct sbx *s);
int rt_sbx_write_state(struct sbx *s, struct wr_err *err);
/* Append "[wrenn] <text>" to the sandbox's VMM/serial log: a restored guest prints
 * no boot lines, so the log says where its state came from.  Best effort. */
void rt_sbx_log_note(struct sbx *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int rt_sbx_read_state(struct runtime *rt, struct sbx *s, struct wr_err *err);
int rt_sbx_fill_config(struct sbx *s, struct wr_err *err);
int rt_sbx_vmm_new(struct sbx *s, const char *mem_file, struct wr_err *err);
/* Tear down everything host-side (VMM, disk, slot, dirs); keep_disk keeps
 * disk + slot + snapshot (pause). Never fails; problems are logged. */
void rt_sbx_release(struct sbx *s, bool keep);
void rt_sbx_free(struct sbx *s);

/* envd client (envd.c) */
int rt_envd_wait(struct sbx *s, int timeout_ms, struct wr_err *err);
/* keep_auth: send the token envd holds as the new one and keep s->init_auth
 * (a warm-up /init that the real one follows). */
int rt_envd_init(struct sbx *s, json_t *env_vars, bool keep_auth, struct wr_err *err);
/* Run cmd args... in the guest through envd (process.Process/Start) and wait
 * for it to end; 0 when it exited 0. */
int rt_envd_run(struct sbx *s, const char *cmd, const char *const *args, int timeout_ms,
		struct wr_err *err);
/* Flush guest dirty data before a snapshot so the disk matches what the
 * guest believes is written; bounded and best effort (logged on failure). */
void rt_quiesce(struct sbx *s);

/* templates (templates.c) */
int rt_templates_load(struct runtime *rt, struct wr_err *err);
void rt_templates_free(struct runtime *rt);
/* Resolve name ("base" alias included) to owned copies; -ENOENT with the known names. */
int rt_template_lookup(struct runtime *rt, const char *name, struct rt_template *ret,
		       struct wr_err *err);
void rt_template_done(struct rt_template *t);
bool rt_template_builtin(struct runtime *rt, const char *name);

/* snapshots (snaptpl.c, snapshot.c) */
int rt_run(char *const argv[], struct wr_err *err);
/* The disk as a raw image at dst (qcow2 flattened, raw reflinked or copied). */
int rt_flatten(const struct disk_result *d, const char *dst, struct wr_err *err);
/* Apparent and allocated bytes of a snapshot dir's files. */
void rt_dir_sizes(const char *dir, int64_t *ret_apparent, int64_t *ret_allocated);
/* Remove an internal fork snapshot once no sandbox uses it. */
void rt_fork_gc(struct runtime *rt, const char *template);

/* automatic snapshot templates (autosnap.c) */
bool rt_auto_enabled(struct runtime *rt);
char *rt_auto_name(const struct rt_template *t, int vcpus, int mem);
/* 1 and *ret = the ready auto snapshot of built-in t (ret->name stays t's);
 * 0 when none is ready (a background build is started). */
int rt_auto_lookup(struct runtime *rt, const struct rt_template *t, int vcpus, int mem,
		   struct rt_template *ret);
void rt_auto_build(struct runtime *rt, const char *name, const char *from, int vcpus, int mem);
void rt_auto_stop(struct runtime *rt);
/* Register the ready auto snapshot of built-in `from` with the warm pool. */
void rt_auto_warm(struct runtime *rt, const char *from, int vcpus, int mem);

/* warm pool of restored, paused VMs per snapshot template (warm.c); floor 0 = off; c sizes it
 * above the floor (c->floor is ignored), par entries are built at once. */
void rt_warm_init(struct runtime *rt, unsigned floor, const struct wp_cfg *c, unsigned par);
/* Keep warm entries of snapshot template t (vcpus/mem) from now on (floor, more on demand). */
void rt_warm_register(struct runtime *rt, const struct rt_template *t, int vcpus, int mem);
/* rt_warm_register for a snapshot template with RT_WARM_MARK (a built one); no-op otherwise. */
void rt_warm_register_built(struct runtime *rt, const struct rt_template *t);
/* A ready entry (its VM paused, id minted, slot/disk/VMM held) or NULL.  With none ready but one
 * being built that no other create waits for, waits for it (bounded). */
struct sbx *rt_warm_take(struct runtime *rt, const char *snapshot_dir, int vcpus, int mem);
/* Free one slot held by the pool for a create: release a ready entry (any template), else cancel
 * the builds in flight and wait until one has let its slot go; false if the pool held none. */
bool rt_warm_drop_one(struct runtime *rt);
void rt_warm_create_begin(struct runtime *rt);
void rt_warm_create_end(struct runtime *rt);
/* Drop the entries of a snapshot dir that is going away. */
void rt_warm_forget(struct runtime *rt, const char *snapshot_dir);
/* Stop the filler and release every entry (runtime_close). */
void rt_warm_stop(struct runtime *rt);
void rt_warm_done(struct runtime *rt);
unsigned rt_warm_ready(struct runtime *rt, const char *snapshot_dir);

/* startup sweep (sweep.c) */
int rt_sweep(struct runtime *rt, struct wr_err *err);

/* vmm.log size cap (logcap.c): rotate every listed sandbox's log past rt->log_max_bytes. */
void rt_logs_cap(struct runtime *rt);

/* TTL reaper (reaper.c) */
int rt_reaper_start(struct runtime *rt, struct wr_err *err);
void rt_reaper_stop(struct runtime *rt);

int64_t rt_now_ms(void);
