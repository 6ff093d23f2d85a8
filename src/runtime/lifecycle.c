/* SPDX-License-Identifier: MIT */
/* destroy, pause, resume. */
#include "runtime/runtime-internal.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int runtime_destroy(struct runtime *rt, const char *id, struct wr_err *err)
{
	struct sbx *s = runtime_id_valid(id) ? rt_sbx_get(rt, id) : NULL;
	if (!s) {
		/* Not live: an error row can still be acknowledged as killed. */
		struct store_sandbox row = {0};
		if (!runtime_id_valid(id) || store_sandbox_get(rt->store, id, &row, NULL) < 0)
			return wr_err_set(err, ENOENT, "sandbox %s not found", id ? id : "(null)");
		enum store_sb_state st = row.state;
		store_sandbox_done(&row);
		if (st == STORE_SB_KILLED)
			return wr_err_set(err, ENOENT, "sandbox %s not found (killed)", id);
		return store_sandbox_set_state(rt->store, id, STORE_SB_KILLED, NULL, err);
	}
	bool cancelled = false;
	if (atomic_load(&s->creating)) {
		atomic_store(&s->cancel, true);
		cancelled = true;
	}
	pthread_mutex_lock(&s->lock);
	if (!s->listed) {
		/* The create we cancelled rolled back (or another destroy won). */
		pthread_mutex_unlock(&s->lock);
		rt_sbx_put(s);
		return cancelled ? 0 : wr_err_set(err, ENOENT, "sandbox %s not found", id);
	}
	rt_sbx_release(s, false);
	s->state = STORE_SB_KILLED;
	store_sandbox_set_pid(rt->store, id, 0, NULL);
	int r = store_sandbox_set_state(rt->store, id, STORE_SB_KILLED, NULL, err);
	store_event_add(rt->store, id, "killed", NULL, NULL);
	rt_sbx_unlist(rt, s);
	cleanup_free char *tpl = s->template ? xstrdup(s->template) : NULL;
	pthread_mutex_unlock(&s->lock);
	rt_sbx_put(s);
	rt_fork_gc(rt, tpl);
	return r < 0 ? r : 0;
}

static int lock_state(struct runtime *rt, const char *id, enum rt_op op, struct sbx **ret,
		      struct wr_err *err)
{
	struct sbx *s = runtime_id_valid(id) ? rt_sbx_get(rt, id) : NULL;
	if (!s)
		return wr_err_set(err, ENOENT, "sandbox %s not found", id ? id : "(null)");
	pthread_mutex_lock(&s->lock);
	int r = s->listed ? rt_state_check(op, s->state, id, err)
			  : wr_err_set(err, ENOENT, "sandbox %s not found", id);
	if (r < 0) {
		pthread_mutex_unlock(&s->lock);
		rt_sbx_put(s);
		return r;
	}
	*ret = s;
	return r;
}

static void unlock_put(struct sbx *s)
{
	pthread_mutex_unlock(&s->lock);
	rt_sbx_put(s);
}

int runtime_pause(struct runtime *rt, const char *id, struct wr_err *err)
{
	struct sbx *s = NULL;
	int r = lock_state(rt, id, RT_OP_PAUSE, &s, err);
	if (r < 0)
		return r;
	if (!s->vmm) {
		unlock_put(s);
		return wr_err_set(err, EIO, "sandbox %s has no VMM", id);
	}
	cleanup_free char *snap = xasprintf("%s/" RT_SNAP_DIR, s->dir);
	cleanup_free char *tmp = xasprintf("%s/" RT_SNAP_DIR ".new", s->dir);
	rm_rf(tmp);
	rt_quiesce(s);
	if ((r = vmm_pause(s->vmm, err)) < 0)
		goto resume;
	if ((r = vmm_snapshot(s->vmm, tmp, err)) < 0)
		goto resume;
	rm_rf(snap);
	if (rename(tmp, snap) < 0) {
		r = wr_err_errno(err, errno, "rename %s", tmp);
		goto resume;
	}
	/* From here the snapshot is complete.  The row says paused before the VMM stops: a
	 * crash at any later point leaves a paused sandbox (the startup sweep stops a VMM it
	 * still finds), never a running row whose VMM is gone, which the sweep would clean
	 * up together with this snapshot.  If the row cannot be written, nothing is stopped. */
	if ((r = store_sandbox_set_state(rt->store, id, STORE_SB_PAUSED, NULL, err)) < 0)
		goto resume;
	s->state = STORE_SB_PAUSED;
	vmm_stop(s->vmm, 1500, NULL);
	vmm_free(s->vmm);
	s->vmm = NULL;
	s->pid = 0;
	rmdir(s->vm_dir);
	struct wr_err we = {0};
	if (store_sandbox_set_pid(rt->store, id, 0, &we) < 0 ||
	    store_sandbox_set_end_at(rt->store, id, 0, &we) < 0 || rt_sbx_write_state(s, &we) < 0)
		log_error("sandbox %s: paused, but recording it failed (the startup sweep "
			  "repairs it): %s",
			  id, wr_err_msg(&we));
	store_event_add(rt->store, id, "paused", NULL, NULL);
	unlock_put(s);
	return 0;
resume:
	rm_rf(tmp);
	{
		struct wr_err e2 = {0};
		if (vmm_resume(s->vmm, &e2) < 0) {
			/* Neither paused cleanly nor running: the sandbox is lost. */
			rt_sbx_release(s, false);
			s->state = STORE_SB_ERROR;
			store_sandbox_set_state(rt->store, id, STORE_SB_ERROR, wr_err_msg(err),
						NULL);
			rt_sbx_unlist(rt, s);
			unlock_put(s);
			return wr_err_prefix(err, r, "pause %s (resume after failure: %s)", id,
					     wr_err_msg(&e2));
		}
	}
	unlock_put(s);
	return wr_err_prefix(err, r, "pause %s (still running)", id);
}

int runtime_resume(struct runtime *rt, const char *id, int timeout_s, struct wr_err *err)
{
	if (timeout_s < 0)
		return wr_err_set(err, EINVAL, "timeout must be >= 0 seconds");
	struct sbx *s = NULL;
	int r = lock_state(rt, id, RT_OP_RESUME, &s, err);
	if (r < 0)
		return r;
	if (r == 1) {
		unlock_put(s);
		return 0;
	}
	int64_t t0 = rt_now_ms(); /* restore latency (GET /metrics) */
	cleanup_free char *snap = xasprintf("%s/" RT_SNAP_DIR, s->dir);
	slot_pool_ns_name(rt->pool, (unsigned)s->slot, s->ns);
	if ((r = rt_sbx_fill_config(s, err)) < 0 || (r = rt_sbx_vmm_new(s, NULL, err)) < 0)
		goto fail;
	rt_sbx_log_note(s, "sandbox %s: resuming from its pause snapshot", s->id);
	if ((r = vmm_restore(s->vmm, snap, true, err)) < 0)
		goto fail;
	s->pid = vmm_pid(s->vmm);
	store_sandbox_set_pid(rt->store, id, s->pid, NULL);
	rt_sbx_write_state(s, NULL);
	if ((r = rt_envd_wait(s, 15000, err)) < 0 || (r = rt_envd_init(s, NULL, false, err)) < 0)
		goto fail;
	if (timeout_s > 0)
		s->timeout_s = timeout_s;
	int64_t now = rt_now_ms();
	s->state = STORE_SB_RUNNING;
	store_sandbox_set_state(rt->store, id, STORE_SB_RUNNING, NULL, NULL);
	store_sandbox_set_end_at(rt->store, id,
				 s->timeout_s ? now + (int64_t)s->timeout_s * 1000 : 0, NULL);
	rt_sbx_write_state(s, NULL);
	store_event_add(rt->store, id, "resumed", NULL, NULL);
	unlock_put(s);
	rt_metrics_restored(rt, (double)(rt_now_ms() - t0) / 1000.0);
	return 0;
fail:
	/* Back to cleanly paused: the snapshot, disk and slot are untouched. */
	if (s->vmm) {
		vmm_free(s->vmm);
		s->vmm = NULL;
	}
	s->pid = 0;
	rmdir(s->vm_dir);
	store_sandbox_set_pid(rt->store, id, 0, NULL);
	unlock_put(s);
	return wr_err_prefix(err, r, "resume %s (still paused)", id);
}
