/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Sandbox lifecycle: the library inside wrenn-agent that turns "create a
 * sandbox from template T" into a running, reachable microVM and takes it all
 * down again without leaving anything behind.
 *
 * States (enum store_sb_state):  creating -> running <-> paused -> killed,
 * and error.  A create is a sequence of steps (row, slot, disk, VMM, envd
 * /health, envd /init); every step pushes its undo, and a failure or a
 * concurrent destroy runs the undos in reverse, so a failed create leaves no
 * process, slot, namespace state, disk, directory or row behind (the row is
 * deleted; the failure is kept as an event in the store).
 *
 * Host objects of a sandbox are recorded so that a restarted agent can find
 * them: the store row (state, slot, VMM pid, disk) and
 * <data_dir>/sandboxes/<id>/runtime.json (socket, sandbox dir, disk backend,
 * TTL length, envd version).  runtime_open sweeps what a crash left behind and
 * re-attaches VMMs that are still alive.
 *
 * Thread-safe: every function may be called from any thread.  Operations on
 * one sandbox are serialised by a per-sandbox lock; a destroy issued while the
 * same sandbox is being created cancels the create (which rolls back) and
 * returns once it is gone.
 *
 * Errors are -errno with a message in err, chosen so an API layer can map
 * them to HTTP status codes:
 *   -ENOENT    no such sandbox / template / kernel image          (404)
 *   -EINVAL    bad argument (vcpus, memory, id, env, metadata)      (400)
 *   -EEXIST    the requested sandbox id is taken                   (409)
 *   -EBUSY     the sandbox is in a state that forbids the operation (409)
 *              (e.g. pause of a paused sandbox, connect to a paused one)
 *   -ENOSPC    no free network slot / max_sandboxes reached / disk (503/507)
 *   -ECANCELED create cancelled by a concurrent destroy              (409)
 *   -ETIMEDOUT envd did not become ready in time                   (504)
 *   -ESHUTDOWN the runtime is closing                              (503)
 *   other      host failure (VMM, disk, netlink)                   (500)
 */
#include "basic/err.h"
#include "runtime/metrics.h"
#include "store/store.h"

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RUNTIME_DATA_DIR_DEFAULT "/var/lib/wrenn"
#define RUNTIME_ID_PREFIX "cl-"
#define RUNTIME_ID_RANDOM_LEN 8 /* lowercase alphanumerics after the prefix */
#define RUNTIME_ID_MAX 64	/* buffer size for an id incl. NUL */
#define RUNTIME_ENVD_PORT 49983
#define RUNTIME_ENVD_VERSION "0.1.0"	/* reported when envd's /health names none */
#define RUNTIME_DEFAULT_TEMPLATE "base" /* E2B SDK default; alias of debian or minimal */
#define RUNTIME_MIN_MEMORY_MB 128	/* below this the guest does not boot envd */

struct runtime;

#define RUNTIME_LOG_MAX_DEFAULT (INT64_C(4) << 20)
#define RUNTIME_LOG_MAX_LIMIT (INT64_C(1) << 40)

struct runtime_config {
	/* Root of all state: sandboxes/, slots/, logs, the store.  NULL = default. */
	const char *data_dir;
	/*
	 * Built-in templates come from here: <images_dir>/minimal.ext4 and
	 * <images_dir>/debian.ext4, kernel <images_dir>/vmlinux.  NULL =
	 * <data_dir>/images.  A missing image just means that template is not
	 * registered; a missing kernel fails creates (-ENOENT), not runtime_open.
	 */
	const char *images_dir;
	const char *kernel_path; /* NULL = <images_dir>/vmlinux */
	/* Borrowed store (must outlive the runtime), or NULL = open store_path. */
	struct store *store;
	const char *store_path; /* NULL = <data_dir>/wrenn.db */
	/* Network namespace prefix (namespace = prefix + slot); NULL = "wrenn-ns-".
	 * Agents sharing a host must share data_dir or use distinct prefixes: the
	 * startup sweep removes namespaces with this prefix that no claim owns. */
	const char *ns_prefix;
	const char *veth_prefix;    /* egress host links; NULL = "wrenn-veth-" (same caveat) */
	const char *nft_table;	    /* egress nft table; NULL = "wrenn" (same caveat) */
	const char *egress_base;    /* egress /16; NULL = NET_EGRESS_BASE_DEFAULT (same caveat) */
	unsigned int pool_size;	    /* prepared idle network slots; 0 = 2 */
	unsigned int max_sandboxes; /* slots 1..max_sandboxes; 0 = 64 */
	/* VMM/accel override: "qemu" | "cloud-hypervisor", "kvm" | "tcg";
	 * NULL = automatic (environment WRENN_VMM / WRENN_ACCEL, then probing). */
	const char *vmm;
	const char *accel;
	const char *vmm_bin; /* VMM binary; NULL = backend default */
	/* Disk backend: NULL/"auto", "auto+dm", "reflink", "qcow2", "dm". */
	const char *disk_backend;
	int envd_timeout_ms; /* wait for envd /health after boot; 0 = 60000 */
	bool no_reaper;	     /* do not start the TTL reaper thread (tests) */
	/* vmm.log (VMM output + guest serial console) is rotated to vmm.log.1 once it
	 * passes this size, checked 4 times a second by the reaper thread (logs routes
	 * keep their offsets, see basic/logrot.h).  0 = WRENN_VMM_LOG_MAX from the
	 * environment, else RUNTIME_LOG_MAX_DEFAULT; the reaper must run. */
	int64_t log_max_bytes;
	/* Guest NIC limit, bytes per second (a token bucket refilled every second): Cloud
	 * Hypervisor's NetConfig.rate_limiter_config, which CH applies to the device's transmit and
	 * receive queues alike.  0 = none; refused by runtime_open (-ENOTSUP) when the VMM is not
	 * Cloud Hypervisor (QEMU has no NIC rate limiter). */
	uint64_t net_bytes_per_sec;
	/* runtime_close policy: false (default) leaves running and paused
	 * sandboxes as they are for the next runtime_open to re-attach; true stops
	 * every running VMM and marks those sandboxes killed (paused ones stay). */
	bool stop_on_close;
	/* Built-in templates are snapshotted on first use (in the background,
	 * cached under <data_dir>/templates/auto-*, keyed by image, kernel,
	 * vCPUs and memory) and later creates restore that snapshot; true turns
	 * this off (every create boots).  Also off with WRENN_AUTO_SNAPSHOT=0. */
	bool no_auto_snapshot;
	/* Build the default template's auto snapshot in the background at open. */
	bool prewarm;
	/* Warm pool: per automatic snapshot template in use, keep this many VMs
	 * restored, warmed up and paused, so a create only resumes one and sends
	 * /init.  They hold a slot, a disk clone and a paused QEMU each (no CPU)
	 * and are released at close.  0 = WRENN_WARM_POOL from the environment,
	 * else 2 when prewarm is set (a long-lived agent), else off; negative = off. */
	int warm_pool;
	/* Adaptive warm pool above that floor (src/runtime/warm-policy.h): a template's target
	 * follows its peak burst of creates (those within 10 s) over the last
	 * warm_pool_idle_s, at most warm_pool_max per template, all templates' entries within
	 * warm_pool_memory_mb of host memory (measured private MiB per paused VMM); back to the
	 * floor after warm_pool_idle_s without creates; warm_pool_parallel entries are built at
	 * once (1..4).  0 = WRENN_WARM_POOL_MAX / _MEMORY_MB / _IDLE_S / _PARALLEL from the
	 * environment, else 32, 1/8 of host RAM, 300 s, 2. */
	unsigned warm_pool_max, warm_pool_memory_mb, warm_pool_idle_s, warm_pool_parallel;
	/* VMM jail (src/vm/jail.h): the VMM of network slot n runs as uid/gid
	 * jail_uid_base + n, template files are readable by gid jail_uid_base.
	 * 0 = WRENN_JAIL_UID_BASE, else 64000; the range base..base+max_sandboxes
	 * must be free of host users and groups (runtime_open refuses it
	 * otherwise); agents sharing a host need distinct ranges.  no_jail (or
	 * WRENN_JAIL=0) runs VMMs as root, unconfined (debugging only). */
	unsigned jail_uid_base;
	bool no_jail;
	/* Per-sandbox cgroup (src/vm/cgroup.h): NULL = WRENN_CGROUP_PARENT, else
	 * "auto" (under the agent's own cgroup); "none" = no limits. */
	const char *cgroup_parent;
	/* Create limits, refused with -EINVAL (400) above them; 0 =
	 * WRENN_MAX_VCPUS / WRENN_MAX_MEMORY_MB, else 8 vCPUs and 16384 MiB. */
	int max_vcpus;
	int max_memory_mb;
	/* Live (creating, running, paused) sandboxes per team; a create past it is
	 * -EUSERS (429).  0 = WRENN_MAX_SANDBOXES_PER_TEAM, else no cap.  The
	 * operator's sandboxes (team "") count only against max_sandboxes. */
	unsigned max_sandboxes_per_team;
};

/* One sandbox as the API sees it.  Strings are owned; release with runtime_info_done. */
struct runtime_info {
	char id[RUNTIME_ID_MAX];
	char *template; /* the name as resolved ("base" -> "debian"/"minimal") */
	enum store_sb_state state;
	int vcpus;
	int memory_mb;
	int slot;	    /* network slot, -1 = none */
	int64_t created_at; /* unix ms */
	int64_t started_at; /* unix ms, last boot/resume */
	int64_t end_at;	    /* TTL deadline unix ms, 0 = none */
	json_t *metadata;   /* object (never NULL) */
	json_t *env_vars;   /* object (never NULL) */
	bool allow_internet;
	char *envd_token;   /* NULL when not secure */
	char *envd_version; /* never NULL */
	char *error;	    /* NULL unless state == error */
	char *team;	    /* owning team, "" = the operator's (never NULL when filled) */
	/* How the VM came up: "snapshot" (restored from a snapshot template),
	 * "boot" (cold boot), or "" when unknown (re-attached). Static string. */
	const char *create_path;
	char **allow_out, **deny_out; /* NULL-terminated, NULL = none */
	bool private_traffic;
	char *traffic_token; /* NULL unless private_traffic */
	char *mask_host;     /* NULL = none */
};
void runtime_info_done(struct runtime_info *info);
void runtime_info_list_free(struct runtime_info *rows, size_t n);

/* Open: store, slot pool, templates, startup sweep and re-attach, reaper. */
int runtime_open(const struct runtime_config *cfg, struct runtime **ret, struct wr_err *err);
/* Stop the reaper, wait for in-flight operations, apply the close policy
 * (runtime_config.stop_on_close), release the pool. NULL-safe. */
void runtime_close(struct runtime *rt);
/* The store the runtime uses (borrowed; valid until runtime_close). */
struct store *runtime_store(struct runtime *rt);

/* A volume to attach at create (src/runtime/volumes.h): the team's volume by name or id, and
 * where the guest mounts it. */
struct runtime_volume_mount {
	const char *volume;
	const char *path;
};

struct runtime_create_spec {
	const char *template; /* NULL or "" = RUNTIME_DEFAULT_TEMPLATE */
	int vcpus;	      /* 0 = 1 */
	int memory_mb;	      /* 0 = 512; < RUNTIME_MIN_MEMORY_MB is -EINVAL */
	int timeout_s;	      /* TTL in seconds from running; 0 = none */
	json_t *env_vars;     /* borrowed object of string values; NULL = none */
	json_t *metadata;     /* borrowed object of string values; NULL = none */
	bool allow_internet;  /* egress on for this sandbox */
	bool secure;	      /* mint an envd access token (runtime_envd_info) */
	const char *id;	      /* NULL = mint cl-xxxxxxxx */
	const char *team;     /* owning team (store row); NULL = the operator's */
	/* E2B `network`: NULL-terminated normalised IPv4 CIDRs (egress_cidr_parse; allow_out
	 * needs allow_internet and never reaches a blocked range), and private_traffic
	 * (allowPublicTraffic: false) mints a traffic access token the proxy demands. */
	char *const *allow_out;
	char *const *deny_out;
	bool private_traffic;
	const char
		*mask_host; /* E2B maskRequestHost: Host sent to user ports; NULL = the client's */
	/* Volumes (volumes.h): attached as extra disks; the create boots the template (no
	 * snapshot restore, no warm pool).  A volume held by another sandbox is -EBUSY. */
	const struct runtime_volume_mount *volumes;
	size_t n_volumes;
};
/* Create and wait until envd accepted /init; *ret (optional) is filled on success. */
int runtime_create(struct runtime *rt, const struct runtime_create_spec *spec,
		   struct runtime_info *ret, struct wr_err *err);
/* Stop the VMM, release slot and disk, remove the sandbox dir and the row's
 * runtime state (row kept as killed).  Cancels a create in progress.
 * -ENOENT if unknown or already killed. */
int runtime_destroy(struct runtime *rt, const char *id, struct wr_err *err);
int runtime_get(struct runtime *rt, const char *id, struct runtime_info *ret, struct wr_err *err);

struct runtime_filter {
	unsigned states;	 /* bits (1u << enum store_sb_state); 0 = creating|running|paused */
	const char *template;	 /* NULL = any */
	const char *const *meta; /* key, value, ..., NULL: all must match; NULL = any */
	const char *team;	 /* only this team's sandboxes; NULL = any */
};
/* Newest first. */
int runtime_list(struct runtime *rt, const struct runtime_filter *f, struct runtime_info **ret_rows,
		 size_t *ret_n, struct wr_err *err);

/* TTL: the sandbox is destroyed timeout_s seconds from now (0 = never). */
int runtime_set_timeout(struct runtime *rt, const char *id, int timeout_s, struct wr_err *err);

/* E2B updateNetwork: replace allow_out/deny_out of a running or paused sandbox in one batch;
 * allow_internet < 0 keeps egress as it is, 0/1 switches it (the policy's sets live in the
 * egress table, so allow_out needs egress on).  Stored with the sandbox and re-applied when
 * an agent re-attaches it. */
int runtime_set_network(struct runtime *rt, const char *id, int allow_internet,
			char *const *allow_out, char *const *deny_out, struct wr_err *err);

/* Pause: VMM pause + snapshot into the sandbox dir + VMM stop; disk and slot
 * kept.  On failure the sandbox is still running (or, if even that cannot be
 * restored, in state error).  -EBUSY unless running. */
int runtime_pause(struct runtime *rt, const char *id, struct wr_err *err);
/* Resume a paused sandbox in the same slot and disk, then POST /init with the
 * host clock.  timeout_s > 0 sets a new TTL from now; 0 restarts the TTL the
 * sandbox had (none if it had none).  Resume of a running sandbox is a no-op. */
int runtime_resume(struct runtime *rt, const char *id, int timeout_s, struct wr_err *err);

/* A blocking TCP socket connected, inside the sandbox's network namespace, to
 * the guest 169.254.0.21:port.  -EBUSY when the sandbox is not running. */
int runtime_connect(struct runtime *rt, const char *id, uint16_t port, int timeout_ms, int *ret_fd,
		    struct wr_err *err);
/* envd access token (NULL when not secure) and version; caller frees both. */
int runtime_envd_info(struct runtime *rt, const char *id, char **ret_token, char **ret_version,
		      struct wr_err *err);
/* Path of the VMM + guest console log (<data_dir>/sandboxes/<id>/vmm.log);
 * caller frees.  The file may not exist yet. */
int runtime_log_path(struct runtime *rt, const char *id, char **ret_path, struct wr_err *err);

/* Warm-pool entries ready to be claimed (all templates). */
unsigned runtime_warm_ready(struct runtime *rt);
/* Per key (template, vCPUs, memory) of the warm pool: its floor, current target (raised by
 * bursts of creates, back to the floor when idle, within the memory budget), entries ready and
 * being built, measured MiB per entry (0 = not yet).  *ret is caller-freed (never NULL). */
struct runtime_warm_stat {
	char template[128];
	int vcpus, memory_mb;
	unsigned floor, target, ready, building;
	uint64_t cost_mb;
};
size_t runtime_warm_stats(struct runtime *rt, struct runtime_warm_stat **ret);

/* Templates known to the runtime (built-ins registered at open, plus the
 * store's); "base" is listed as its own alias row. */
int runtime_template_list(struct runtime *rt, struct store_template **ret_rows, size_t *ret_n,
			  struct wr_err *err);
/* What a snapshot taken here depends on (backend, accel, qemuVersion, kernelSha256 of
 * kernel_path or the default kernel, hostCpu): templates across hosts compare it
 * (daemon/tplmanifest.h).  New reference. */
json_t *runtime_host_compat(struct runtime *rt, const char *kernel_path);
/* Resolve a template name ("base" alias included): -ENOENT with a message
 * listing the known names when unknown.  *ret_name (optional) is malloc'd. */
int runtime_template_resolve(struct runtime *rt, const char *name, char **ret_name,
			     struct wr_err *err);

/*
 * Snapshot template (QEMU): boot template `from` once with guest RAM in a
 * file, wait for envd, snapshot it into <data_dir>/templates/<name>/ (RAM
 * file + device state + the snapshot-time disk, flattened to raw).  Creates
 * from `name` then restore that snapshot instead of booting: the RAM file is
 * mapped private (copy-on-write, page cache shared by all clones), the disk is
 * cloned from the snapshot-time disk, and /init gives each clone its own ids,
 * token, env and clock.  vcpus/memory_mb 0 = defaults and are fixed for the
 * template's sandboxes.  -EEXIST if the name is taken.
 */
int runtime_template_build(struct runtime *rt, const char *name, const char *from, int vcpus,
			   int memory_mb, struct wr_err *err);
/* A custom build (src/build): like runtime_template_build, but the build VM gets egress when
 * allow_internet, envd's /init is left to the hook, and run() is called with the VM up (envd
 * answering) before the snapshot; its failure (< 0) aborts the build and removes everything.
 * started() (optional) is told the build VM's id first, so a crash can be swept.  The VM is
 * quiesced (envd /prepare) before the snapshot. */
struct runtime_build_hook {
	void (*started)(void *ud, const char *sandbox_id);
	int (*run)(struct runtime *rt, const char *sandbox_id, void *ud, struct wr_err *err);
	void *ud;
	bool allow_internet;
};
int runtime_template_build_with(struct runtime *rt, const char *name, const char *from, int vcpus,
				int memory_mb, const struct runtime_build_hook *hook,
				struct wr_err *err);
/* Snapshot the running sandbox id (a build VM) into the snapshot template `name` (RAM, device
 * state, disk) and let it run on: a build step checkpoint.  No snapshot row is made; the
 * template's parent is the sandbox's template; no envd /prepare (the caller syncs). */
int runtime_template_checkpoint(struct runtime *rt, const char *id, const char *name,
				struct wr_err *err);
/* Build the automatic snapshot of a built-in template for vcpus/memory_mb
 * (0 = defaults) now, if missing; later creates with those sizes restore it. */
int runtime_template_prewarm(struct runtime *rt, const char *template, int vcpus, int memory_mb,
			     struct wr_err *err);
/* Delete a snapshot template and its files; -EBUSY while sandboxes use it,
 * -EINVAL for built-in templates. */
int runtime_template_delete(struct runtime *rt, const char *name, struct wr_err *err);
/* runtime_template_delete for the garbage collection of fetched templates: -EBUSY (nothing
 * done) while a create is in flight or a sandbox or template uses it (template-gc.c). */
int runtime_template_gc_remove(struct runtime *rt, const char *name, struct wr_err *err);

/*
 * Snapshots of running sandboxes.  A snapshot is also a template (its id is
 * the template name): runtime_create from it restores the memory + device
 * state and a clone of the disk as it was at that moment.  The source is
 * paused only while memory, device state and disk are captured, then runs
 * on.  Sizes: apparent (sum of file sizes) and allocated (disk blocks).
 */
struct runtime_snapshot {
	char *id;	  /* "snap-" + 12 [a-z0-9]; the template name to create from */
	char *name;	  /* optional unique name; NULL = none */
	char *sandbox_id; /* source sandbox */
	char *template;	  /* the source's template */
	int vcpus, memory_mb;
	int64_t created_at;
	int64_t size_apparent, size_allocated;
};
void runtime_snapshot_done(struct runtime_snapshot *sn);
void runtime_snapshot_list_free(struct runtime_snapshot *rows, size_t n);
/* -EBUSY unless running; -EEXIST if name is taken; -EINVAL bad name. */
int runtime_snapshot_create(struct runtime *rt, const char *id, const char *name,
			    struct runtime_snapshot *ret, struct wr_err *err);
/* Newest first; sandbox_id NULL = all; paging as store_snapshot_list. */
int runtime_snapshot_list(struct runtime *rt, const char *sandbox_id, const char *cursor, int limit,
			  struct runtime_snapshot **ret_rows, size_t *ret_n, char **ret_next,
			  struct wr_err *err);
int runtime_snapshot_get(struct runtime *rt, const char *id_or_name, struct runtime_snapshot *ret,
			 struct wr_err *err);
/* -ENOENT unknown, -EBUSY while sandboxes were created from it and live. */
int runtime_snapshot_delete(struct runtime *rt, const char *id_or_name, struct wr_err *err);

/* Fork: snapshot sandbox id and start count (1..100) sandboxes from it, in
 * parallel, with the source's env, metadata, secure and internet settings and
 * TTL timeout_s (0 = none).  ret[i] is filled for each child; ret_err[i].code
 * != 0 when child i failed.  Returns 0 if at least one child started.  The
 * fork snapshot is internal and removed when its last child is destroyed. */
int runtime_fork(struct runtime *rt, const char *id, int count, int timeout_s,
		 struct runtime_info *ret, struct wr_err *ret_err, struct wr_err *err);

/* Observability (metrics.c, limits in runtime/metrics.h), kept in memory while a sandbox lives
 * and METRICS_KEEP_S after.  -ENOENT when nothing is kept for id.
 * runtime_metrics: points with start <= ts <= end (unix s; 0 = open), oldest first, *ret
 * malloc'd (NULL when none).  runtime_logs: console lines as log_ring_select picks them,
 * copies; free with runtime_logs_free. */
int runtime_metrics(struct runtime *rt, const char *id, int64_t start, int64_t end,
		    struct metric_point **ret, size_t *ret_n);
int runtime_metrics_last(struct runtime *rt, const char *id, struct metric_point *ret);
int runtime_logs(struct runtime *rt, const char *id, int64_t cursor, bool forward,
		 enum metrics_level min_level, const char *search, size_t limit,
		 struct log_entry **ret, size_t *ret_n);
void runtime_logs_free(struct log_entry *v, size_t n);
/* Add a line to sandbox id's log (e.g. source "process": a start or end the agent saw). */
void runtime_log_event(struct runtime *rt, const char *id, enum metrics_level level,
		       const char *source, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Create/restore latencies and warm-pool hits for GET /metrics. */
void runtime_metrics_counters(struct runtime *rt, struct metrics_counters *ret);

/* --- pure helpers, exported for tests --------------------------------------------------- */

/* Mint "cl-" + RUNTIME_ID_RANDOM_LEN chars of [a-z0-9] from getrandom. */
int runtime_mint_id(char buf[RUNTIME_ID_MAX]);
/* A syntactically valid sandbox id ("cl-" + 1..40 of [a-z0-9]). */
bool runtime_id_valid(const char *id);
/* Access token: 32 lowercase hex chars from getrandom; malloc'd. */
char *runtime_mint_token(void);
