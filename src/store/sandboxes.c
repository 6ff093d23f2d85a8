/* SPDX-License-Identifier: MIT */
#include "store/store-internal.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[_STORE_SB_STATE_MAX] = {
	[STORE_SB_CREATING] = "creating", [STORE_SB_RUNNING] = "running",
	[STORE_SB_PAUSED] = "paused",	  [STORE_SB_KILLED] = "killed",
	[STORE_SB_ERROR] = "error",
};

const char *store_sb_state_name(enum store_sb_state st)
{
	if ((unsigned)st >= _STORE_SB_STATE_MAX)
		return "unknown";
	return state_names[st];
}

int store_sb_state_parse(const char *name)
{
	for (int i = 0; name && i < _STORE_SB_STATE_MAX; i++)
		if (strcmp(name, state_names[i]) == 0)
			return i;
	return -1;
}

void store_sandbox_done(struct store_sandbox *sb)
{
	if (!sb)
		return;
	free(sb->id);
	free(sb->template);
	free(sb->disk_path);
	free(sb->disk_format);
	free(sb->vmm_kind);
	free(sb->metadata_json);
	free(sb->env_json);
	free(sb->envd_token);
	free(sb->error);
	free(sb->team);
	memset(sb, 0, sizeof(*sb));
}

void store_sandbox_list_free(struct store_sandbox *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++)
		store_sandbox_done(&rows[i]);
	free(rows);
}

#define SB_COLS                                                                                     \
	"seq, id, template, state, vcpus, memory_mb, disk_path, disk_format, slot, vmm_kind, pid, " \
	"created_at, started_at, end_at, metadata, env, envd_token, allow_internet, error, "        \
	"updated_at, team, lifecycle"

static void read_row(sqlite3_stmt *st, void *row, int64_t *ret_seq)
{
	struct store_sandbox *sb = row;
	if (ret_seq)
		*ret_seq = sqlite3_column_int64(st, 0);
	sb->id = store_col_strdup(st, 1);
	sb->template = store_col_strdup(st, 2);
	int state = store_sb_state_parse((const char *)sqlite3_column_text(st, 3));
	sb->state = state < 0 ? STORE_SB_ERROR : (enum store_sb_state)state;
	sb->vcpus = sqlite3_column_int(st, 4);
	sb->memory_mb = sqlite3_column_int(st, 5);
	sb->disk_path = store_col_strdup(st, 6);
	sb->disk_format = store_col_strdup(st, 7);
	sb->slot = sqlite3_column_int(st, 8);
	sb->vmm_kind = store_col_strdup(st, 9);
	sb->pid = sqlite3_column_int(st, 10);
	sb->created_at = sqlite3_column_int64(st, 11);
	sb->started_at = sqlite3_column_int64(st, 12);
	sb->end_at = sqlite3_column_int64(st, 13);
	sb->metadata_json = store_col_strdup(st, 14);
	sb->env_json = store_col_strdup(st, 15);
	sb->envd_token = store_col_strdup(st, 16);
	sb->allow_internet = sqlite3_column_int(st, 17) != 0;
	sb->error = store_col_strdup(st, 18);
	sb->updated_at = sqlite3_column_int64(st, 19);
	sb->team = store_col_strdup(st, 20);
	sb->lifecycle = (unsigned)sqlite3_column_int(st, 21);
}

static void done_row(void *row)
{
	store_sandbox_done(row);
}

static const struct store_row_type row_type = {sizeof(struct store_sandbox), read_row, done_row};

static bool id_ok(const char *id)
{
	return id && *id && strlen(id) <= 128;
}

int store_sandbox_put(struct store *s, const struct store_sandbox *sb, struct wr_err *err)
{
	if (!sb || !id_ok(sb->id) || !sb->template || !*sb->template)
		return wr_err_set(err, EINVAL, "sandbox needs an id and a template");
	if ((unsigned)sb->state >= _STORE_SB_STATE_MAX)
		return wr_err_set(err, EINVAL, "sandbox %s: invalid state %d", sb->id, sb->state);
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(
		s,
		"INSERT INTO sandboxes (id, template, state, vcpus, memory_mb, disk_path, "
		"disk_format, slot, vmm_kind, pid, created_at, started_at, end_at, metadata, env, "
		"envd_token, allow_internet, error, updated_at, team) "
		"VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20) "
		"ON CONFLICT(id) DO UPDATE SET template=?2, state=?3, vcpus=?4, memory_mb=?5, "
		"disk_path=?6, disk_format=?7, slot=?8, vmm_kind=?9, pid=?10, started_at=?12, "
		"end_at=?13, metadata=?14, env=?15, envd_token=?16, allow_internet=?17, error=?18, "
		"updated_at=?19",
		&st, err);
	if (r < 0)
		return r;
	int64_t now = store_now_ms();
	store_bind_text(st, 1, sb->id);
	store_bind_text(st, 2, sb->template);
	store_bind_text(st, 3, store_sb_state_name(sb->state));
	sqlite3_bind_int(st, 4, sb->vcpus);
	sqlite3_bind_int(st, 5, sb->memory_mb);
	store_bind_text(st, 6, sb->disk_path);
	store_bind_text(st, 7, sb->disk_format);
	sqlite3_bind_int(st, 8, sb->slot);
	store_bind_text(st, 9, sb->vmm_kind);
	sqlite3_bind_int(st, 10, sb->pid);
	sqlite3_bind_int64(st, 11, sb->created_at ? sb->created_at : now);
	sqlite3_bind_int64(st, 12, sb->started_at);
	sqlite3_bind_int64(st, 13, sb->end_at);
	store_bind_text(st, 14, sb->metadata_json ? sb->metadata_json : "{}");
	store_bind_text(st, 15, sb->env_json ? sb->env_json : "{}");
	store_bind_text(st, 16, sb->envd_token);
	sqlite3_bind_int(st, 17, sb->allow_internet);
	store_bind_text(st, 18, sb->error);
	sqlite3_bind_int64(st, 19, now);
	store_bind_text(st, 20, sb->team ? sb->team : "");
	if (sqlite3_step(st) != SQLITE_DONE) {
		/* A CHECK failure here means bad JSON in metadata/env: the caller's input. */
		if ((sqlite3_extended_errcode(s->db)) == SQLITE_CONSTRAINT_CHECK)
			return wr_err_set(err, EINVAL,
					  "sandbox %s: metadata/env must be JSON objects", sb->id);
		return store_db_err(s, err, "put sandbox");
	}
	return 0;
}

int store_sandbox_get(struct store *s, const char *id, struct store_sandbox *ret,
		      struct wr_err *err)
{
	if (!id)
		return wr_err_set(err, EINVAL, "no sandbox id");
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "SELECT " SB_COLS " FROM sandboxes WHERE id = ?", &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, id);
	r = store_step_row(s, st, "get sandbox", "sandbox", id, err);
	if (r < 0)
		return r;
	struct store_sandbox sb = {0};
	read_row(st, &sb, NULL);
	*ret = sb;
	return 0;
}

/* One UPDATE of a single row; -ENOENT when no row has that id. */
static int update_one(struct store *s, sqlite3_stmt *st, const char *id, struct wr_err *err)
{
	return store_step_change(s, st, "update sandbox", "sandbox", id, err);
}

int store_sandbox_set_state(struct store *s, const char *id, enum store_sb_state state,
			    const char *error_text, struct wr_err *err)
{
	if (!id || (unsigned)state >= _STORE_SB_STATE_MAX)
		return wr_err_set(err, EINVAL, "invalid sandbox id or state");
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "UPDATE sandboxes SET state=?, error=?, updated_at=? WHERE id=?",
			      &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, store_sb_state_name(state));
	store_bind_text(st, 2, state == STORE_SB_ERROR ? error_text : NULL);
	sqlite3_bind_int64(st, 3, store_now_ms());
	store_bind_text(st, 4, id);
	return update_one(s, st, id, err);
}

static int set_int64(struct store *s, const char *sql, const char *id, int64_t v,
		     struct wr_err *err)
{
	if (!id)
		return wr_err_set(err, EINVAL, "no sandbox id");
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, sql, &st, err);
	if (r < 0)
		return r;
	sqlite3_bind_int64(st, 1, v);
	sqlite3_bind_int64(st, 2, store_now_ms());
	store_bind_text(st, 3, id);
	return update_one(s, st, id, err);
}

int store_sandbox_set_end_at(struct store *s, const char *id, int64_t end_at, struct wr_err *err)
{
	if (end_at < 0)
		return wr_err_set(err, EINVAL, "negative end time");
	return set_int64(s, "UPDATE sandboxes SET end_at=?, updated_at=? WHERE id=?", id, end_at,
			 err);
}

int store_sandbox_set_lifecycle(struct store *s, const char *id, unsigned lifecycle,
				struct wr_err *err)
{
	if (lifecycle & ~(STORE_SB_LC_PAUSE_ON_TIMEOUT | STORE_SB_LC_AUTO_RESUME))
		return wr_err_set(err, EINVAL, "unknown lifecycle bits %#x", lifecycle);
	return set_int64(s, "UPDATE sandboxes SET lifecycle=?, updated_at=? WHERE id=?", id,
			 lifecycle, err);
}

int store_sandbox_set_pid(struct store *s, const char *id, int pid, struct wr_err *err)
{
	if (pid < 0)
		return wr_err_set(err, EINVAL, "negative pid");
	return set_int64(s, "UPDATE sandboxes SET pid=?, updated_at=? WHERE id=?", id, pid, err);
}

int store_sandbox_delete(struct store *s, const char *id, struct wr_err *err)
{
	if (!id)
		return wr_err_set(err, EINVAL, "no sandbox id");
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "DELETE FROM sandboxes WHERE id=?", &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, id);
	return update_one(s, st, id, err);
}

int store_sandbox_list(struct store *s, const struct store_sandbox_filter *f, const char *cursor,
		       int limit, struct store_sandbox **ret_rows, size_t *ret_n, char **ret_next,
		       struct wr_err *err)
{
	int64_t after;
	int r = store_cursor_parse(cursor, &after, err);
	if (r < 0)
		return r;
	limit = store_limit(limit, err);
	if (limit < 0)
		return limit;
	static const struct store_sandbox_filter none = {0};
	if (!f)
		f = &none;

	/* The WHERE clause is assembled from fixed fragments only; every value is bound. */
	char sql[2048];
	size_t n = (size_t)snprintf(sql, sizeof(sql),
				    "SELECT " SB_COLS " FROM sandboxes WHERE seq < ?");
	if (f->states) {
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, " AND state IN (");
		bool first = true;
		for (int i = 0; i < _STORE_SB_STATE_MAX; i++) {
			if (!(f->states & (1u << i)))
				continue;
			n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s'%s'", first ? "" : ",",
					      state_names[i]);
			first = false;
		}
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, ")");
	}
	if (f->template)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, " AND template = ?");
	if (f->end_before)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, " AND end_at > 0 AND end_at <= ?");
	if (f->team)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, " AND team = ?");
	size_t npairs = 0;
	for (const char *const *m = f->meta; m && m[0]; m += 2) {
		if (!m[1])
			return wr_err_set(err, EINVAL, "metadata filter key '%s' has no value",
					  m[0]);
		if (++npairs > 16)
			return wr_err_set(err, EINVAL, "too many metadata filters (max 16)");
		n += (size_t)snprintf(sql + n, sizeof(sql) - n,
				      " AND EXISTS (SELECT 1 FROM json_each(metadata) WHERE "
				      "key = ? AND value = ?)");
	}
	n += (size_t)snprintf(sql + n, sizeof(sql) - n, " ORDER BY seq DESC LIMIT ?");
	if (n >= sizeof(sql))
		return wr_err_set(err, E2BIG, "sandbox filter too long");

	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	r = store_prepare(s, sql, &st, err);
	if (r < 0)
		return r;
	int idx = 1;
	sqlite3_bind_int64(st, idx++, after);
	if (f->template)
		store_bind_text(st, idx++, f->template);
	if (f->end_before)
		sqlite3_bind_int64(st, idx++, f->end_before);
	if (f->team)
		store_bind_text(st, idx++, f->team);
	for (const char *const *m = f->meta; m && m[0]; m += 2) {
		store_bind_text(st, idx++, m[0]);
		store_bind_text(st, idx++, m[1]);
	}
	/* One extra row tells whether another page exists. */
	sqlite3_bind_int(st, idx, limit + 1);

	void *rows = NULL;
	r = store_read_rows(s, st, &row_type, limit, "list sandboxes", &rows, ret_n, ret_next, err);
	if (r < 0)
		return r;
	*ret_rows = rows;
	return 0;
}
