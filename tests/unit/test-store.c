/* SPDX-License-Identifier: MIT */
#include "store/store.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fix {
	char dir[64];
	char *db;
	struct store *s;
};

static int setup(void **state)
{
	struct fix *f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->db = xasprintf("%s/wrenn.db", f->dir);
	struct wr_err err = {0};
	assert_int_equal(store_open(f->db, &f->s, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;
	store_close(f->s);
	rm_rf(f->dir);
	free(f->db);
	free(f);
	return 0;
}

static void hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_sha256_vectors(void **state)
{
	(void)state;
	uint8_t h[32];
	char x[65];
	store_sha256("", 0, h);
	hex(h, 32, x);
	assert_string_equal(x, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	store_sha256("abc", 3, h);
	hex(h, 32, x);
	assert_string_equal(x, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	store_sha256(m, strlen(m), h);
	hex(h, 32, x);
	assert_string_equal(x, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	char *a = xmalloc(1000000);
	memset(a, 'a', 1000000);
	store_sha256(a, 1000000, h);
	free(a);
	hex(h, 32, x);
	assert_string_equal(x, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* Padding boundaries (55/56/63/64/65 bytes) against coreutils' sha256sum. */
static void test_sha256_boundaries(void **state)
{
	(void)state;
	static const int lens[] = {55, 56, 63, 64, 65, 119, 120};
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		char buf[128];
		memset(buf, 'q', (size_t)lens[i]);
		cleanup_free char *cmd =
			xasprintf("printf '%%*s' %d '' | tr ' ' q | sha256sum", lens[i]);
		FILE *p = popen(cmd, "r");
		assert_non_null(p);
		char want[65] = {0};
		assert_int_equal(fscanf(p, "%64s", want), 1);
		pclose(p);
		uint8_t h[32];
		char got[65];
		store_sha256(buf, (size_t)lens[i], h);
		hex(h, 32, got);
		assert_string_equal(got, want);
	}
}

static void test_open_idempotent(void **state)
{
	struct fix *f = *state;
	assert_int_equal(store_schema_version(f->s), STORE_SCHEMA_VERSION);
	struct store_sandbox sb = {.id = "cl-a", .template = "base", .vcpus = 1, .memory_mb = 256};
	struct wr_err err = {0};
	assert_int_equal(store_sandbox_put(f->s, &sb, &err), 0);
	store_close(f->s);
	f->s = NULL;
	/* Re-open twice: migrations must not run again nor lose data. */
	for (int i = 0; i < 2; i++) {
		assert_int_equal(store_open(f->db, &f->s, &err), 0);
		assert_int_equal(store_schema_version(f->s), STORE_SCHEMA_VERSION);
		struct store_sandbox got = {0};
		assert_int_equal(store_sandbox_get(f->s, "cl-a", &got, &err), 0);
		assert_string_equal(got.template, "base");
		store_sandbox_done(&got);
		store_close(f->s);
		f->s = NULL;
	}
	/* WAL is persistent in the file header. */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);
	assert_int_equal(store_open(f->db, &f->s, &err), 0);
}

static void expect_open_fails(const char *path, const char *needle);

static void assert_mode_0600(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	if ((st.st_mode & 07777) != 0600)
		fail_msg("%s has mode %o, want 600", path, st.st_mode & 07777);
}

/* The database holds secrets: it and its WAL/SHM are 0600, also when an
 * older agent left them world-readable; a symlink in its place is refused. */
static void test_file_modes(void **state)
{
	struct fix *f = *state;
	struct wr_err err = {0};
	cleanup_free char *wal = xasprintf("%s-wal", f->db);
	cleanup_free char *shm = xasprintf("%s-shm", f->db);
	assert_int_equal(store_key_count(f->s, &err), 0);
	assert_mode_0600(f->db);
	assert_mode_0600(wal);
	assert_mode_0600(shm);
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(chmod(f->db, 0644), 0);
	assert_int_equal(store_open(f->db, &f->s, &err), 0);
	assert_mode_0600(f->db);
	assert_mode_0600(wal);

	cleanup_free char *link = xasprintf("%s/link.db", f->dir);
	assert_int_equal(symlink(f->db, link), 0);
	expect_open_fails(link, "open");
}

static void expect_open_fails(const char *path, const char *needle)
{
	struct store *s = NULL;
	struct wr_err err = {0};
	int r = store_open(path, &s, &err);
	assert_true(r < 0);
	assert_null(s);
	if (!strstr(wr_err_msg(&err), needle))
		fail_msg("error '%s' lacks '%s'", wr_err_msg(&err), needle);
}

static void test_garbage_and_foreign(void **state)
{
	struct fix *f = *state;
	cleanup_free char *junk = xasprintf("%s/junk.db", f->dir);
	char buf[8192];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (char)(i * 131 + 7);
	assert_int_equal(write_file_atomic(junk, buf, sizeof(buf), 0600), 0);
	expect_open_fails(junk, "not a database");

	/* A truncated real database (header intact, pages missing). */
	cleanup_free char *trunc = xasprintf("%s/trunc.db", f->dir);
	{
		cleanup_free char *data = NULL;
		size_t len = 0;
		store_close(f->s);
		f->s = NULL;
		assert_int_equal(read_file(f->db, 1 << 20, &data, &len), 0);
		assert_true(len > 100);
		memset(data + 100, 0xee, len - 100);
		assert_int_equal(write_file_atomic(trunc, data, len, 0600), 0);
		struct wr_err err = {0};
		assert_int_equal(store_open(f->db, &f->s, &err), 0);
	}
	struct store *s = NULL;
	struct wr_err err = {0};
	int r = store_open(trunc, &s, &err);
	if (r >= 0) {
		/* SQLite may only notice the damage at first use; it must fail cleanly there. */
		struct store_sandbox sb = {0};
		r = store_sandbox_get(s, "x", &sb, &err);
		store_close(s);
	}
	assert_true(r < 0);
	assert_true(strlen(wr_err_msg(&err)) > 0);

	cleanup_free char *foreign = xasprintf("%s/foreign.db", f->dir);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(foreign, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	expect_open_fails(foreign, "not a wrenn database");

	/* A newer schema than this binary knows. */
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	expect_open_fails(f->db, "newer than this wrenn");

	expect_open_fails("/nonexistent-dir/x.db", "/nonexistent-dir/x.db");
	expect_open_fails("", "empty");
	/* leave a valid store for teardown */
	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	cleanup_free char *pv = xasprintf("PRAGMA user_version=%d", STORE_SCHEMA_VERSION);
	assert_int_equal(sqlite3_exec(db, pv, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(f->db, &f->s, &err), 0);
}

/* Teams: keys carry their team (created on first key), sandboxes keep the team they were
 * inserted with across full-row updates, lists filter by team, snapshots inherit it. */
static void test_teams(void **state)
{
	struct fix *f = *state;
	struct wr_err err = {0};
	cleanup_free char *plain = NULL, *tid = NULL, *team = NULL, *admin_team = NULL;
	struct store_key k = {0};
	assert_int_equal(store_key_create_team(f->s, "ci", "acme", &plain, &k, &err), 0);
	assert_string_equal(k.team, "acme");
	assert_int_equal(store_key_verify(f->s, plain, &tid, &err), 0);
	assert_int_equal(store_key_team(f->s, tid, &team, &err), 0);
	assert_string_equal(team, "acme");
	cleanup_free char *p2 = NULL;
	assert_int_equal(store_key_create_team(f->s, "bad", "no spaces", &p2, NULL, &err), -EINVAL);
	assert_int_equal(store_key_create(f->s, "op", &p2, NULL, &err), 0);
	cleanup_free char *oid = NULL;
	assert_int_equal(store_key_verify(f->s, p2, &oid, &err), 0);
	assert_int_equal(store_key_team(f->s, oid, &admin_team, &err), 0);
	assert_string_equal(admin_team, "");
	store_key_done(&k);

	struct store_sandbox a = {
		.id = "cl-a", .template = "base", .state = STORE_SB_RUNNING, .team = "acme"};
	struct store_sandbox b = {.id = "cl-b", .template = "base", .state = STORE_SB_RUNNING};
	assert_int_equal(store_sandbox_put(f->s, &a, &err), 0);
	assert_int_equal(store_sandbox_put(f->s, &b, &err), 0);
	a.team = NULL; /* an update without a team keeps the owner */
	a.state = STORE_SB_PAUSED;
	assert_int_equal(store_sandbox_put(f->s, &a, &err), 0);
	struct store_sandbox_filter flt = {.team = "acme"};
	struct store_sandbox *rows = NULL;
	size_t n = 0;
	cleanup_free char *next = NULL;
	assert_int_equal(store_sandbox_list(f->s, &flt, NULL, 0, &rows, &n, &next, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].id, "cl-a");
	assert_string_equal(rows[0].team, "acme");
	store_sandbox_list_free(rows, n);

	struct store_snapshot sn = {.id = "sn-1", .sandbox_id = "cl-a"};
	assert_int_equal(store_snapshot_add(f->s, &sn, &err), 0);
	struct store_snapshot got = {0};
	assert_int_equal(store_snapshot_get(f->s, "sn-1", &got, &err), 0);
	assert_string_equal(got.team, "acme");
	store_snapshot_done(&got);

	struct store_team *teams = NULL;
	assert_int_equal(store_team_list(f->s, &teams, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(teams[0].name, "acme");
	assert_int_equal(teams[0].keys, 1);
	assert_int_equal(teams[0].sandboxes, 1);
	store_team_list_free(teams, n);
}

static void test_sandbox_crud(void **state)
{
	struct fix *f = *state;
	struct wr_err err = {0};
	struct store_sandbox sb = {
		.id = "cl-1",
		.template = "base",
		.state = STORE_SB_CREATING,
		.vcpus = 2,
		.memory_mb = 512,
		.disk_path = "/var/lib/wrenn/sandboxes/cl-1/rootfs.qcow2",
		.disk_format = "qcow2",
		.slot = 7,
		.vmm_kind = "qemu",
		.pid = 1234,
		.started_at = 1000,
		.end_at = 301000,
		.metadata_json = "{\"user\":\"alice\"}",
		.env_json = "{\"A\":\"1\"}",
		.envd_token = "tok",
		.allow_internet = true,
	};
	assert_int_equal(store_sandbox_put(f->s, &sb, &err), 0);
	struct store_sandbox got = {0};
	assert_int_equal(store_sandbox_get(f->s, "cl-1", &got, &err), 0);
	assert_string_equal(got.id, "cl-1");
	assert_int_equal(got.state, STORE_SB_CREATING);
	assert_int_equal(got.vcpus, 2);
	assert_int_equal(got.memory_mb, 512);
	assert_string_equal(got.disk_format, "qcow2");
	assert_int_equal(got.slot, 7);
	assert_int_equal(got.pid, 1234);
	assert_int_equal(got.end_at, 301000);
	assert_string_equal(got.metadata_json, "{\"user\":\"alice\"}");
	assert_string_equal(got.envd_token, "tok");
	assert_true(got.allow_internet);
	assert_null(got.error);
	assert_true(got.created_at > 0);
	int64_t created = got.created_at;
	store_sandbox_done(&got);

	assert_int_equal(store_sandbox_set_state(f->s, "cl-1", STORE_SB_ERROR, "boom", &err), 0);
	assert_int_equal(store_sandbox_set_end_at(f->s, "cl-1", 5, &err), 0);
	assert_int_equal(store_sandbox_set_pid(f->s, "cl-1", 0, &err), 0);
	assert_int_equal(store_sandbox_get(f->s, "cl-1", &got, &err), 0);
	assert_int_equal(got.state, STORE_SB_ERROR);
	assert_string_equal(got.error, "boom");
	assert_int_equal(got.end_at, 5);
	assert_int_equal(got.pid, 0);
	assert_int_equal(got.created_at, created);
	assert_int_equal(got.lifecycle, 0);
	store_sandbox_done(&got);
	assert_int_equal(
		store_sandbox_set_lifecycle(
			f->s, "cl-1", STORE_SB_LC_PAUSE_ON_TIMEOUT | STORE_SB_LC_AUTO_RESUME, &err),
		0);
	assert_int_equal(store_sandbox_set_lifecycle(f->s, "cl-1", 8, &err), -EINVAL);
	assert_int_equal(store_sandbox_set_lifecycle(f->s, "cl-nope", 1, &err), -ENOENT);
	assert_int_equal(store_sandbox_set_state(f->s, "cl-1", STORE_SB_RUNNING, "ignored", &err),
			 0);
	assert_int_equal(store_sandbox_get(f->s, "cl-1", &got, &err), 0);
	assert_null(got.error);
	store_sandbox_done(&got);

	/* put again replaces fields, keeps created_at */
	sb.state = STORE_SB_PAUSED;
	sb.metadata_json = NULL;
	assert_int_equal(store_sandbox_put(f->s, &sb, &err), 0);
	assert_int_equal(store_sandbox_get(f->s, "cl-1", &got, &err), 0);
	assert_int_equal(got.state, STORE_SB_PAUSED);
	assert_string_equal(got.metadata_json, "{}");
	assert_int_equal(got.created_at, created);
	/* the lifecycle policy outlives puts (the runtime's rows do not carry it) */
	assert_int_equal(got.lifecycle, STORE_SB_LC_PAUSE_ON_TIMEOUT | STORE_SB_LC_AUTO_RESUME);
	store_sandbox_done(&got);

	assert_int_equal(store_sandbox_get(f->s, "cl-nope", &got, &err), -ENOENT);
	assert_non_null(strstr(wr_err_msg(&err), "cl-nope"));
	assert_int_equal(store_sandbox_set_state(f->s, "cl-nope", STORE_SB_RUNNING, NULL, &err),
			 -ENOENT);
	assert_int_equal(store_sandbox_set_end_at(f->s, "cl-nope", 1, &err), -ENOENT);

	struct store_sandbox bad = sb;
	bad.id = "cl-bad";
	bad.metadata_json = "{not json";
	assert_int_equal(store_sandbox_put(f->s, &bad, &err), -EINVAL);
	bad.metadata_json = NULL;
	bad.state = (enum store_sb_state)42;
	assert_int_equal(store_sandbox_put(f->s, &bad, &err), -EINVAL);
	bad.state = STORE_SB_RUNNING;
	bad.template = NULL;
	assert_int_equal(store_sandbox_put(f->s, &bad, &err), -EINVAL);

	assert_int_equal(store_sandbox_delete(f->s, "cl-1", &err), 0);
	assert_int_equal(store_sandbox_delete(f->s, "cl-1", &err), -ENOENT);
	assert_int_equal(store_sandbox_get(f->s, "cl-1", &got, &err), -ENOENT);

	assert_string_equal(store_sb_state_name(STORE_SB_PAUSED), "paused");
	assert_int_equal(store_sb_state_parse("killed"), STORE_SB_KILLED);
	assert_int_equal(store_sb_state_parse("nope"), -1);
	assert_int_equal(store_sb_state_parse(NULL), -1);
}

static void add_sandboxes(struct store *s, int n)
{
	struct wr_err err = {0};
	for (int i = 0; i < n; i++) {
		char id[32], meta[64];
		snprintf(id, sizeof(id), "cl-%03d", i);
		snprintf(meta, sizeof(meta), "{\"parity\":\"%s\",\"n\":\"%d\"}",
			 i % 2 ? "odd" : "even", i);
		struct store_sandbox sb = {
			.id = id,
			.template = i % 3 ? "base" : "py",
			.state = i % 5 == 0 ? STORE_SB_PAUSED : STORE_SB_RUNNING,
			.vcpus = 1,
			.memory_mb = 128,
			.end_at = i < 4 ? 100 + i : 0,
			.metadata_json = meta,
		};
		assert_int_equal(store_sandbox_put(s, &sb, &err), 0);
	}
}

static void test_sandbox_paging(void **state)
{
	struct fix *f = *state;
	struct wr_err err = {0};
	add_sandboxes(f->s, 25);
	char *cursor = NULL;
	int pages = 0, total = 0;
	char prev[32] = "cl-999";
	do {
		struct store_sandbox *rows = NULL;
		size_t n = 0;
		char *next = NULL;
		assert_int_equal(store_sandbox_list(f->s, NULL, cursor, 10, &rows, &n, &next, &err),
				 0);
		for (size_t i = 0; i < n; i++) {
			/* newest first: ids strictly decreasing */
			assert_true(strcmp(rows[i].id, prev) < 0);
			snprintf(prev, sizeof(prev), "%s", rows[i].id);
		}
		total += (int)n;
		pages++;
		assert_int_equal(n, pages < 3 ? 10 : 5);
		assert_true(pages < 3 ? next != NULL : next == NULL);
		store_sandbox_list_free(rows, n);
		free(cursor);
		cursor = next;
	} while (cursor);
	assert_int_equal(pages, 3);
	assert_int_equal(total, 25);

	/* exactly one page: no next cursor */
	struct store_sandbox *rows = NULL;
	size_t n = 0;
	char *next = (char *)"sentinel";
	assert_int_equal(store_sandbox_list(f->s, NULL, NULL, 25, &rows, &n, &next, &err), 0);
	assert_int_equal(n, 25);
	assert_null(next);
	store_sandbox_list_free(rows, n);

	assert_int_equal(store_sandbox_list(f->s, NULL, "garbage", 10, &rows, &n, &next, &err),
			 -EINVAL);
	assert_int_equal(store_sandbox_list(f->s, NULL, NULL, 101, &rows, &n, &next, &err),
			 -EINVAL);
	assert_int_equal(store_sandbox_list(f->s, NULL, NULL, -1, &rows, &n, &next, &err), -EINVAL);
}

static size_t count_filter(struct store *s, const struct store_sandbox_filter *flt)
{
	struct wr_err err = {0};
	struct store_sandbox *rows = NULL;
	size_t n = 0;
	assert_int_equal(store_sandbox_list(s, flt, NULL, 100, &rows, &n, NULL, &err), 0);
	store_sandbox_list_free(rows, n);
	return n;
}

static void test_sandbox_filters(void **state)
{
	struct fix *f = *state;
	add_sandboxes(f->s, 30);
	struct store_sandbox_filter flt = {.states = 1u << STORE_SB_PAUSED};
	assert_int_equal(count_filter(f->s, &flt), 6); /* 0,5,...,25 */
	flt.states = 1u << STORE_SB_PAUSED | 1u << STORE_SB_RUNNING;
	assert_int_equal(count_filter(f->s, &flt), 30);
	flt.states = 1u << STORE_SB_KILLED;
	assert_int_equal(count_filter(f->s, &flt), 0);
	flt = (struct store_sandbox_filter){.template = "py"};
	assert_int_equal(count_filter(f->s, &flt), 10);
	const char *const meta[] = {"parity", "odd", NULL};
	flt = (struct store_sandbox_filter){.meta = meta};
	assert_int_equal(count_filter(f->s, &flt), 15);
	const char *const meta2[] = {"parity", "odd", "n", "3", NULL};
	flt.meta = meta2;
	assert_int_equal(count_filter(f->s, &flt), 1);
	flt.template = "py"; /* 3 is a py sandbox (3 % 3 == 0) */
	assert_int_equal(count_filter(f->s, &flt), 1);
	flt.template = "base";
	assert_int_equal(count_filter(f->s, &flt), 0);
	/* a key with SQL/JSON-path metacharacters is just a key */
	const char *const meta3[] = {"x'\"$.[", "1", NULL};
	flt = (struct store_sandbox_filter){.meta = meta3};
	assert_int_equal(count_filter(f->s, &flt), 0);
	flt = (struct store_sandbox_filter){.end_before = 102};
	assert_int_equal(count_filter(f->s, &flt), 3); /* end_at 100,101,102 */
	const char *const odd[] = {"k", NULL};
	flt = (struct store_sandbox_filter){.meta = odd};
	struct wr_err err = {0};
	struct store_sandbox *rows = NULL;
	size_t n = 0;
	assert_int_equal(store_sandbox_list(f->s, &flt, NULL, 10, &rows, &n, NULL, &err), -EINVAL);
}

static void test_keys(void **state)
{
	struct fix *f = *state;
	struct wr_err err = {0};
	assert_int_equal(store_key_count(f->s, &err), 0);
	cleanup_free char *plain = NULL;
	struct store_key k = {0};
	assert_int_equal(store_key_create(f->s, "admin", &plain, &k, &err), 0);
	assert_int_equal(strlen(plain), STORE_KEY_LEN);
	assert_memory_equal(plain, "e2b_", 4);
	for (const char *p = plain + 4; *p; p++)
		assert_non_null(strchr("0123456789abcdef", *p));
	assert_string_equal(k.name, "admin");
	assert_memory_equal(k.prefix, plain, STORE_KEY_PREFIX_LEN);

	cleanup_free char *plain2 = NULL;
	assert_int_equal(store_key_create(f->s, NULL, &plain2, NULL, &err), 0);
	assert_string_not_equal(plain, plain2);
	assert_int_equal(store_key_count(f->s, &err), 2);

	cleanup_free char *id = NULL;
	assert_int_equal(store_key_verify(f->s, plain, &id, &err), 0);
	assert_string_equal(id, k.id);

	/* wrong: one flipped hex digit, wrong prefix, bad format, empty, NULL */
	char bad[STORE_KEY_LEN + 1];
	memcpy(bad, plain, sizeof(bad));
	bad[STORE_KEY_LEN - 1] = bad[STORE_KEY_LEN - 1] == '0' ? '1' : '0';
	assert_int_equal(store_key_verify(f->s, bad, NULL, &err), -EACCES);
	assert_int_equal(store_key_verify(f->s, "e2b_53ae1fed82754c17ad8077fbc8bcdd90", NULL, &err),
			 -EACCES);
	assert_int_equal(store_key_verify(f->s, "E2B_XYZ", NULL, &err), -EACCES);
	assert_int_equal(store_key_verify(f->s, "", NULL, &err), -EACCES);
	assert_int_equal(store_key_verify(f->s, NULL, NULL, &err), -EACCES);
	bad[STORE_KEY_LEN - 1] = 'G';
	assert_int_equal(store_key_verify(f->s, bad, NULL, &err), -EACCES);

	struct store_key *rows = NULL;
	size_t n = 0;
	assert_int_equal(store_key_list(f->s, &rows, &n, &err), 0);
	assert_int_equal(n, 2);
	bool seen_used = false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].id, k.id) == 0)
			seen_used = rows[i].last_used > 0;
	assert_true(seen_used);
	store_key_list_free(rows, n);

	/* the plaintext never reaches the file */
	store_close(f->s);
	f->s = NULL;
	cleanup_free char *cmd = xasprintf("grep -rqa %s %s", plain + 4, f->dir);
	assert_int_not_equal(system(cmd), 0);
	assert_int_equal(store_open(f->db, &f->s, &err), 0);

	assert_int_equal(store_key_delete(f->s, k.id, &err), 0);
	assert_int_equal(store_key_verify(f->s, plain, NULL, &err), -EACCES);
	assert_int_equal(store_key_delete(f->s, k.id, &err), -ENOENT);
	assert_int_equal(store_key_verify(f->s, plain2, NULL, &err), 0);
	store_key_done(&k);

	const char *known = "e2b_0123456789abcdef0123456789abcdef01234567";
	assert_int_equal(store_key_import(f->s, "cfg", known, &err), 0);
	assert_int_equal(store_key_import(f->s, "cfg", known, &err), -EEXIST);
	assert_int_equal(store_key_verify(f->s, known, NULL, &err), 0);
	assert_int_equal(store_key_import(f->s, "cfg", "e2b_short", &err), -EINVAL);
	char longname[80];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[79] = '\0';
	cleanup_free char *p3 = NULL;
	assert_int_equal(store_key_create(f->s, longname, &p3, NULL, &err), -EINVAL);
}

static void test_templates_snapshots(void **state)
{
	struct fix *f = *state;
	struct wr_err err = {0};
	struct store_template t = {
		.name = "base", .kind = STORE_TPL_ROOTFS, .rootfs_path = "/r.img"};
	assert_int_equal(store_template_put(f->s, &t, &err), 0);
	struct store_template snap = {.name = "base-snap",
				      .kind = STORE_TPL_SNAPSHOT,
				      .rootfs_path = "/s/disk",
				      .snapshot_dir = "/s",
				      .parent = "base",
				      .vcpus = 1,
				      .memory_mb = 512,
				      .size_bytes = 1 << 20};
	assert_int_equal(store_template_put(f->s, &snap, &err), 0);
	struct store_template got = {0};
	assert_int_equal(store_template_get(f->s, "base-snap", &got, &err), 0);
	assert_int_equal(got.kind, STORE_TPL_SNAPSHOT);
	assert_string_equal(got.parent, "base");
	assert_string_equal(got.snapshot_dir, "/s");
	assert_int_equal(got.size_bytes, 1 << 20);
	assert_null(got.kernel_path);
	store_template_done(&got);
	assert_int_equal(store_template_get(f->s, "nope", &got, &err), -ENOENT);

	struct store_template *rows = NULL;
	size_t n = 0;
	assert_int_equal(store_template_list(f->s, &rows, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0].name, "base");
	store_template_list_free(rows, n);

	/* base has a child template: refused */
	assert_int_equal(store_template_delete(f->s, "base", &err), -EBUSY);
	struct store_sandbox sb = {.id = "cl-s", .template = "base-snap", .state = STORE_SB_PAUSED};
	assert_int_equal(store_sandbox_put(f->s, &sb, &err), 0);
	assert_int_equal(store_template_delete(f->s, "base-snap", &err), -EBUSY);
	assert_non_null(strstr(wr_err_msg(&err), "in use"));
	assert_int_equal(store_sandbox_set_state(f->s, "cl-s", STORE_SB_KILLED, NULL, &err), 0);
	assert_int_equal(store_template_delete(f->s, "base-snap", &err), 0);
	assert_int_equal(store_template_delete(f->s, "base", &err), 0);
	assert_int_equal(store_template_delete(f->s, "base", &err), -ENOENT);

	struct store_snapshot sn = {.id = "sn-1",
				    .name = "before",
				    .sandbox_id = "cl-s",
				    .template = "base",
				    .dir = "/snap/1",
				    .size_bytes = 42};
	assert_int_equal(store_snapshot_add(f->s, &sn, &err), 0);
	assert_int_equal(store_snapshot_add(f->s, &sn, &err), -EEXIST);
	struct store_snapshot sn2 = {.id = "sn-2", .name = "before", .sandbox_id = "cl-x"};
	assert_int_equal(store_snapshot_add(f->s, &sn2, &err), -EEXIST);
	sn2.name = NULL;
	assert_int_equal(store_snapshot_add(f->s, &sn2, &err), 0);
	struct store_snapshot g = {0};
	assert_int_equal(store_snapshot_get(f->s, "before", &g, &err), 0);
	assert_string_equal(g.id, "sn-1");
	assert_int_equal(g.size_bytes, 42);
	store_snapshot_done(&g);
	struct store_snapshot *srows = NULL;
	char *next = NULL;
	assert_int_equal(store_snapshot_list(f->s, NULL, NULL, 1, &srows, &n, &next, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(srows[0].id, "sn-2");
	assert_non_null(next);
	store_snapshot_list_free(srows, n);
	assert_int_equal(store_snapshot_list(f->s, NULL, next, 1, &srows, &n, NULL, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(srows[0].id, "sn-1");
	store_snapshot_list_free(srows, n);
	free(next);
	assert_int_equal(store_snapshot_list(f->s, "cl-x", NULL, 0, &srows, &n, NULL, &err), 0);
	assert_int_equal(n, 1);
	store_snapshot_list_free(srows, n);

	struct store_sandbox user = {.id = "cl-u", .template = "before", .state = STORE_SB_RUNNING};
	assert_int_equal(store_sandbox_put(f->s, &user, &err), 0);
	assert_int_equal(store_snapshot_delete(f->s, "sn-1", &err), -EBUSY);
	assert_int_equal(store_sandbox_delete(f->s, "cl-u", &err), 0);
	assert_int_equal(store_snapshot_delete(f->s, "sn-1", &err), 0);
	assert_int_equal(store_snapshot_delete(f->s, "sn-1", &err), -ENOENT);
}

static void test_events(void **state)
{
	struct fix *f = *state;
	struct wr_err err = {0};
	/* cl-a is team t1's, cl-b the operator's */
	struct store_sandbox a = {
		.id = "cl-a", .template = "t", .state = STORE_SB_RUNNING, .team = (char *)"t1"};
	assert_int_equal(store_sandbox_put(f->s, &a, &err), 0);
	for (int i = 0; i < 5; i++) {
		char d[16];
		snprintf(d, sizeof(d), "%d", i);
		assert_int_equal(store_event_add(f->s, i % 2 ? "cl-a" : "cl-b",
						 i == 4 ? "killed" : "state", d, &err),
				 0);
	}
	assert_int_equal(store_event_add(f->s, NULL, "agent.start", NULL, &err), 0);
	assert_int_equal(store_event_add(f->s, "cl-a", "", NULL, &err), -EINVAL);
	struct store_event *ev = NULL;
	size_t n = 0;
	struct store_event_filter q = {.sandbox_id = "cl-a", .limit = 100};
	assert_int_equal(store_event_list(f->s, &q, &ev, &n, &err), 0);
	assert_int_equal(n, 2); /* newest first, with the sandbox's team */
	assert_string_equal(ev[0].detail, "3");
	assert_string_equal(ev[1].detail, "1");
	assert_string_equal(ev[0].team, "t1");
	store_event_list_free(ev, n);
	q = (struct store_event_filter){.limit = 2};
	assert_int_equal(store_event_list(f->s, &q, &ev, &n, &err), 0);
	assert_int_equal(n, 2); /* the newest two */
	assert_null(ev[0].sandbox_id);
	assert_null(ev[0].team);
	assert_string_equal(ev[0].kind, "agent.start");
	assert_string_equal(ev[1].detail, "4");
	int64_t cursor = ev[1].seq;
	store_event_list_free(ev, n);
	/* the next page: older than the cursor */
	q = (struct store_event_filter){.before = cursor, .limit = 10};
	assert_int_equal(store_event_list(f->s, &q, &ev, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_string_equal(ev[0].detail, "3");
	assert_string_equal(ev[3].detail, "0");
	store_event_list_free(ev, n);
	/* a team sees its sandboxes' events only, not the agent's nor the operator's */
	q = (struct store_event_filter){.team = "t1", .limit = 10};
	assert_int_equal(store_event_list(f->s, &q, &ev, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(ev[0].sandbox_id, "cl-a");
	assert_string_equal(ev[1].sandbox_id, "cl-a");
	store_event_list_free(ev, n);
	q = (struct store_event_filter){.team = "t2", .limit = 10};
	assert_int_equal(store_event_list(f->s, &q, &ev, &n, &err), 0);
	assert_int_equal(n, 0);
	store_event_list_free(ev, n);
	q = (struct store_event_filter){.kind = "killed", .limit = 10};
	assert_int_equal(store_event_list(f->s, &q, &ev, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ev[0].sandbox_id, "cl-b");
	store_event_list_free(ev, n);
	/* the team outlives the sandbox's row (a failed create's row is removed by its undo) */
	assert_int_equal(store_sandbox_delete(f->s, "cl-a", &err), 0);
	q = (struct store_event_filter){.team = "t1", .limit = 10};
	assert_int_equal(store_event_list(f->s, &q, &ev, &n, &err), 0);
	assert_int_equal(n, 2);
	store_event_list_free(ev, n);
	q.limit = 0;
	assert_int_equal(store_event_list(f->s, &q, &ev, &n, &err), -EINVAL);
}

struct thr {
	struct store *s;
	int base;
	int fails;
};

static void *writer(void *arg)
{
	struct thr *t = arg;
	for (int i = 0; i < 50; i++) {
		struct wr_err err = {0};
		char id[32];
		snprintf(id, sizeof(id), "cl-t%d-%d", t->base, i);
		struct store_sandbox sb = {.id = id, .template = "base", .vcpus = 1};
		if (store_sandbox_put(t->s, &sb, &err) < 0 ||
		    store_sandbox_set_state(t->s, id, STORE_SB_RUNNING, NULL, &err) < 0 ||
		    store_event_add(t->s, id, "create", NULL, &err) < 0)
			t->fails++;
		struct store_sandbox got = {0};
		if (store_sandbox_get(t->s, id, &got, &err) < 0 || got.state != STORE_SB_RUNNING)
			t->fails++;
		store_sandbox_done(&got);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct fix *f = *state;
	pthread_t th[4];
	struct thr t[4];
	for (int i = 0; i < 4; i++) {
		t[i] = (struct thr){.s = f->s, .base = i};
		assert_int_equal(pthread_create(&th[i], NULL, writer, &t[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].fails, 0);
	}
	struct store_sandbox_filter flt = {.states = 1u << STORE_SB_RUNNING};
	assert_int_equal(count_filter(f->s, &flt), 100); /* capped by page size */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256_vectors),
		cmocka_unit_test(test_sha256_boundaries),
		cmocka_unit_test_setup_teardown(test_open_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_and_foreign, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_teams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sandbox_crud, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sandbox_paging, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sandbox_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_templates_snapshots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
