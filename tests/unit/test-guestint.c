/* SPDX-License-Identifier: MIT */
/* Integers from the guest (envd messages) are range-checked: agent_guest_int and the exit-code
 * mapping refuse what is out of range with an error that names the field. */
#include "daemon/agent.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

static json_t *js(const char *text)
{
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	return j;
}

static void test_guest_int(void **state)
{
	(void)state;
	json_t *m = js("{\"pid\":42,\"big\":9007199254740993,\"neg\":-5,\"str\":\"123\","
		       "\"bad\":\"12x\",\"real\":1.5,\"mem_used\":1024,\"nul\":null}");
	int64_t v = -1;
	struct wr_err e = {0};
	assert_int_equal(agent_guest_int(m, "pid", 1, AGENT_GUEST_PID_MAX, &v, &e), 0);
	assert_int_equal(v, 42);
	/* proto3 int64 as a decimal string; snake_case found by its camelCase name */
	assert_int_equal(agent_guest_int(m, "str", 0, 1000, &v, &e), 0);
	assert_int_equal(v, 123);
	assert_int_equal(agent_guest_int(m, "memUsed", 0, AGENT_GUEST_SIZE_MAX, &v, &e), 0);
	assert_int_equal(v, 1024);
	/* absent (or null): -ENOENT, err untouched, value kept */
	v = 7;
	assert_int_equal(agent_guest_int(m, "nope", 0, 10, &v, &e), -ENOENT);
	assert_int_equal(agent_guest_int(m, "nul", 0, 10, &v, &e), -ENOENT);
	assert_int_equal(v, 7);
	assert_int_equal(e.code, 0);
	/* out of range: named, with the range */
	assert_int_equal(agent_guest_int(m, "big", 1, AGENT_GUEST_PID_MAX, &v, &e), -EPROTO);
	assert_non_null(strstr(wr_err_msg(&e), "big = 9007199254740993, outside 1..4194304"));
	assert_int_equal(v, 7);
	wr_err_clear(&e);
	assert_int_equal(agent_guest_int(m, "neg", 0, AGENT_GUEST_SIZE_MAX, &v, &e), -EPROTO);
	assert_non_null(strstr(wr_err_msg(&e), "neg = -5"));
	wr_err_clear(&e);
	assert_int_equal(agent_guest_int(m, "pid", 43, 50, &v, &e), -EPROTO);
	wr_err_clear(&e);
	/* not an integer */
	assert_int_equal(agent_guest_int(m, "bad", 0, 100, &v, &e), -EPROTO);
	assert_non_null(strstr(wr_err_msg(&e), "bad that is not an integer"));
	wr_err_clear(&e);
	assert_int_equal(agent_guest_int(m, "real", 0, 100, &v, &e), -EPROTO);
	assert_int_equal(v, 7);
	json_decref(m);
}

static void test_exit_code_ranges(void **state)
{
	(void)state;
	static const struct {
		const char *msg;
		int want;
	} cases[] = {
		{"{\"exitCode\":255,\"exited\":true}", 255},
		{"{\"exitCode\":256,\"exited\":true}", -1},
		{"{\"exitCode\":4294967296,\"exited\":true}", -1},
		{"{\"exitCode\":-2,\"exited\":true}", -1},
		{"{\"exitCode\":\"x\",\"exited\":true}", -1},
		{"{\"exitCode\":null,\"exited\":true}", 0},
		{"{\"exitCode\":-1,\"status\":\"signal: signal 64\"}", 192},
		{"{\"exitCode\":-1,\"status\":\"signal: signal 65\"}", 1},
		{"{\"exitCode\":-1,\"status\":\"signal: signal 99999999999999999999\"}", 1},
		{"{\"exitCode\":-1,\"status\":\"signal: signal -3\"}", 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *e = js(cases[i].msg);
		int got = agent_exit_code(e);
		if (got != cases[i].want)
			fail_msg("%s: got %d, want %d", cases[i].msg, got, cases[i].want);
		json_decref(e);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guest_int),
		cmocka_unit_test(test_exit_code_ranges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
