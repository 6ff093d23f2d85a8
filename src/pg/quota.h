/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Team quotas on the control plane (pg/quota.c): a team's maximum of concurrent sandboxes and of
 * their total memory (MiB), columns of `teams` (0 = no limit), and the admission of a create
 * against them, atomic across replicas.
 *
 * A create is admitted before it is forwarded (a create takes seconds, its placement is recorded
 * only when the host answers): pg_quota_hold locks the team's row (SELECT ... FOR UPDATE), counts
 * its placements plus the holds of creates still in flight, lets the caller's pure decision admit
 * or refuse, and records a hold, all in one transaction.  A second replica admitting the same
 * team waits on the row lock and then counts the first one's hold (READ COMMITTED: each statement
 * sees what committed before it), so two replicas cannot both admit the last slot.  The create's
 * placement replaces its hold in one transaction (pg_placement_put_held); a failed create drops
 * it (pg_quota_release).  A hold whose replica died mid-create expires after PG_QUOTA_HOLD_MS.
 * A refusal commits a create_refused event for the team (pg/events.h) and nothing else.
 * Every placement of the team counts, running or paused (a paused sandbox keeps its disk and can
 * resume at any time), and with the memory its create reserved.
 */
#include "pg/pg.h"

/* Longer than the longest create: a template fetch (5 min) and two forwards (2 min each). */
#define PG_QUOTA_HOLD_MS (15 * 60 * 1000)

struct pg_quota {
	int64_t max_sandboxes, max_memory_mb; /* 0 = no limit */
	int64_t sandboxes, memory_mb; /* in use: placements and holds of creates in flight */
};

/* The admission decision, called inside the transaction: 0 admits, < 0 refuses with why filled. */
typedef int (*pg_quota_admit_fn)(const char *team, const struct pg_quota *q, int64_t want_memory_mb,
				 char *why, size_t why_len);

/*
 * Admit a create of want_memory_mb for team (not "": operators have no quota).  0: admitted,
 * *ret_hold the hold's id (0 when the team has no limits: nothing to hold); -EDQUOT: refused, why
 * filled by admit; other < 0: the database failed (err).
 */
int pg_quota_hold(struct pg *db, const char *team, int64_t want_memory_mb, pg_quota_admit_fn admit,
		  int64_t *ret_hold, char *why, size_t why_len, struct wr_err *err);
/* Drop a hold (a create that failed); 0 is nothing to drop. */
int pg_quota_release(struct pg *db, int64_t hold, struct wr_err *err);
/* pg_placement_put with the memory the create reserved, and its hold (0 = none) dropped and its
 * "placed" event (detail why: the scheduler's decision) recorded in the same transaction. */
int pg_placement_put_held(struct pg *db, const char *sandbox_id, const char *host_id,
			  const char *template, const char *team, int64_t memory_mb, int64_t hold,
			  const char *why, struct wr_err *err);

/* Set a team's limits (NULL = unchanged, 0 = no limit), creating the team when it has no key
 * yet; *ret the team's limits and use after the change. */
int pg_team_set_quota(struct pg *db, const char *team, const int64_t *max_sandboxes,
		      const int64_t *max_memory_mb, struct pg_quota *ret, struct wr_err *err);
