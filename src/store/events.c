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
	}
	free(rows);
}

int store_event_add(struct store *s, const char *sandbox_id, const char *kind, const char *detail,
		    struct wr_err *err)
{
	if (!kind || !*kind)
		return wr_err_set(err, EINVAL, "event needs a kind");
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(
		s, "INSERT INTO events (sandbox_id, time, kind, detail) VALUES (?,?,?,?)", &st,
		err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, sandbox_id);
	sqlite3_bind_int64(st, 2, store_now_ms());
	store_bind_text(st, 3, kind);
	store_bind_text(st, 4, detail);
	return store_step_done(s, st, "add event", err);
}

int store_event_list(struct store *s, const char *sandbox_id, int limit,
		     struct store_event **ret_rows, size_t *ret_n, struct wr_err *err)
{
	limit = store_limit(limit, err);
	if (limit < 0)
		return limit;
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(
		s,
		"SELECT seq, sandbox_id, time, kind, detail FROM (SELECT * FROM events "
		"WHERE ?1 IS NULL OR sandbox_id = ?1 ORDER BY seq DESC LIMIT ?2) "
		"ORDER BY seq",
		&st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, sandbox_id);
	sqlite3_bind_int(st, 2, limit);
	struct store_event *rows = xcalloc((size_t)limit, sizeof(*rows));
	size_t n = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < (size_t)limit) {
		rows[n++] = (struct store_event){
			.seq = sqlite3_column_int64(st, 0),
			.sandbox_id = store_col_strdup(st, 1),
			.time = sqlite3_column_int64(st, 2),
			.kind = store_col_strdup(st, 3),
			.detail = store_col_strdup(st, 4),
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
