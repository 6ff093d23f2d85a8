/* SPDX-License-Identifier: MIT */
#include "store/volumes.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "store/store-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void store_volume_done(struct store_volume *v)
{
	if (!v)
		return;
	free(v->id);
	free(v->name);
	free(v->team);
	free(v->path);
	free(v->token);
	free(v->holder);
	memset(v, 0, sizeof(*v));
}

void store_volume_list_free(struct store_volume *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++)
		store_volume_done(&rows[i]);
	free(rows);
}

#define VOL_COLS "seq, id, name, team, size_bytes, path, token, holder, created_at"

static void read_row(sqlite3_stmt *st, void *row, int64_t *ret_seq)
{
	struct store_volume *v = row;
	if (ret_seq)
		*ret_seq = sqlite3_column_int64(st, 0);
	v->id = store_col_strdup(st, 1);
	v->name = store_col_strdup(st, 2);
	v->team = store_col_strdup(st, 3);
	v->size_bytes = sqlite3_column_int64(st, 4);
	v->path = store_col_strdup(st, 5);
	v->token = store_col_strdup(st, 6);
	v->holder = store_col_strdup(st, 7);
	v->created_at = sqlite3_column_int64(st, 8);
}

static void done_row(void *row)
{
	store_volume_done(row);
}

static const struct store_row_type row_type = {sizeof(struct store_volume), read_row, done_row};

static int count_team(struct store *s, const char *team, int64_t *ret, struct wr_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "SELECT count(*) FROM volumes WHERE team = ?1", &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, team);
	if (sqlite3_step(st) != SQLITE_ROW)
		return store_db_err(s, err, "count volumes");
	*ret = sqlite3_column_int64(st, 0);
	return 0;
}

static int insert(struct store *s, const struct store_volume *v, const char *team,
		  struct wr_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
			      "INSERT INTO volumes (id, name, team, size_bytes, path, token, "
			      "created_at) VALUES (?1,?2,?3,?4,?5,?6,?7)",
			      &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, v->id);
	store_bind_text(st, 2, v->name);
	store_bind_text(st, 3, team);
	sqlite3_bind_int64(st, 4, v->size_bytes);
	store_bind_text(st, 5, v->path);
	store_bind_text(st, 6, v->token);
	sqlite3_bind_int64(st, 7, v->created_at ? v->created_at : store_now_ms());
	if (sqlite3_step(st) != SQLITE_DONE) {
		if ((sqlite3_extended_errcode(s->db) & 0xff) == SQLITE_CONSTRAINT)
			return wr_err_set(err, EEXIST, "volume %s already exists", v->name);
		return store_db_err(s, err, "add volume");
	}
	return 0;
}

int store_volume_add(struct store *s, const struct store_volume *v, unsigned max_per_team,
		     struct wr_err *err)
{
	if (!v || !v->id || !*v->id || !v->name || !*v->name || !v->path || !v->token)
		return wr_err_set(err, EINVAL, "volume needs an id, a name, a path and a token");
	const char *team = v->team ? v->team : "";
	STORE_LOCKED(s);
	int r = store_exec(s, "BEGIN IMMEDIATE", err);
	if (r < 0)
		return r;
	int64_t n = 0;
	if (max_per_team && (r = count_team(s, team, &n, err)) >= 0 && n >= max_per_team)
		r = wr_err_set(err, EUSERS,
			       "team has %lld volumes, the limit (max_volumes_per_team)",
			       (long long)n);
	if (r >= 0)
		r = insert(s, v, team, err);
	return store_tx_end(s, r, err);
}

int store_volume_get(struct store *s, const char *id_or_name, const char *team,
		     struct store_volume *ret, struct wr_err *err)
{
	if (!id_or_name || !*id_or_name)
		return wr_err_set(err, EINVAL, "no volume id");
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
			      "SELECT " VOL_COLS " FROM volumes WHERE (?2 IS NULL OR team = ?2) "
			      "AND (id = ?1 OR (name = ?1 AND ?2 IS NOT NULL)) "
			      "ORDER BY id = ?1 DESC LIMIT 1",
			      &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, id_or_name);
	store_bind_text(st, 2, team);
	r = store_step_row(s, st, "get volume", "volume", id_or_name, err);
	if (r < 0)
		return r;
	struct store_volume v = {0};
	read_row(st, &v, NULL);
	*ret = v;
	return 0;
}

int store_volume_list(struct store *s, const char *team, struct store_volume **ret_rows,
		      size_t *ret_n, struct wr_err *err)
{
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
			      "SELECT " VOL_COLS " FROM volumes WHERE ?1 IS NULL OR team = ?1 "
			      "ORDER BY seq",
			      &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, team);
	void *rows = NULL;
	r = store_read_rows(s, st, &row_type, 0, "list volumes", &rows, ret_n, NULL, err);
	if (r < 0)
		return r;
	*ret_rows = rows;
	return 0;
}

/* -EBUSY naming the holder of id, or -ENOENT when there is no such volume. */
static int busy_or_missing(struct store *s, const char *id, struct wr_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "SELECT holder FROM volumes WHERE id = ?1", &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, id);
	r = store_step_row(s, st, "get volume", "volume", id, err);
	if (r < 0)
		return r;
	const char *h = (const char *)sqlite3_column_text(st, 0);
	if (h && !strcmp(h, STORE_VOL_CONTENT_HOLDER))
		return wr_err_set(err, EBUSY, "volume %s is busy with a content request", id);
	return wr_err_set(err, EBUSY, "volume %s is in use by sandbox %s", id, h ? h : "?");
}

int store_volume_delete(struct store *s, const char *id, struct wr_err *err)
{
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "DELETE FROM volumes WHERE id = ?1 AND holder IS NULL", &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, id);
	if ((r = store_step_done(s, st, "delete volume", err)) < 0)
		return r;
	if (sqlite3_changes(s->db) == 0)
		return busy_or_missing(s, id, err);
	return 0;
}

int store_volume_claim(struct store *s, const char *id, const char *holder, struct wr_err *err)
{
	if (!holder || !*holder)
		return wr_err_set(err, EINVAL, "volume claim without a holder");
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "UPDATE volumes SET holder = ?2 WHERE id = ?1 AND holder IS NULL",
			      &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, id);
	store_bind_text(st, 2, holder);
	if ((r = store_step_done(s, st, "claim volume", err)) < 0)
		return r;
	if (sqlite3_changes(s->db) == 0)
		return busy_or_missing(s, id, err);
	return 0;
}

int store_volume_release(struct store *s, const char *id, const char *holder, struct wr_err *err)
{
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
			      "UPDATE volumes SET holder = NULL WHERE holder = ?2 AND "
			      "(?1 IS NULL OR id = ?1)",
			      &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, id);
	store_bind_text(st, 2, holder);
	return store_step_done(s, st, "release volume", err);
}

int store_volume_release_orphans(struct store *s, const char *const *keep, int *ret_n,
				 struct wr_err *err)
{
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *sel = NULL;
	int r = store_prepare(s,
			      "SELECT id, holder FROM volumes WHERE holder IS NOT NULL AND "
			      "holder NOT IN (SELECT id FROM sandboxes WHERE state IN "
			      "('creating','running','paused'))",
			      &sel, err);
	if (r < 0)
		return r;
	int n = 0;
	for (;;) {
		int rc = sqlite3_step(sel);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW)
			return store_db_err(s, err, "list held volumes");
		const char *id = (const char *)sqlite3_column_text(sel, 0);
		const char *h = (const char *)sqlite3_column_text(sel, 1);
		bool kept = false;
		for (const char *const *k = keep; k && *k && !kept; k++)
			kept = !strcmp(*k, h);
		if (kept)
			continue;
		cleanup_stmt sqlite3_stmt *up = NULL;
		if ((r = store_prepare(s, "UPDATE volumes SET holder = NULL WHERE id = ?1", &up,
				       err)) < 0)
			return r;
		store_bind_text(up, 1, id);
		if ((r = store_step_done(s, up, "release volume", err)) < 0)
			return r;
		n++;
	}
	if (ret_n)
		*ret_n = n;
	return 0;
}
