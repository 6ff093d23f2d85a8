/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Host reservations of creates in flight (pg/reserve.c), so that the scheduler counts them.
 *
 * A create through the control plane takes seconds (the host's create; a template fetch before
 * it), and its placement is recorded only when the host answers.  Every replica's scheduler reads
 * the hosts' loads from the database: without a record of the creates in flight, concurrent
 * creates all saw the same idle host and went there together (9 of 9 on one of three hosts), and
 * a retry after that host's 507 went, by the same stale view, all to one other host.
 *
 * pg_host_reserve makes the pick and the reservation one transaction under an advisory lock
 * (every replica's picks go one at a time; READ COMMITTED: each one reads the hosts with every
 * reservation committed before it): read the hosts with their live reservations (pg_host's
 * reserved, reserved_memory_mb, reserved_listed), let the caller's pure choice pick one, and mark
 * the create's row in quota_holds with that host and an expiry.  The create's quota hold
 * (pg/quota.h) and its host reservation are one row: a team with limits has its hold already
 * (the quota's admission is unchanged, under the team's row lock), any other create gets a row
 * here (team "" for an operator).  So the placement replaces the reservation in the transaction
 * that replaces the hold (pg_placement_put_held), and a failed create drops both
 * (pg_quota_release).  A retry's reservation first takes the row off the host that failed, then
 * picks again with every other create in flight counted.  A replica killed mid-create leaves its
 * row: the host no longer counts it after host_until (the create's forward timeout plus a
 * margin, plus the template fetch's when the host lacks the template), and the row itself goes
 * after PG_QUOTA_HOLD_MS like any hold.
 */
#include "pg/pg.h"

/* Under pg_host_reserve's transaction: the index of the chosen row among rows (the hosts as
 * counted now), *ret_ttl_ms how long its reservation lives; < 0 = none chosen (nothing
 * reserved).  Pure: no database call. */
typedef int (*pg_host_pick_fn)(const struct pg_host *rows, size_t n, void *arg,
			       int64_t *ret_ttl_ms);

/*
 * Pick a host for a create of memory_mb for team ("" or NULL = an operator's) and reserve it.
 * *io_hold: the create's row (its quota hold, or a reservation of an earlier attempt), 0 = none
 * yet (one is made, and *io_hold set, when pick chooses).  0: *ret_k is pick's answer, *ret_rows
 * and *ret_n the hosts as it saw them (pg_host_list_free); when pick chose none, the row reserves
 * no host any more.  < 0: the database failed (err), nothing returned, nothing changed.
 */
int pg_host_reserve(struct pg *db, const char *team, int64_t memory_mb, pg_host_pick_fn pick,
		    void *arg, int64_t *io_hold, struct pg_host **ret_rows, size_t *ret_n,
		    int *ret_k, struct wr_err *err);
