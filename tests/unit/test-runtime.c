/* SPDX-License-Identifier: MIT */
/* Pure logic of src/runtime: ids, tokens, the undo stack, the state machine; and what
 * runtime_open refuses up front. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "runtime/runtime-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_mint_id(void **state)
{
	(void)state;
	enum { N = 2000 };
	char(*ids)[RUNTIME_ID_MAX] = calloc(N, RUNTIME_ID_MAX);
	for (int i = 0; i < N; i++) {
		assert_int_equal(runtime_mint_id(ids[i]), 0);
		assert_int_equal(strlen(ids[i]), 3 + RUNTIME_ID_RANDOM_LEN);
		assert_memory_equal(ids[i], "cl-", 3);
		for (const char *c = ids[i] + 3; *c; c++)
			assert_true((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9'));
		assert_true(runtime_id_valid(ids[i]));
		assert_true(vm_valid_id(ids[i]));
	}
	/* 36^8 ids: a collision among 2000 means the randomness is broken. */
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			assert_string_not_equal(ids[i], ids[j]);
	/* Every alphabet character shows up (no modulo truncation to a subset). */
	int seen[128] = {0};
	for (int i = 0; i < N; i++)
		for (const char *c = ids[i] + 3; *c; c++)
			seen[(int)*c] = 1;
	for (const char *c = "abcdefghijklmnopqrstuvwxyz0123456789"; *c; c++)
		assert_true(seen[(int)*c]);
	free(ids);
}

static void test_id_valid(void **state)
{
	(void)state;
	assert_true(runtime_id_valid("cl-a"));
	assert_true(runtime_id_valid("cl-abc123xy"));
	assert_false(runtime_id_valid(NULL));
	assert_false(runtime_id_valid(""));
	assert_false(runtime_id_valid("cl-"));
	assert_false(runtime_id_valid("cl-ABC"));
	assert_false(runtime_id_valid("cl-a/b"));
	assert_false(runtime_id_valid("cl-../x"));
	assert_false(runtime_id_valid("xx-abc"));
	assert_false(runtime_id_valid("cl-0123456789012345678901234567890123456789x"));
}

static void test_token(void **state)
{
	(void)state;
	char *a = runtime_mint_token(), *b = runtime_mint_token();
	assert_int_equal(strlen(a), 32);
	assert_int_equal(strspn(a, "0123456789abcdef"), 32);
	assert_string_not_equal(a, b);
	free(a);
	free(b);
}

struct trace {
	char log[64];
	size_t n;
};

static void rec(void *ctx, void *arg)
{
	struct trace *t = ctx;
	t->log[t->n++] = *(const char *)arg;
	t->log[t->n] = '\0';
}

static void test_undo(void **state)
{
	(void)state;
	struct trace t = {0};
	struct undo_stack u = {0};
	static const char steps[] = "abcdefghijklmnop"; /* more than the first allocation */
	for (size_t i = 0; i < strlen(steps); i++)
		undo_push(&u, "step", rec, (void *)&steps[i]);
	assert_int_equal(undo_run(&u, &t), strlen(steps));
	assert_string_equal(t.log, "ponmlkjihgfedcba");
	assert_int_equal(undo_run(&u, &t), 0); /* ran once only */

	/* success: discarded entries never run */
	t.n = 0;
	t.log[0] = '\0';
	undo_push(&u, "x", rec, (void *)"x");
	undo_discard(&u);
	assert_int_equal(undo_run(&u, &t), 0);
	assert_string_equal(t.log, "");
	undo_done(&u);
	undo_done(&u); /* twice is safe */
}

static void test_state_machine(void **state)
{
	(void)state;
	struct wr_err e = {0};
	/* destroy: anything live */
	assert_int_equal(rt_state_check(RT_OP_DESTROY, STORE_SB_CREATING, "cl-a", &e), 0);
	assert_int_equal(rt_state_check(RT_OP_DESTROY, STORE_SB_PAUSED, "cl-a", &e), 0);
	assert_int_equal(rt_state_check(RT_OP_DESTROY, STORE_SB_KILLED, "cl-a", &e), -ENOENT);
	/* pause only from running */
	assert_int_equal(rt_state_check(RT_OP_PAUSE, STORE_SB_RUNNING, "cl-a", &e), 0);
	assert_int_equal(rt_state_check(RT_OP_PAUSE, STORE_SB_PAUSED, "cl-a", &e), -EBUSY);
	assert_non_null(strstr(wr_err_msg(&e), "paused"));
	assert_int_equal(rt_state_check(RT_OP_PAUSE, STORE_SB_CREATING, "cl-a", &e), -EBUSY);
	/* resume: paused does it, running is a no-op */
	assert_int_equal(rt_state_check(RT_OP_RESUME, STORE_SB_PAUSED, "cl-a", &e), 0);
	assert_int_equal(rt_state_check(RT_OP_RESUME, STORE_SB_RUNNING, "cl-a", &e), 1);
	assert_int_equal(rt_state_check(RT_OP_RESUME, STORE_SB_ERROR, "cl-a", &e), -EBUSY);
	/* connect needs a running VM */
	assert_int_equal(rt_state_check(RT_OP_CONNECT, STORE_SB_RUNNING, "cl-a", &e), 0);
	assert_int_equal(rt_state_check(RT_OP_CONNECT, STORE_SB_PAUSED, "cl-a", &e), -EBUSY);
	assert_int_equal(rt_state_check(RT_OP_CONNECT, STORE_SB_CREATING, "cl-a", &e), -EBUSY);
	/* TTL on running or paused */
	assert_int_equal(rt_state_check(RT_OP_SET_TIMEOUT, STORE_SB_PAUSED, "cl-a", &e), 0);
	assert_int_equal(rt_state_check(RT_OP_SET_TIMEOUT, STORE_SB_ERROR, "cl-a", &e), -EBUSY);
	assert_int_equal(rt_state_check(RT_OP_SET_TIMEOUT, STORE_SB_KILLED, "cl-a", &e), -ENOENT);
}

/* A guest NIC rate limit is Cloud Hypervisor's (NetConfig.rate_limiter_config): under QEMU the
 * runtime refuses it at open instead of failing every create. */
static void test_net_limit_needs_ch(void **state)
{
	(void)state;
	char dir[] = "/tmp/test-runtime-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct runtime_config cfg = {.data_dir = dir,
				     .vmm = "qemu",
				     .accel = "tcg",
				     .no_jail = true,
				     .no_reaper = true,
				     .no_auto_snapshot = true,
				     .warm_pool = -1,
				     .net_bytes_per_sec = 25u << 20};
	struct runtime *rt = NULL;
	struct wr_err err = {0};
	assert_int_equal(runtime_open(&cfg, &rt, &err), -ENOTSUP);
	assert_null(rt);
	assert_non_null(strstr(wr_err_msg(&err), "Cloud Hypervisor"));
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mint_id),	      cmocka_unit_test(test_id_valid),
		cmocka_unit_test(test_token),	      cmocka_unit_test(test_undo),
		cmocka_unit_test(test_state_machine), cmocka_unit_test(test_net_limit_needs_ch),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
