/* SPDX-License-Identifier: MIT */
#include "pg/pg.h"
#include "pg/pg-internal.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/hex.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pq_clear(PGresult **r)
{
	if (*r)
		PQclear(*r);
}

/* libpq's messages end with a newline */
static const char *pq_msg(const char *m)
{
	static __thread char buf[256];
	snprintf(buf, sizeof(buf), "%s", m ? m : "");
	size_t n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return buf;
}

/* The connection is up, else reset it once.  Called with the lock held. */
static int ensure_conn(struct pg *db, struct wr_err *err)
{
	if (PQstatus(db->conn) == CONNECTION_OK)
		return 0;
	PQreset(db->conn);
	if (PQstatus(db->conn) != CONNECTION_OK)
		return wr_err_set(err, ECONNREFUSED, "postgresql: %s",
				  pq_msg(PQerrorMessage(db->conn)));
	return 0;
}

/* Run one statement with text parameters; *ret holds the result (tuples or command).  A
 * unique violation is -EEXIST, a broken connection -ECONNREFUSED, anything else -EIO.
 * Called with the lock held. */
int pg_run(struct pg *db, const char *sql, int n, const char *const *params, PGresult **ret,
	   struct wr_err *err)
{
	int r = ensure_conn(db, err);
	if (r < 0)
		return r;
	/* without parameters, the simple protocol: a migration is several statements */
	PGresult *res = n ? PQexecParams(db->conn, sql, n, NULL, params, NULL, NULL, 0)
			  : PQexec(db->conn, sql);
	ExecStatusType st = PQresultStatus(res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (ret)
			*ret = res;
		else
			PQclear(res);
		return 0;
	}
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	int code = !res || PQstatus(db->conn) != CONNECTION_OK ? ECONNREFUSED
		   : state && !strcmp(state, "23505")	       ? EEXIST
							       : EIO;
	wr_err_set(err, code, "postgresql: %s",
		   pq_msg(res ? PQresultErrorMessage(res) : PQerrorMessage(db->conn)));
	PQclear(res);
	return -code;
}

int pg_run_simple(struct pg *db, const char *sql, struct wr_err *err)
{
	return pg_run(db, sql, 0, NULL, NULL, err);
}

void pg_rollback(struct pg *db)
{
	PGresult *res = PQexec(db->conn, "ROLLBACK");
	PQclear(res);
}

/* Schema migrations, index i brings the schema from version i to i + 1.  Append only. */
static const char *const migrations[] = {
	"CREATE TABLE admin_keys (hash bytea PRIMARY KEY,"
	" created_at timestamptz NOT NULL DEFAULT now());"
	"CREATE TABLE hosts (id text PRIMARY KEY, name text NOT NULL DEFAULT '',"
	" key_hash bytea NOT NULL, draining boolean NOT NULL DEFAULT false,"
	" created_at timestamptz NOT NULL DEFAULT now(), last_heartbeat timestamptz,"
	" last_sig_ts bigint NOT NULL DEFAULT 0, api_url text NOT NULL DEFAULT '',"
	" proxy_url text NOT NULL DEFAULT '', capacity jsonb NOT NULL DEFAULT '{}');",
	"CREATE TABLE placements (sandbox_id text PRIMARY KEY, host_id text NOT NULL,"
	" template text NOT NULL DEFAULT '', created_at timestamptz NOT NULL DEFAULT now());"
	"CREATE INDEX placements_host ON placements (host_id, created_at);",
	/* the sandboxes the last heartbeat listed (NULL: the host did not list them) */
	"ALTER TABLE hosts ADD COLUMN sandbox_ids jsonb;",
	/* teams and their API keys (pg/keys.c; SHA-256 of the key only, as in the SQLite store),
	 * and the team each placement was made for ('' = an operator's) */
	"CREATE TABLE teams (name text PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now());"
	"CREATE TABLE api_keys (id text PRIMARY KEY, name text NOT NULL DEFAULT '',"
	" prefix text NOT NULL, hash bytea NOT NULL UNIQUE, team text NOT NULL DEFAULT '',"
	" created_at timestamptz NOT NULL DEFAULT now(), last_used timestamptz);"
	"ALTER TABLE placements ADD COLUMN team text NOT NULL DEFAULT '';",
	/* team quotas (pg/quota.c): limits per team (0 = none), the memory each placement's create
	 * reserved, and the holds of creates admitted but not placed yet */
	"ALTER TABLE teams ADD COLUMN max_sandboxes bigint NOT NULL DEFAULT 0,"
	" ADD COLUMN max_memory_mb bigint NOT NULL DEFAULT 0;"
	"ALTER TABLE placements ADD COLUMN memory_mb bigint NOT NULL DEFAULT 0;"
	"CREATE INDEX placements_team ON placements (team);"
	"CREATE TABLE quota_holds (id bigserial PRIMARY KEY, team text NOT NULL,"
	" memory_mb bigint NOT NULL, created_at timestamptz NOT NULL DEFAULT now());"
	"CREATE INDEX quota_holds_team ON quota_holds (team);",
	/* templates built through the control plane, their builds and upload links
	 * (pg/templates.c) */
	"CREATE TABLE templates (id text PRIMARY KEY, team text NOT NULL DEFAULT '',"
	" host_id text NOT NULL, aliases jsonb NOT NULL DEFAULT '[]',"
	" created_at timestamptz NOT NULL DEFAULT now());"
	"CREATE INDEX templates_team ON templates (team, created_at);"
	"CREATE TABLE template_builds (build_id text PRIMARY KEY,"
	" template_id text NOT NULL REFERENCES templates (id) ON DELETE CASCADE,"
	" host_id text NOT NULL, status text NOT NULL DEFAULT 'waiting',"
	" cpu_count integer NOT NULL DEFAULT 0, memory_mb integer NOT NULL DEFAULT 0,"
	" created_at timestamptz NOT NULL DEFAULT now(),"
	" updated_at timestamptz NOT NULL DEFAULT now());"
	"CREATE INDEX template_builds_template ON template_builds (template_id, created_at);"
	"CREATE TABLE template_uploads (token_hash bytea PRIMARY KEY, files_hash text NOT NULL,"
	" template_id text NOT NULL REFERENCES templates (id) ON DELETE CASCADE,"
	" host_id text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());",
	/* the control plane's event log (pg/events.h), and the mark that makes host_lost one
	 * event per loss (pg_host_lost_sweep) */
	"CREATE TABLE events (seq bigserial PRIMARY KEY, time timestamptz NOT NULL DEFAULT now(),"
	" kind text NOT NULL, sandbox_id text, host_id text, team text, detail text);"
	"CREATE INDEX events_sandbox ON events (sandbox_id, seq);"
	"CREATE INDEX events_host ON events (host_id, seq);"
	"CREATE INDEX events_team ON events (team, seq);"
	"ALTER TABLE hosts ADD COLUMN lost_noted boolean NOT NULL DEFAULT false;",
	/* a create's hold is also its host's reservation while it is in flight (pg/reserve.h) */
	"ALTER TABLE quota_holds ADD COLUMN host_id text, ADD COLUMN reserved_at timestamptz,"
	" ADD COLUMN host_until timestamptz;"
	"CREATE INDEX quota_holds_host ON quota_holds (host_id, host_until);",
};

/* An arbitrary constant naming wrenn's migration lock among advisory locks. */
#define MIGRATION_LOCK "7263656e6e01"

static int migrate(struct pg *db, struct wr_err *err)
{
	cleanup_pq PGresult *res = NULL; /* before the gotos: its cleanup runs at fail too */
	int r = pg_run_simple(db, "BEGIN", err);
	if (r < 0)
		return r;
	if ((r = pg_run_simple(db, "SELECT pg_advisory_xact_lock(x'" MIGRATION_LOCK "'::bigint)",
			       err)) < 0 ||
	    (r = pg_run_simple(
		     db, "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL);",
		     err)) < 0)
		goto fail;
	if ((r = pg_run(db, "SELECT coalesce(max(version), 0) FROM schema_version", 0, NULL, &res,
			err)) < 0)
		goto fail;
	int have = atoi(PQgetvalue(res, 0, 0));
	int want = (int)(sizeof(migrations) / sizeof(migrations[0]));
	if (have > want) {
		r = wr_err_set(err, EPROTO,
			       "database schema is version %d, this wrenn-agent knows up to %d: "
			       "upgrade wrenn-agent",
			       have, want);
		goto fail;
	}
	for (int v = have; v < want; v++) {
		if ((r = pg_run_simple(db, migrations[v], err)) < 0) {
			wr_err_prefix(err, r, "migration %d", v + 1);
			goto fail;
		}
	}
	if (want > have) {
		char vbuf[16];
		snprintf(vbuf, sizeof(vbuf), "%d", want);
		const char *p[] = {vbuf};
		if ((r = pg_run_simple(db, "DELETE FROM schema_version", err)) < 0 ||
		    (r = pg_run(db, "INSERT INTO schema_version VALUES ($1::integer)", 1, p, NULL,
				err)) < 0)
			goto fail;
	}
	return pg_run_simple(db, "COMMIT", err);
fail:
	pg_rollback(db);
	return r;
}

int pg_open(const char *url, struct pg **ret, struct wr_err *err)
{
	struct pg *db = xmalloc(sizeof(*db));
	pthread_mutex_init(&db->lock, NULL);
	db->conn = PQconnectdb(url);
	if (PQstatus(db->conn) != CONNECTION_OK) {
		int r = wr_err_set(err, ECONNREFUSED, "postgresql: %s",
				   pq_msg(PQerrorMessage(db->conn)));
		pg_close(db);
		return r;
	}
	int r = pg_run_simple(db, "SET client_min_messages = warning", err);
	if (r >= 0)
		r = migrate(db, err);
	if (r < 0) {
		pg_close(db);
		return r;
	}
	*ret = db;
	return 0;
}

void pg_close(struct pg *db)
{
	if (!db)
		return;
	PQfinish(db->conn);
	pthread_mutex_destroy(&db->lock);
	free(db);
}

int pg_ping(struct pg *db, struct wr_err *err)
{
	int r;
	LOCKED(db) r = pg_run_simple(db, "SELECT 1", err);
	return r;
}

int pg_schema_version(struct pg *db, int *ret, struct wr_err *err)
{
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		r = pg_run(db, "SELECT coalesce(max(version), 0) FROM schema_version", 0, NULL,
			   &res, err);
		if (r >= 0)
			*ret = atoi(PQgetvalue(res, 0, 0));
	}
	return r;
}

void pg_hex32(const uint8_t h[32], char out[65])
{
	hex_encode(h, 32, out);
}

int pg_admin_key_ensure(struct pg *db, const uint8_t hash[32], bool *ret_created,
			struct wr_err *err)
{
	char hx[65];
	pg_hex32(hash, hx);
	const char *p[] = {hx};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		bool created = false;
		if ((r = pg_run_simple(db, "BEGIN", err)) < 0)
			continue;
		if ((r = pg_run_simple(db, "LOCK TABLE admin_keys IN EXCLUSIVE MODE", err)) < 0 ||
		    (r = pg_run(db, "SELECT count(*) FROM admin_keys", 0, NULL, &res, err)) < 0) {
			pg_rollback(db);
			continue;
		}
		if (atoll(PQgetvalue(res, 0, 0)) == 0) {
			if ((r = pg_run(db,
					"INSERT INTO admin_keys (hash) VALUES (decode($1, 'hex'))",
					1, p, NULL, err)) < 0) {
				pg_rollback(db);
				continue;
			}
			created = true;
		}
		if ((r = pg_run_simple(db, "COMMIT", err)) >= 0)
			*ret_created = created;
	}
	return r;
}

int pg_admin_key_check(struct pg *db, const uint8_t hash[32], struct wr_err *err)
{
	char hx[65];
	pg_hex32(hash, hx);
	const char *p[] = {hx};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		r = pg_run(db, "SELECT 1 FROM admin_keys WHERE hash = decode($1, 'hex')", 1, p,
			   &res, err);
		if (r >= 0 && PQntuples(res) == 0)
			r = wr_err_set(err, EACCES, "unknown API key");
	}
	return r;
}

void pg_host_done(struct pg_host *h)
{
	if (!h)
		return;
	free(h->id);
	free(h->name);
	free(h->state);
	free(h->api_url);
	free(h->proxy_url);
	json_decref(h->capacity);
	memset(h, 0, sizeof(*h));
}

void pg_host_list_free(struct pg_host *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++)
		pg_host_done(&rows[i]);
	free(rows);
}

#define HOST_COLS                                                                                  \
	"id, name, CASE WHEN last_heartbeat IS NULL THEN 'pending'"                                \
	" WHEN now() - last_heartbeat > make_interval(secs => $1::double precision / 1000)"        \
	" THEN 'lost' WHEN draining THEN 'draining' ELSE 'ready' END,"                             \
	" draining, api_url, proxy_url, capacity::text,"                                           \
	" (extract(epoch FROM created_at) * 1000)::bigint,"                                        \
	" coalesce((extract(epoch FROM last_heartbeat) * 1000)::bigint, 0),"                       \
	" (SELECT count(*) FROM placements p WHERE p.host_id = hosts.id AND"                       \
	" CASE WHEN hosts.sandbox_ids IS NULL"                                                     \
	" THEN p.created_at >= coalesce(hosts.last_heartbeat, 'epoch')"                            \
	" ELSE NOT (hosts.sandbox_ids ? p.sandbox_id) END),"                                       \
	" (SELECT count(*) FROM quota_holds q"                                                     \
	" WHERE q.host_id = hosts.id AND q.host_until > now()),"                                   \
	" (SELECT coalesce(sum(q.memory_mb), 0) FROM quota_holds q"                                \
	" WHERE q.host_id = hosts.id AND q.host_until > now()),"                                   \
	" (SELECT count(*) FROM jsonb_array_elements_text(coalesce(hosts.sandbox_ids, '[]'))"      \
	" AS s(id) LEFT JOIN placements p ON p.sandbox_id = s.id WHERE p.sandbox_id IS NULL OR"    \
	" (p.host_id = hosts.id AND p.template = '' AND p.created_at >="                           \
	" (SELECT min(q.reserved_at) FROM quota_holds q"                                           \
	" WHERE q.host_id = hosts.id AND q.host_until > now())))"

static void read_host(PGresult *res, int i, struct pg_host *h)
{
	cleanup_json json_t *loaded = json_loads(PQgetvalue(res, i, 6), 0, NULL);
	json_t *cap = json_is_object(loaded) ? TAKE_PTR(loaded) : json_object(); /* h owns it */
	*h = (struct pg_host){
		.id = xstrdup(PQgetvalue(res, i, 0)),
		.name = xstrdup(PQgetvalue(res, i, 1)),
		.state = xstrdup(PQgetvalue(res, i, 2)),
		.draining = PQgetvalue(res, i, 3)[0] == 't',
		.api_url = xstrdup(PQgetvalue(res, i, 4)),
		.proxy_url = xstrdup(PQgetvalue(res, i, 5)),
		.capacity = cap,
		.created_at = strtoll(PQgetvalue(res, i, 7), NULL, 10),
		.last_heartbeat = strtoll(PQgetvalue(res, i, 8), NULL, 10),
		.recent_placements = strtoll(PQgetvalue(res, i, 9), NULL, 10),
		.reserved = strtoll(PQgetvalue(res, i, 10), NULL, 10),
		.reserved_memory_mb = strtoll(PQgetvalue(res, i, 11), NULL, 10),
		.reserved_listed = strtoll(PQgetvalue(res, i, 12), NULL, 10),
	};
}

#define STR_(x) #x
#define STR(x) STR_(x)

int pg_host_create(struct pg *db, const char *id, const char *name, const uint8_t key[32],
		   struct wr_err *err)
{
	char hx[65];
	pg_hex32(key, hx);
	const char *p[] = {id, name ? name : "", hx};
	int r;
	/* the row and its event in one statement (one transaction) */
	LOCKED(db)
	r = pg_run(db,
		   "WITH h AS (INSERT INTO hosts (id, name, key_hash)"
		   " VALUES ($1, $2, decode($3, 'hex')) RETURNING id, name)"
		   " INSERT INTO events (kind, host_id, detail)"
		   " SELECT 'host_registered', id, 'name \"' || name || '\"' FROM h",
		   3, p, NULL, err);
	if (r == -EEXIST)
		return wr_err_set(err, EEXIST, "host %s exists", id);
	return r;
}

int pg_host_list_locked(struct pg *db, struct pg_host **ret_rows, size_t *ret_n, struct wr_err *err)
{
	const char *p[] = {STR(PG_HOST_LOST_MS)};
	cleanup_pq PGresult *res = NULL;
	int r = pg_run(db, "SELECT " HOST_COLS " FROM hosts ORDER BY created_at, id", 1, p, &res,
		       err);
	if (r < 0)
		return r;
	size_t n = (size_t)PQntuples(res);
	struct pg_host *rows = xcalloc(n ? n : 1, sizeof(*rows));
	for (size_t i = 0; i < n; i++)
		read_host(res, (int)i, &rows[i]);
	*ret_rows = rows;
	*ret_n = n;
	return 0;
}

int pg_host_list(struct pg *db, struct pg_host **ret_rows, size_t *ret_n, struct wr_err *err)
{
	int r;
	LOCKED(db) r = pg_host_list_locked(db, ret_rows, ret_n, err);
	return r;
}

int pg_host_get(struct pg *db, const char *id, struct pg_host *ret, struct wr_err *err)
{
	const char *p[] = {STR(PG_HOST_LOST_MS), id};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		r = pg_run(db, "SELECT " HOST_COLS " FROM hosts WHERE id = $2", 2, p, &res, err);
		if (r < 0)
			continue;
		if (PQntuples(res) == 0)
			r = wr_err_set(err, ENOENT, "host %s not found", id);
		else
			read_host(res, 0, ret);
	}
	return r;
}

int pg_host_key(struct pg *db, const char *id, uint8_t ret_key[32], int64_t *ret_last_ts,
		struct wr_err *err)
{
	const char *p[] = {id};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		r = pg_run(db,
			   "SELECT encode(key_hash, 'hex'), last_sig_ts FROM hosts WHERE id = $1",
			   1, p, &res, err);
		if (r < 0)
			continue;
		if (PQntuples(res) == 0) {
			r = wr_err_set(err, ENOENT, "host %s not found", id);
			continue;
		}
		const char *hx = PQgetvalue(res, 0, 0);
		if (strlen(hx) != 64) {
			r = wr_err_set(err, EIO, "host %s: bad key in the database", id);
			continue;
		}
		for (int i = 0; i < 32; i++)
			ret_key[i] =
				(uint8_t)(hex_digit(hx[2 * i]) << 4 | hex_digit(hx[2 * i + 1]));
		*ret_last_ts = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	}
	return r;
}

int pg_host_heartbeat(struct pg *db, const char *id, int64_t ts_ms, const char *api_url,
		      const char *proxy_url, const json_t *capacity, const json_t *sandbox_ids,
		      struct wr_err *err)
{
	char tsb[24];
	snprintf(tsb, sizeof(tsb), "%" PRId64, ts_ms);
	cleanup_free char *cap = json_dumps(capacity, JSON_COMPACT);
	cleanup_free char *ids = sandbox_ids ? json_dumps(sandbox_ids, JSON_COMPACT) : NULL;
	const char *p[] = {id, tsb, api_url, proxy_url, cap ? cap : "{}", ids};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		/* the first heartbeat after a host_lost (the row locked first, so the mark read
		 * is the committed one) clears the mark and records host_returned, in the same
		 * statement as the heartbeat */
		r = pg_run(
			db,
			"WITH o AS (SELECT id, lost_noted, last_heartbeat FROM hosts WHERE id = $1"
			" FOR UPDATE),"
			" u AS (UPDATE hosts h SET last_heartbeat = now(), last_sig_ts = $2::bigint,"
			" api_url = $3, proxy_url = $4, capacity = $5::jsonb, sandbox_ids = $6::jsonb,"
			" lost_noted = false FROM o WHERE h.id = o.id AND h.last_sig_ts < $2::bigint"
			" RETURNING h.id, o.lost_noted AS was,"
			" extract(epoch FROM now() - o.last_heartbeat)::integer AS quiet),"
			" e AS (INSERT INTO events (kind, host_id, detail)"
			" SELECT 'host_returned', id, 'heartbeat again after ' || quiet ||"
			" ' s without one: what still runs there is re-adopted, the rest released'"
			" FROM u WHERE was)"
			" SELECT count(*) FROM u",
			6, p, &res, err);
		if (r >= 0 && atoi(PQgetvalue(res, 0, 0)) == 0)
			r = wr_err_set(err, EALREADY,
				       "host %s: signature timestamp not newer than the last one "
				       "(replay) or host removed",
				       id);
	}
	return r;
}

static int update_one(struct pg *db, const char *sql, const char *id, struct wr_err *err)
{
	const char *p[] = {id};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		r = pg_run(db, sql, 1, p, &res, err);
		if (r >= 0 && atoi(PQcmdTuples(res)) == 0)
			r = wr_err_set(err, ENOENT, "host %s not found", id);
	}
	return r;
}

int pg_host_drain(struct pg *db, const char *id, struct wr_err *err)
{
	const char *p[] = {id};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		/* the event only when this call set the flag (a concurrent drain through another
		 * replica re-reads NOT draining after the first commits); the final SELECT sees
		 * the row as it was before the statement: whether the host exists */
		r = pg_run(
			db,
			"WITH u AS (UPDATE hosts SET draining = true WHERE id = $1 AND NOT draining"
			" RETURNING id),"
			" e AS (INSERT INTO events (kind, host_id, detail)"
			" SELECT 'host_draining', id, 'drained by an operator: no new sandboxes go"
			" there, its sandboxes run on' FROM u)"
			" SELECT count(*) FROM hosts WHERE id = $1",
			1, p, &res, err);
		if (r >= 0 && atoi(PQgetvalue(res, 0, 0)) == 0)
			r = wr_err_set(err, ENOENT, "host %s not found", id);
	}
	return r;
}

int pg_host_delete(struct pg *db, const char *id, struct wr_err *err)
{
	/* the INSERT's row count is the DELETE's: one event per removed host */
	return update_one(
		db,
		"WITH d AS (DELETE FROM hosts WHERE id = $1 RETURNING id,"
		" (SELECT count(*) FROM placements p WHERE p.host_id = hosts.id) AS placed)"
		" INSERT INTO events (kind, host_id, detail)"
		" SELECT 'host_removed', id, 'removed by an operator; ' || placed ||"
		" ' placement(s) on it are kept and listed as lost' FROM d",
		id, err);
}

int pg_placement_put(struct pg *db, const char *sandbox_id, const char *host_id,
		     const char *template, const char *team, struct wr_err *err)
{
	const char *p[] = {sandbox_id, host_id, template ? template : "", team ? team : ""};
	int r;
	LOCKED(db)
	r = pg_run(
		db,
		"WITH p AS (INSERT INTO placements (sandbox_id, host_id, template, team)"
		" VALUES ($1, $2, $3, $4)"
		" ON CONFLICT (sandbox_id) DO UPDATE SET host_id = excluded.host_id,"
		" template = excluded.template, team = excluded.team"
		" RETURNING sandbox_id, host_id, team)"
		" INSERT INTO events (kind, sandbox_id, host_id, team, detail)"
		" SELECT 'placed', sandbox_id, host_id, nullif(team, ''), 'template ' || $3::text"
		" FROM p",
		4, p, NULL, err);
	return r;
}

int pg_placement_get(struct pg *db, const char *sandbox_id, char **ret_host_id, char **ret_team,
		     struct wr_err *err)
{
	const char *p[] = {sandbox_id};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		r = pg_run(db, "SELECT host_id, team FROM placements WHERE sandbox_id = $1", 1, p,
			   &res, err);
		if (r < 0)
			continue;
		if (PQntuples(res) == 0) {
			r = wr_err_set(err, ENOENT, "sandbox %s not found", sandbox_id);
			continue;
		}
		*ret_host_id = xstrdup(PQgetvalue(res, 0, 0));
		if (ret_team)
			*ret_team = xstrdup(PQgetvalue(res, 0, 1));
	}
	return r;
}

int pg_placement_delete(struct pg *db, const char *sandbox_id, const char *why, struct wr_err *err)
{
	const char *p[] = {sandbox_id, why};
	int r;
	LOCKED(db)
	r = pg_run(db,
		   "WITH d AS (DELETE FROM placements WHERE sandbox_id = $1"
		   " RETURNING sandbox_id, host_id, team)"
		   " INSERT INTO events (kind, sandbox_id, host_id, team, detail)"
		   " SELECT 'released', sandbox_id, host_id, nullif(team, ''), $2::text FROM d",
		   2, p, NULL, err);
	return r;
}

int pg_placement_reconcile(struct pg *db, const char *host_id, const json_t *ids, int64_t grace_ms,
			   int *ret_released, int *ret_adopted, struct wr_err *err)
{
	cleanup_free char *list = json_dumps(ids, JSON_COMPACT);
	char g[24];
	snprintf(g, sizeof(g), "%" PRId64, grace_ms);
	const char *p[] = {host_id, list ? list : "[]", g};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL, *ins = NULL;
		if ((r = pg_run_simple(db, "BEGIN", err)) < 0)
			continue;
		/* each released or adopted placement with its event: the INSERTs' row counts are
		 * the DELETE's and the adoption's */
		if ((r = pg_run(
			     db,
			     "WITH d AS (DELETE FROM placements WHERE host_id = $1"
			     " AND NOT ($2::jsonb ? sandbox_id)"
			     " AND created_at < now() - make_interval(secs => $3::double precision"
			     " / 1000) RETURNING sandbox_id, host_id, team)"
			     " INSERT INTO events (kind, sandbox_id, host_id, team, detail)"
			     " SELECT 'released', sandbox_id, host_id, nullif(team, ''),"
			     " 'its host''s heartbeat no longer lists it' FROM d",
			     3, p, &res, err)) < 0 ||
		    (r = pg_run(db,
				"WITH a AS (INSERT INTO placements (sandbox_id, host_id)"
				" SELECT jsonb_array_elements_text($2::jsonb), $1"
				" ON CONFLICT DO NOTHING RETURNING sandbox_id, host_id)"
				" INSERT INTO events (kind, sandbox_id, host_id, detail)"
				" SELECT 'adopted', sandbox_id, host_id,"
				" 'its host''s heartbeat lists it and it had no placement' FROM a",
				2, p, &ins, err)) < 0) {
			pg_rollback(db);
			continue;
		}
		if ((r = pg_run_simple(db, "COMMIT", err)) < 0)
			continue;
		*ret_released = atoi(PQcmdTuples(res));
		*ret_adopted = atoi(PQcmdTuples(ins));
	}
	return r;
}

#define HOST_STATE_OF(h)                                                                           \
	"CASE WHEN " h ".id IS NULL THEN 'removed' WHEN " h                                        \
	".last_heartbeat IS NULL THEN 'pending'"                                                   \
	" WHEN now() - " h ".last_heartbeat > make_interval(secs => $1::double precision / 1000)"  \
	" THEN 'lost' WHEN " h ".draining THEN 'draining' ELSE 'ready' END"

int pg_placement_route(struct pg *db, const char *sandbox_id, char **ret_host_id,
		       char **ret_host_state, char **ret_proxy_url, struct wr_err *err)
{
	const char *p[] = {STR(PG_HOST_LOST_MS), sandbox_id};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		r = pg_run(db,
			   "SELECT p.host_id, " HOST_STATE_OF(
				   "h") ", coalesce(h.proxy_url, '')"
					" FROM placements p LEFT JOIN hosts h ON h.id = p.host_id"
					" WHERE p.sandbox_id = $2",
			   2, p, &res, err);
		if (r < 0)
			continue;
		if (PQntuples(res) == 0) {
			r = wr_err_set(err, ENOENT, "sandbox %s not found", sandbox_id);
			continue;
		}
		*ret_host_id = xstrdup(PQgetvalue(res, 0, 0));
		*ret_host_state = xstrdup(PQgetvalue(res, 0, 1));
		*ret_proxy_url = xstrdup(PQgetvalue(res, 0, 2));
	}
	return r;
}

void pg_placement_list_free(struct pg_placement *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++) {
		free(rows[i].sandbox_id);
		free(rows[i].host_id);
		free(rows[i].template);
		free(rows[i].host_state);
		free(rows[i].team);
	}
	free(rows);
}

int pg_placement_list(struct pg *db, struct pg_placement **ret_rows, size_t *ret_n,
		      struct wr_err *err)
{
	const char *p[] = {STR(PG_HOST_LOST_MS)};
	int r;
	LOCKED(db)
	{
		cleanup_pq PGresult *res = NULL;
		r = pg_run(db,
			   "SELECT p.sandbox_id, p.host_id, p.template, " HOST_STATE_OF(
				   "h") ","
					" (extract(epoch FROM p.created_at) * 1000)::bigint, p.team"
					" FROM placements p LEFT JOIN hosts h ON h.id = p.host_id"
					" ORDER BY p.created_at DESC, p.sandbox_id",
			   1, p, &res, err);
		if (r < 0)
			continue;
		size_t n = (size_t)PQntuples(res);
		struct pg_placement *rows = xcalloc(n ? n : 1, sizeof(*rows));
		for (size_t i = 0; i < n; i++) {
			int k = (int)i;
			rows[i] = (struct pg_placement){
				.sandbox_id = xstrdup(PQgetvalue(res, k, 0)),
				.host_id = xstrdup(PQgetvalue(res, k, 1)),
				.template = xstrdup(PQgetvalue(res, k, 2)),
				.host_state = xstrdup(PQgetvalue(res, k, 3)),
				.created_at = strtoll(PQgetvalue(res, k, 4), NULL, 10),
				.team = xstrdup(PQgetvalue(res, k, 5)),
			};
		}
		*ret_rows = rows;
		*ret_n = n;
	}
	return r;
}
