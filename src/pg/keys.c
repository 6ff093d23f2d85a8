/* SPDX-License-Identifier: MIT */
/* Teams and API keys of the control plane (pg.h "Teams and API keys"). */
#include "pg/pg-internal.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void pg_key_list_free(struct pg_key *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++) {
		free(rows[i].id);
		free(rows[i].name);
		free(rows[i].prefix);
		free(rows[i].team);
	}
	free(rows);
}

void pg_team_list_free(struct pg_team *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++)
		free(rows[i].name);
	free(rows);
}

int pg_key_insert(struct pg *db, const char *id, const char *name, const char *prefix,
		  const uint8_t hash[32], const char *team, int64_t *ret_created_at,
		  struct wr_err *err)
{
	char hx[65];
	pg_hex32(hash, hx);
	const char *t = team ? team : "";
	const char *p[] = {id, name ? name : "", prefix, hx, t};
	const char *pt[] = {t};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		/* key and team in one transaction: no team without its first key */
		if ((r = pg_run_simple(db, "BEGIN", err)) < 0)
			continue;
		if ((*t &&
		     (r = pg_run(db, "INSERT INTO teams (name) VALUES ($1) ON CONFLICT DO NOTHING",
				 1, pt, NULL, err)) < 0) ||
		    (r = pg_run(db,
				"INSERT INTO api_keys (id, name, prefix, hash, team)"
				" VALUES ($1, $2, $3, decode($4, 'hex'), $5)"
				" RETURNING (extract(epoch FROM created_at) * 1000)::bigint",
				5, p, &res, err)) < 0) {
			pg_rollback(db);
			continue;
		}
		if ((r = pg_run_simple(db, "COMMIT", err)) >= 0 && ret_created_at)
			*ret_created_at = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	}
	if (r == -EEXIST)
		return wr_err_set(err, EEXIST, "API key already exists");
	return r;
}

/*
 * By the hash itself, not by prefix and a constant-time comparison as the SQLite store does: the
 * index lookup's time tells at most how a guess's SHA-256 compares to stored hashes, which says
 * nothing about a key without a preimage of SHA-256 (the admin keys are looked up the same way).
 */
int pg_key_lookup(struct pg *db, const uint8_t hash[32], char **ret_id, char **ret_team,
		  struct wr_err *err)
{
	char hx[65];
	pg_hex32(hash, hx);
	const char *p[] = {hx};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		r = pg_run(
			db,
			"SELECT 'admin', '', false FROM admin_keys WHERE hash = decode($1, 'hex')"
			" UNION ALL SELECT id, team, last_used IS NULL OR"
			" last_used < now() - interval '1 minute'"
			" FROM api_keys WHERE hash = decode($1, 'hex') LIMIT 1",
			1, p, &res, err);
		if (r < 0)
			continue;
		if (PQntuples(res) == 0) {
			r = wr_err_set(err, EACCES, "unknown API key");
			continue;
		}
		/* advisory, at most once a minute: a failure must not deny a valid key */
		if (PQgetvalue(res, 0, 2)[0] == 't')
			(void)pg_run(db,
				     "UPDATE api_keys SET last_used = now()"
				     " WHERE hash = decode($1, 'hex')",
				     1, p, NULL, NULL);
		*ret_id = xstrdup(PQgetvalue(res, 0, 0));
		*ret_team = xstrdup(PQgetvalue(res, 0, 1));
	}
	return r;
}

int pg_key_list(struct pg *db, struct pg_key **ret_rows, size_t *ret_n, struct wr_err *err)
{
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		r = pg_run(db,
			   "SELECT id, name, prefix, team,"
			   " (extract(epoch FROM created_at) * 1000)::bigint,"
			   " coalesce((extract(epoch FROM last_used) * 1000)::bigint, 0)"
			   " FROM api_keys ORDER BY created_at, id",
			   0, NULL, &res, err);
		if (r < 0)
			continue;
		size_t n = (size_t)PQntuples(res);
		struct pg_key *rows = xcalloc(n ? n : 1, sizeof(*rows));
		for (size_t i = 0; i < n; i++) {
			int k = (int)i;
			rows[i] = (struct pg_key){
				.id = xstrdup(PQgetvalue(res, k, 0)),
				.name = xstrdup(PQgetvalue(res, k, 1)),
				.prefix = xstrdup(PQgetvalue(res, k, 2)),
				.team = xstrdup(PQgetvalue(res, k, 3)),
				.created_at = strtoll(PQgetvalue(res, k, 4), NULL, 10),
				.last_used = strtoll(PQgetvalue(res, k, 5), NULL, 10),
			};
		}
		*ret_rows = rows;
		*ret_n = n;
	}
	return r;
}

int pg_key_delete(struct pg *db, const char *id, struct wr_err *err)
{
	const char *p[] = {id};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		r = pg_run(db, "DELETE FROM api_keys WHERE id = $1", 1, p, &res, err);
		if (r >= 0 && atoi(PQcmdTuples(res)) == 0)
			r = wr_err_set(err, ENOENT, "API key %s not found", id);
	}
	return r;
}

int pg_team_list(struct pg *db, struct pg_team **ret_rows, size_t *ret_n, struct wr_err *err)
{
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		r = pg_run(db,
			   "SELECT t.name, (extract(epoch FROM t.created_at) * 1000)::bigint,"
			   " (SELECT count(*) FROM api_keys k WHERE k.team = t.name),"
			   " (SELECT count(*) FROM placements p WHERE p.team = t.name),"
			   " (SELECT coalesce(sum(memory_mb), 0) FROM placements p"
			   " WHERE p.team = t.name), t.max_sandboxes, t.max_memory_mb"
			   " FROM teams t ORDER BY t.name",
			   0, NULL, &res, err);
		if (r < 0)
			continue;
		size_t n = (size_t)PQntuples(res);
		struct pg_team *rows = xcalloc(n ? n : 1, sizeof(*rows));
		for (size_t i = 0; i < n; i++) {
			int k = (int)i;
			rows[i] = (struct pg_team){
				.name = xstrdup(PQgetvalue(res, k, 0)),
				.created_at = strtoll(PQgetvalue(res, k, 1), NULL, 10),
				.keys = atoi(PQgetvalue(res, k, 2)),
				.sandboxes = atoi(PQgetvalue(res, k, 3)),
				.memory_mb = strtoll(PQgetvalue(res, k, 4), NULL, 10),
				.max_sandboxes = strtoll(PQgetvalue(res, k, 5), NULL, 10),
				.max_memory_mb = strtoll(PQgetvalue(res, k, 6), NULL, 10),
			};
		}
		*ret_rows = rows;
		*ret_n = n;
	}
	return r;
}
