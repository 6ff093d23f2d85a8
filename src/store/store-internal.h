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

/* Binding / reading helpers: NULL strings bind as SQL NULL, SQL NULL reads as NULL. */
int store_bind_text(sqlite3_stmt *st, int idx, const char *v);
char *store_col_strdup(sqlite3_stmt *st, int col);

/* Paging cursor: the seq of the last row of a page, as decimal text. */
int store_cursor_parse(const char *cursor, int64_t *ret, struct wr_err *err);
int store_limit(int limit, struct wr_err *err);

int store_migrate(struct store *s, struct wr_err *err);
