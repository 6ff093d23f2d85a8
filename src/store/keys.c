/* SPDX-License-Identifier: MIT */
#include "store/store-internal.h"

#include "basic/cleanup.h"
#include "basic/hex.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* last_used is advisory; refreshing it at most once a minute keeps key checks read-only on the
 * hot path of every API request. */
#define LAST_USED_GRANULARITY_MS 60000

void store_key_done(struct store_key *k)
{
	if (!k)
		return;
	free(k->id);
	free(k->name);
	free(k->prefix);
	free(k->team);
	memset(k, 0, sizeof(*k));
}

void store_key_list_free(struct store_key *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++)
		store_key_done(&rows[i]);
	free(rows);
}

static void read_row(sqlite3_stmt *st, void *row, int64_t *ret_seq)
{
	(void)ret_seq;
	*(struct store_key *)row = (struct store_key){
		.id = store_col_strdup(st, 0),
		.name = store_col_strdup(st, 1),
		.prefix = store_col_strdup(st, 2),
		.created_at = sqlite3_column_int64(st, 3),
		.last_used = sqlite3_column_int64(st, 4),
		.team = store_col_strdup(st, 5),
	};
}

static void done_row(void *row)
{
	store_key_done(row);
}

static const struct store_row_type row_type = {sizeof(struct store_key), read_row, done_row};

static bool key_format_ok(const char *k)
{
	if (!k || strlen(k) != STORE_KEY_LEN || strncmp(k, "e2b_", 4) != 0)
		return false;
	for (const char *p = k + 4; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

static int random_hex(char *out, size_t nbytes, struct wr_err *err)
{
	uint8_t buf[32];
	if (nbytes > sizeof(buf))
		return wr_err_set(err, EINVAL, "random_hex: too long");
	size_t got = 0;
	while (got < nbytes) {
		ssize_t r = getrandom(buf + got, nbytes - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return wr_err_errno(err, errno, "getrandom");
		}
		got += (size_t)r;
	}
	hex_encode(buf, nbytes, out);
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

/* Insert a key row; the lock must be held. */
static int insert_key(struct store *s, const char *id, const char *name, const char *team,
		      const char *plain, int64_t now, struct wr_err *err)
{
	uint8_t hash[32];
	store_sha256(plain, strlen(plain), hash);
	char prefix[STORE_KEY_PREFIX_LEN + 1];
	memcpy(prefix, plain, STORE_KEY_PREFIX_LEN);
	prefix[STORE_KEY_PREFIX_LEN] = '\0';
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
			      "INSERT INTO api_keys (id, name, prefix, hash, created_at, team) "
			      "VALUES (?,?,?,?,?,?)",
			      &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, id);
	store_bind_text(st, 2, name);
	store_bind_text(st, 3, prefix);
	sqlite3_bind_blob(st, 4, hash, sizeof(hash), SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 5, now);
	store_bind_text(st, 6, team ? team : "");
	if (sqlite3_step(st) != SQLITE_DONE) {
		if ((sqlite3_extended_errcode(s->db) & 0xff) == SQLITE_CONSTRAINT)
			return wr_err_set(err, EEXIST, "API key already exists");
		return store_db_err(s, err, "insert key");
	}
	return 0;
}

static int check_name(const char *name, struct wr_err *err)
{
	if (name && strlen(name) > 64)
		return wr_err_set(err, EINVAL, "key name longer than 64 characters");
	return 0;
}

int store_key_mint(char ret_plain[STORE_KEY_LEN + 1], struct wr_err *err)
{
	memcpy(ret_plain, "e2b_", 5);
	return random_hex(ret_plain + 4, 20, err);
}

static bool team_name_ok(const char *t)
{
	size_t n = strlen(t);
	if (n == 0 || n > 64)
		return false;
	for (const char *p = t; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return false;
	return true;
}

/* Create the team row if missing; the lock must be held. */
static int ensure_team(struct store *s, const char *team, int64_t now, struct wr_err *err)
{
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "INSERT OR IGNORE INTO teams (name, created_at) VALUES (?,?)", &st,
			      err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, team);
	sqlite3_bind_int64(st, 2, now);
	if (sqlite3_step(st) != SQLITE_DONE)
		return store_db_err(s, err, "create team");
	return 0;
}

int store_key_create(struct store *s, const char *name, char **ret_plain, struct store_key *ret_key,
		     struct wr_err *err)
{
	return store_key_create_team(s, name, NULL, ret_plain, ret_key, err);
}

int store_key_create_team(struct store *s, const char *name, const char *team, char **ret_plain,
			  struct store_key *ret_key, struct wr_err *err)
{
	int r = check_name(name, err);
	if (r < 0)
		return r;
	if (team && !*team)
		team = NULL;
	if (team && !team_name_ok(team))
		return wr_err_set(err, EINVAL,
				  "team name must be 1..64 characters of A-Z a-z 0-9 . _ -");
	char plain[STORE_KEY_LEN + 1];
	char id[17];
	r = store_key_mint(plain, err);
	if (r >= 0)
		r = random_hex(id, 8, err);
	if (r < 0)
		return r;
	int64_t now = store_now_ms();
	{
		STORE_LOCKED(s);
		/* key and team in one transaction: no team without its first key */
		r = store_exec(s, "BEGIN IMMEDIATE", err);
		if (r >= 0 && team)
			r = ensure_team(s, team, now, err);
		if (r >= 0)
			r = insert_key(s, id, name ? name : "", team, plain, now, err);
		if (r >= 0)
			r = store_exec(s, "COMMIT", err);
		else
			(void)store_exec(s, "ROLLBACK", NULL);
	}
	if (r < 0) {
		explicit_bzero(plain, sizeof(plain));
		return r;
	}
	if (ret_key) {
		*ret_key = (struct store_key){
			.id = xstrdup(id),
			.name = xstrdup(name ? name : ""),
			.prefix = xstrndup(plain, STORE_KEY_PREFIX_LEN),
			.created_at = now,
			.team = xstrdup(team ? team : ""),
		};
	}
	*ret_plain = xstrdup(plain);
	explicit_bzero(plain, sizeof(plain));
	return 0;
}

int store_key_import(struct store *s, const char *name, const char *plain, struct wr_err *err)
{
	int r = check_name(name, err);
	if (r < 0)
		return r;
	if (!key_format_ok(plain))
		return wr_err_set(err, EINVAL, "API key must be e2b_ followed by 40 lowercase hex");
	char id[17];
	r = random_hex(id, 8, err);
	if (r < 0)
		return r;
	STORE_LOCKED(s);
	return insert_key(s, id, name ? name : "", NULL, plain, store_now_ms(), err);
}

int store_key_team(struct store *s, const char *id, char **ret_team, struct wr_err *err)
{
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "SELECT team FROM api_keys WHERE id = ?", &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return wr_err_set(err, ENOENT, "API key %s not found", id);
	if (rc != SQLITE_ROW)
		return store_db_err(s, err, "key team");
	*ret_team = store_col_strdup(st, 0);
	if (!*ret_team)
		*ret_team = xstrdup("");
	return 0;
}

void store_team_list_free(struct store_team *rows, size_t n)
{
	for (size_t i = 0; rows && i < n; i++)
		free(rows[i].name);
	free(rows);
}

static void read_team(sqlite3_stmt *st, void *row, int64_t *ret_seq)
{
	(void)ret_seq;
	*(struct store_team *)row = (struct store_team){
		.name = store_col_strdup(st, 0),
		.created_at = sqlite3_column_int64(st, 1),
		.keys = sqlite3_column_int(st, 2),
		.sandboxes = sqlite3_column_int(st, 3),
	};
}

static void done_team(void *row)
{
	free(((struct store_team *)row)->name);
}

int store_team_list(struct store *s, struct store_team **ret_rows, size_t *ret_n,
		    struct wr_err *err)
{
	static const struct store_row_type team_type = {sizeof(struct store_team), read_team,
							done_team};
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
			      "SELECT t.name, t.created_at,"
			      " (SELECT count(*) FROM api_keys k WHERE k.team = t.name),"
			      " (SELECT count(*) FROM sandboxes b WHERE b.team = t.name"
			      "   AND b.state IN ('creating','running','paused'))"
			      " FROM teams t ORDER BY t.name",
			      &st, err);
	if (r < 0)
		return r;
	void *rows = NULL;
	r = store_read_rows(s, st, &team_type, 0, "list teams", &rows, ret_n, NULL, err);
	if (r < 0)
		return r;
	*ret_rows = rows;
	return 0;
}

static int ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	volatile uint8_t d = 0;
	for (size_t i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

int store_key_verify(struct store *s, const char *plain, char **ret_id, struct wr_err *err)
{
	if (!key_format_ok(plain))
		return wr_err_set(err, EACCES, "invalid API key");
	uint8_t hash[32];
	store_sha256(plain, strlen(plain), hash);
	char prefix[STORE_KEY_PREFIX_LEN + 1];
	memcpy(prefix, plain, STORE_KEY_PREFIX_LEN);
	prefix[STORE_KEY_PREFIX_LEN] = '\0';

	STORE_LOCKED(s);
	cleanup_free char *match = NULL;
	int64_t last_used = 0;
	{
		/* Candidates by the (non-secret) display prefix, then a constant-time comparison
		 * of the full hash, so response time does not reveal how much of a guess matched. */
		cleanup_stmt sqlite3_stmt *st = NULL;
		int r = store_prepare(
			s, "SELECT id, hash, last_used FROM api_keys WHERE prefix = ?", &st, err);
		if (r < 0)
			return r;
		store_bind_text(st, 1, prefix);
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const void *h = sqlite3_column_blob(st, 1);
			if (!h || sqlite3_column_bytes(st, 1) != 32)
				continue;
			if (ct_equal(h, hash, 32) && !match) {
				match = store_col_strdup(st, 0);
				last_used = sqlite3_column_int64(st, 2);
			}
		}
		if (rc != SQLITE_DONE)
			return store_db_err(s, err, "verify key");
	}
	if (!match)
		return wr_err_set(err, EACCES, "invalid API key");
	int64_t now = store_now_ms();
	if (now - last_used >= LAST_USED_GRANULARITY_MS) {
		cleanup_stmt sqlite3_stmt *st = NULL;
		/* Failing to record last_used must not deny a valid key. */
		if (store_prepare(s, "UPDATE api_keys SET last_used = ? WHERE id = ?", &st, NULL) >=
		    0) {
			sqlite3_bind_int64(st, 1, now);
			store_bind_text(st, 2, match);
			sqlite3_step(st);
		}
	}
	if (ret_id)
		*ret_id = TAKE_PTR(match);
	return 0;
}

int store_key_list(struct store *s, struct store_key **ret_rows, size_t *ret_n, struct wr_err *err)
{
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s,
			      "SELECT id, name, prefix, created_at, last_used, team FROM api_keys "
			      "ORDER BY created_at, id",
			      &st, err);
	if (r < 0)
		return r;
	void *rows = NULL;
	r = store_read_rows(s, st, &row_type, 0, "list keys", &rows, ret_n, NULL, err);
	if (r < 0)
		return r;
	*ret_rows = rows;
	return 0;
}

int store_key_delete(struct store *s, const char *id, struct wr_err *err)
{
	if (!id)
		return wr_err_set(err, EINVAL, "no key id");
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "DELETE FROM api_keys WHERE id = ?", &st, err);
	if (r < 0)
		return r;
	store_bind_text(st, 1, id);
	return store_step_change(s, st, "delete key", "API key", id, err);
}

int store_key_count(struct store *s, struct wr_err *err)
{
	STORE_LOCKED(s);
	cleanup_stmt sqlite3_stmt *st = NULL;
	int r = store_prepare(s, "SELECT count(*) FROM api_keys", &st, err);
	if (r < 0)
		return r;
	if (sqlite3_step(st) != SQLITE_ROW)
		return store_db_err(s, err, "count keys");
	return sqlite3_column_int(st, 0);
}
