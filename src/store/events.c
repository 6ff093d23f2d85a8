/* SPDX-License-Identifier: MIT */
#include "store/store-internal.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void store_event_list_free(struct store_event *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++) {
		free(rows[i].sandbox_id);
		free(rows[i].kind);
		free(rows[i].detail);
		free(rows[i].team);
	}
	free(rows);
}

int store_event_add(struct store *s, const char *sandbox_id, const char *kind, const char *detail,
		    struct wr_err *err)
{
	if (!kind || !*kind)
		return wr_err_set(err, EINVAL, "event needs a kind");
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL, *trim = NULL;
	/* the team read from the sandbox's row in the same statement: a team key lists its
	 * sandboxes' events by it, also once the row is gone */
	int r = store_prepare(s,
			      "INSERT INTO events (sandbox_id, time, kind, detail, team) VALUES "
			      "(?1, ?2, ?3, ?4, (SELECT team FROM sandboxes WHERE id = ?1))",
			      &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, sandbox_id);
	sqlite3_bind_int64(st, 2, store_now_ms());
	store_bind_text(st, 3, kind);
	store_bind_text(st, 4, detail);
	r = store_step_done(s, st, "add event", err);
	if (r < 0)
		return r;
	/* the bound (STORE_EVENTS_MAX): seq is the rowid, so this is a range on the primary key;
	 * with nothing to delete it costs one lookup of the maximum */
	r = store_prepare(s, "DELETE FROM events WHERE seq <= (SELECT max(seq) FROM events) - ?",
			  &trim, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(trim, 1, STORE_EVENTS_MAX);
	return store_step_done(s, trim, "trim events", err);
}

int store_event_list(struct store *s, const struct store_event_filter *f,
		     struct store_event **ret_rows, size_t *ret_n, struct wr_err *err)
{
	if (f->limit < 1)
		return wr_err_set(err, EINVAL, "limit must be positive");
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
			      "SELECT seq, sandbox_id, time, kind, detail, team FROM events "
			      "WHERE (?1 IS NULL OR sandbox_id = ?1) AND (?2 IS NULL OR kind = ?2) "
			      "AND (?3 IS NULL OR (team = ?3 AND sandbox_id IS NOT NULL)) "
			      "AND (?4 = 0 OR seq < ?4) ORDER BY seq DESC LIMIT ?5",
			      &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, f->sandbox_id);
	store_bind_text(st, 2, f->kind);
	store_bind_text(st, 3, f->team);
	sqlite3_bind_int64(st, 4, f->before > 0 ? f->before : 0);
	sqlite3_bind_int(st, 5, f->limit);
	struct store_event *rows = xcalloc((size_t)f->limit, sizeof(*rows));
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < (size_t)f->limit) {
		rows[n++] = (struct store_event){
			.seq = sqlite3_column_int64(st, 0),
			.sandbox_id = store_col_strdup(st, 1),
			.time = sqlite3_column_int64(st, 2),
			.kind = store_col_strdup(st, 3),
			.detail = store_col_strdup(st, 4),
			.team = store_col_strdup(st, 5),
		};
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		store_event_list_free(rows, n);
		return store_db_err(s, err, "list events");
	}
	*ret_rows = rows;
	*ret_n = n;
	return 0;
}
