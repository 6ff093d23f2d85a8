/* SPDX-License-Identifier: MIT */
/*
 * Removing a fetched template (the garbage collection in daemon/tplgc.c decides which).
 *
 * The race this closes: a create looks the template up (its directory), then inserts its
 * sandbox row ('creating'), then clones the disk and restores the memory from that directory.
 * An in-use check (rows in creating/running/paused) made between the lookup and the row would
 * see nothing and the removal would pull the directory from under the create.  So every create
 * holds rt->tpl_gc_lock shared from before its lookup to its end (create.c: rt_create), and the
 * removal takes it exclusive around the in-use check, the warm pool's drain and the row's
 * delete: a create either finished its row before (the check sees it, -EBUSY) or starts after
 * (its lookup finds no template; the control plane fetches it again, the existing path).
 * trywrlock: the collector never waits for creates, and never makes a create wait for it
 * longer than one removal (a rm -rf of one directory); a busy moment is retried next sweep.
 */
#include "runtime/runtime-internal.h"

#include "basic/log.h"
#include "store/store.h"

#include <errno.h>
#include <pthread.h>

int runtime_template_gc_remove(struct runtime *rt, const char *name, struct wr_err *err)
{
	if (pthread_rwlock_trywrlock(&rt->tpl_gc_lock) != 0)
		return wr_err_set(err, EBUSY, "template %s: creates in flight, kept for now", name);
	/* checked before the warm pool is drained: a template in use keeps its warm VMs */
	bool used = true;
	int r = store_template_in_use(rt->store, name, &used, err);
	if (r >= 0 && used)
		r = wr_err_set(err, EBUSY, "template %s is in use", name);
	/* drains its warm pool (rt_warm_forget), checks again inside the store's transaction,
	 * deletes the row, then the directory */
	if (r >= 0)
		r = runtime_template_delete(rt, name, err);
	pthread_rwlock_unlock(&rt->tpl_gc_lock);
	return r;
}
