/* SPDX-License-Identifier: MIT */
/* Templates, builds and upload links of the control plane (pg/templates.h). */
#include "pg/templates.h"
#include "pg/pg-internal.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pg_template_done(struct pg_template *t)
{
	if (!t)
		return;
	free(t->id);
	free(t->team);
	free(t->host_id);
	json_decref(t->aliases);
	free(t->build_id);
	free(t->build_status);
	memset(t, 0, sizeof(*t));
}

void pg_template_list_free(struct pg_template *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++)
		pg_template_done(&rows[i]);
	free(rows);
}

/* A template with its newest build (LATERAL: one row per template). */
#define TPL_SELECT                                                                                 \
	"SELECT t.id, t.team, t.host_id, t.aliases::text,"                                         \
	" (extract(epoch FROM t.created_at) * 1000)::bigint, coalesce(b.build_id, ''),"            \
	" coalesce(b.status, ''), coalesce((extract(epoch FROM b.created_at) * 1000)::bigint, 0)," \
	" coalesce(b.cpu_count, 0), coalesce(b.memory_mb, 0)"                                      \
	" FROM templates t LEFT JOIN LATERAL (SELECT * FROM template_builds b"                     \
	" WHERE b.template_id = t.id ORDER BY b.created_at DESC, b.build_id LIMIT 1) b ON true"

static void read_template(PGresult *res, int i, struct pg_template *t)
{
	cleanup_json json_t *loaded = json_loads(PQgetvalue(res, i, 3), 0, NULL);
	json_t *aliases = json_is_array(loaded) ? TAKE_PTR(loaded) : json_array(); /* t owns it */
	*t = (struct pg_template){
		.id = xstrdup(PQgetvalue(res, i, 0)),
		.team = xstrdup(PQgetvalue(res, i, 1)),
		.host_id = xstrdup(PQgetvalue(res, i, 2)),
		.aliases = aliases,
		.created_at = strtoll(PQgetvalue(res, i, 4), NULL, 10),
		.build_id = xstrdup(PQgetvalue(res, i, 5)),
		.build_status = xstrdup(PQgetvalue(res, i, 6)),
		.build_created_at = strtoll(PQgetvalue(res, i, 7), NULL, 10),
		.cpu_count = atoi(PQgetvalue(res, i, 8)),
		.memory_mb = atoi(PQgetvalue(res, i, 9)),
	};
}

/* The row of id into *ret; -ENOENT.  Called with the lock held. */
static int get_locked(struct pg *db, const char *id, struct pg_template *ret, struct wr_err *err)
{
	const char *p[] = {id};
	cleanup_pq PGresult *res = NULL;
	int r = pg_run(db, TPL_SELECT " WHERE t.id = $1", 1, p, &res, err);
	if (r < 0)
		return r;
	if (PQntuples(res) == 0)
		return wr_err_set(err, ENOENT, "template %s not found", id);
	read_template(res, 0, ret);
	return 0;
}

int pg_template_claim(struct pg *db, const char *id, const char *team, const char *host_id,
		      struct pg_template *ret, bool *ret_created, struct wr_err *err)
{
	const char *p[] = {id, team ? team : "", host_id};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		/* ON CONFLICT waits for a concurrent insert of the same id to commit: the SELECT
		 * below then sees the winner's row */
		r = pg_run(db,
			   "INSERT INTO templates (id, team, host_id, aliases)"
			   " VALUES ($1, $2, $3, jsonb_build_array($1::text))"
			   " ON CONFLICT (id) DO NOTHING",
			   3, p, &res, err);
		if (r < 0)
			continue;
		*ret_created = atoi(PQcmdTuples(res)) == 1;
		r = get_locked(db, id, ret, err);
	}
	return r;
}

int pg_template_get(struct pg *db, const char *id, struct pg_template *ret, struct wr_err *err)
{
	int r;
	LOCKED(db) r = get_locked(db, id, ret, err);
	return r;
}

int pg_template_holder(struct pg *db, const char *name, char **ret_host_id, struct wr_err *err)
{
	const char *p[] = {name};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		r = pg_run(db,
			   "SELECT host_id FROM templates WHERE id = $1 OR aliases ? $1"
			   " ORDER BY id = $1 DESC LIMIT 1",
			   1, p, &res, err);
		if (r >= 0 && PQntuples(res) == 0)
			r = wr_err_set(err, ENOENT, "template %s has no row", name);
		else if (r >= 0)
			*ret_host_id = xstrdup(PQgetvalue(res, 0, 0));
	}
	return r;
}

int pg_template_list(struct pg *db, const char *team, struct pg_template **ret_rows, size_t *ret_n,
		     struct wr_err *err)
{
	const char *p[] = {team ? team : ""};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		r = pg_run(db,
			   TPL_SELECT " WHERE $1 = '' OR t.team = $1 ORDER BY t.created_at, t.id",
			   1, p, &res, err);
		if (r < 0)
			continue;
		size_t n = (size_t)PQntuples(res);
		struct pg_template *rows = xcalloc(n ? n : 1, sizeof(*rows));
		for (size_t i = 0; i < n; i++)
			read_template(res, (int)i, &rows[i]);
		*ret_rows = rows;
		*ret_n = n;
	}
	return r;
}

int pg_template_move(struct pg *db, const char *id, const char *from_host, const char *to_host,
		     struct wr_err *err)
{
	const char *p[] = {id, from_host, to_host};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		r = pg_run(db, "UPDATE templates SET host_id = $3 WHERE id = $1 AND host_id = $2",
			   3, p, &res, err);
		if (r >= 0 && atoi(PQcmdTuples(res)) == 0)
			r = wr_err_set(err, ESTALE, "template %s was moved meanwhile", id);
	}
	return r;
}

int pg_template_delete(struct pg *db, const char *id, bool only_unbuilt, struct wr_err *err)
{
	const char *p[] = {id};
	int r;
	LOCKED(db)
	/* builds and uploads go with it (ON DELETE CASCADE) */
	r = pg_run(db,
		   only_unbuilt ? "DELETE FROM templates WHERE id = $1 AND NOT EXISTS"
				  " (SELECT 1 FROM template_builds WHERE template_id = $1)"
				: "DELETE FROM templates WHERE id = $1",
		   1, p, NULL, err);
	return r;
}

int pg_template_alias(struct pg *db, const char *id, const char *alias, bool add,
		      struct wr_err *err)
{
	const char *p[] = {id, alias};
	int r;
	LOCKED(db)
	r = pg_run(db,
		   add ? "UPDATE templates SET aliases = aliases || jsonb_build_array($2::text)"
			 " WHERE id = $1 AND NOT aliases ? $2"
		       : "UPDATE templates SET aliases = aliases - $2 WHERE id = $1",
		   2, p, NULL, err);
	return r;
}

int pg_build_put(struct pg *db, const char *build_id, const char *template_id, const char *host_id,
		 int cpu_count, int memory_mb, struct wr_err *err)
{
	char cb[16], mb[16];
	snprintf(cb, sizeof(cb), "%d", cpu_count);
	snprintf(mb, sizeof(mb), "%d", memory_mb);
	const char *p[] = {build_id, template_id, host_id, cb, mb};
	int r;
	LOCKED(db)
	r = pg_run(
		db,
		"INSERT INTO template_builds (build_id, template_id, host_id, cpu_count, memory_mb)"
		" VALUES ($1, $2, $3, $4::integer, $5::integer) ON CONFLICT (build_id) DO NOTHING",
		5, p, NULL, err);
	return r;
}

int pg_build_get(struct pg *db, const char *build_id, char **ret_template_id, char **ret_host_id,
		 struct wr_err *err)
{
	const char *p[] = {build_id};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		r = pg_run(db,
			   "SELECT template_id, host_id FROM template_builds WHERE build_id = $1",
			   1, p, &res, err);
		if (r < 0)
			continue;
		if (PQntuples(res) == 0) {
			r = wr_err_set(err, ENOENT, "build %s not found", build_id);
			continue;
		}
		*ret_template_id = xstrdup(PQgetvalue(res, 0, 0));
		*ret_host_id = xstrdup(PQgetvalue(res, 0, 1));
	}
	return r;
}

int pg_build_set_status(struct pg *db, const char *build_id, const char *status, struct wr_err *err)
{
	const char *p[] = {build_id, status};
	int r;
	LOCKED(db)
	r = pg_run(db,
		   "UPDATE template_builds SET status = $2, updated_at = now()"
		   " WHERE build_id = $1 AND status <> $2",
		   2, p, NULL, err);
	return r;
}

#define STR_(x) #x
#define STR(x) STR_(x)

int pg_upload_put(struct pg *db, const uint8_t token_hash[32], const char *files_hash,
		  const char *template_id, const char *host_id, struct wr_err *err)
{
	char hx[65];
	pg_hex32(token_hash, hx);
	const char *p[] = {hx, files_hash, template_id, host_id};
	const char *pe[] = {STR(PG_UPLOAD_TTL_MS)};
	int r;
	LOCKED(db)
	{
		/* links nobody used are worth nothing after the TTL: drop them on the way */
		r = pg_run(db,
			   "DELETE FROM template_uploads WHERE created_at <"
			   " now() - make_interval(secs => $1::double precision / 1000)",
			   1, pe, NULL, err);
		if (r < 0)
			continue;
		r = pg_run(
			db,
			"INSERT INTO template_uploads (token_hash, files_hash, template_id, host_id)"
			" VALUES (decode($1, 'hex'), $2, $3, $4)",
			4, p, NULL, err);
	}
	return r;
}

int pg_upload_take(struct pg *db, const uint8_t token_hash[32], const char *files_hash,
		   char **ret_host_id, struct wr_err *err)
{
	char hx[65];
	pg_hex32(token_hash, hx);
	const char *p[] = {hx, files_hash, STR(PG_UPLOAD_TTL_MS)};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		r = pg_run(db,
			   "DELETE FROM template_uploads WHERE token_hash = decode($1, 'hex')"
			   " AND files_hash = $2 AND created_at >="
			   " now() - make_interval(secs => $3::double precision / 1000)"
			   " RETURNING host_id",
			   3, p, &res, err);
		if (r < 0)
			continue;
		if (PQntuples(res) == 0) {
			r = wr_err_set(err, EACCES, "invalid or expired upload token for %s",
				       files_hash);
			continue;
		}
		*ret_host_id = xstrdup(PQgetvalue(res, 0, 0));
	}
	return r;
}
