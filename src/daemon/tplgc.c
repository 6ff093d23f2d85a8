/* SPDX-License-Identifier: MIT */
/*
 * Garbage collection of fetched templates (tplgc.h): the sweeper thread.
 *
 * Only copies this host fetched (store row fetched_from, set by tplxfer.c at fetch time) are
 * ever removed.  Those have an original on another host and the control plane fetches them
 * again on the next create that needs them, so removing one costs a transfer, never data.  A
 * template built here, a snapshot taken here (a user's saved state) and the images have no
 * other copy: they are only removed by their owner (DELETE), never by this sweep.
 *
 * In use = a creating/running/paused sandbox of it, or a template made from it (a snapshot of
 * a sandbox of it has it as parent).  The check and the removal run under the runtime's
 * template lock, exclusive against creates (runtime_template_gc_remove, template-gc.c): a
 * create that looked the template up always has its sandbox row before the check runs, so the
 * directory is never pulled from under a create.  Warm-pool VMs of the template do not keep it:
 * its pool is drained first (they hold clones of its disk and map its memory).
 */
#include "daemon/tplgc.h"

#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "runtime/runtime.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define SWEEP_MAX_MS 60000
#define SWEEP_MIN_MS 1000

struct tplgc {
	struct agent *a;
	int64_t ttl_ms, budget_bytes, every_ms;
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop, kicked;
};

static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tplgc *running;

/* Allocated bytes of a template directory's files (it is flat: the manifest's regular files
 * plus the agent's dotfiles); sparse memory images count what they really take. */
static int64_t dir_disk_bytes(const char *dir)
{
	cleanup_closedir DIR *d = opendir(dir);
	if (!d)
		return 0;
	int64_t sum = 0;
	struct dirent *e;
	struct stat st;
	while ((e = readdir(d)))
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode))
			sum += (int64_t)st.st_blocks * 512;
	return sum;
}

static void remove_one(struct tplgc *g, const struct store_template *t, const struct tplgc_item *it,
		       int64_t now)
{
	struct wr_err err = {0};
	int r = runtime_template_gc_remove(g->a->rt, t->name, &err);
	if (r == -EBUSY) {
		log_info("template %s: not removed (%s), next sweep", t->name, wr_err_msg(&err));
		return;
	}
	if (r < 0) {
		log_warn("template %s: removal failed: %s", t->name, wr_err_msg(&err));
		return;
	}
	cleanup_free char *detail = xasprintf(
		"%s (fetched from host %s): %s; %.1f MB freed, last used %" PRId64 " s ago",
		t->name, t->fetched_from, tplgc_why_name(it->why), (double)it->bytes / 1e6,
		(now - it->last_used_ms) / 1000);
	log_info("template %s", detail);
	store_event_add(g->a->st, NULL, "template_gc", detail, NULL);
}

static void sweep(struct tplgc *g)
{
	struct store_template *rows = NULL;
	size_t n = 0;
	struct wr_err err = {0};
	if (store_template_list(g->a->st, &rows, &n, &err) < 0) {
		log_warn("fetched templates: cannot list templates: %s", wr_err_msg(&err));
		return;
	}
	struct tplgc_item *items = xcalloc(n ? n : 1, sizeof(*items));
	const struct store_template **of = xcalloc(n ? n : 1, sizeof(*of));
	size_t m = 0;
	int64_t now = store_now_ms();
	for (size_t i = 0; i < n; i++) {
		const struct store_template *t = &rows[i];
		if (!t->fetched_from || t->kind != STORE_TPL_SNAPSHOT || !t->snapshot_dir)
			continue;
		bool used = true; /* on a failed check: kept */
		store_template_in_use(g->a->st, t->name, &used, NULL);
		int64_t last = t->last_used_at > t->created_at ? t->last_used_at : t->created_at;
		if (used) {
			/* the TTL counts from the last time it was seen in use, not from its
			 * sandbox's create (a sandbox may run for days) */
			store_template_touch(g->a->st, t->name, now, NULL);
			last = now;
		}
		items[m] = (struct tplgc_item){.name = t->name,
					       .bytes = dir_disk_bytes(t->snapshot_dir),
					       .last_used_ms = last,
					       .in_use = used};
		of[m++] = t;
	}
	if (tplgc_pick(items, m, now, g->ttl_ms, g->budget_bytes) > 0)
		for (size_t i = 0; i < m; i++)
			if (items[i].why != TPLGC_KEEP)
				remove_one(g, of[i], &items[i], now);
	free(of);
	free(items);
	store_template_list_free(rows, n);
}

static void *run(void *arg)
{
	struct tplgc *g = arg;
	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t ns = ts.tv_nsec + (g->every_ms % 1000) * 1000000;
		ts.tv_sec += g->every_ms / 1000 + ns / 1000000000;
		ts.tv_nsec = ns % 1000000000;
		while (!g->stop && !g->kicked)
			if (pthread_cond_timedwait(&g->cond, &g->lock, &ts) == ETIMEDOUT)
				break;
		if (g->stop)
			break;
		g->kicked = false;
		pthread_mutex_unlock(&g->lock);
		sweep(g);
		pthread_mutex_lock(&g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

int tplgc_start(struct agent *a, struct tplgc **ret, struct wr_err *err)
{
	*ret = NULL;
	const struct agent_config *c = &a->cfg;
	if (!c->fetched_template_ttl && !c->fetched_template_max_gb) {
		log_info("fetched templates: kept forever (--fetched-template-ttl 0, "
			 "--fetched-template-max-gb 0)");
		return 0;
	}
	struct tplgc *g = xcalloc(1, sizeof(*g));
	g->a = a;
	g->ttl_ms = (int64_t)c->fetched_template_ttl * 1000;
	g->budget_bytes = (int64_t)c->fetched_template_max_gb * 1000 * 1000 * 1000;
	/* a TTL of a few seconds (tests) needs a sweep at least every half of it */
	g->every_ms = g->ttl_ms && g->ttl_ms / 2 < SWEEP_MAX_MS ? g->ttl_ms / 2 : SWEEP_MAX_MS;
	if (g->every_ms < SWEEP_MIN_MS)
		g->every_ms = SWEEP_MIN_MS;
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&g->th, NULL, run, g) != 0) {
		pthread_cond_destroy(&g->cond);
		pthread_mutex_destroy(&g->lock);
		free(g);
		return wr_err_set(err, EAGAIN, "cannot start the fetched-template sweeper");
	}
	pthread_mutex_lock(&running_lock);
	running = g;
	pthread_mutex_unlock(&running_lock);
	log_info("fetched templates: removed %u s after their last use (0 = never), beyond %u GB "
		 "(0 = no cap); swept every %" PRId64 " ms",
		 c->fetched_template_ttl, c->fetched_template_max_gb, g->every_ms);
	*ret = g;
	return 0;
}

void tplgc_kick(void)
{
	pthread_mutex_lock(&running_lock);
	if (running) {
		pthread_mutex_lock(&running->lock);
		running->kicked = true;
		pthread_cond_signal(&running->cond);
		pthread_mutex_unlock(&running->lock);
	}
	pthread_mutex_unlock(&running_lock);
}

void tplgc_stop(struct tplgc *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&running_lock);
	if (running == g)
		running = NULL;
	pthread_mutex_unlock(&running_lock);
	pthread_mutex_lock(&g->lock);
	g->stop = true;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->th, NULL);
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	free(g);
}
