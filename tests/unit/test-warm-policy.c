/* SPDX-License-Identifier: MIT */
/* runtime/warm-policy: demand history -> warm pool target, budget caps, idle shrink. */
#include "runtime/warm-policy.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static const struct wp_cfg cfg = {
	.floor = 2, .max_per_key = 32, .budget_mb = 100000, .idle_ms = 300000, .burst_ms = 10000};

static void add_n(struct wp_hist *h, int64_t t, unsigned n, int64_t step)
{
	for (unsigned i = 0; i < n; i++)
		wp_hist_add(h, t + (int64_t)i * step);
}

static void test_floor_without_demand(void **state)
{
	(void)state;
	struct wp_hist h = {0};
	enum wp_reason why;
	assert_int_equal(wp_target(&cfg, &h, 1000, &why), 2);
	assert_int_equal(why, WP_FLOOR);
	/* one create now and then stays at the floor */
	add_n(&h, 0, 1, 0);
	assert_int_equal(wp_target(&cfg, &h, 1000, &why), 2);
	assert_int_equal(why, WP_FLOOR);
}

static void test_burst_raises(void **state)
{
	(void)state;
	struct wp_hist h = {0};
	enum wp_reason why;
	add_n(&h, 5000, 20, 1); /* 20 creates within 20 ms */
	assert_int_equal(wp_peak(&h, 6000, cfg.idle_ms, cfg.burst_ms), 20);
	assert_int_equal(wp_target(&cfg, &h, 6000, &why), 20);
	assert_int_equal(why, WP_BURST);
	/* still 20 a minute later (within idle_ms) */
	assert_int_equal(wp_target(&cfg, &h, 65000, &why), 20);
}

static void test_spread_arrivals_count_per_window(void **state)
{
	(void)state;
	struct wp_hist h = {0};
	/* one create every 2 s for a minute: 5 fall into any 10 s window */
	add_n(&h, 0, 30, 2000);
	assert_int_equal(wp_peak(&h, 60000, cfg.idle_ms, cfg.burst_ms), 5);
	assert_int_equal(wp_target(&cfg, &h, 60000, NULL), 5);
	/* two bursts: the larger counts */
	struct wp_hist b = {0};
	add_n(&b, 0, 6, 1);
	add_n(&b, 50000, 9, 1);
	add_n(&b, 100000, 4, 1);
	assert_int_equal(wp_target(&cfg, &b, 100100, NULL), 9);
}

static void test_idle_shrinks_to_floor(void **state)
{
	(void)state;
	struct wp_hist h = {0};
	enum wp_reason why;
	add_n(&h, 1000, 20, 1);
	assert_int_equal(wp_target(&cfg, &h, 1000 + cfg.idle_ms - 1, &why), 20);
	assert_int_equal(wp_target(&cfg, &h, 1020 + cfg.idle_ms, &why), 2);
	assert_int_equal(why, WP_IDLE);
	/* partly expired: only the recent part of the burst counts */
	assert_int_equal(wp_target(&cfg, &h, 1010 + cfg.idle_ms, NULL), 9);
}

static void test_max_and_off(void **state)
{
	(void)state;
	struct wp_hist h = {0};
	enum wp_reason why;
	add_n(&h, 0, 60, 1);
	struct wp_cfg c = cfg;
	c.max_per_key = 16;
	assert_int_equal(wp_target(&c, &h, 100, &why), 16);
	assert_int_equal(why, WP_MAX);
	/* a max below the floor never goes under the floor */
	c.max_per_key = 1;
	assert_int_equal(wp_target(&c, &h, 100, NULL), 2);
	/* floor 0: the pool is off whatever the demand */
	c = cfg;
	c.floor = 0;
	assert_int_equal(wp_target(&c, &h, 100, NULL), 0);
}

static void test_history_ring(void **state)
{
	(void)state;
	struct wp_hist h = {0};
	add_n(&h, 0, WP_HIST + 10, 100000); /* old, spread out */
	add_n(&h, 10000000, 7, 1);	    /* a recent burst after the ring wrapped */
	assert_int_equal(h.n, WP_HIST);
	assert_int_equal(wp_peak(&h, 10000100, cfg.idle_ms, cfg.burst_ms), 7);
}

static void test_budget(void **state)
{
	(void)state;
	struct wp_cfg c = cfg;
	c.budget_mb = 1000;
	unsigned t[3] = {20, 10, 2};
	uint64_t cost[3] = {40, 40, 100};
	enum wp_reason why[3] = {WP_BURST, WP_BURST, WP_FLOOR};
	uint64_t used = wp_fit_budget(&c, t, cost, why, 3);
	assert_true(used <= 1000);
	assert_int_equal(used, (uint64_t)t[0] * 40 + (uint64_t)t[1] * 40 + (uint64_t)t[2] * 100);
	/* the largest target shrank first; the floor-only key kept its floor */
	assert_int_equal(t[2], 2);
	assert_int_equal(t[0] + t[1], 20);
	assert_true(t[0] >= t[1] && t[0] - t[1] <= 1);
	assert_int_equal(why[0], WP_BUDGET);
	assert_int_equal(why[2], WP_FLOOR);
	/* within the budget nothing changes */
	unsigned u[2] = {3, 2};
	uint64_t uc[2] = {10, 10};
	assert_int_equal(wp_fit_budget(&c, u, uc, NULL, 2), 50);
	assert_int_equal(u[0], 3);
	/* a budget below the floors wins over them */
	c.budget_mb = 150;
	unsigned f[2] = {2, 2};
	uint64_t fc[2] = {100, 100};
	assert_true(wp_fit_budget(&c, f, fc, NULL, 2) <= 150);
	assert_int_equal(f[0] + f[1], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_floor_without_demand),
		cmocka_unit_test(test_burst_raises),
		cmocka_unit_test(test_spread_arrivals_count_per_window),
		cmocka_unit_test(test_idle_shrinks_to_floor),
		cmocka_unit_test(test_max_and_off),
		cmocka_unit_test(test_history_ring),
		cmocka_unit_test(test_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
