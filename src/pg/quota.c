/* SPDX-License-Identifier: MIT */
/* Team quotas of the control plane (pg/quota.h). */
#include "pg/quota.h"
#include "pg/pg-internal.h"

#include "basic/cleanup.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* limits and use of the team whose row the transaction holds (or any: the list's query) */
#define USE_SQL                                                                                    \
	" (SELECT count(*) FROM placements p WHERE p.team = t.name) +"                             \
	" (SELECT count(*) FROM quota_holds q WHERE q.team = t.name),"                             \
	" (SELECT coalesce(sum(memory_mb), 0) FROM placements p WHERE p.team = t.name) +"          \
	" (SELECT coalesce(sum(memory_mb), 0) FROM quota_holds q WHERE q.team = t.name)"

static void read_quota(PGresult *res, int row, int col, struct pg_quota *q)
{
	*q = (struct pg_quota){
		.max_sandboxes = strtoll(PQgetvalue(res, row, col), NULL, 10),
		.max_memory_mb = strtoll(PQgetvalue(res, row, col + 1), NULL, 10),
		.sandboxes = strtoll(PQgetvalue(res, row, col + 2), NULL, 10),
		.memory_mb = strtoll(PQgetvalue(res, row, col + 3), NULL, 10),
	};
}

/* pg_quota_hold's transaction after BEGIN; 1 when there was nothing to hold.  Lock held. */
static int hold_tx(struct pg *db, const char *team, int64_t want_memory_mb, pg_quota_admit_fn admit,
		   int64_t *ret_hold, char *why, size_t why_len, struct wr_err *err)
{
	char mem[24], age[24];
	snprintf(mem, sizeof(mem), "%" PRId64, want_memory_mb);
	snprintf(age, sizeof(age), "%d", PG_QUOTA_HOLD_MS);
	const char *pt[] = {team}, *pa[] = {age}, *ph[] = {team, mem};
	cleanup_pq PGresult *lim = NULL, *use = NULL, *hold = NULL;
	struct pg_quota q = {0};
	/* the row lock every replica's admission of this team takes: they go one by one */
	int r = pg_run(db,
		       "SELECT t.max_sandboxes, t.max_memory_mb," USE_SQL
		       " FROM teams t WHERE t.name = $1 FOR UPDATE OF t",
		       1, pt, &lim, err);
	if (r < 0)
		return r;
	if (PQntuples(lim) > 0)
		read_quota(lim, 0, 0, &q);
	if (q.max_sandboxes <= 0 && q.max_memory_mb <= 0)
		return 1; /* no limits: nothing to hold */
	/* holds of creates whose replica died mid-create, then the use counted again (now
	 * under the lock, with every hold committed before it) */
	if ((r = pg_run(db,
			"DELETE FROM quota_holds WHERE created_at <"
			" now() - $1::integer * interval '1 millisecond'",
			1, pa, NULL, err)) < 0 ||
	    (r = pg_run(db,
			"SELECT t.max_sandboxes, t.max_memory_mb," USE_SQL
			" FROM teams t WHERE t.name = $1",
			1, pt, &use, err)) < 0)
		return r;
	read_quota(use, 0, 0, &q);
	if (admit(team, &q, want_memory_mb, why, why_len) < 0)
		return -EDQUOT;
	if ((r = pg_run(db,
			"INSERT INTO quota_holds (team, memory_mb) VALUES ($1, $2::bigint)"
			" RETURNING id",
			2, ph, &hold, err)) < 0)
		return r;
	*ret_hold = strtoll(PQgetvalue(hold, 0, 0), NULL, 10);
	return 0;
}

int pg_quota_hold(struct pg *db, const char *team, int64_t want_memory_mb, pg_quota_admit_fn admit,
		  int64_t *ret_hold, char *why, size_t why_len, struct wr_err *err)
{
	int r;
	*ret_hold = 0;
	LOCKED(db)
	{
		if ((r = pg_run_simple(db, "BEGIN", err)) < 0)
			continue;
		r = hold_tx(db, team, want_memory_mb, admit, ret_hold, why, why_len, err);
		if (r == -EDQUOT) {
			/* the refusal is a decision worth its event, committed with nothing else */
			*ret_hold = 0;
			struct wr_err e2 = {0};
			if (pg_event_insert(db, "create_refused", NULL, NULL, team, why, &e2) < 0 ||
			    pg_run_simple(db, "COMMIT", &e2) < 0)
				pg_rollback(db);
			continue;
		}
		if (r < 0) {
			pg_rollback(db);
			*ret_hold = 0;
			continue;
		}
		r = pg_run_simple(db, "COMMIT", err);
		if (r < 0)
			*ret_hold = 0;
	}
	return r < 0 ? r : 0;
}

int pg_quota_release(struct pg *db, int64_t hold, struct wr_err *err)
{
	if (hold <= 0)
		return 0;
	char id[24];
	snprintf(id, sizeof(id), "%" PRId64, hold);
	const char *p[] = {id};
	int r;
	LOCKED(db) r = pg_run(db, "DELETE FROM quota_holds WHERE id = $1::bigint", 1, p, NULL, err);
	return r;
}

int pg_placement_put_held(struct pg *db, const char *sandbox_id, const char *host_id,
			  const char *template, const char *team, int64_t memory_mb, int64_t hold,
			  const char *why, struct wr_err *err)
{
	char mem[24], id[24];
	snprintf(mem, sizeof(mem), "%" PRId64, memory_mb);
	snprintf(id, sizeof(id), "%" PRId64, hold);
	const char *p[] = {sandbox_id, host_id, template ? template : "", team ? team : "", mem};
	const char *ph[] = {id};
	int r;
	LOCKED(db)
	{
		if ((r = pg_run_simple(db, "BEGIN", err)) < 0)
			continue;
		if ((r = pg_run(
			     db,
			     "INSERT INTO placements (sandbox_id, host_id, template, team, memory_mb)"
			     " VALUES ($1, $2, $3, $4, $5::bigint)"
			     " ON CONFLICT (sandbox_id) DO UPDATE SET host_id = excluded.host_id,"
			     " template = excluded.template, team = excluded.team,"
			     " memory_mb = excluded.memory_mb",
			     5, p, NULL, err)) < 0 ||
		    (r = pg_event_insert(db, "placed", sandbox_id, host_id, team, why, err)) < 0 ||
		    (hold > 0 && (r = pg_run(db, "DELETE FROM quota_holds WHERE id = $1::bigint", 1,
					     ph, NULL, err)) < 0)) {
			pg_rollback(db);
			continue;
		}
		r = pg_run_simple(db, "COMMIT", err);
	}
	return r;
}

int pg_team_set_quota(struct pg *db, const char *team, const int64_t *max_sandboxes,
		      const int64_t *max_memory_mb, struct pg_quota *ret, struct wr_err *err)
{
	char ms[24] = "", mm[24] = "";
	if (max_sandboxes)
		snprintf(ms, sizeof(ms), "%" PRId64, *max_sandboxes);
	if (max_memory_mb)
		snprintf(mm, sizeof(mm), "%" PRId64, *max_memory_mb);
	/* NULL parameters keep the column (coalesce), on insert as on update */
	const char *p[] = {team, max_sandboxes ? ms : NULL, max_memory_mb ? mm : NULL};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		r = pg_run(db,
			   "WITH t AS (INSERT INTO teams (name, max_sandboxes, max_memory_mb)"
			   " VALUES ($1, coalesce($2::bigint, 0), coalesce($3::bigint, 0))"
			   " ON CONFLICT (name) DO UPDATE SET"
			   " max_sandboxes = coalesce($2::bigint, teams.max_sandboxes),"
			   " max_memory_mb = coalesce($3::bigint, teams.max_memory_mb)"
			   " RETURNING name, max_sandboxes, max_memory_mb)"
			   " SELECT t.max_sandboxes, t.max_memory_mb," USE_SQL " FROM t",
			   3, p, &res, err);
		if (r >= 0 && ret)
			read_quota(res, 0, 0, ret);
	}
	return r;
}
