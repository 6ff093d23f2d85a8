/* SPDX-License-Identifier: MIT */
/* The choice of the fetched-template garbage collection (daemon/tplgc-pick.c): which copies go,
 * given their sizes, last use, whether they are in use, the TTL and the size budget. */
#include "daemon/tplgc.h"

#include "basic/fdio.h"
#include "store/store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#define S 1000
#define MIN (60 * S)
#define GB (INT64_C(1000) * 1000 * 1000)
static const int64_t now = INT64_C(1700000000000);

static void test_ttl(void **state)
{
	(void)state;
	struct tplgc_item it[] = {
		{.name = "old", .bytes = GB, .last_used_ms = now - 25 * 60 * MIN},
		{.name = "fresh", .bytes = GB, .last_used_ms = now - MIN},
		{.name = "old-busy",
		 .bytes = GB,
		 .last_used_ms = now - 48 * 60 * MIN,
		 .in_use = true},
		{.name = "exact", .bytes = GB, .last_used_ms = now - 24 * 60 * MIN},
	};
	assert_int_equal(tplgc_pick(it, 4, now, 24 * 60 * MIN, 0), 2);
	assert_int_equal(it[0].why, TPLGC_TTL);
	assert_int_equal(it[1].why, TPLGC_KEEP);
	assert_int_equal(it[2].why, TPLGC_KEEP); /* in use: never */
	assert_int_equal(it[3].why, TPLGC_TTL);	 /* the TTL reached counts */
	/* ttl 0 = kept forever, no budget: nothing */
	assert_int_equal(tplgc_pick(it, 4, now, 0, 0), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(it[i].why, TPLGC_KEEP);
}

static void test_budget_lru(void **state)
{
	(void)state;
	/* 4 + 3 + 2 + 5 (in use) = 14 GB over a 10 GB budget: the least recently used idle ones
	 * go until at most 10 GB are left; the one in use counts but stays */
	struct tplgc_item it[] = {
		{.name = "a", .bytes = 4 * GB, .last_used_ms = now - 10 * MIN},
		{.name = "b", .bytes = 3 * GB, .last_used_ms = now - 30 * MIN},
		{.name = "c", .bytes = 2 * GB, .last_used_ms = now - 20 * MIN},
		{.name = "d", .bytes = 5 * GB, .last_used_ms = now - 90 * MIN, .in_use = true},
	};
	assert_int_equal(tplgc_pick(it, 4, now, 0, 10 * GB), 2);
	assert_int_equal(it[1].why, TPLGC_BUDGET); /* b: the oldest idle one, 14 -> 11 */
	assert_int_equal(it[2].why, TPLGC_BUDGET); /* c: the next, 11 -> 9: under */
	assert_int_equal(it[0].why, TPLGC_KEEP);
	assert_int_equal(it[3].why, TPLGC_KEEP);
	/* 8 GB: every idle one goes (14 -> 5) */
	assert_int_equal(tplgc_pick(it, 4, now, 0, 8 * GB), 3);
	assert_int_equal(it[3].why, TPLGC_KEEP);
	/* the one in use alone is over the budget: the others go, it stays */
	assert_int_equal(tplgc_pick(it, 4, now, 0, 1 * GB), 3);
	assert_int_equal(it[3].why, TPLGC_KEEP);
}

static void test_budget_until_under(void **state)
{
	(void)state;
	struct tplgc_item it[] = {
		{.name = "a", .bytes = 4 * GB, .last_used_ms = now - 10 * MIN},
		{.name = "b", .bytes = 3 * GB, .last_used_ms = now - 30 * MIN},
		{.name = "c", .bytes = 2 * GB, .last_used_ms = now - 20 * MIN},
	};
	/* 9 GB over 4: b (6 left), c (4 left): done, a stays */
	assert_int_equal(tplgc_pick(it, 3, now, 0, 4 * GB), 2);
	assert_int_equal(it[0].why, TPLGC_KEEP);
	/* under the budget: nothing */
	assert_int_equal(tplgc_pick(it, 3, now, 0, 9 * GB), 0);
	/* over it by one byte: the LRU one */
	assert_int_equal(tplgc_pick(it, 3, now, 0, 9 * GB - 1), 1);
	assert_int_equal(it[1].why, TPLGC_BUDGET);
}

static void test_budget_grace_and_ttl_first(void **state)
{
	(void)state;
	/* a copy fetched a moment ago (its create is on the way) is not removed for the budget,
	 * even when it alone is over it; the TTL's victims count as freed first */
	struct tplgc_item it[] = {
		{.name = "just-fetched", .bytes = 30 * GB, .last_used_ms = now - 5 * S},
		{.name = "expired", .bytes = 10 * GB, .last_used_ms = now - 2 * 60 * MIN},
		{.name = "idle", .bytes = 1 * GB, .last_used_ms = now - 30 * MIN},
	};
	assert_int_equal(tplgc_pick(it, 3, now, 60 * MIN, 20 * GB), 2);
	assert_int_equal(it[0].why, TPLGC_KEEP);
	assert_int_equal(it[1].why, TPLGC_TTL);
	assert_int_equal(it[2].why, TPLGC_BUDGET);
	/* equal last use: the larger first, then by name */
	struct tplgc_item eq[] = {
		{.name = "y", .bytes = 1 * GB, .last_used_ms = now - 30 * MIN},
		{.name = "x", .bytes = 1 * GB, .last_used_ms = now - 30 * MIN},
		{.name = "big", .bytes = 2 * GB, .last_used_ms = now - 30 * MIN},
	};
	assert_int_equal(tplgc_pick(eq, 3, now, 0, 2 * GB), 1);
	assert_int_equal(eq[2].why, TPLGC_BUDGET);
	assert_int_equal(tplgc_pick(eq, 3, now, 0, 1 * GB), 2);
	assert_int_equal(eq[1].why, TPLGC_BUDGET);
	assert_int_equal(eq[0].why, TPLGC_KEEP);
	assert_int_equal(tplgc_pick(NULL, 0, now, MIN, GB), 0);
}

/* The store's side: the origin and last use round-trip, a touch never moves back, in use = a
 * live sandbox or a template made from it (migration 6 -> 7). */
static void test_store_columns(void **state)
{
	(void)state;
	char dir[] = "/tmp/test-tplgc.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char db[64];
	snprintf(db, sizeof(db), "%s/db", dir);
	struct store *st = NULL;
	struct wr_err err = {0};
	assert_int_equal(store_open(db, &st, &err), 0);
	struct store_template t = {.name = "snap1",
				   .kind = STORE_TPL_SNAPSHOT,
				   .snapshot_dir = "/nonexistent",
				   .fetched_from = "host-a",
				   .last_used_at = 1000};
	assert_int_equal(store_template_put(st, &t, &err), 0);
	struct store_template mine = {.name = "built", .kind = STORE_TPL_SNAPSHOT};
	assert_int_equal(store_template_put(st, &mine, &err), 0);
	struct store_template got = {0};
	assert_int_equal(store_template_get(st, "snap1", &got, &err), 0);
	assert_string_equal(got.fetched_from, "host-a");
	assert_int_equal(got.last_used_at, 1000);
	store_template_done(&got);
	assert_int_equal(store_template_get(st, "built", &got, &err), 0);
	assert_null(got.fetched_from);
	store_template_done(&got);
	assert_int_equal(store_template_touch(st, "snap1", 5000, &err), 0);
	assert_int_equal(store_template_touch(st, "snap1", 3000, &err), 0);
	assert_int_equal(store_template_touch(st, "nosuch", 3000, &err), 0);
	assert_int_equal(store_template_get(st, "snap1", &got, &err), 0);
	assert_int_equal(got.last_used_at, 5000);
	store_template_done(&got);
	bool used = true;
	assert_int_equal(store_template_in_use(st, "snap1", &used, &err), 0);
	assert_false(used);
	struct store_sandbox sb = {.id = "sb1",
				   .template = "snap1",
				   .state = STORE_SB_PAUSED,
				   .vcpus = 1,
				   .memory_mb = 256,
				   .slot = -1};
	assert_int_equal(store_sandbox_put(st, &sb, &err), 0);
	assert_int_equal(store_template_in_use(st, "snap1", &used, &err), 0);
	assert_true(used);
	sb.state = STORE_SB_KILLED;
	assert_int_equal(store_sandbox_put(st, &sb, &err), 0);
	assert_int_equal(store_template_in_use(st, "snap1", &used, &err), 0);
	assert_false(used);
	struct store_template child = {
		.name = "child", .kind = STORE_TPL_SNAPSHOT, .parent = "snap1"};
	assert_int_equal(store_template_put(st, &child, &err), 0);
	assert_int_equal(store_template_in_use(st, "snap1", &used, &err), 0);
	assert_true(used);
	store_close(st);
	assert_int_equal(rm_rf(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ttl),
		cmocka_unit_test(test_budget_lru),
		cmocka_unit_test(test_budget_until_under),
		cmocka_unit_test(test_budget_grace_and_ttl_first),
		cmocka_unit_test(test_store_columns),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
