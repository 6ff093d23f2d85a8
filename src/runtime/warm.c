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
 * Entries are named like sandboxes (cl-xxxxxxxx, minted here; the claim
 * keeps the id), so a crashed agent's pool is swept like its sandboxes: the
 * VMM (its argv names the sandbox dir), the dir and disk (runtime.json), the
 * slot.  One filler thread refills, one entry at a time, and only while no
 * create is in flight so refills never compete with a create for the CPU.
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

struct rt_warm_key {
	char *snapshot_dir, *template, *rootfs, *kernel;
	int vcpus, mem;
	unsigned fails;
	struct sbx **ready;
	size_t nready;
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

static struct rt_warm_key *key_find(struct runtime *rt, const char *dir, int vcpus, int mem)
{
	for (size_t i = 0; i < rt->nwarm; i++) {
		struct rt_warm_key *k = rt->warm[i];
		if (!strcmp(k->snapshot_dir, dir) && k->vcpus == vcpus && k->mem == mem)
			return k;
	}
	return NULL;
}

/* Restore, wait for envd, exercise the paths a create and a first command
 * take, pause.  The entry holds everything a sandbox holds except a row. */
static int build(struct runtime *rt, struct sbx *s, struct wr_err *err)
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
	/* Best effort: a failed warm-up only leaves some paths cold. */
	static const char *const args[] = {"warm", NULL};
	struct wr_err e = {0};
	if (rt_envd_run(s, "/bin/echo", args, 5000, &e) < 0)
		log_debug("warm %s: exec warm-up: %s", s->id, wr_err_msg(&e));
	wr_err_clear(&e);
	if (rt_envd_init(s, NULL, true, &e) < 0)
		log_debug("warm %s: /init warm-up: %s", s->id, wr_err_msg(&e));
	if (atomic_load(&s->cancel))
		return wr_err_set(err, ECANCELED, "warm pool stopping");
	return vmm_pause(s->vmm, err);
}

static void *filler(void *arg)
{
	struct runtime *rt = arg;
	pthread_mutex_lock(&rt->warm_lock);
	while (!rt->warm_stop) {
		struct rt_warm_key *k = NULL;
		for (size_t i = 0; i < rt->nwarm && !k; i++)
			if (rt->warm[i]->nready < rt->warm_target &&
			    rt->warm[i]->fails < WARM_MAX_FAILS)
				k = rt->warm[i];
		/* Leave a slot for creates the pool does not serve. */
		size_t total = 0;
		for (size_t i = 0; i < rt->nwarm; i++)
			total += rt->warm[i]->nready;
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
		cleanup_free char *dir = xstrdup(k->snapshot_dir);
		int vcpus = k->vcpus, mem = k->mem;
		rt->warm_building = s;
		pthread_mutex_unlock(&rt->warm_lock);

		struct wr_err e = {0};
		int r = build(rt, s, &e);

		pthread_mutex_lock(&rt->warm_lock);
		rt->warm_building = NULL;
		/* The key may have been forgotten (template deleted) meanwhile. */
		k = key_find(rt, dir, vcpus, mem);
		if (r >= 0 && k && !rt->warm_stop) {
			k->ready = xrealloc(k->ready, (k->nready + 1) * sizeof(*k->ready));
			k->ready[k->nready++] = s;
			k->fails = 0;
			log_debug("warm %s ready for %s (%zu)", s->id, k->template, k->nready);
			continue;
		}
		if (r < 0 && k && !rt->warm_stop && r != -ECANCELED) {
			k->fails++;
			log_warn("warm pool for %s: %s", k->template, wr_err_msg(&e));
		}
		pthread_mutex_unlock(&rt->warm_lock);
		entry_drop(s);
		pthread_mutex_lock(&rt->warm_lock);
	}
	pthread_mutex_unlock(&rt->warm_lock);
	return NULL;
}

void rt_warm_init(struct runtime *rt, unsigned target)
{
	pthread_mutex_init(&rt->warm_lock, NULL);
	pthread_cond_init(&rt->warm_cond, NULL);
	rt->warm_target = target;
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
		rt->warm = xrealloc(rt->warm, (rt->nwarm + 1) * sizeof(*rt->warm));
		rt->warm[rt->nwarm++] = k;
		if (!rt->warm_started && pthread_create(&rt->warm_thread, NULL, filler, rt) == 0)
			rt->warm_started = true;
	}
	pthread_cond_broadcast(&rt->warm_cond);
	pthread_mutex_unlock(&rt->warm_lock);
}

struct sbx *rt_warm_take(struct runtime *rt, const char *snapshot_dir, int vcpus, int mem)
{
	struct sbx *s = NULL;
	pthread_mutex_lock(&rt->warm_lock);
	struct rt_warm_key *k = rt->nwarm ? key_find(rt, snapshot_dir, vcpus, mem) : NULL;
	if (k && k->nready) {
		s = k->ready[0];
		memmove(k->ready, k->ready + 1, --k->nready * sizeof(*k->ready));
	}
	pthread_mutex_unlock(&rt->warm_lock);
	return s;
}

bool rt_warm_drop_one(struct runtime *rt)
{
	struct sbx *s = NULL;
	pthread_mutex_lock(&rt->warm_lock);
	for (size_t i = 0; i < rt->nwarm && !s; i++)
		if (rt->warm[i]->nready)
			s = rt->warm[i]->ready[--rt->warm[i]->nready];
	pthread_mutex_unlock(&rt->warm_lock);
	if (s)
		entry_drop(s);
	return s != NULL;
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
	if (rt->warm_building && !strcmp(rt->warm_building->snapshot_dir, snapshot_dir))
		atomic_store(&rt->warm_building->cancel, true);
	pthread_mutex_unlock(&rt->warm_lock);
	for (size_t i = 0; i < n; i++)
		entry_drop(v[i]);
	free(v);
}

void rt_warm_stop(struct runtime *rt)
{
	pthread_mutex_lock(&rt->warm_lock);
	rt->warm_stop = true;
	if (rt->warm_building)
		atomic_store(&rt->warm_building->cancel, true);
	pthread_cond_broadcast(&rt->warm_cond);
	bool started = rt->warm_started;
	rt->warm_started = false;
	pthread_mutex_unlock(&rt->warm_lock);
	if (started)
		pthread_join(rt->warm_thread, NULL);
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
