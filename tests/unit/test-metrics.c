/* SPDX-License-Identifier: MIT */
/* runtime/metrics: the point ring and its start/end window, the console log ring and its
 * cursor/direction/level selection, histograms, envd's /metrics range checks; daemon/prom: the
 * Prometheus text. */
#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "daemon/prom.h"
#include "runtime/runtime-internal.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

static struct metric_point pt(int64_t ts)
{
	return (struct metric_point){.ts = ts, .cpu_count = 1, .mem_used = ts * 10};
}

static void test_ring_window(void **state)
{
	(void)state;
	struct metric_ring r = {0};
	struct metric_point *w = NULL;
	assert_int_equal(metric_ring_window(&r, 0, 0, &w), 0);
	assert_null(w);
	struct metric_point last;
	assert_false(metric_ring_last(&r, &last));
	/* 100 points into a ring of 40: the newest 40 (ts 61..100) are kept, in order */
	for (int64_t t = 1; t <= 100; t++) {
		struct metric_point p = pt(t);
		metric_ring_push(&r, &p, 40);
	}
	assert_int_equal(r.n, 40);
	assert_true(r.cap <= 40);
	size_t n = metric_ring_window(&r, 0, 0, &w);
	assert_int_equal(n, 40);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(w[i].ts, 61 + (int64_t)i);
		assert_int_equal(w[i].mem_used, (61 + (int64_t)i) * 10);
	}
	free(w);
	/* inclusive bounds; start or end alone */
	n = metric_ring_window(&r, 70, 75, &w);
	assert_int_equal(n, 6);
	assert_int_equal(w[0].ts, 70);
	assert_int_equal(w[5].ts, 75);
	free(w);
	n = metric_ring_window(&r, 95, 0, &w);
	assert_int_equal(n, 6);
	assert_int_equal(w[0].ts, 95);
	free(w);
	n = metric_ring_window(&r, 0, 62, &w);
	assert_int_equal(n, 2);
	assert_int_equal(w[1].ts, 62);
	free(w);
	/* a window before what is kept, or after the newest */
	assert_int_equal(metric_ring_window(&r, 1, 60, &w), 0);
	assert_null(w);
	assert_int_equal(metric_ring_window(&r, 101, 0, &w), 0);
	assert_true(metric_ring_last(&r, &last));
	assert_int_equal(last.ts, 100);
	metric_ring_done(&r);
	assert_int_equal(r.n, 0);
}

static void push(struct log_ring *r, int64_t ts, enum metrics_level l, const char *msg)
{
	log_ring_push(r, ts, l, "console", msg, strlen(msg));
}

static void test_log_select(void **state)
{
	(void)state;
	struct log_ring r = {0};
	push(&r, 1000, METRICS_INFO, "boot");
	push(&r, 1000, METRICS_WARN, "disk slow"); /* same ms: made unique (1001) */
	push(&r, 1005, METRICS_INFO, "envd up");
	push(&r, 1003, METRICS_ERROR, "oops"); /* clock went back: after the previous one */
	assert_int_equal(r.n, 4);
	assert_int_equal(log_ring_at(&r, 1)->ts_ms, 1001);
	assert_int_equal(log_ring_at(&r, 3)->ts_ms, 1006);
	size_t idx[8];
	/* forward from the start, all */
	assert_int_equal(log_ring_select(&r, -1, true, METRICS_DEBUG, NULL, 8, idx), 4);
	assert_int_equal(idx[0], 0);
	assert_int_equal(idx[3], 3);
	/* forward from a cursor (inclusive), limit */
	assert_int_equal(log_ring_select(&r, 1001, true, METRICS_DEBUG, NULL, 2, idx), 2);
	assert_int_equal(idx[0], 1);
	assert_int_equal(idx[1], 2);
	/* backward from the newest, and from a cursor */
	assert_int_equal(log_ring_select(&r, -1, false, METRICS_DEBUG, NULL, 2, idx), 2);
	assert_int_equal(idx[0], 3);
	assert_int_equal(idx[1], 2);
	assert_int_equal(log_ring_select(&r, 1001, false, METRICS_DEBUG, NULL, 8, idx), 2);
	assert_int_equal(idx[0], 1);
	assert_int_equal(idx[1], 0);
	/* level is a minimum; search a substring */
	assert_int_equal(log_ring_select(&r, -1, true, METRICS_WARN, NULL, 8, idx), 2);
	assert_string_equal(log_ring_at(&r, idx[0])->msg, "disk slow");
	assert_string_equal(log_ring_at(&r, idx[1])->msg, "oops");
	assert_int_equal(log_ring_select(&r, -1, true, METRICS_DEBUG, "up", 8, idx), 1);
	assert_int_equal(idx[0], 2);
	assert_int_equal(log_ring_select(&r, 2000, true, METRICS_DEBUG, NULL, 8, idx), 0);
	log_ring_done(&r);

	/* the bounds: entries, bytes, line length */
	char big[METRICS_LOG_LINE_MAX + 100];
	memset(big, 'x', sizeof(big));
	log_ring_push(&r, 1, METRICS_INFO, "console", big, sizeof(big));
	assert_int_equal(strlen(log_ring_at(&r, 0)->msg), METRICS_LOG_LINE_MAX);
	for (int i = 0; i < METRICS_LOG_ENTRIES + 10; i++)
		push(&r, 2 + i, METRICS_INFO, "line");
	assert_int_equal(r.n, METRICS_LOG_ENTRIES);
	assert_string_equal(log_ring_at(&r, 0)->msg, "line"); /* the big one went first */
	log_ring_done(&r);
	for (int i = 0; i < 2 * METRICS_LOG_BYTES / METRICS_LOG_LINE_MAX; i++)
		log_ring_push(&r, i, METRICS_INFO, "console", big, METRICS_LOG_LINE_MAX);
	assert_true(r.bytes <= METRICS_LOG_BYTES);
	assert_int_equal(r.n, METRICS_LOG_BYTES / METRICS_LOG_LINE_MAX);
	log_ring_done(&r);

	static const struct {
		const char *line;
		enum metrics_level want;
	} lines[] = {
		{"2026-12-05T00:00:24.492Z info  [envd] envd listening", METRICS_INFO},
		{"2026-12-05T00:00:24.492Z warn  [envd] slow", METRICS_WARN},
		{"2026-12-05T00:00:24.492Z error [wrenn-init] envd exited", METRICS_ERROR},
		{"2026-12-05T00:00:24.492Z debug [envd] started pid 7", METRICS_DEBUG},
		{"[  1.380] wrenn-init: ready", METRICS_INFO},
		{"error: something in a guest program", METRICS_INFO},
		{"2026-12-05T00:00:24.492Z errors are fun", METRICS_INFO},
		{"2026-12-05", METRICS_INFO},
	};
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		assert_int_equal(metrics_line_level(lines[i].line, strlen(lines[i].line)),
				 lines[i].want);

	enum metrics_level l;
	assert_int_equal(metrics_level_parse("warn", &l), 0);
	assert_int_equal(l, METRICS_WARN);
	assert_int_equal(metrics_level_parse("WARN", &l), -EINVAL);
	assert_int_equal(metrics_level_parse(NULL, &l), -EINVAL);
	assert_string_equal(metrics_level_name(METRICS_ERROR), "error");
}

static void test_log_feed(void **state)
{
	(void)state;
	struct log_ring r = {0};
	char *part = NULL;
	size_t plen = 0;
	/* lines split across reads, CRLF, an empty line */
	const char *chunks[] = {"[  1.0] boo", "t\r\nsecond line\n\nthi", "rd", "\n", "no end yet"};
	for (size_t i = 0; i < 5; i++)
		log_ring_feed(&r, &part, &plen, chunks[i], strlen(chunks[i]), 100);
	assert_int_equal(r.n, 4);
	assert_string_equal(log_ring_at(&r, 0)->msg, "[  1.0] boot");
	assert_string_equal(log_ring_at(&r, 1)->msg, "second line");
	assert_string_equal(log_ring_at(&r, 2)->msg, "");
	assert_string_equal(log_ring_at(&r, 3)->msg, "third");
	assert_string_equal(log_ring_at(&r, 3)->source, "console");
	assert_int_equal(plen, 10); /* "no end yet" waits */
	log_ring_feed(&r, &part, &plen, "!\n", 2, 200);
	assert_string_equal(log_ring_at(&r, 4)->msg, "no end yet!");
	assert_int_equal(log_ring_at(&r, 4)->ts_ms, 200);
	assert_int_equal(plen, 0);
	/* a line longer than the cap: cut, the rest dropped up to its '\n' */
	size_t big = METRICS_LOG_LINE_MAX + 500;
	char *b = xmalloc(big + 8);
	memset(b, 'y', big);
	memcpy(b + big, "\nafter\n", 7);
	log_ring_feed(&r, &part, &plen, b, big + 7, 300);
	assert_int_equal(r.n, 7);
	assert_int_equal(strlen(log_ring_at(&r, 5)->msg), METRICS_LOG_LINE_MAX);
	assert_string_equal(log_ring_at(&r, 6)->msg, "after");
	/* a run without '\n' (a flood) goes out in pieces instead of growing */
	log_ring_feed(&r, &part, &plen, b, big, 400);
	assert_int_equal(r.n, 8);
	assert_int_equal(plen, 500);
	free(b);
	/* the level of a line in log.h's format */
	const char *w = "2026-12-05T00:00:24.492Z error [envd] boom\n";
	log_ring_feed(&r, &part, &plen, w, strlen(w), 500);
	assert_int_equal(log_ring_at(&r, r.n - 1)->level, METRICS_INFO); /* joined the flood */
	log_ring_feed(&r, &part, &plen, w, strlen(w), 500);
	assert_int_equal(log_ring_at(&r, r.n - 1)->level, METRICS_ERROR);
	free(part);
	log_ring_done(&r);
}

static void test_from_envd(void **state)
{
	(void)state;
	int64_t total = INT64_C(512) << 20;
	struct metric_point p = {.mem_total = total};
	struct wr_err err = {0};
	json_t *j = json_pack("{s:I,s:I,s:I,s:I}", "mem_used", (json_int_t)(100 << 20), "mem_cache",
			      (json_int_t)(10 << 20), "disk_used", (json_int_t)1000, "disk_total",
			      (json_int_t)5000);
	assert_int_equal(rt_metrics_from_envd(j, total, &p, &err), 0);
	assert_int_equal(p.mem_used, 100 << 20);
	assert_int_equal(p.disk_total, 5000);
	json_decref(j);
	/* memory above the guest's RAM, negative, not an integer, used > total: refused */
	const char *bad[] = {
		"{\"mem_used\": 1099511627776}",
		"{\"disk_used\": -1}",
		"{\"mem_cache\": \"lots\"}",
		"{\"disk_used\": 10, \"disk_total\": 5}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct metric_point q = {.mem_total = total, .mem_used = 7};
		j = json_loads(bad[i], 0, NULL);
		assert_non_null(j);
		wr_err_clear(&err);
		assert_int_equal(rt_metrics_from_envd(j, total, &q, &err), -EPROTO);
		assert_non_null(strstr(wr_err_msg(&err), "envd sent"));
		assert_int_equal(q.mem_used, 7); /* untouched */
		json_decref(j);
	}
}

static void test_hist_and_prom(void **state)
{
	(void)state;
	struct prom_data d = {.host_wide = true};
	d.by_state[STORE_SB_RUNNING] = 2;
	d.by_state[STORE_SB_PAUSED] = 1;
	metrics_hist_observe(&d.c.create, 0.3);
	metrics_hist_observe(&d.c.create, 0.5); /* le="0.5" is inclusive */
	metrics_hist_observe(&d.c.create, 120);
	metrics_hist_observe(&d.c.restore, NAN); /* counted as 0 */
	d.c.warm_hits = 3;
	d.c.warm_misses = 1;
	d.warm_ready = 2;
	struct runtime_warm_stat ws = {
		.template = "min\"i", .vcpus = 1, .memory_mb = 512, .target = 20, .ready = 7};
	d.warm = &ws;
	d.nwarm = 1;
	d.builds[2] = 5;
	assert_int_equal(d.c.create.count, 3);
	assert_int_equal(d.c.create.bucket[2], 2);
	assert_int_equal(d.c.create.bucket[METRICS_HIST_BUCKETS - 1], 1);
	cleanup_free char *t = prom_render(&d);
	const char *want[] = {
		"# TYPE wrenn_sandboxes gauge\n",
		"\nwrenn_sandboxes{state=\"running\"} 2\n",
		"\nwrenn_sandboxes{state=\"paused\"} 1\n",
		"\nwrenn_sandboxes{state=\"creating\"} 0\n",
		"\n# TYPE wrenn_sandbox_create_seconds histogram\n",
		"\nwrenn_sandbox_create_seconds_bucket{le=\"0.25\"} 0\n",
		"\nwrenn_sandbox_create_seconds_bucket{le=\"0.5\"} 2\n",
		"\nwrenn_sandbox_create_seconds_bucket{le=\"60\"} 2\n",
		"\nwrenn_sandbox_create_seconds_bucket{le=\"+Inf\"} 3\n",
		"\nwrenn_sandbox_create_seconds_sum 120.800000\n",
		"\nwrenn_sandbox_create_seconds_count 3\n",
		"\nwrenn_sandbox_restore_seconds_bucket{le=\"0.1\"} 1\n",
		"\nwrenn_warm_pool_hits_total 3\n",
		"\nwrenn_warm_pool_misses_total 1\n",
		"\nwrenn_warm_pool_ready 2\n",
		"\nwrenn_warm_pool_target{template=\"min\\\"i\",vcpus=\"1\",memory_mb=\"512\"} 20\n",
		"\nwrenn_warm_pool_template_ready{template=\"min\\\"i\",vcpus=\"1\",memory_mb=\"512\"} 7\n",
		"\nwrenn_template_builds{status=\"ready\"} 5\n",
		"\nwrenn_template_builds{status=\"error\"} 0\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(t, want[i]))
			fail_msg("missing %s in:\n%s", want[i], t);
	/* every line is a comment or "name{labels} value" */
	size_t lines = 0;
	for (char *l = t; *l; lines++) {
		char *nl = strchr(l, '\n');
		assert_non_null(nl);
		if (*l != '#') {
			char *sp = memchr(l, ' ', (size_t)(nl - l));
			assert_non_null(sp);
			char *end = NULL;
			strtod(sp + 1, &end);
			assert_ptr_equal(end, nl);
		}
		l = nl + 1;
	}
	assert_true(lines > 30);
	/* a team key: only its sandboxes by state */
	d.host_wide = false;
	cleanup_free char *team = prom_render(&d);
	assert_non_null(strstr(team, "wrenn_sandboxes{state=\"running\"} 2\n"));
	assert_null(strstr(team, "wrenn_sandbox_create_seconds"));
	assert_null(strstr(team, "warm_pool"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_window),   cmocka_unit_test(test_log_select),
		cmocka_unit_test(test_log_feed),      cmocka_unit_test(test_from_envd),
		cmocka_unit_test(test_hist_and_prom),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
