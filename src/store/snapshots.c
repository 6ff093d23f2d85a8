/* SPDX-License-Identifier: MIT */
#include "store/store-internal.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void store_snapshot_done(struct store_snapshot *sn)
{
	if (!sn)
		return;
	free(sn->id);
	free(sn->name);
	free(sn->sandbox_id);
	free(sn->template);
	free(sn->dir);
	free(sn->team);
	memset(sn, 0, sizeof(*sn));
}

void store_snapshot_list_free(struct store_snapshot *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++)
		store_snapshot_done(&rows[i]);
	free(rows);
}

#define SN_COLS "seq, id, name, sandbox_id, template, dir, size_bytes, created_at, team"

static void read_row(sqlite3_stmt *st, void *row, int64_t *ret_seq)
{
	struct store_snapshot *sn = row;
	if (ret_seq)
		*ret_seq = sqlite3_column_int64(st, 0);
	sn->id = store_col_strdup(st, 1);
	sn->name = store_col_strdup(st, 2);
	sn->sandbox_id = store_col_strdup(st, 3);
	sn->template = store_col_strdup(st, 4);
	sn->dir = store_col_strdup(st, 5);
	sn->size_bytes = sqlite3_column_int64(st, 6);
	sn->created_at = sqlite3_column_int64(st, 7);
	sn->team = store_col_strdup(st, 8);
}

static void done_row(void *row)
{
	store_snapshot_done(row);
}

static const struct store_row_type row_type = {sizeof(struct store_snapshot), read_row, done_row};

int store_snapshot_add(struct store *s, const struct store_snapshot *sn, struct wr_err *err)
{
	if (!sn || !sn->id || !*sn->id || !sn->sandbox_id)
		return wr_err_set(err, EINVAL, "snapshot needs an id and a sandbox id");
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
			      "INSERT INTO snapshots (id, name, sandbox_id, template, dir, "
			      "size_bytes, created_at, team) VALUES (?1,?2,?3,?4,?5,?6,?7,"
			      " COALESCE((SELECT team FROM sandboxes WHERE id = ?3), ''))",
			      &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, sn->id);
	store_bind_text(st, 2, sn->name);
	store_bind_text(st, 3, sn->sandbox_id);
	store_bind_text(st, 4, sn->template);
	store_bind_text(st, 5, sn->dir);
	sqlite3_bind_int64(st, 6, sn->size_bytes);
	sqlite3_bind_int64(st, 7, sn->created_at ? sn->created_at : store_now_ms());
	if (sqlite3_step(st) != SQLITE_DONE) {
		if ((sqlite3_extended_errcode(s->db) & 0xff) == SQLITE_CONSTRAINT)
			return wr_err_set(err, EEXIST, "snapshot %s%s%s already exists", sn->id,
					  sn->name ? " / " : "", sn->name ? sn->name : "");
		return store_db_err(s, err, "add snapshot");
	}
	return 0;
}

int store_snapshot_get(struct store *s, const char *id_or_name, struct store_snapshot *ret,
		       struct wr_err *err)
{
	if (!id_or_name)
		return wr_err_set(err, EINVAL, "no snapshot id");
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
			      "SELECT " SN_COLS " FROM snapshots WHERE id = ?1 OR name = ?1 "
			      "ORDER BY id = ?1 DESC LIMIT 1",
			      &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, id_or_name);
	r = store_step_row(s, st, "get snapshot", "snapshot", id_or_name, err);
	if (r < 0)
		return r;
	struct store_snapshot sn = {0};
	read_row(st, &sn, NULL);
	*ret = sn;
	return 0;
}

int store_snapshot_list(struct store *s, const char *sandbox_id, const char *cursor, int limit,
			struct store_snapshot **ret_rows, size_t *ret_n, char **ret_next,
			struct wr_err *err)
{
	int64_t after;
	int r = store_cursor_parse(cursor, &after, err);
	if (r < 0)
		return r;
	limit = store_limit(limit, err);
	if (limit < 0)
		return limit;
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	r = store_prepare(s,
			  "SELECT " SN_COLS " FROM snapshots WHERE seq < ?1 AND "
			  "(?2 IS NULL OR sandbox_id = ?2) ORDER BY seq DESC LIMIT ?3",
			  &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, after);
	store_bind_text(st, 2, sandbox_id);
	sqlite3_bind_int(st, 3, limit + 1);
	void *rows = NULL;
	r = store_read_rows(s, st, &row_type, limit, "list snapshots", &rows, ret_n, ret_next, err);
	if (r < 0)
		return r;
	*ret_rows = rows;
	return 0;
}

int store_snapshot_delete(struct store *s, const char *id, struct wr_err *err)
{
	if (!id)
		return wr_err_set(err, EINVAL, "no snapshot id");
	STORE_LOCKED(s);
	int r = store_exec(s, "BEGIN IMMEDIATE", err);
	if (r < 0)
		return r;
	{
		cleanup_stmt sqlite3_stmt *st = NULL;
		r = store_prepare(
			s,
			"SELECT count(*) FROM sandboxes, snapshots AS sn WHERE sn.id = ?1 "
			"AND (sandboxes.template = sn.id OR sandboxes.template = sn.name) "
			"AND sandboxes.state IN ('creating','running','paused')",
			&st, err);
		if (r < 0)
			goto out;
		store_bind_text(st, 1, id);
		if (sqlite3_step(st) != SQLITE_ROW) {
			r = store_db_err(s, err, "check snapshot use");
			goto out;
		}
		int users = sqlite3_column_int(st, 0);
		if (users) {
			r = wr_err_set(err, EBUSY, "snapshot %s is in use by %d sandbox(es)", id,
				       users);
			goto out;
		}
	}
	{
		cleanup_stmt sqlite3_stmt *st = NULL;
		r = store_prepare(s, "DELETE FROM snapshots WHERE id = ?", &st, err);
		if (r < 0)
			goto out;
		store_bind_text(st, 1, id);
		r = store_step_change(s, st, "delete snapshot", "snapshot", id, err);
	}
out:
	return store_tx_end(s, r, err);
}
