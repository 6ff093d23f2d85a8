/* SPDX-License-Identifier: MIT */
/* The control plane's event log (pg/events.h). */
#include "pg/events.h"
#include "pg/pg-internal.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STR_(x) #x
#define STR(x) STR_(x)

static const char *or_null(const char *s)
{
	return s && *s ? s : NULL;
}

int pg_event_insert(struct pg *db, const char *kind, const char *sandbox_id, const char *host_id,
		    const char *team, const char *detail, struct wr_err *err)
{
	if (!kind || !*kind)
		return wr_err_set(err, EINVAL, "event needs a kind");
	const char *p[] = {kind, or_null(sandbox_id), or_null(host_id), or_null(team),
			   or_null(detail)};
	return pg_run(db,
		      "INSERT INTO events (kind, sandbox_id, host_id, team, detail)"
		      " VALUES ($1, $2, $3, $4, $5)",
		      5, p, NULL, err);
}

int pg_event_add(struct pg *db, const char *kind, const char *sandbox_id, const char *host_id,
		 const char *team, const char *detail, struct wr_err *err)
{
	int r;
	LOCKED(db) r = pg_event_insert(db, kind, sandbox_id, host_id, team, detail, err);
	return r;
}

void pg_event_list_free(struct pg_event *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++) {
		free(rows[i].kind);
		free(rows[i].sandbox_id);
		free(rows[i].host_id);
		free(rows[i].team);
		free(rows[i].detail);
	}
	free(rows);
}

static char *col(PGresult *res, int row, int c)
{
	return PQgetisnull(res, row, c) ? NULL : xstrdup(PQgetvalue(res, row, c));
}

int pg_event_list(struct pg *db, const struct pg_event_filter *f, struct pg_event **ret_rows,
		  size_t *ret_n, struct wr_err *err)
{
	if (f->limit < 1)
		return wr_err_set(err, EINVAL, "limit must be positive");
	char before[24], limit[16];
	snprintf(before, sizeof(before), "%" PRId64, f->before > 0 ? f->before : 0);
	snprintf(limit, sizeof(limit), "%d", f->limit);
	const char *p[] = {or_null(f->sandbox_id),
			   or_null(f->host_id),
			   or_null(f->kind),
			   f->team,
			   before,
			   limit};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		/* an unnamed statement is planned with its parameters: the NULL tests fold away and
		 * the (sandbox_id|host_id|team, seq) indexes serve the filters */
		r = pg_run(
			db,
			"SELECT seq, (extract(epoch FROM time) * 1000)::bigint, kind, sandbox_id,"
			" host_id, team, detail FROM events"
			" WHERE ($1::text IS NULL OR sandbox_id = $1)"
			" AND ($2::text IS NULL OR host_id = $2)"
			" AND ($3::text IS NULL OR kind = $3)"
			" AND ($4::text IS NULL OR team = $4)"
			" AND ($5::bigint = 0 OR seq < $5::bigint)"
			" ORDER BY seq DESC LIMIT $6::integer",
			6, p, &res, err);
		if (r < 0)
			continue;
		size_t n = (size_t)PQntuples(res);
		struct pg_event *rows = xcalloc(n ? n : 1, sizeof(*rows));
		for (size_t i = 0; i < n; i++) {
			int k = (int)i;
			rows[i] = (struct pg_event){
				.seq = strtoll(PQgetvalue(res, k, 0), NULL, 10),
				.time = strtoll(PQgetvalue(res, k, 1), NULL, 10),
				.kind = xstrdup(PQgetvalue(res, k, 2)),
				.sandbox_id = col(res, k, 3),
				.host_id = col(res, k, 4),
				.team = col(res, k, 5),
				.detail = col(res, k, 6),
			};
		}
		*ret_rows = rows;
		*ret_n = n;
	}
	return r;
}

int pg_host_lost_sweep(struct pg *db, int *ret_n, struct wr_err *err)
{
	const char *p[] = {STR(PG_HOST_LOST_MS)};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		/* one statement, one transaction: the mark and its event commit together */
		r = pg_run(
			db,
			"WITH l AS (UPDATE hosts SET lost_noted = true"
			" WHERE last_heartbeat IS NOT NULL AND NOT lost_noted"
			" AND now() - last_heartbeat > make_interval(secs => $1::double precision"
			" / 1000)"
			" RETURNING id, extract(epoch FROM now() - last_heartbeat)::integer AS quiet,"
			" (SELECT count(*) FROM placements p WHERE p.host_id = hosts.id) AS placed)"
			" INSERT INTO events (kind, host_id, detail)"
			" SELECT 'host_lost', id, 'no heartbeat for ' || quiet || ' s (lost after '"
			" || ($1::integer / 1000) || ' s): no create goes there, its ' || placed"
			" || ' sandbox(es) are reported lost' FROM l",
			1, p, &res, err);
		if (r >= 0 && ret_n)
			*ret_n = atoi(PQcmdTuples(res));
	}
	return r;
}

int pg_event_trim(struct pg *db, int *ret_n, struct wr_err *err)
{
	const char *p[] = {STR(PG_EVENTS_MAX_DAYS), STR(PG_EVENTS_MAX_ROWS)};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		/* seq has gaps (a rolled-back insert takes a number): the range of the newest
		 * PG_EVENTS_MAX_ROWS numbers holds at most that many rows */
		r = pg_run(
			db,
			"DELETE FROM events WHERE time < now() - make_interval(days => $1::integer)"
			" OR seq <= (SELECT max(seq) FROM events) - $2::bigint",
			2, p, &res, err);
		if (r >= 0 && ret_n)
			*ret_n = atoi(PQcmdTuples(res));
	}
	return r;
}
