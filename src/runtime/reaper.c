/* SPDX-License-Identifier: MIT */
/* TTL reaper: every REAPER_TICK_MS, destroy running sandboxes whose end_at passed (one worker
 * thread per expired sandbox) and cap their vmm.log (rt_logs_cap). */
#include "runtime/runtime-internal.h"

#include "basic/log.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Each expired sandbox is handled by a short-lived worker thread, so a destroy
 * that waits for a sandbox lock (held across a long, deadline-bounded guest
 * call) delays only that sandbox, never the others' TTLs.  At most one worker
 * per sandbox is in flight; the list belongs to the reaper thread alone, which
 * joins finished workers every tick and all of them when it stops.
 */
/* Short: the vmm.log cap is only as tight as a tick of console flood allows. */
#define REAPER_TICK_MS 250

struct reap_job {
	struct runtime *rt;
	char *id;
	pthread_t thread;
	atomic_bool done;
	bool failed;	  /* set by the worker before done */
	int64_t retry_at; /* after a failure: joined, kept until then so no retry storm */
	struct reap_job *next;
};

/* A failed pause/destroy is retried after this long, not every tick. */
#define REAPER_RETRY_MS 5000

static void *reap_one(void *arg)
{
	struct reap_job *j = arg;
	/* Re-check under the sandbox lock: a set_timeout may have won. */
	struct runtime_info info;
	if (runtime_get(j->rt, j->id, &info, NULL) == 0) {
		bool expired = info.state == STORE_SB_RUNNING && info.end_at > 0 &&
			       info.end_at <= rt_now_ms();
		runtime_info_done(&info);
		/* E2B lifecycle.onTimeout 'pause': keep everything, Sandbox.connect resumes it */
		struct store_sandbox row = {0};
		bool pause = expired && store_sandbox_get(j->rt->store, j->id, &row, NULL) == 0 &&
			     (row.lifecycle & STORE_SB_LC_PAUSE_ON_TIMEOUT);
		store_sandbox_done(&row);
		struct wr_err e = {0};
		if (pause && (j->failed = runtime_pause(j->rt, j->id, &e) < 0))
			log_warn("reaper: pause %s at its timeout: %s", j->id, wr_err_msg(&e));
		else if (pause)
			log_info("reaper: sandbox %s timed out: paused", j->id);
		else if (expired &&
			 (j->failed = runtime_destroy(j->rt, j->id, &e) < 0 && e.code != ENOENT))
			log_warn("reaper: destroy %s: %s (retried in %d s)", j->id, wr_err_msg(&e),
				 REAPER_RETRY_MS / 1000);
		else if (expired)
			log_info("reaper: sandbox %s timed out", j->id);
	}
	atomic_store(&j->done, true);
	return NULL;
}

/* Join finished workers (all of them with wait_all); returns how many remain. */
static size_t reap_jobs_join(struct reap_job **head, bool wait_all)
{
	size_t left = 0;
	for (struct reap_job **pp = head; *pp;) {
		struct reap_job *j = *pp;
		if (!wait_all && !atomic_load(&j->done)) {
			left++;
			pp = &j->next;
			continue;
		}
		if (!j->retry_at)
			pthread_join(j->thread, NULL);
		if (!wait_all && j->failed && !j->retry_at)
			j->retry_at = rt_now_ms() + REAPER_RETRY_MS;
		if (!wait_all && j->retry_at && rt_now_ms() < j->retry_at) {
			left++;
			pp = &j->next;
			continue;
		}
		*pp = j->next;
		free(j->id);
		free(j);
	}
	return left;
}

static bool reap_job_busy(struct reap_job *head, const char *id)
{
	for (; head; head = head->next)
		if (strcmp(head->id, id) == 0)
			return true;
	return false;
}

static void reap_job_start(struct runtime *rt, struct reap_job **head, const char *id)
{
	struct reap_job *j = xmalloc(sizeof(*j));
	*j = (struct reap_job){.rt = rt, .id = xstrdup(id)};
	atomic_init(&j->done, false);
	int r = pthread_create(&j->thread, NULL, reap_one, j);
	if (r) {
		log_warn("reaper: no worker for %s: %s (retried next tick)", id, strerror(r));
		free(j->id);
		free(j);
		return;
	}
	j->next = *head;
	*head = j;
}

static void *reaper_main(void *arg)
{
	struct runtime *rt = arg;
	struct reap_job *jobs = NULL;
	pthread_mutex_lock(&rt->reaper_lock);
	while (rt->reaper_running) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += REAPER_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&rt->reaper_cond, &rt->reaper_lock, &ts);
		if (!rt->reaper_running)
			break;
		pthread_mutex_unlock(&rt->reaper_lock);
		reap_jobs_join(&jobs, false);
		rt_logs_cap(rt);
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
		for (size_t i = 0; i < n; i++)
			if (!reap_job_busy(jobs, rows[i].id))
				reap_job_start(rt, &jobs, rows[i].id);
		store_sandbox_list_free(rows, n);
		pthread_mutex_lock(&rt->reaper_lock);
	}
	pthread_mutex_unlock(&rt->reaper_lock);
	reap_jobs_join(&jobs, true);
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
