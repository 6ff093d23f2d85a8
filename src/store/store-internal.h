/* SPDX-License-Identifier: MIT */
#pragma once
/* Shared by the store's files; not part of its API. */
#include "store/store.h"

#include <pthread.h>
#include <sqlite3.h>

struct store {
	sqlite3 *db;
	pthread_mutex_t lock;
	char *path;
};

void store_lock(struct store *s);
void store_unlock(struct store *s);
/* Lock held for the scope of the variable (released by the cleanup attribute). */
void store_unlock_cleanup(struct store **s);
#define STORE_LOCKED(s)                                                                            \
	__attribute__((cleanup(store_unlock_cleanup))) struct store *_store_guard =                \
		(store_lock(s), (s))

/* Fill err from the connection's last error; returns -EIO (-EEXIST for constraint violations). */
int store_db_err(struct store *s, struct wr_err *err, const char *what);
/* Prepare; on failure fills err and returns < 0. */
int store_prepare(struct store *s, const char *sql, sqlite3_stmt **ret, struct wr_err *err);
void store_finalize_cleanup(sqlite3_stmt **st);
#define cleanup_stmt __attribute__((cleanup(store_finalize_cleanup)))
/* Run SQL without results (several statements allowed). */
int store_exec(struct store *s, const char *sql, struct wr_err *err);

/* Step a statement that yields no rows (INSERT, UPDATE, DELETE); `op` names it in errors. */
int store_step_done(struct store *s, sqlite3_stmt *st, const char *op, struct wr_err *err);
/* store_step_done, then -ENOENT "<what> <key> not found" if it changed no row. */
int store_step_change(struct store *s, sqlite3_stmt *st, const char *op, const char *what,
		      const char *key, struct wr_err *err);
/* Step to the one row a lookup yields: 0 there, -ENOENT "<what> <key> not found" if none. */
int store_step_row(struct store *s, sqlite3_stmt *st, const char *op, const char *what,
		   const char *key, struct wr_err *err);
/* End a transaction begun with BEGIN IMMEDIATE: COMMIT if r >= 0, else ROLLBACK and return r. */
int store_tx_end(struct store *s, int r, struct wr_err *err);

/* How to read one kind of row. */
struct store_row_type {
	size_t size;
	/* Fill a zeroed element; *ret_seq (if not NULL) gets the row's paging seq. */
	void (*read)(sqlite3_stmt *st, void *row, int64_t *ret_seq);
	void (*done)(void *row);
};
/* Every row of `st` into a malloc'd array.  limit > 0: `st` asks for limit + 1 rows; the extra
 * one only says another page exists, and *ret_next (if not NULL) becomes the next page's cursor
 * (NULL on the last page).  On failure nothing is returned and `op` names the step in err. */
int store_read_rows(struct store *s, sqlite3_stmt *st, const struct store_row_type *t, int limit,
		    const char *op, void **ret_rows, size_t *ret_n, char **ret_next,
		    struct wr_err *err);

/* Binding / reading helpers: NULL strings bind as SQL NULL, SQL NULL reads as NULL. */
int store_bind_text(sqlite3_stmt *st, int idx, const char *v);
char *store_col_strdup(sqlite3_stmt *st, int col);

/* Paging cursor: the seq of the last row of a page, as decimal text. */
int store_cursor_parse(const char *cursor, int64_t *ret, struct wr_err *err);
int store_limit(int limit, struct wr_err *err);

int store_migrate(struct store *s, struct wr_err *err);
