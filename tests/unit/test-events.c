/* SPDX-License-Identifier: MIT */
/* GET /v1/events: the query both roles parse and the shape they answer (daemon/events-view.h). */
#include "daemon/events-view.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *sb, const char *host, const char *kind, const char *limit,
		 const char *before, struct events_query *q)
{
	struct wr_err err = {0};
	return events_query_parse(sb, host, kind, limit, before, q, &err);
}

static void test_defaults_and_filters(void **state)
{
	(void)state;
	struct events_query q;
	assert_int_equal(parse(NULL, NULL, NULL, NULL, NULL, &q), 0);
	assert_int_equal(q.limit, EVENTS_LIMIT_DEFAULT);
	assert_int_equal(q.before, 0);
	assert_null(q.sandbox_id);
	assert_null(q.host_id);
	assert_null(q.kind);
	assert_int_equal(parse("cl-1a2b3c4d", "host-0a1b2c3d", "placed", "1000", "42", &q), 0);
	assert_string_equal(q.sandbox_id, "cl-1a2b3c4d");
	assert_string_equal(q.host_id, "host-0a1b2c3d");
	assert_string_equal(q.kind, "placed");
	assert_int_equal(q.limit, 1000);
	assert_int_equal(q.before, 42);
	/* an empty filter is no filter */
	assert_int_equal(parse("", "", "", "1", NULL, &q), 0);
	assert_null(q.sandbox_id);
	assert_null(q.kind);
	assert_int_equal(q.limit, 1);
}

static void test_bad_values(void **state)
{
	(void)state;
	struct events_query q = {.limit = 7};
	const char *bad_limits[] = {"0", "1001", "-1",	"+5",
				    "",	 "abc",	 "10x", "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad_limits) / sizeof(bad_limits[0]); i++)
		assert_int_equal(parse(NULL, NULL, NULL, bad_limits[i], NULL, &q), -EINVAL);
	const char *bad_before[] = {"0", "-3", "", "1.5", "x"};
	for (size_t i = 0; i < sizeof(bad_before) / sizeof(bad_before[0]); i++)
		assert_int_equal(parse(NULL, NULL, NULL, NULL, bad_before[i], &q), -EINVAL);
	assert_int_equal(q.limit, 7); /* untouched on failure */
	assert_int_equal(parse("cl-1 OR 1=1", NULL, NULL, NULL, NULL, &q), -EINVAL);
	assert_int_equal(parse(NULL, "host'", NULL, NULL, NULL, &q), -EINVAL);
	assert_int_equal(parse(NULL, NULL, "placed%", NULL, NULL, &q), -EINVAL);
	char longid[200];
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_int_equal(parse(longid, NULL, NULL, NULL, NULL, &q), -EINVAL);
	struct wr_err err = {0};
	assert_int_equal(events_query_parse(NULL, NULL, NULL, "5000", NULL, &q, &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "limit must be an integer 1..1000"));
}

static void test_json_shape(void **state)
{
	(void)state;
	cleanup_json json_t *o =
		events_json(17, 1700000000123, "placed", "cl-1", "host-2", NULL, "least loaded");
	assert_int_equal(json_integer_value(json_object_get(o, "seq")), 17);
	assert_string_equal(json_string_value(json_object_get(o, "time")),
			    "2023-11-14T22:13:20.123Z");
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "placed");
	assert_string_equal(json_string_value(json_object_get(o, "sandboxId")), "cl-1");
	assert_string_equal(json_string_value(json_object_get(o, "hostId")), "host-2");
	assert_true(json_is_null(json_object_get(o, "team")));
	assert_string_equal(json_string_value(json_object_get(o, "detail")), "least loaded");
	assert_int_equal(json_object_size(o), 7);
	cleanup_json json_t *p = events_json(1, 0, "host_lost", NULL, "host-2", NULL, NULL);
	assert_true(json_is_null(json_object_get(p, "sandboxId")));
	assert_true(json_is_null(json_object_get(p, "detail")));
	assert_int_equal(json_object_size(p), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_filters),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_json_shape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
