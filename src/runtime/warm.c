/* SPDX-License-Identifier: MIT */
/*
 * Warm pool: restored, warmed-up, paused VMs per snapshot template.
 *
 * Under TCG most of a snapshot create is not the restore but the first
 * requests into a fresh QEMU process: every guest code path (virtio-net, TCP,
 * envd's HTTP handling, fork/exec) is translated again, so the first
 * GET /health takes ~80 ms and the first exec ~90 ms.  A warm entry is a
 * sandbox without a store row whose VM was restored, answered /health, ran
 * a process and took an /init, and was then paused (no CPU while waiting).
 * A create from that template claims one (rt_warm_take): resume, /init with
 * the sandbox's own ids, token, env, entropy and clock, done.
 *
 * Which templates: a built-in's automatic snapshot (registered when it is built or first
 * created from) and a template built through runtime_template_build* (its RT_WARM_MARK:
 * registered when the build ends, so its pool fills before the first create, and after a
 * restart at its first create).  User snapshots, forks and build-step checkpoints get none:
 * they are restored once or a few times.  A create that finds no ready entry while one is
 * being built that no other create waits for takes that one (bounded, WARM_JOIN_MS) rather
 * than restoring a second VM beside it on the same cores.
 *
 * Entries are named like sandboxes (cl-xxxxxxxx, minted here; the claim
 * keeps the id), so a crashed agent's pool is swept like its sandboxes: the
 * VMM (its argv names the sandbox dir), the dir and disk (runtime.json), the
 * slot.
 *
 * Sizing (warm-policy.h): every create that asks a key for an entry (hit or
 * miss) is recorded; each key's target is its peak burst within the idle
 * horizon, at least the floor (--warm-pool), at most the per-template
 * maximum, and all keys together fit the memory budget, costed by the
 * measured private memory of the key's last built VMM.  After idle_ms without
 * creates the target is the floor again and the extra entries are released.
 * warm_par filler threads build entries in parallel, only while no create is
 * in flight so refills never compete with a create for the CPU; a target
 * change is logged at info with its reason.
 */
#include "runtime/runtime-internal.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WARM_MAX_FAILS 3 /* a key whose builds keep failing is given up */
/* How long a create waits for an entry being built for its template instead of restoring a
 * VM of its own: a build (restore, warm-up, pause) takes ~300 ms under TCG here, and a
 * second restore beside it competes for the same cores. */
#define WARM_JOIN_MS 2000

struct rt_warm_key {
	char *snapshot_dir, *template, *rootfs, *kernel;
	int vcpus, mem;
	unsigned fails;
	struct sbx **ready;
	size_t nready;
	uint64_t serial;    /* identifies the key across a forget + register */
	unsigned nbuilding; /* entries being built now */
	unsigned njoined;   /* creates waiting for one of them (rt_warm_take) */
	unsigned target;    /* current target (retarget) */
	enum wp_reason why;
	struct wp_hist hist; /* arrivals of creates asking for an entry */
	uint64_t cost_mb;    /* host MiB per entry (measured, see entry_cost_mb) */
};

struct filler_arg {
	struct runtime *rt;
	unsigned idx; /* its rt->warm_building[] slot */
};

static void key_free(struct rt_warm_key *k)
{
	free(k->snapshot_dir);
	free(k->template);
	free(k->rootfs);
	free(k->kernel);
	free(k->ready);
	free(k);
}

static void entry_drop(struct sbx *s)
{
	rt_sbx_release(s, false);
	rt_sbx_put(s);
}

static struct rt_warm_key *key_by_serial(struct runtime *rt, uint64_t serial)
{
	for (size_t i = 0; i < rt->nwarm; i++)
		if (rt->warm[i]->serial == serial)
			return rt->warm[i];
	return NULL;
}

/* Private memory of the entry's (paused) VMM in MiB: what it costs the host beyond the shared
 * QEMU binary and page cache.  0 when unreadable. */
static uint64_t entry_cost_mb(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	cleanup_free char *buf = NULL;
	size_t n = 0;
	if (pid <= 0 || read_file(path, 1 << 16, &buf, &n) < 0)
		return 0;
	uint64_t kb = 0;
	for (const char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		unsigned long long v;
		if (sscanf(l, "Private_Clean: %llu kB", &v) == 1 ||
		    sscanf(l, "Private_Dirty: %llu kB", &v) == 1)
			kb += v;
	}
	return (kb + 1023) / 1024;
}

/* Recompute every key's target (under warm_lock); log changes with their reason. */
static void retarget(struct runtime *rt, int64_t now)
{
	if (!rt->nwarm)
		return;
	const struct wp_cfg *c = &rt->warm_cfg;
	cleanup_free unsigned *t = xcalloc(rt->nwarm, sizeof(*t));
	cleanup_free uint64_t *cost = xcalloc(rt->nwarm, sizeof(*cost));
	cleanup_free enum wp_reason *why = xcalloc(rt->nwarm, sizeof(*why));
	for (size_t i = 0; i < rt->nwarm; i++) {
		struct rt_warm_key *k = rt->warm[i];
		t[i] = wp_target(c, &k->hist, now, &why[i]);
		/* Until one is measured: a paused, restored guest touched about a quarter of
		 * its RAM (the rest of the snapshot is zero pages). */
		cost[i] = k->cost_mb ? k->cost_mb : (uint64_t)(k->mem > 0 ? k->mem : 512) / 4;
	}
	wp_fit_budget(c, t, cost, why, rt->nwarm);
	for (size_t i = 0; i < rt->nwarm; i++) {
		struct rt_warm_key *k = rt->warm[i];
		if (t[i] == k->target)
			continue;
		char detail[160] = "";
		if (why[i] == WP_BURST || why[i] == WP_MAX)
			snprintf(detail, sizeof(detail), ": peak of %u creates within %lld ms",
				 wp_peak(&k->hist, now, c->idle_ms, c->burst_ms),
				 (long long)c->burst_ms);
		else if (why[i] == WP_IDLE)
			snprintf(detail, sizeof(detail), ": no create for %lld s",
				 (long long)(c->idle_ms / 1000));
		else if (why[i] == WP_BUDGET)
			snprintf(detail, sizeof(detail),
				 ": %llu MiB for all pools, ~%llu MiB per VM",
				 (unsigned long long)c->budget_mb, (unsigned long long)cost[i]);
		log_info("warm pool %s (%dc/%dm): target %u -> %u (%s%s)", k->template, k->vcpus,
			 k->mem, k->target, t[i], wp_reason_str(why[i]), detail);
		k->target = t[i];
		k->why = why[i];
	}
}

static struct rt_warm_key *key_find(struct runtime *rt, const char *dir, int vcpus, int mem)
{
	for (size_t i = 0; i < rt->nwarm; i++) {
		struct rt_warm_key *k = rt->warm[i];
		if (!strcmp(k->snapshot_dir, dir) && k->vcpus == vcpus && k->mem == mem)
			return k;
	}
	return NULL;
}

/* A create waits for an entry of this key that no ready one serves (rt_warm_take). */
static bool wanted(struct runtime *rt, uint64_t serial)
{
	pthread_mutex_lock(&rt->warm_lock);
	struct rt_warm_key *k = key_by_serial(rt, serial);
	bool w = k && k->njoined > k->nready;
	pthread_mutex_unlock(&rt->warm_lock);
	return w;
}

/* Restore, wait for envd, exercise the paths a create and a first command
 * take, pause.  The entry holds everything a sandbox holds except a row. */
static int build(struct runtime *rt, struct sbx *s, uint64_t serial, struct wr_err *err)
{
	int r;
	if (mkdir(s->dir, 0750) < 0)
		return wr_err_errno(err, errno, "mkdir %s", s->dir);
	unsigned slot;
	if ((r = slot_pool_acquire(rt->pool, &slot, err)) < 0)
		return r;
	s->slot = (int)slot;
	slot_pool_ns_name(rt->pool, slot, s->ns);
	s->disk_ops = rt->disk_ops;
	cleanup_free char *disk_path = xasprintf(
		"%s/rootfs.%s", s->dir, strcmp(rt->disk_ops->name, "qcow2") ? "img" : "qcow2");
	if ((r = rt->disk_ops->clone(s->rootfs_template, disk_path, &s->disk, err)) < 0)
		return r;
	s->has_disk = true;
	if ((r = rt_sbx_write_state(s, err)) < 0 || (r = rt_sbx_fill_config(s, err)) < 0 ||
	    (r = rt_sbx_vmm_new(s, NULL, err)) < 0)
		return r;
	rt_sbx_log_note(s, "warm pool VM %s: restoring snapshot %s", s->id, s->snapshot_dir);
	if ((r = vmm_restore(s->vmm, s->snapshot_dir, true, err)) < 0)
		return r;
	s->pid = vmm_pid(s->vmm);
	if ((r = rt_sbx_write_state(s, err)) < 0 || (r = rt_envd_wait(s, 30000, err)) < 0)
		return r;
	/* Best effort: a failed warm-up only leaves some paths cold.  Skipped when a create
	 * already waits for this entry: it sends its own /init next, and the warm-up (~150 ms of
	 * translating guest code under TCG) would only delay it; its first command then warms the
	 * paths, as after a restore of its own. */
	if (wanted(rt, serial)) {
		log_debug("warm %s: a create waits for it, no warm-up", s->id);
	} else {
		static const char *const args[] = {"warm", NULL};
		struct wr_err e = {0};
		if (rt_envd_run(s, "/bin/echo", args, 5000, &e) < 0)
			log_debug("warm %s: exec warm-up: %s", s->id, wr_err_msg(&e));
		wr_err_clear(&e);
		if (rt_envd_init(s, NULL, true, &e) < 0)
			log_debug("warm %s: /init warm-up: %s", s->id, wr_err_msg(&e));
	}
	if (atomic_load(&s->cancel))
		return wr_err_set(err, ECANCELED, "warm pool stopping");
	return vmm_pause(s->vmm, err);
}

static void *filler(void *arg)
{
	struct filler_arg *fa = arg;
	struct runtime *rt = fa->rt;
	unsigned idx = fa->idx;
	free(fa);
	pthread_mutex_lock(&rt->warm_lock);
	while (!rt->warm_stop) {
		retarget(rt, rt_now_ms());
		/* Shrink: release one entry past its key's target. */
		struct sbx *extra = NULL;
		for (size_t i = 0; i < rt->nwarm && !extra; i++)
			if (rt->warm[i]->nready > rt->warm[i]->target)
				extra = rt->warm[i]->ready[--rt->warm[i]->nready];
		if (extra) {
			pthread_mutex_unlock(&rt->warm_lock);
			log_debug("warm %s released (over target)", extra->id);
			entry_drop(extra);
			pthread_mutex_lock(&rt->warm_lock);
			continue;
		}
		/* The key furthest below its target. */
		struct rt_warm_key *k = NULL;
		size_t total = 0;
		for (size_t i = 0; i < rt->nwarm; i++) {
			struct rt_warm_key *w = rt->warm[i];
			total += w->nready + w->nbuilding;
			if (w->nready + w->nbuilding < w->target && w->fails < WARM_MAX_FAILS &&
			    (!k || w->target - w->nready - w->nbuilding >
					   k->target - k->nready - k->nbuilding))
				k = w;
		}
		/* Leave a slot for creates the pool does not serve. */
		pthread_mutex_lock(&rt->lock);
		bool room = rt->nsbx + total + 1 < rt->max_sandboxes;
		pthread_mutex_unlock(&rt->lock);
		if (!k || !room || atomic_load(&rt->creates) > 0) {
			/* Idle, or a create runs: it gets the CPU; look again when it ends. */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&rt->warm_cond, &rt->warm_lock, &ts);
			continue;
		}
		char id[RUNTIME_ID_MAX];
		if (runtime_mint_id(id) < 0) {
			k->fails++;
			continue;
		}
		struct sbx *s = rt_sbx_new(rt, id);
		s->template = xstrdup(k->template);
		s->rootfs_template = xstrdup(k->rootfs);
		s->kernel = xstrdup(k->kernel);
		s->snapshot_dir = xstrdup(k->snapshot_dir);
		s->create_path = "snapshot";
		s->vcpus = k->vcpus;
		s->memory_mb = k->mem;
		s->state = STORE_SB_CREATING;
		s->warm = true;
		cleanup_free char *tf = xasprintf("%s/" RT_SNAP_TOKEN_FILE, s->snapshot_dir);
		size_t tl = 0;
		if (read_file(tf, 256, &s->init_auth, &tl) < 0)
			s->init_auth = NULL;
		uint64_t serial = k->serial;
		k->nbuilding++;
		rt->warm_building[idx] = s;
		pthread_mutex_unlock(&rt->warm_lock);

		struct wr_err e = {0};
		int r = build(rt, s, serial, &e);
		uint64_t cost = r >= 0 ? entry_cost_mb(s->pid) : 0;

		pthread_mutex_lock(&rt->warm_lock);
		rt->warm_building[idx] = NULL;
		/* The key may have been forgotten (template deleted) meanwhile. */
		k = key_by_serial(rt, serial);
		if (k)
			k->nbuilding--;
		if (r >= 0 && k && !rt->warm_stop) {
			k->ready = xrealloc(k->ready, (k->nready + 1) * sizeof(*k->ready));
			k->ready[k->nready++] = s;
			k->fails = 0;
			if (cost)
				k->cost_mb = cost;
			log_debug("warm %s ready for %s (%zu of %u, %llu MiB)", s->id, k->template,
				  k->nready, k->target, (unsigned long long)cost);
			rt->warm_gen++;
			pthread_cond_broadcast(&rt->warm_cond);
			continue;
		}
		if (r < 0 && k && !rt->warm_stop && r != -ECANCELED) {
			k->fails++;
			log_warn("warm pool for %s: %s", k->template, wr_err_msg(&e));
		}
		pthread_mutex_unlock(&rt->warm_lock);
		entry_drop(s);
		pthread_mutex_lock(&rt->warm_lock);
		rt->warm_gen++; /* its slot is free: rt_warm_drop_one may be waiting */
		pthread_cond_broadcast(&rt->warm_cond);
	}
	pthread_mutex_unlock(&rt->warm_lock);
	return NULL;
}

void rt_warm_init(struct runtime *rt, unsigned floor, const struct wp_cfg *c, unsigned par)
{
	pthread_mutex_init(&rt->warm_lock, NULL);
	pthread_cond_init(&rt->warm_cond, NULL);
	rt->warm_target = floor;
	rt->warm_cfg = *c;
	rt->warm_cfg.floor = floor;
	rt->warm_par = par < 1 ? 1 : par > RT_WARM_PAR_MAX ? RT_WARM_PAR_MAX : par;
	if (floor)
		log_debug(
			"warm pool: floor %u, at most %u per template, %llu MiB budget, idle after "
			"%lld ms, %u builds at once",
			floor, c->max_per_key, (unsigned long long)c->budget_mb,
			(long long)c->idle_ms, rt->warm_par);
}

void rt_warm_register(struct runtime *rt, const struct rt_template *t, int vcpus, int mem)
{
	if (!rt->warm_target || !t->snapshot_dir || rt->vmm.kind != VMM_KIND_QEMU)
		return;
	pthread_mutex_lock(&rt->warm_lock);
	if (!rt->warm_stop && !key_find(rt, t->snapshot_dir, vcpus, mem)) {
		struct rt_warm_key *k = xcalloc(1, sizeof(*k));
		k->snapshot_dir = xstrdup(t->snapshot_dir);
		k->template = xstrdup(t->name);
		k->rootfs = xstrdup(t->rootfs);
		k->kernel = xstrdup(t->kernel);
		k->vcpus = vcpus;
		k->mem = mem;
		k->serial = ++rt->warm_serial;
		rt->warm = xrealloc(rt->warm, (rt->nwarm + 1) * sizeof(*rt->warm));
		rt->warm[rt->nwarm++] = k;
		while (rt->warm_nthreads < rt->warm_par) {
			struct filler_arg *fa = xcalloc(1, sizeof(*fa));
			*fa = (struct filler_arg){rt, rt->warm_nthreads};
			if (pthread_create(&rt->warm_threads[rt->warm_nthreads], NULL, filler,
					   fa)) {
				free(fa);
				break;
			}
			rt->warm_nthreads++;
		}
	}
	pthread_cond_broadcast(&rt->warm_cond);
	pthread_mutex_unlock(&rt->warm_lock);
}

/* Wait (warm_lock held) until k has a ready entry, its builds are over, or WARM_JOIN_MS passed;
 * k again, or NULL when it was forgotten meanwhile. */
static struct rt_warm_key *join_build(struct runtime *rt, struct rt_warm_key *k)
{
	uint64_t serial = k->serial;
	int64_t t0 = rt_now_ms();
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WARM_JOIN_MS / 1000;
	until.tv_nsec += (long)(WARM_JOIN_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	k->njoined++;
	while (!rt->warm_stop && (k = key_by_serial(rt, serial)) && !k->nready && k->nbuilding &&
	       pthread_cond_timedwait(&rt->warm_cond, &rt->warm_lock, &until) == 0)
		;
	if ((k = key_by_serial(rt, serial))) {
		k->njoined--;
		log_debug("warm pool %s: a create waited %lld ms for an entry being built (%s)",
			  k->template, (long long)(rt_now_ms() - t0),
			  k->nready ? "took it" : "none came");
	}
	return k;
}

void rt_warm_register_built(struct runtime *rt, const struct rt_template *t)
{
	if (!rt->warm_target || !t->snapshot_dir)
		return;
	cleanup_free char *mark = xasprintf("%s/" RT_WARM_MARK, t->snapshot_dir);
	if (access(mark, F_OK) == 0)
		rt_warm_register(rt, t, t->vcpus, t->memory_mb);
}

struct sbx *rt_warm_take(struct runtime *rt, const char *snapshot_dir, int vcpus, int mem)
{
	struct sbx *s = NULL;
	pthread_mutex_lock(&rt->warm_lock);
	struct rt_warm_key *k = rt->nwarm ? key_find(rt, snapshot_dir, vcpus, mem) : NULL;
	if (k) /* demand, served or not; the fillers retarget when the creates end */
		wp_hist_add(&k->hist, rt_now_ms());
	/* None ready, but an entry is being built that no other create waits for (the first
	 * create after a template's build, or after its pool ran dry): take that one when it is
	 * ready rather than restore a second VM beside it. */
	if (k && !k->nready && k->nbuilding > k->njoined)
		k = join_build(rt, k);
	if (k && k->nready) {
		s = k->ready[0];
		memmove(k->ready, k->ready + 1, --k->nready * sizeof(*k->ready));
	}
	pthread_mutex_unlock(&rt->warm_lock);
	return s;
}

static struct sbx *pop_any_ready(struct runtime *rt)
{
	for (size_t i = 0; i < rt->nwarm; i++)
		if (rt->warm[i]->nready)
			return rt->warm[i]->ready[--rt->warm[i]->nready];
	return NULL;
}

bool rt_warm_drop_one(struct runtime *rt)
{
	pthread_mutex_lock(&rt->warm_lock);
	struct sbx *s = pop_any_ready(rt);
	bool freed = s != NULL;
	if (!s) {
		/* Entries being built hold slots too: cancel them and wait until one has let its
		 * slot go (a build notices at its end; bounded). */
		unsigned long gen = rt->warm_gen;
		bool any = false;
		for (unsigned i = 0; i < RT_WARM_PAR_MAX; i++)
			if (rt->warm_building[i]) {
				atomic_store(&rt->warm_building[i]->cancel, true);
				any = true;
			}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 30;
		while (any && rt->warm_gen == gen &&
		       pthread_cond_timedwait(&rt->warm_cond, &rt->warm_lock, &ts) == 0)
			;
		freed = any && rt->warm_gen != gen;
		/* A build that finished before it saw the cancel is ready now: take its slot. */
		s = freed ? pop_any_ready(rt) : NULL;
		if (freed)
			log_info("warm pool: a create needed a network slot; cancelled the builds "
				 "holding them");
	}
	pthread_mutex_unlock(&rt->warm_lock);
	if (s)
		entry_drop(s);
	return freed;
}

void rt_warm_create_begin(struct runtime *rt)
{
	atomic_fetch_add(&rt->creates, 1);
}

void rt_warm_create_end(struct runtime *rt)
{
	if (atomic_fetch_sub(&rt->creates, 1) == 1 && rt->warm_target) {
		pthread_mutex_lock(&rt->warm_lock);
		pthread_cond_broadcast(&rt->warm_cond);
		pthread_mutex_unlock(&rt->warm_lock);
	}
}

/* Take the ready entries of matching keys out (all keys when dir is NULL). */
static size_t detach(struct runtime *rt, const char *dir, struct sbx ***ret)
{
	struct sbx **out = NULL;
	size_t n = 0;
	for (size_t i = 0; i < rt->nwarm;) {
		struct rt_warm_key *k = rt->warm[i];
		if (dir && strcmp(k->snapshot_dir, dir)) {
			i++;
			continue;
		}
		out = xrealloc(out, (n + k->nready + 1) * sizeof(*out));
		if (k->nready) /* ready may be NULL: memcpy from NULL is UB even for 0 bytes */
			memcpy(out + n, k->ready, k->nready * sizeof(*out));
		n += k->nready;
		key_free(k);
		rt->warm[i] = rt->warm[--rt->nwarm];
	}
	*ret = out;
	return n;
}

void rt_warm_forget(struct runtime *rt, const char *snapshot_dir)
{
	if (!snapshot_dir)
		return;
	pthread_mutex_lock(&rt->warm_lock);
	struct sbx **v = NULL;
	size_t n = detach(rt, snapshot_dir, &v);
	for (unsigned i = 0; i < RT_WARM_PAR_MAX; i++)
		if (rt->warm_building[i] &&
		    !strcmp(rt->warm_building[i]->snapshot_dir, snapshot_dir))
			atomic_store(&rt->warm_building[i]->cancel, true);
	pthread_mutex_unlock(&rt->warm_lock);
	for (size_t i = 0; i < n; i++)
		entry_drop(v[i]);
	free(v);
	if (n) {
		/* Their slots are free: a filler waiting for room (another template's build that
		 * just replaced this one) starts now, not at its next timed look. */
		pthread_mutex_lock(&rt->warm_lock);
		rt->warm_gen++;
		pthread_cond_broadcast(&rt->warm_cond);
		pthread_mutex_unlock(&rt->warm_lock);
	}
}

void rt_warm_stop(struct runtime *rt)
{
	pthread_mutex_lock(&rt->warm_lock);
	rt->warm_stop = true;
	for (unsigned i = 0; i < RT_WARM_PAR_MAX; i++)
		if (rt->warm_building[i])
			atomic_store(&rt->warm_building[i]->cancel, true);
	pthread_cond_broadcast(&rt->warm_cond);
	unsigned nthreads = rt->warm_nthreads;
	rt->warm_nthreads = 0;
	pthread_mutex_unlock(&rt->warm_lock);
	for (unsigned i = 0; i < nthreads; i++)
		pthread_join(rt->warm_threads[i], NULL);
	pthread_mutex_lock(&rt->warm_lock);
	struct sbx **v = NULL;
	size_t n = detach(rt, NULL, &v);
	free(rt->warm);
	rt->warm = NULL;
	pthread_mutex_unlock(&rt->warm_lock);
	for (size_t i = 0; i < n; i++)
		entry_drop(v[i]);
	free(v);
}

void rt_warm_done(struct runtime *rt)
{
	pthread_mutex_destroy(&rt->warm_lock);
	pthread_cond_destroy(&rt->warm_cond);
}

unsigned rt_warm_ready(struct runtime *rt, const char *snapshot_dir)
{
	unsigned n = 0;
	pthread_mutex_lock(&rt->warm_lock);
	for (size_t i = 0; i < rt->nwarm; i++)
		if (!snapshot_dir || !strcmp(rt->warm[i]->snapshot_dir, snapshot_dir))
			n += (unsigned)rt->warm[i]->nready;
	pthread_mutex_unlock(&rt->warm_lock);
	return n;
}

size_t runtime_warm_stats(struct runtime *rt, struct runtime_warm_stat **ret)
{
	pthread_mutex_lock(&rt->warm_lock);
	size_t n = rt->nwarm;
	struct runtime_warm_stat *v = xcalloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; i < n; i++) {
		const struct rt_warm_key *k = rt->warm[i];
		snprintf(v[i].template, sizeof(v[i].template), "%s", k->template);
		v[i].vcpus = k->vcpus;
		v[i].memory_mb = k->mem;
		v[i].floor = rt->warm_target;
		v[i].target = k->target;
		v[i].ready = (unsigned)k->nready;
		v[i].building = k->nbuilding;
		v[i].cost_mb = k->cost_mb;
	}
	pthread_mutex_unlock(&rt->warm_lock);
	*ret = v;
	return n;
}
