/* SPDX-License-Identifier: MIT */
#include "store/store-internal.h"

#include "basic/cleanup.h"

#include <errno.h>
#include <stdio.h>

/* Marks the file as a wrenn database (PRAGMA application_id), so that pointing the agent at some
 * other SQLite file is refused instead of "migrated". "wren" in ASCII. */
#define STORE_APP_ID 0x7772656e

/* Migration i brings the schema from version i to i+1.  Append only: never edit a shipped entry. */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE sandboxes ("
	"  seq INTEGER PRIMARY KEY,"
	"  id TEXT NOT NULL UNIQUE,"
	"  template TEXT NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('creating','running','paused','killed','error')),"
	"  vcpus INTEGER NOT NULL,"
	"  memory_mb INTEGER NOT NULL,"
	"  disk_path TEXT, disk_format TEXT,"
	"  slot INTEGER NOT NULL DEFAULT -1,"
	"  vmm_kind TEXT,"
	"  pid INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  started_at INTEGER NOT NULL DEFAULT 0,"
	"  end_at INTEGER NOT NULL DEFAULT 0,"
	"  metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),"
	"  env TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(env)),"
	"  envd_token TEXT,"
	"  allow_internet INTEGER NOT NULL DEFAULT 0,"
	"  error TEXT,"
	"  updated_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE INDEX sandboxes_state ON sandboxes(state);"
	"CREATE INDEX sandboxes_template ON sandboxes(template);"
	"CREATE TABLE templates ("
	"  name TEXT PRIMARY KEY,"
	"  kind TEXT NOT NULL CHECK (kind IN ('rootfs','snapshot')),"
	"  rootfs_path TEXT, kernel_path TEXT, snapshot_dir TEXT,"
	"  parent TEXT,"
	"  vcpus INTEGER NOT NULL DEFAULT 0,"
	"  memory_mb INTEGER NOT NULL DEFAULT 0,"
	"  size_bytes INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE TABLE snapshots ("
	"  seq INTEGER PRIMARY KEY,"
	"  id TEXT NOT NULL UNIQUE,"
	"  name TEXT UNIQUE,"
	"  sandbox_id TEXT NOT NULL,"
	"  template TEXT,"
	"  dir TEXT,"
	"  size_bytes INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE TABLE api_keys ("
	"  id TEXT PRIMARY KEY,"
	"  name TEXT NOT NULL,"
	"  prefix TEXT NOT NULL,"
	"  hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),"
	"  created_at INTEGER NOT NULL,"
	"  last_used INTEGER NOT NULL DEFAULT 0"
	") STRICT;"
	"CREATE INDEX api_keys_prefix ON api_keys(prefix);"
	"CREATE TABLE events ("
	"  seq INTEGER PRIMARY KEY,"
	"  sandbox_id TEXT,"
	"  time INTEGER NOT NULL,"
	"  kind TEXT NOT NULL,"
	"  detail TEXT"
	") STRICT;"
	"CREATE INDEX events_sandbox ON events(sandbox_id, seq);",
	/* 1 -> 2: template builds (src/build) and the names they publish */
	"CREATE TABLE IF NOT EXISTS builds ("
	"  id TEXT PRIMARY KEY,"
	"  template_id TEXT NOT NULL,"
	"  status TEXT NOT NULL CHECK (status IN ('waiting','building','ready','error')),"
	"  reason TEXT, step TEXT, target TEXT, sandbox_id TEXT, cache_key TEXT,"
	"  vcpus INTEGER NOT NULL DEFAULT 0,"
	"  memory_mb INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  finished_at INTEGER NOT NULL DEFAULT 0"
	") STRICT;"
	"CREATE INDEX IF NOT EXISTS builds_template ON builds(template_id);"
	"CREATE INDEX IF NOT EXISTS builds_cache ON builds(cache_key);"
	"CREATE TABLE IF NOT EXISTS template_aliases ("
	"  alias TEXT PRIMARY KEY,"
	"  target TEXT NOT NULL,"
	"  build_id TEXT,"
	"  created_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE INDEX IF NOT EXISTS template_aliases_target ON template_aliases(target);",
	/* 2 -> 3: teams.  Every key, sandbox and snapshot belongs to a team; '' is the operator
	 * (admin) team, which sees everything: rows from before teams existed stay the admin's. */
	"CREATE TABLE teams ("
	"  name TEXT PRIMARY KEY,"
	"  created_at INTEGER NOT NULL"
	") STRICT;"
	"ALTER TABLE api_keys ADD COLUMN team TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE sandboxes ADD COLUMN team TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE snapshots ADD COLUMN team TEXT NOT NULL DEFAULT '';"
	"CREATE INDEX sandboxes_team ON sandboxes(team);",
	/* 3 -> 4: E2B lifecycle policy per sandbox (STORE_SB_LC_* bits): pause instead of kill at
	 * the timeout, resume on proxy traffic.  0 = kill at the timeout, no auto-resume. */
	"ALTER TABLE sandboxes ADD COLUMN lifecycle INTEGER NOT NULL DEFAULT 0;",
	/* 4 -> 5: volumes (store/volumes.h): persistent ext4 images owned by a team, held by at
	 * most one sandbox (or content request) at a time */
	"CREATE TABLE volumes ("
	"  seq INTEGER PRIMARY KEY,"
	"  id TEXT NOT NULL UNIQUE,"
	"  name TEXT NOT NULL,"
	"  team TEXT NOT NULL DEFAULT '',"
	"  size_bytes INTEGER NOT NULL CHECK (size_bytes > 0),"
	"  path TEXT NOT NULL,"
	"  token TEXT NOT NULL,"
	"  holder TEXT,"
	"  created_at INTEGER NOT NULL,"
	"  UNIQUE (team, name)"
	") STRICT;"
	"CREATE INDEX volumes_holder ON volumes(holder);",
	/* 5 -> 6: an event's team (GET /v1/events shows a team key its sandboxes' events), kept
	 * with the event so that it outlives the sandbox's row; older events take their
	 * sandbox's */
	"ALTER TABLE events ADD COLUMN team TEXT;"
	"UPDATE events SET team = (SELECT team FROM sandboxes s WHERE s.id = events.sandbox_id)"
	"  WHERE sandbox_id IS NOT NULL;"
	"CREATE INDEX events_team ON events(team, seq);",
	/* 6 -> 7: a template fetched from another host (daemon/tplxfer.c) records that host, and
	 * every template its last use (a sandbox created from it): the garbage collection of
	 * fetched copies (daemon/tplgc.c) removes only rows with fetched_from set, least recently
	 * used first.  Rows from before stay unmarked and are never collected. */
	"ALTER TABLE templates ADD COLUMN fetched_from TEXT;"
	"ALTER TABLE templates ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;",
};

static int read_int_pragma(struct store *s, const char *sql, int *ret, struct wr_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, sql, &st, err);
	if (r < 0)
		return r;
	if (sqlite3_step(st) != SQLITE_ROW)
		return store_db_err(s, err, sql);
	*ret = sqlite3_column_int(st, 0);
	return 0;
}

int store_migrate(struct store *s, struct wr_err *err)
{
	const int target = (int)(sizeof(migrations) / sizeof(migrations[0]));
	_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STORE_SCHEMA_VERSION,
		       "STORE_SCHEMA_VERSION must equal the number of migrations");
	/* IMMEDIATE: two agents starting at once must not both run migration 0. */
	int r = store_exec(s, "BEGIN IMMEDIATE", err);
	if (r < 0)
		return r;
	int version = 0, app = 0;
	r = read_int_pragma(s, "PRAGMA user_version", &version, err);
	if (r >= 0)
		r = read_int_pragma(s, "PRAGMA application_id", &app, err);
	if (r < 0)
		goto rollback;
	if (version == 0 && app == 0) {
		/* Fresh file, or a foreign database that has tables: refuse the latter. */
		cleanup_stmt sqlite3_stmt *st = NULL;
		r = store_prepare(s, "SELECT count(*) FROM sqlite_schema", &st, err);
		if (r < 0)
			goto rollback;
		if (sqlite3_step(st) != SQLITE_ROW) {
			r = store_db_err(s, err, "read schema");
			goto rollback;
		}
		if (sqlite3_column_int(st, 0) > 0) {
			r = wr_err_set(err, EINVAL, "%s: not a wrenn database (has foreign tables)",
				       s->path);
			goto rollback;
		}
	} else if (app != STORE_APP_ID) {
		r = wr_err_set(err, EINVAL, "%s: not a wrenn database (application_id %#x)",
			       s->path, (unsigned)app);
		goto rollback;
	}
	if (version > target) {
		r = wr_err_set(err, EPROTO,
			       "%s: schema version %d is newer than this wrenn supports (%d)",
			       s->path, version, target);
		goto rollback;
	}
	for (int v = version; v < target; v++) {
		r = store_exec(s, migrations[v], err);
		if (r < 0) {
			wr_err_prefix(err, r, "migration %d -> %d", v, v + 1);
			goto rollback;
		}
	}
	if (version < target) {
		char sql[96];
		snprintf(sql, sizeof(sql), "PRAGMA user_version=%d; PRAGMA application_id=%d",
			 target, STORE_APP_ID);
		r = store_exec(s, sql, err);
		if (r < 0)
			goto rollback;
	}
	return store_exec(s, "COMMIT", err);
rollback:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}
