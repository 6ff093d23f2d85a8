/* SPDX-License-Identifier: MIT */
#include "store/store-internal.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void store_template_done(struct store_template *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->rootfs_path);
	free(t->kernel_path);
	free(t->snapshot_dir);
	free(t->parent);
	free(t->fetched_from);
	memset(t, 0, sizeof(*t));
}

void store_template_list_free(struct store_template *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++)
		store_template_done(&rows[i]);
	free(rows);
}

#define TPL_COLS                                                                                   \
	"name, kind, rootfs_path, kernel_path, snapshot_dir, parent, vcpus, memory_mb, "           \
	"size_bytes, created_at, fetched_from, last_used_at"

static void read_row(sqlite3_stmt *st, void *row, int64_t *ret_seq)
{
	(void)ret_seq;
	struct store_template *t = row;
	t->name = store_col_strdup(st, 0);
	const char *kind = (const char *)sqlite3_column_text(st, 1);
	t->kind = kind && strcmp(kind, "snapshot") == 0 ? STORE_TPL_SNAPSHOT : STORE_TPL_ROOTFS;
	t->rootfs_path = store_col_strdup(st, 2);
	t->kernel_path = store_col_strdup(st, 3);
	t->snapshot_dir = store_col_strdup(st, 4);
	t->parent = store_col_strdup(st, 5);
	t->vcpus = sqlite3_column_int(st, 6);
	t->memory_mb = sqlite3_column_int(st, 7);
	t->size_bytes = sqlite3_column_int64(st, 8);
	t->created_at = sqlite3_column_int64(st, 9);
	t->fetched_from = store_col_strdup(st, 10);
	t->last_used_at = sqlite3_column_int64(st, 11);
}

static void done_row(void *row)
{
	store_template_done(row);
}

static const struct store_row_type row_type = {sizeof(struct store_template), read_row, done_row};

int store_template_put(struct store *s, const struct store_template *t, struct wr_err *err)
{
	if (!t || !t->name || !*t->name || strlen(t->name) > 128)
		return wr_err_set(err, EINVAL, "template needs a name (1..128 chars)");
	if (t->kind != STORE_TPL_ROOTFS && t->kind != STORE_TPL_SNAPSHOT)
		return wr_err_set(err, EINVAL, "template %s: invalid kind", t->name);
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
			      "INSERT OR REPLACE INTO templates (" TPL_COLS ") "
			      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
			      &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, t->name);
	store_bind_text(st, 2, t->kind == STORE_TPL_SNAPSHOT ? "snapshot" : "rootfs");
	store_bind_text(st, 3, t->rootfs_path);
	store_bind_text(st, 4, t->kernel_path);
	store_bind_text(st, 5, t->snapshot_dir);
	store_bind_text(st, 6, t->parent);
	sqlite3_bind_int(st, 7, t->vcpus);
	sqlite3_bind_int(st, 8, t->memory_mb);
	sqlite3_bind_int64(st, 9, t->size_bytes);
	sqlite3_bind_int64(st, 10, t->created_at ? t->created_at : store_now_ms());
	store_bind_text(st, 11, t->fetched_from);
	sqlite3_bind_int64(st, 12, t->last_used_at);
	return store_step_done(s, st, "put template", err);
}

int store_template_get(struct store *s, const char *name, struct store_template *ret,
		       struct wr_err *err)
{
	if (!name)
		return wr_err_set(err, EINVAL, "no template name");
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "SELECT " TPL_COLS " FROM templates WHERE name = ?", &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, name);
	r = store_step_row(s, st, "get template", "template", name, err);
	if (r < 0)
		return r;
	struct store_template t = {0};
	read_row(st, &t, NULL);
	*ret = t;
	return 0;
}

int store_template_list(struct store *s, struct store_template **ret_rows, size_t *ret_n,
			struct wr_err *err)
{
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "SELECT " TPL_COLS " FROM templates ORDER BY name", &st, err);
	if (r < 0)
		return r;
	void *rows = NULL;
	r = store_read_rows(s, st, &row_type, 0, "list templates", &rows, ret_n, NULL, err);
	if (r < 0)
		return r;
	*ret_rows = rows;
	return 0;
}

/* Live sandboxes made from ?1, templates made from it. */
#define USE_SQL                                                                                    \
	"SELECT (SELECT count(*) FROM sandboxes WHERE template = ?1 AND "                          \
	"state IN ('creating','running','paused')), "                                              \
	"(SELECT count(*) FROM templates WHERE parent = ?1)"

int store_template_delete(struct store *s, const char *name, struct wr_err *err)
{
	if (!name)
		return wr_err_set(err, EINVAL, "no template name");
	STORE_LOCKED(s);
	int r = store_exec(s, "BEGIN IMMEDIATE", err);
	if (r < 0)
		return r;
	{
		cleanup_stmt sqlite3_stmt *st = NULL;
		r = store_prepare(s, USE_SQL, &st, err);
		if (r < 0)
			goto out;
		store_bind_text(st, 1, name);
		if (sqlite3_step(st) != SQLITE_ROW) {
			r = store_db_err(s, err, "check template use");
			goto out;
		}
		int users = sqlite3_column_int(st, 0), children = sqlite3_column_int(st, 1);
		if (users || children) {
			r = wr_err_set(err, EBUSY,
				       "template %s is in use by %d sandbox(es) and %d template(s)",
				       name, users, children);
			goto out;
		}
	}
	{
		cleanup_stmt sqlite3_stmt *st = NULL;
		r = store_prepare(s, "DELETE FROM templates WHERE name = ?", &st, err);
		if (r < 0)
			goto out;
		store_bind_text(st, 1, name);
		r = store_step_change(s, st, "delete template", "template", name, err);
	}
out:
	return store_tx_end(s, r, err);
}

int store_template_touch(struct store *s, const char *name, int64_t ms, struct wr_err *err)
{
	if (!name)
		return wr_err_set(err, EINVAL, "no template name");
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
			      "UPDATE templates SET last_used_at = max(last_used_at, ?) "
			      "WHERE name = ?",
			      &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, ms);
	store_bind_text(st, 2, name);
	return store_step_done(s, st, "touch template", err);
}

int store_template_in_use(struct store *s, const char *name, bool *ret, struct wr_err *err)
{
	if (!name)
		return wr_err_set(err, EINVAL, "no template name");
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, USE_SQL, &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, name);
	if (sqlite3_step(st) != SQLITE_ROW)
		return store_db_err(s, err, "check template use");
	*ret = sqlite3_column_int(st, 0) > 0 || sqlite3_column_int(st, 1) > 0;
	return 0;
}
