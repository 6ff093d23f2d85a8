/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * The control plane's event log in PostgreSQL (pg/events.c; migration 7): what changed and why,
 * written by the functions of src/pg in the same transaction as the change itself, so an event
 * exists exactly when its change committed (a rolled-back placement leaves no "placed" event, a
 * committed one cannot lose it).  Kinds and what they carry:
 *
 *   placed            sandbox, host, team; detail: the scheduler's decision and its reason
 *   released          sandbox, host, team; detail: killed through the control plane, or its
 *                     host no longer has it (a heartbeat's list)
 *   adopted           sandbox, host; a heartbeat listed a sandbox without a placement
 *   create_refused    team; detail: the quota that refused it (no sandbox id exists yet)
 *   placement_failed  host, team; detail: why, and whether it is retried on another host
 *   placement_refused team; detail: why no host could take the create
 *   host_registered, host_draining, host_removed, host_lost, host_returned: host; detail
 *
 * Decisions that change no row (placement_failed, placement_refused) are one INSERT, their own
 * transaction.  host_lost is computed from the clock, not from a request: see
 * pg_host_lost_sweep.  The table is bounded by pg_event_trim.
 */
#include "pg/pg.h"

#include <stdint.h>

/* The table keeps at most this many events and none older than PG_EVENTS_MAX_DAYS: trimmed by
 * pg_event_trim, which the control plane runs every few minutes (control-events.c).  100 000
 * rows of ~200 bytes is ~20 MB with its indexes: a busy control plane's week, small enough for
 * any PostgreSQL. */
#define PG_EVENTS_MAX_ROWS 100000
#define PG_EVENTS_MAX_DAYS 30

struct pg_event {
	int64_t seq;
	int64_t time; /* unix ms, the database clock */
	char *kind;
	char *sandbox_id, *host_id, *team, *detail; /* NULL when the event has none */
};
void pg_event_list_free(struct pg_event *rows, size_t n);

/* Record one event on its own (a decision that changes no row).  NULL or "" = none. */
int pg_event_add(struct pg *db, const char *kind, const char *sandbox_id, const char *host_id,
		 const char *team, const char *detail, struct wr_err *err);

struct pg_event_filter {
	const char *sandbox_id, *host_id, *kind; /* NULL = any */
	/* NULL = every event (an operator); else only the events recorded for this team (its
	 * sandboxes', its refused creates), never a host's own */
	const char *team;
	int64_t before; /* only events with seq < before; 0 = from the newest */
	int limit;	/* 1.. */
};
/* Newest first. */
int pg_event_list(struct pg *db, const struct pg_event_filter *f, struct pg_event **ret_rows,
		  size_t *ret_n, struct wr_err *err);

/*
 * Record host_lost once per loss.  A host is lost when its last heartbeat is older than
 * PG_HOST_LOST_MS (the state every read derives from the database clock); the event needs one
 * writer although every replica runs this check: one statement marks the hosts that are lost and
 * not yet noted (UPDATE hosts SET lost_noted = true WHERE ... AND NOT lost_noted) and inserts an
 * event for each row it changed.  Two replicas running it at once: the second one's UPDATE waits
 * for the first's row locks, then re-reads `NOT lost_noted` on the committed row and skips it, so
 * each loss is recorded exactly once.  The next accepted heartbeat clears the mark and records
 * host_returned (pg_host_heartbeat, same transaction).  *ret_n: hosts newly noted.
 */
int pg_host_lost_sweep(struct pg *db, int *ret_n, struct wr_err *err);

/* Delete the events beyond PG_EVENTS_MAX_ROWS (the oldest) and older than PG_EVENTS_MAX_DAYS;
 * *ret_n (optional): how many. */
int pg_event_trim(struct pg *db, int *ret_n, struct wr_err *err);
