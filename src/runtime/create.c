/* SPDX-License-Identifier: MIT */
/*
 * runtime_create: row -> dir -> slot -> disk -> VMM -> envd /health ->
 * /init -> running.  Each step pushes its undo; a failure (or a destroy that
 * sets s->cancel) runs them in reverse and the sandbox never existed: no
 * process, slot, disk, directory or row is left, only a "create_failed" event.
 */
#include "runtime/runtime-internal.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

static void undo_row(void *ctx, void *arg)
{
	struct sbx *s = ctx;
	(void)arg;
	store_sandbox_delete(s->rt->store, s->id, NULL);
}

static void undo_dir(void *ctx, void *arg)
{
	struct sbx *s = ctx;
	(void)arg;
	rm_rf(s->dir);
}

static void undo_slot(void *ctx, void *arg)
{
	struct sbx *s = ctx;
	(void)arg;
	struct wr_err e = {0};
	if (s->slot >= 0 && slot_pool_release(s->rt->pool, (unsigned)s->slot, &e) < 0)
		log_warn("create %s rollback: release slot %d: %s", s->id, s->slot, wr_err_msg(&e));
	s->slot = -1;
}

static void undo_disk(void *ctx, void *arg)
{
	struct sbx *s = ctx;
	(void)arg;
	struct wr_err e = {0};
	if (s->has_disk && s->disk_ops->remove(&s->disk, &e) < 0)
		log_warn("create %s rollback: remove disk: %s", s->id, wr_err_msg(&e));
	s->has_disk = false;
}

static void undo_vmm(void *ctx, void *arg)
{
	struct sbx *s = ctx;
	(void)arg;
	if (s->vmm) {
		vmm_free(s->vmm);
		s->vmm = NULL;
	}
	s->pid = 0;
	rmdir(s->vm_dir);
}

static void undo_volumes(void *ctx, void *arg)
{
	(void)arg;
	rt_vol_release(ctx);
}

static int check_strings(json_t *obj, const char *what, struct wr_err *err)
{
	if (!obj)
		return 0;
	if (!json_is_object(obj))
		return wr_err_set(err, EINVAL, "%s must be an object of strings", what);
	const char *k;
	json_t *v;
	json_object_foreach(obj, k, v)
	{
		if (!json_is_string(v))
			return wr_err_set(err, EINVAL, "%s.%s must be a string", what, k);
		if (!*k)
			return wr_err_set(err, EINVAL, "%s has an empty key", what);
	}
	return 0;
}

static int validate(struct runtime *rt, const struct runtime_create_spec *sp, int *vcpus, int *mem,
		    struct wr_err *err)
{
	*vcpus = sp->vcpus ? sp->vcpus : VM_DEFAULT_VCPUS;
	*mem = sp->memory_mb ? sp->memory_mb : VM_DEFAULT_MEMORY_MB;
	/* The host's limits (runtime_config max_vcpus/max_memory_mb), named in the message. */
	if (*vcpus < 1 || *vcpus > rt->max_vcpus)
		return wr_err_set(err, EINVAL, "vcpus must be 1..%d (max_vcpus limit), got %d",
				  rt->max_vcpus, *vcpus);
	if (*mem < RUNTIME_MIN_MEMORY_MB || *mem > rt->max_memory_mb)
		return wr_err_set(err, EINVAL,
				  "memory must be %d..%d MiB (max_memory_mb limit), got %d",
				  RUNTIME_MIN_MEMORY_MB, rt->max_memory_mb, *mem);
	if (sp->timeout_s < 0)
		return wr_err_set(err, EINVAL, "timeout must be >= 0 seconds");
	if (sp->id && !runtime_id_valid(sp->id))
		return wr_err_set(err, EINVAL, "invalid sandbox id \"%s\" (want cl-[a-z0-9]{1,40})",
				  sp->id);
	int r;
	if ((r = check_strings(sp->env_vars, "envVars", err)) < 0 ||
	    (r = check_strings(sp->metadata, "metadata", err)) < 0)
		return r;
	return 0;
}

static int create(struct runtime *rt, const struct runtime_create_spec *spec,
		  const struct rt_create_opts *o, char ret_id[RUNTIME_ID_MAX], struct wr_err *err);

/* Where a create's time goes, for its log line (bench/create-phases.sh reads it). */
enum { PH_PREP, PH_SLOT, PH_DISK, PH_VMM, PH_START, PH_ENVD, PH_INIT, PH_N };
struct phases {
	struct timespec t0, last;
	double ms[PH_N];
};

static double ms_since(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

/* The time since the previous mark goes to phase i. */
static void ph_mark(struct phases *p, int i)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	p->ms[i] += ms_since(&p->last, &now);
	p->last = now;
}

static int steps(struct sbx *s, const struct runtime_create_spec *sp,
		 const struct rt_create_opts *o, struct undo_stack *u, struct phases *ph,
		 struct wr_err *err)
{
	struct runtime *rt = s->rt;
	int r;
#define CANCELLED()                                                                                \
	do {                                                                                       \
		if (atomic_load(&s->cancel))                                                       \
			return wr_err_set(err, ECANCELED, "create %s cancelled by destroy",        \
					  s->id);                                                  \
	} while (0)

	/* Volumes first: a volume another sandbox holds fails the create before any work. */
	if (sp->n_volumes &&
	    ((r = rt_vol_resolve(s, sp, err)) < 0 || (r = rt_vol_claim(s, err)) < 0))
		return r;
	undo_push(u, "volumes", undo_volumes, NULL);

	cleanup_free char *meta = sp->metadata ? json_dumps(sp->metadata, JSON_COMPACT) : NULL;
	cleanup_free char *env = sp->env_vars ? json_dumps(sp->env_vars, JSON_COMPACT) : NULL;
	struct store_sandbox row = {
		.id = s->id,
		.template = s->template,
		.state = STORE_SB_CREATING,
		.vcpus = s->vcpus,
		.memory_mb = s->memory_mb,
		.slot = -1,
		.vmm_kind = (char *)vmm_kind_name(rt->vmm.kind),
		.metadata_json = meta,
		.env_json = env,
		.envd_token = s->token,
		.allow_internet = s->allow_internet,
		.team = (char *)sp->team,
	};
	if ((r = store_sandbox_put(rt->store, &row, err)) < 0)
		return r;
	undo_push(u, "row", undo_row, NULL);

	/* A warm-pool entry already holds dir, slot, disk and a paused VMM. */
	bool warm = s->warm;
	if (!warm && mkdir(s->dir, 0750) < 0)
		return wr_err_errno(err, errno, "mkdir %s", s->dir);
	undo_push(u, "dir", undo_dir, NULL);
	CANCELLED();
	ph_mark(ph, PH_PREP);

	if (!warm) {
		unsigned slot;
		r = slot_pool_acquire(rt->pool, &slot, err);
		/* Warm entries hold slots; a create they cannot serve comes first. */
		if (r == -ENOSPC && rt_warm_drop_one(rt)) {
			wr_err_clear(err);
			r = slot_pool_acquire(rt->pool, &slot, err);
		}
		if (r < 0)
			return wr_err_prefix(err, r, "network slot");
		s->slot = (int)slot;
		slot_pool_ns_name(rt->pool, slot, s->ns);
	}
	undo_push(u, "slot", undo_slot, NULL);
	if (s->allow_internet &&
	    ((r = slot_pool_egress(rt->pool, (unsigned)s->slot, true, err)) < 0 ||
	     (r = rt_net_apply(s, err)) < 0))
		return wr_err_prefix(err, r, "egress");
	CANCELLED();
	ph_mark(ph, PH_SLOT);

	if (!warm) {
		s->disk_ops = rt->disk_ops;
		cleanup_free char *disk_path =
			xasprintf("%s/rootfs.%s", s->dir,
				  strcmp(rt->disk_ops->name, "qcow2") ? "img" : "qcow2");
		if ((r = rt->disk_ops->clone(s->rootfs_template, disk_path, &s->disk, err)) < 0)
			return wr_err_prefix(err, r, "clone %s disk", rt->disk_ops->name);
		s->has_disk = true;
	}
	undo_push(u, "disk", undo_disk, NULL);
	if ((r = rt_sbx_write_state(s, err)) < 0)
		return r;
	CANCELLED();
	ph_mark(ph, PH_DISK);

	if (!warm &&
	    ((r = rt_sbx_fill_config(s, err)) < 0 || (r = rt_sbx_vmm_new(s, o->mem_file, err)) < 0))
		return r;
	undo_push(u, "vmm", undo_vmm, NULL);
	ph_mark(ph, PH_VMM);
	log_debug("create %s: slot %d, %s disk ready%s", s->id, s->slot, s->disk_ops->name,
		  warm ? " (warm pool)" : "");
	if (warm) {
		rt_sbx_log_note(s, "sandbox %s: resumed from the warm pool (template %s)", s->id,
				s->template);
		r = vmm_resume(s->vmm, err);
	} else if (s->snapshot_dir) {
		rt_sbx_log_note(s, "sandbox %s: restoring snapshot %s (template %s)", s->id,
				s->snapshot_dir, s->template);
		r = vmm_restore(s->vmm, s->snapshot_dir, true, err);
	} else
		r = vmm_start(s->vmm, err);
	if (r < 0)
		return r;
	log_debug("create %s: VMM pid %d started", s->id, (int)vmm_pid(s->vmm));
	s->pid = vmm_pid(s->vmm);
	store_sandbox_set_pid(rt->store, s->id, s->pid, NULL);
	row.slot = s->slot;
	row.pid = s->pid;
	row.disk_path = s->disk.path;
	row.disk_format = (char *)s->disk_ops->name;
	if ((r = store_sandbox_put(rt->store, &row, err)) < 0 ||
	    (r = rt_sbx_write_state(s, err)) < 0)
		return r;
	CANCELLED();
	if (!s->snapshot_dir && (r = vmm_boot(s->vmm, err)) < 0)
		return r;
	ph_mark(ph, PH_START);
	log_debug("create %s: booting", s->id);
	/* A warm entry's envd answered before it was paused: /init's own
	 * connect is the readiness check. */
	if (!warm && (r = rt_envd_wait(s, rt->envd_timeout_ms, err)) < 0)
		return r;
	log_debug("create %s: envd %s ready", s->id, s->envd_version);
	ph_mark(ph, PH_ENVD);
	CANCELLED();
	if (o->no_init)
		return 0;
	if ((r = rt_envd_init(s, sp->env_vars, false, err)) < 0)
		return r;
	rt_sbx_write_state(s, NULL);
	ph_mark(ph, PH_INIT);
	log_debug("create %s: /init accepted", s->id);
	return 0;
#undef CANCELLED
}

int runtime_create(struct runtime *rt, const struct runtime_create_spec *spec,
		   struct runtime_info *ret, struct wr_err *err)
{
	char id[RUNTIME_ID_MAX];
	struct rt_create_opts o = {0};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int r = rt_create(rt, spec, &o, id, err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rt_metrics_created(
		rt, r, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (r < 0 || !ret)
		return r;
	return rt_info_fill(rt, id, ret, err);
}

int rt_create(struct runtime *rt, const struct runtime_create_spec *spec,
	      const struct rt_create_opts *o, char ret_id[RUNTIME_ID_MAX], struct wr_err *err)
{
	rt_warm_create_begin(rt);
	/* Shared for the whole create, from the template's lookup to its sandbox row: a fetched
	 * template is removed only under the exclusive side (template-gc.c). */
	pthread_rwlock_rdlock(&rt->tpl_gc_lock);
	int r = create(rt, spec, o, ret_id, err);
	pthread_rwlock_unlock(&rt->tpl_gc_lock);
	rt_warm_create_end(rt);
	return r;
}

static int create(struct runtime *rt, const struct runtime_create_spec *spec,
		  const struct rt_create_opts *o, char ret_id[RUNTIME_ID_MAX], struct wr_err *err)
{
	/* The log line's phases start here: "prep" includes a wait for a warm entry being built. */
	struct phases ph = {0};
	clock_gettime(CLOCK_MONOTONIC, &ph.t0);
	ph.last = ph.t0;
	int vcpus, mem, r;
	if ((r = validate(rt, spec, &vcpus, &mem, err)) < 0)
		return r;
	struct rt_template t = {0};
	if ((r = rt_template_lookup(rt, spec->template, &t, err)) < 0)
		return r;
	if (access(t.kernel, R_OK) < 0) {
		r = wr_err_errno(err, errno, "template %s: kernel %s", t.name, t.kernel);
		rt_template_done(&t);
		return r;
	}
	char id[RUNTIME_ID_MAX];
	if (spec->n_volumes && (t.snapshot_dir || o->mem_file)) {
		/* a restored VM keeps the devices it was snapshotted with (no hotplug on microvm) */
		r = wr_err_set(
			err, EINVAL,
			"volumeMounts need a template that boots (minimal, base/debian); %s is "
			"a snapshot template, whose devices are fixed",
			t.name);
		rt_template_done(&t);
		return r;
	}
	if (t.snapshot_dir) {
		/* RAM size and CPUs are baked into the snapshot. */
		if ((spec->vcpus && spec->vcpus != t.vcpus) ||
		    (spec->memory_mb && spec->memory_mb != t.memory_mb)) {
			r = wr_err_set(
				err, EINVAL,
				"snapshot template %s has %d vCPUs / %d MiB; these cannot change",
				t.name, t.vcpus, t.memory_mb);
			rt_template_done(&t);
			return r;
		}
		vcpus = t.vcpus;
		mem = t.memory_mb;
		if (!o->mem_file)
			rt_warm_register_built(rt, &t);
	} else if (!o->mem_file && !spec->n_volumes && rt_auto_enabled(rt) &&
		   rt_template_builtin(rt, t.name)) {
		struct rt_template a = {0};
		if (rt_auto_lookup(rt, &t, vcpus, mem, &a) == 1) {
			rt_template_done(&t);
			t = a;
			/* The normal create path of built-in templates: keep warm VMs. */
			rt_warm_register(rt, &t, vcpus, mem);
		}
	}
	/* A warm entry brings its own id (minted when it was prepared). */
	struct sbx *ws = !spec->id && t.snapshot_dir && !o->mem_file
				 ? rt_warm_take(rt, t.snapshot_dir, vcpus, mem)
				 : NULL;
	if (!spec->id && t.snapshot_dir && !o->mem_file && rt->warm_target)
		rt_metrics_warm(rt, ws != NULL);
	if (ws)
		snprintf(id, sizeof(id), "%s", ws->id);
	else if (spec->id)
		snprintf(id, sizeof(id), "%s", spec->id);
	else if ((r = runtime_mint_id(id)) < 0) {
		rt_template_done(&t);
		return wr_err_errno(err, -r, "getrandom");
	}
	struct store_sandbox old = {0};
	if (store_sandbox_get(rt->store, id, &old, NULL) == 0) {
		store_sandbox_done(&old);
		rt_template_done(&t);
		if (ws) {
			rt_sbx_release(ws, false);
			rt_sbx_put(ws);
		}
		return wr_err_set(err, EEXIST, "sandbox %s already exists", id);
	}

	struct sbx *s = ws ? ws : rt_sbx_new(rt, id);
	free(s->template);
	free(s->rootfs_template);
	free(s->kernel);
	free(s->snapshot_dir);
	free(s->init_auth);
	s->init_auth = NULL;
	s->template = TAKE_PTR(t.name);
	s->rootfs_template = TAKE_PTR(t.rootfs);
	s->kernel = TAKE_PTR(t.kernel);
	s->snapshot_dir = TAKE_PTR(t.snapshot_dir);
	s->create_path = s->snapshot_dir ? "snapshot" : "boot";
	if (s->snapshot_dir) {
		cleanup_free char *tf = xasprintf("%s/" RT_SNAP_TOKEN_FILE, s->snapshot_dir);
		size_t tl = 0;
		if (read_file(tf, 256, &s->init_auth, &tl) < 0)
			s->init_auth = NULL;
	}
	s->hidden = o->mem_file != NULL;
	rt_template_done(&t);
	s->vcpus = vcpus;
	s->memory_mb = mem;
	s->timeout_s = spec->timeout_s;
	s->allow_internet = spec->allow_internet;
	s->token = spec->secure ? runtime_mint_token() : NULL;
	s->allow_out = rt_strv_dup(spec->allow_out);
	s->deny_out = rt_strv_dup(spec->deny_out);
	s->private_traffic = spec->private_traffic;
	s->traffic_token = spec->private_traffic ? runtime_mint_token() : NULL;
	free(s->mask_host);
	s->mask_host = spec->mask_host ? xstrdup(spec->mask_host) : NULL;
	free(s->team);
	s->team = xstrdup(spec->team ? spec->team : "");
	s->state = STORE_SB_CREATING;
	atomic_store(&s->creating, true);
	/* Locked before it is visible: a destroy finds it and waits for us. */
	pthread_mutex_lock(&s->lock);
	if ((r = rt_sbx_insert(rt, s, err)) < 0) {
		pthread_mutex_unlock(&s->lock);
		if (s->warm) /* a claimed warm entry holds a VMM, disk and slot */
			rt_sbx_release(s, false);
		rt_sbx_free(s);
		return r;
	}

	struct undo_stack u = {0};
	bool from_warm = s->warm;
	r = steps(s, spec, o, &u, &ph, err);
	s->warm = false;
	if (r < 0) {
		wr_err_prefix(err, r, "create %s", s->id);
		/* before the undo removes the row: the event keeps the sandbox's team */
		store_event_add(rt->store, s->id, "create_failed", wr_err_msg(err), NULL);
		undo_run(&u, s);
		undo_done(&u);
		s->state = STORE_SB_KILLED;
		atomic_store(&s->creating, false);
		/* Unlisted before unlocking: a waiting destroy must see it gone. */
		rt_sbx_unlist(rt, s);
		pthread_mutex_unlock(&s->lock);
		rt_sbx_put(s);
		return r;
	}
	undo_done(&u);
	int64_t now = rt_now_ms();
	struct store_sandbox row = {0};
	if (store_sandbox_get(rt->store, s->id, &row, NULL) == 0) {
		row.state = STORE_SB_RUNNING;
		row.started_at = now;
		row.end_at = s->timeout_s ? now + (int64_t)s->timeout_s * 1000 : 0;
		store_sandbox_put(rt->store, &row, NULL);
		store_sandbox_done(&row);
	}
	store_event_add(rt->store, s->id, "created", s->template, NULL);
	store_template_touch(rt->store, s->template, now, NULL); /* last use (template-gc.c) */
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	/* "start" is the VMM's launch: restore (snapshot path), resume (warm pool) or boot. */
	log_info(
		"created %s from %s (%d vCPU, %d MiB, %s path%s) in %.0f ms: prep %.0f, slot %.0f, "
		"disk %.0f, vmm %.0f, %s %.0f, envd %.0f, init %.0f",
		s->id, s->template, s->vcpus, s->memory_mb, s->create_path,
		from_warm ? ", warm pool" : "", ms_since(&ph.t0, &end), ph.ms[PH_PREP],
		ph.ms[PH_SLOT], ph.ms[PH_DISK], ph.ms[PH_VMM],
		from_warm	  ? "resume"
		: s->snapshot_dir ? "restore"
				  : "boot",
		ph.ms[PH_START], ph.ms[PH_ENVD], ph.ms[PH_INIT]);
	s->state = STORE_SB_RUNNING;
	atomic_store(&s->creating, false);
	snprintf(ret_id, RUNTIME_ID_MAX, "%s", s->id);
	pthread_mutex_unlock(&s->lock);
	rt_sbx_put(s);
	return 0;
}
