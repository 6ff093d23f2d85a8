/* SPDX-License-Identifier: MIT */
/* vmm.log cap: the jailed VMM appends the guest's serial console to vmm.log, and a guest may
 * print without end.  Every reaper tick rotates each registered sandbox's log once it passes
 * rt->log_max_bytes (basic/logrot.h), so vmm.log + vmm.log.1 stay within twice the cap
 * plus what the guest prints in one tick (250 ms). */
#include "runtime/runtime-internal.h"

#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/logrot.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <string.h>

void rt_logs_cap(struct runtime *rt)
{
	/* Ids first (rt->lock is a leaf: nothing slow under it), then the file work. */
	pthread_mutex_lock(&rt->lock);
	size_t n = rt->nsbx;
	char(*ids)[RUNTIME_ID_MAX] = n ? xmalloc(n * sizeof(*ids)) : NULL;
	for (size_t i = 0; i < n; i++)
		memcpy(ids[i], rt->sbx[i]->id, RUNTIME_ID_MAX);
	pthread_mutex_unlock(&rt->lock);
	for (size_t i = 0; i < n; i++) {
		cleanup_free char *path =
			xasprintf("%s/%s/" RT_LOG_FILE, rt->sandboxes_dir, ids[i]);
		struct wr_err e = {0};
		int r = logrot_cap(path, rt->log_max_bytes, &e);
		if (r < 0)
			log_warn("sandbox %s: log rotation: %s", ids[i], wr_err_msg(&e));
		else if (r > 0)
			log_debug("sandbox %s: vmm.log rotated past %lld bytes", ids[i],
				  (long long)rt->log_max_bytes);
	}
	free(ids);
}
