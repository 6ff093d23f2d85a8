/* SPDX-License-Identifier: MIT */
/* Template builds and the names (aliases) they publish. */
#include "store/store-internal.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void store_build_done(struct store_build *b)
{
	if (!b)
		return;
	free(b->id);
	free(b->template_id);
	free(b->status);
	free(b->reason);
	free(b->step);
	free(b->target);
	free(b->sandbox_id);
	free(b->cache_key);
	memset(b, 0, sizeof(*b));
}

void store_build_list_free(struct store_build *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++)
		store_build_done(&rows[i]);
	free(rows);
}

#define B_COLS                                                                                     \
	"id, template_id, status, reason, step, target, sandbox_id, cache_key, vcpus, memory_mb, " \
	"created_at, finished_at"

static void read_build(sqlite3_stmt *st, void *row, int64_t *ret_seq)
{
	(void)ret_seq;
	struct store_build *b = row;
	b->id = store_col_strdup(st, 0);
	b->template_id = store_col_strdup(st, 1);
	b->status = store_col_strdup(st, 2);
	b->reason = store_col_strdup(st, 3);
	b->step = store_col_strdup(st, 4);
	b->target = store_col_strdup(st, 5);
	b->sandbox_id = store_col_strdup(st, 6);
	b->cache_key = store_col_strdup(st, 7);
	b->vcpus = sqlite3_column_int(st, 8);
	b->memory_mb = sqlite3_column_int(st, 9);
	b->created_at = sqlite3_column_int64(st, 10);
	b->finished_at = sqlite3_column_int64(st, 11);
}

static void done_build(void *row)
{
	store_build_done(row);
}

static const struct store_row_type build_type = {sizeof(struct store_build), read_build,
						 done_build};

int store_build_put(struct store *s, const struct store_build *b, struct wr_err *err)
{
	if (!b || !b->id || !*b->id || !b->template_id || !b->status)
		return wr_err_set(err, EINVAL, "build needs an id, a template id and a status");
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
			      "INSERT OR REPLACE INTO builds (" B_COLS ") "
			      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
			      &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, b->id);
	store_bind_text(st, 2, b->template_id);
	store_bind_text(st, 3, b->status);
	store_bind_text(st, 4, b->reason);
	store_bind_text(st, 5, b->step);
	store_bind_text(st, 6, b->target);
	store_bind_text(st, 7, b->sandbox_id);
	store_bind_text(st, 8, b->cache_key);
	sqlite3_bind_int(st, 9, b->vcpus);
	sqlite3_bind_int(st, 10, b->memory_mb);
	sqlite3_bind_int64(st, 11, b->created_at ? b->created_at : store_now_ms());
	sqlite3_bind_int64(st, 12, b->finished_at);
	return store_step_done(s, st, "put build", err);
}

int store_build_get(struct store *s, const char *id, struct store_build *ret, struct wr_err *err)
{
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "SELECT " B_COLS " FROM builds WHERE id = ?", &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, id ? id : "");
	r = store_step_row(s, st, "get build", "build", id ? id : "", err);
	if (r < 0)
		return r;
	struct store_build b = {0};
	read_build(st, &b, NULL);
	*ret = b;
	return 0;
}

int store_build_list(struct store *s, const char *template_id, const char *status,
		     struct store_build **ret_rows, size_t *ret_n, struct wr_err *err)
{
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
			      "SELECT " B_COLS
			      " FROM builds WHERE (?1 IS NULL OR template_id = ?1) "
			      "AND (?2 IS NULL OR status = ?2) ORDER BY created_at DESC, id",
			      &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, template_id);
	store_bind_text(st, 2, status);
	void *rows = NULL;
	r = store_read_rows(s, st, &build_type, 0, "list builds", &rows, ret_n, NULL, err);
	if (r < 0)
		return r;
	*ret_rows = rows;
	return 0;
}

int store_build_find_cached(struct store *s, const char *cache_key, struct store_build *ret,
			    struct wr_err *err)
{
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
			      "SELECT " B_COLS " FROM builds b WHERE cache_key = ? AND "
			      "status = 'ready' AND EXISTS (SELECT 1 FROM templates t WHERE "
			      "t.name = b.target) ORDER BY finished_at DESC LIMIT 1",
			      &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, cache_key ? cache_key : "");
	r = store_step_row(s, st, "find cached build", "cached build", cache_key ? cache_key : "",
			   err);
	if (r < 0)
		return r;
	struct store_build b = {0};
	read_build(st, &b, NULL);
	*ret = b;
	return 0;
}

int store_build_delete_template(struct store *s, const char *template_id, struct wr_err *err)
{
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "DELETE FROM builds WHERE template_id = ?", &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, template_id ? template_id : "");
	return store_step_done(s, st, "delete builds", err);
}

void store_alias_done(struct store_alias *a)
{
	if (!a)
		return;
	free(a->alias);
	free(a->target);
	free(a->build_id);
	memset(a, 0, sizeof(*a));
}

void store_alias_list_free(struct store_alias *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++)
		store_alias_done(&rows[i]);
	free(rows);
}

static void read_alias(sqlite3_stmt *st, void *row, int64_t *ret_seq)
{
	(void)ret_seq;
	struct store_alias *a = row;
	a->alias = store_col_strdup(st, 0);
	a->target = store_col_strdup(st, 1);
	a->build_id = store_col_strdup(st, 2);
	a->created_at = sqlite3_column_int64(st, 3);
}

static void done_alias(void *row)
{
	store_alias_done(row);
}

static const struct store_row_type alias_type = {sizeof(struct store_alias), read_alias,
						 done_alias};

int store_alias_put(struct store *s, const char *alias, const char *target, const char *build_id,
		    struct wr_err *err)
{
	if (!alias || !*alias || strlen(alias) > 128 || !target || !*target)
		return wr_err_set(err, EINVAL, "alias needs a name (1..128 chars) and a target");
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
			      "INSERT OR REPLACE INTO template_aliases (alias, target, build_id, "
			      "created_at) VALUES (?,?,?,?)",
			      &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, alias);
	store_bind_text(st, 2, target);
	store_bind_text(st, 3, build_id);
	sqlite3_bind_int64(st, 4, store_now_ms());
	return store_step_done(s, st, "put alias", err);
}

int store_alias_get(struct store *s, const char *alias, struct store_alias *ret, struct wr_err *err)
{
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
			      "SELECT alias, target, build_id, created_at FROM template_aliases "
			      "WHERE alias = ?",
			      &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, alias ? alias : "");
	r = store_step_row(s, st, "get alias", "template", alias ? alias : "", err);
	if (r < 0)
		return r;
	struct store_alias a = {0};
	read_alias(st, &a, NULL);
	*ret = a;
	return 0;
}

int store_alias_list(struct store *s, const char *target, struct store_alias **ret_rows,
		     size_t *ret_n, struct wr_err *err)
{
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
			      "SELECT alias, target, build_id, created_at FROM template_aliases "
			      "WHERE ?1 IS NULL OR target = ?1 ORDER BY alias",
			      &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, target);
	void *rows = NULL;
	r = store_read_rows(s, st, &alias_type, 0, "list aliases", &rows, ret_n, NULL, err);
	if (r < 0)
		return r;
	*ret_rows = rows;
	return 0;
}

int store_alias_delete(struct store *s, const char *alias, struct wr_err *err)
{
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "DELETE FROM template_aliases WHERE alias = ?", &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, alias ? alias : "");
	return store_step_change(s, st, "delete alias", "template", alias ? alias : "", err);
}
