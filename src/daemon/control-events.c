/* SPDX-License-Identifier: MIT */
/* The control plane's events: the route and the periodic checks (control-events.h). */
#include "daemon/control-events.h"

#include "daemon/control-internal.h"
#include "daemon/events-view.h"
#include "daemon/reply.h"

#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "pg/events.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool control_events_handle(struct control *c, struct http_req *req)
{
	if (strcmp(http_req_path(req), "/v1/events") != 0)
		return false;
	if (strcmp(http_req_method(req), "GET") != 0) {
		reply_error(req, 405, "method %s not allowed on /v1/events", http_req_method(req));
		return true;
	}
	cleanup_free char *team = NULL;
	if (control_caller(c, req, &team) < 0)
		return true;
	struct events_query q;
	if (events_query_or_reply(req, &q) < 0)
		return true;
	/* a team key: only the rows recorded with its team (host events have none) */
	struct pg_event_filter f = {
		.sandbox_id = q.sandbox_id,
		.host_id = q.host_id,
		.kind = q.kind,
		.team = *team ? team : NULL,
		.before = q.before,
		.limit = q.limit + 1, /* one more than asked: is there a next page */
	};
	struct pg_event *rows = NULL;
	size_t n = 0;
	struct wr_err err = {0};
	int r = pg_event_list(c->db, &f, &rows, &n, &err);
	if (r < 0) {
		control_reply_pg_error(req, r, &err);
		return true;
	}
	size_t shown = n > (size_t)q.limit ? (size_t)q.limit : n;
	json_t *arr = json_array();
	for (size_t i = 0; i < shown; i++) {
		const struct pg_event *e = &rows[i];
		json_array_append_new(arr, events_json(e->seq, e->time, e->kind, e->sandbox_id,
						       e->host_id, e->team, e->detail));
	}
	int64_t next = n > shown ? rows[shown - 1].seq : 0;
	pg_event_list_free(rows, n);
	events_reply(req, arr, next);
	return true;
}

struct control_sweeper {
	struct control *c;
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	bool stop;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sweep_once(struct control *c, bool trim)
{
	struct wr_err err = {0};
	int n = 0;
	if (pg_host_lost_sweep(c->db, &n, &err) < 0)
		log_warn("host-lost check: %s", wr_err_msg(&err));
	else if (n > 0)
		log_warn("%d host(s) lost: no heartbeat for %d s (event host_lost recorded)", n,
			 PG_HOST_LOST_MS / 1000);
	if (!trim)
		return;
	wr_err_clear(&err);
	if (pg_event_trim(c->db, &n, &err) < 0)
		log_warn("event trim: %s", wr_err_msg(&err));
	else if (n > 0)
		log_info("events: %d deleted (kept: the newest %d, none older than %d days)", n,
			 PG_EVENTS_MAX_ROWS, PG_EVENTS_MAX_DAYS);
}

static void *sweeper_main(void *arg)
{
	struct control_sweeper *s = arg;
	int64_t next_trim = 0;
	pthread_mutex_lock(&s->lock);
	while (!s->stop) {
		pthread_mutex_unlock(&s->lock);
		int64_t now = mono_ms();
		sweep_once(s->c, now >= next_trim);
		if (now >= next_trim)
			next_trim = now + CONTROL_TRIM_MS;
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += CONTROL_LOST_CHECK_MS / 1000;
		until.tv_nsec += (long)(CONTROL_LOST_CHECK_MS % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&s->lock);
		while (!s->stop && pthread_cond_timedwait(&s->cond, &s->lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int control_sweeper_start(struct control *c, struct control_sweeper **ret)
{
	struct control_sweeper *s = xcalloc(1, sizeof(*s));
	s->c = c;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	int r = pthread_create(&s->th, NULL, sweeper_main, s);
	if (r != 0) {
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		free(s);
		return -r;
	}
	*ret = s;
	return 0;
}

void control_sweeper_stop(struct control_sweeper *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->th, NULL);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
