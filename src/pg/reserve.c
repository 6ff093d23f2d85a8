/* SPDX-License-Identifier: MIT */
/* Host reservations of creates in flight (pg/reserve.h). */
#include "pg/reserve.h"
#include "pg/pg-internal.h"
#include "pg/quota.h"

#include "basic/cleanup.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* An arbitrary constant naming the scheduler's lock among advisory locks (the migrations'
 * is ...01). */
#define SCHED_LOCK "7263656e6e02"

/* pg_host_reserve's transaction after BEGIN, lock held.  *ret_rows set only on success. */
static int reserve_tx(struct pg *db, const char *team, int64_t memory_mb, pg_host_pick_fn pick,
		      void *arg, int64_t *io_hold, struct pg_host **ret_rows, size_t *ret_n,
		      int *ret_k, struct wr_err *err)
{
	char id[24], mem[24], age[24], ttl[24];
	snprintf(id, sizeof(id), "%" PRId64, *io_hold);
	snprintf(mem, sizeof(mem), "%" PRId64, memory_mb);
	snprintf(age, sizeof(age), "%d", PG_QUOTA_HOLD_MS);
	const char *pid[] = {id}, *pa[] = {age};
	/* every replica's pick waits here for the one before it to commit its reservation */
	int r = pg_run_simple(db, "SELECT pg_advisory_xact_lock(x'" SCHED_LOCK "'::bigint)", err);
	if (r < 0)
		return r;
	/* rows of creates whose replica died, as the quota drops them (rows another transaction
	 * holds are skipped, never waited for) */
	if ((r = pg_run(db,
			"DELETE FROM quota_holds WHERE id IN (SELECT id FROM quota_holds WHERE"
			" created_at < now() - $1::integer * interval '1 millisecond'"
			" FOR UPDATE SKIP LOCKED)",
			1, pa, NULL, err)) < 0)
		return r;
	/* a retry: off the host that failed before the hosts are counted */
	if (*io_hold > 0 &&
	    (r = pg_run(
		     db,
		     "UPDATE quota_holds SET host_id = NULL, reserved_at = NULL, host_until = NULL"
		     " WHERE id = $1::bigint",
		     1, pid, NULL, err)) < 0)
		return r;
	struct pg_host *rows = NULL;
	size_t n = 0;
	if ((r = pg_host_list_locked(db, &rows, &n, err)) < 0)
		return r;
	int64_t ttl_ms = 0;
	int k = pick(rows, n, arg, &ttl_ms);
	if (k >= 0) {
		snprintf(ttl, sizeof(ttl), "%" PRId64, ttl_ms);
		const char *pu[] = {id, rows[k].id, ttl};
		cleanup_pq PGresult *upd = NULL, *ins = NULL;
		r = pg_run(db,
			   "UPDATE quota_holds SET host_id = $2, reserved_at = now(),"
			   " host_until = now() + $3::bigint * interval '1 millisecond'"
			   " WHERE id = $1::bigint",
			   3, pu, &upd, err);
		if (r >= 0 && atoi(PQcmdTuples(upd)) == 0) { /* no row yet (or it expired) */
			const char *pi[] = {team ? team : "", mem, rows[k].id, ttl};
			r = pg_run(db,
				   "INSERT INTO quota_holds (team, memory_mb, host_id, reserved_at,"
				   " host_until) VALUES ($1, $2::bigint, $3, now(),"
				   " now() + $4::bigint * interval '1 millisecond') RETURNING id",
				   4, pi, &ins, err);
			if (r >= 0)
				*io_hold = strtoll(PQgetvalue(ins, 0, 0), NULL, 10);
		}
		if (r < 0) {
			pg_host_list_free(rows, n);
			return r;
		}
	}
	*ret_rows = rows;
	*ret_n = n;
	*ret_k = k;
	return 0;
}

int pg_host_reserve(struct pg *db, const char *team, int64_t memory_mb, pg_host_pick_fn pick,
		    void *arg, int64_t *io_hold, struct pg_host **ret_rows, size_t *ret_n,
		    int *ret_k, struct wr_err *err)
{
	int r;
	int64_t hold = *io_hold;
	*ret_rows = NULL;
	*ret_n = 0;
	*ret_k = -1;
	LOCKED(db)
	{
		if ((r = pg_run_simple(db, "BEGIN", err)) < 0)
			continue;
		r = reserve_tx(db, team, memory_mb, pick, arg, &hold, ret_rows, ret_n, ret_k, err);
		if (r < 0) {
			pg_rollback(db);
			continue;
		}
		if ((r = pg_run_simple(db, "COMMIT", err)) < 0) {
			pg_host_list_free(*ret_rows, *ret_n);
			*ret_rows = NULL;
			*ret_n = 0;
			*ret_k = -1;
			continue;
		}
		*io_hold = hold;
	}
	return r;
}
