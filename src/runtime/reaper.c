/* SPDX-License-Identifier: MIT */
/* TTL reaper: once a second, destroy running sandboxes whose end_at passed. */
#include "runtime/runtime-internal.h"

#include "basic/log.h"

#include <errno.h>
#include <time.h>

static void *reaper_main(void *arg)
{
	struct runtime *rt = arg;
	pthread_mutex_lock(&rt->reaper_lock);
	while (rt->reaper_running) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&rt->reaper_cond, &rt->reaper_lock, &ts);
		if (!rt->reaper_running)
			break;
		pthread_mutex_unlock(&rt->reaper_lock);
		struct store_sandbox_filter f = {
			.states = 1u << STORE_SB_RUNNING,
			.end_before = rt_now_ms(),
		};
		struct store_sandbox *rows = NULL;
		size_t n = 0;
		char *next = NULL;
		struct wr_err e = {0};
		if (store_sandbox_list(rt->store, &f, NULL, 0, &rows, &n, &next, &e) < 0)
			log_warn("reaper: %s", wr_err_msg(&e));
		free(next);
		for (size_t i = 0; i < n; i++) {
			/* Re-check under the sandbox lock: a set_timeout may have won. */
			struct runtime_info info;
			if (runtime_get(rt, rows[i].id, &info, NULL) < 0)
				continue;
			bool expired = info.state == STORE_SB_RUNNING && info.end_at > 0 &&
				       info.end_at <= rt_now_ms();
			runtime_info_done(&info);
			if (!expired)
				continue;
			wr_err_clear(&e);
			if (runtime_destroy(rt, rows[i].id, &e) < 0 && e.code != ENOENT)
				log_warn("reaper: destroy %s: %s", rows[i].id, wr_err_msg(&e));
			else
				log_info("reaper: sandbox %s timed out", rows[i].id);
		}
		store_sandbox_list_free(rows, n);
		pthread_mutex_lock(&rt->reaper_lock);
	}
	pthread_mutex_unlock(&rt->reaper_lock);
	return NULL;
}

int rt_reaper_start(struct runtime *rt, struct wr_err *err)
{
	rt->reaper_running = true;
	int r = pthread_create(&rt->reaper, NULL, reaper_main, rt);
	if (r) {
		rt->reaper_running = false;
		return wr_err_errno(err, r, "start TTL reaper thread");
	}
	return 0;
}

void rt_reaper_stop(struct runtime *rt)
{
	pthread_mutex_lock(&rt->reaper_lock);
	bool was = rt->reaper_running;
	rt->reaper_running = false;
	pthread_cond_broadcast(&rt->reaper_cond);
	pthread_mutex_unlock(&rt->reaper_lock);
	if (was)
		pthread_join(rt->reaper, NULL);
}
