/* SPDX-License-Identifier: MIT */
#include "store/store-internal.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void store_lock(struct store *s)
{
	pthread_mutex_lock(&s->lock);
}

void store_unlock(struct store *s)
{
	pthread_mutex_unlock(&s->lock);
}

void store_unlock_cleanup(struct store **s)
{
	if (*s)
		store_unlock(*s);
}

int store_db_err(struct store *s, struct wr_err *err, const char *what)
{
	int ext = sqlite3_extended_errcode(s->db);
	int code = (ext & 0xff) == SQLITE_CONSTRAINT ? EEXIST : EIO;
	if ((ext & 0xff) == SQLITE_FULL)
		code = ENOSPC;
	return wr_err_set(err, code, "%s: %s: %s", s->path, what, sqlite3_errmsg(s->db));
}

int store_prepare(struct store *s, const char *sql, sqlite3_stmt **ret, struct wr_err *err)
{
	if (sqlite3_prepare_v2(s->db, sql, -1, ret, NULL) != SQLITE_OK) {
		*ret = NULL;
		return store_db_err(s, err, "prepare");
	}
	return 0;
}

void store_finalize_cleanup(sqlite3_stmt **st)
{
	if (*st)
		sqlite3_finalize(*st);
}

int store_exec(struct store *s, const char *sql, struct wr_err *err)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return store_db_err(s, err, "exec");
	return 0;
}

int store_step_done(struct store *s, sqlite3_stmt *st, const char *op, struct wr_err *err)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		return store_db_err(s, err, op);
	return 0;
}

int store_step_change(struct store *s, sqlite3_stmt *st, const char *op, const char *what,
		      const char *key, struct wr_err *err)
{
	int r = store_step_done(s, st, op, err);
	if (r < 0)
		return r;
	if (sqlite3_changes(s->db) == 0)
		return wr_err_set(err, ENOENT, "%s %s not found", what, key);
	return 0;
}

int store_step_row(struct store *s, sqlite3_stmt *st, const char *op, const char *what,
		   const char *key, struct wr_err *err)
{
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return wr_err_set(err, ENOENT, "%s %s not found", what, key);
	if (rc != SQLITE_ROW)
		return store_db_err(s, err, op);
	return 0;
}

int store_tx_end(struct store *s, int r, struct wr_err *err)
{
	if (r < 0) {
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return r;
	}
	return store_exec(s, "COMMIT", err);
}

int store_read_rows(struct store *s, sqlite3_stmt *st, const struct store_row_type *t, int limit,
		    const char *op, void **ret_rows, size_t *ret_n, char **ret_next,
		    struct wr_err *err)
{
	size_t n = 0, cap = limit > 0 ? (size_t)limit : 8;
	char *rows = xcalloc(cap, t->size);
	int64_t last_seq = 0;
	bool more = false;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (limit > 0 && n == (size_t)limit) {
			more = true;
			continue;
		}
		if (n == cap) {
			cap *= 2;
			rows = xrealloc(rows, cap * t->size);
		}
		memset(rows + n * t->size, 0, t->size);
		t->read(st, rows + n * t->size, &last_seq);
		n++;
	}
	if (rc != SQLITE_DONE) {
		for (size_t i = 0; i < n; i++)
			t->done(rows + i * t->size);
		free(rows);
		return store_db_err(s, err, op);
	}
	*ret_rows = rows;
	*ret_n = n;
	if (ret_next)
		*ret_next = more ? xasprintf("%lld", (long long)last_seq) : NULL;
	return 0;
}

int store_bind_text(sqlite3_stmt *st, int idx, const char *v)
{
	if (!v)
		return sqlite3_bind_null(st, idx);
	return sqlite3_bind_text(st, idx, v, -1, SQLITE_TRANSIENT);
}

char *store_col_strdup(sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);
	return t ? xstrdup((const char *)t) : NULL;
}

int store_cursor_parse(const char *cursor, int64_t *ret, struct wr_err *err)
{
	if (!cursor || !*cursor) {
		*ret = INT64_MAX;
		return 0;
	}
	char *end = NULL;
	errno = 0;
	long long v = strtoll(cursor, &end, 10);
	if (errno || *end || v <= 0)
		return wr_err_set(err, EINVAL, "invalid cursor '%s'", cursor);
	*ret = v;
	return 0;
}

int store_limit(int limit, struct wr_err *err)
{
	if (limit == 0)
		return STORE_PAGE_MAX;
	if (limit < 0 || limit > STORE_PAGE_MAX)
		return wr_err_set(err, EINVAL, "limit must be 1..%d", STORE_PAGE_MAX);
	return limit;
}

int64_t store_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pragma(struct store *s, const char *sql, struct wr_err *err)
{
	/* Some PRAGMAs return a row (journal_mode), so step rather than exec. */
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, sql, &st, err);
	if (r < 0)
		return r;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		;
	if (rc != SQLITE_DONE)
		return store_db_err(s, err, sql);
	return 0;
}

/*
 * The database holds envd access tokens and sandbox env vars (secrets of the
 * users), so it and its WAL/SHM companions are 0600.  SQLite gives the WAL
 * and SHM the database file's mode when it creates them, so creating the
 * database 0600 before SQLite opens it is enough for new stores; existing
 * files from an older agent are tightened here.  A symlink in their place is
 * refused (O_NOFOLLOW): the data dir is root's and 0700, so that is tampering.
 */
static int store_secure_files(const char *path, struct wr_err *err)
{
	static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		cleanup_free char *p = xasprintf("%s%s", path, suffix[i]);
		int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | (i == 0 ? O_CREAT : 0);
		cleanup_close int fd = open(p, flags, 0600);
		if (fd < 0) {
			if (errno == ENOENT && i > 0)
				continue;
			return wr_err_errno(err, errno, "open %s", p);
		}
		if (fchmod(fd, 0600) < 0)
			return wr_err_errno(err, errno, "chmod 0600 %s", p);
	}
	return 0;
}

int store_open(const char *path, struct store **ret, struct wr_err *err)
{
	if (!path || !*path)
		return wr_err_set(err, EINVAL, "store: empty database path");
	struct store *s = xcalloc(1, sizeof(*s));
	s->path = xstrdup(path);
	pthread_mutex_init(&s->lock, NULL);
	int r = store_secure_files(path, err);
	if (r < 0)
		goto fail;
	/* NOMUTEX: our own mutex already serialises every use of the connection. */
	int rc = sqlite3_open_v2(path, &s->db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		r = wr_err_set(err, EIO, "open %s: %s", path,
			       s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	/* busy_timeout first: another process (a second agent, the sqlite3 shell) may hold a lock.
	 * The first real read happens in journal_mode and reveals a non-database file. */
	r = pragma(s, "PRAGMA busy_timeout=5000", err);
	if (r >= 0)
		r = pragma(s, "PRAGMA journal_mode=WAL", err);
	if (r >= 0)
		r = pragma(s, "PRAGMA synchronous=NORMAL", err);
	if (r >= 0)
		r = pragma(s, "PRAGMA foreign_keys=ON", err);
	if (r >= 0)
		r = store_migrate(s, err);
	if (r < 0)
		goto fail;
	*ret = s;
	return 0;
fail:
	store_close(s);
	return r;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	if (s->db)
		sqlite3_close(s->db);
	pthread_mutex_destroy(&s->lock);
	free(s->path);
	free(s);
}

int store_schema_version(struct store *s)
{
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	if (store_prepare(s, "PRAGMA user_version", &st, NULL) < 0)
		return -EIO;
	if (sqlite3_step(st) != SQLITE_ROW)
		return -EIO;
	return sqlite3_column_int(st, 0);
}
