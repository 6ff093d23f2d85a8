/* SPDX-License-Identifier: MIT */
#include "basic/err.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/deadline.h"
#include "basic/hex.h"
#include "basic/log.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_set_returns_negative(void **state)
{
	(void)state;
	struct wr_err e = {0};
	assert_int_equal(wr_err_set(&e, EINVAL, "bad %d", 7), -EINVAL);
	assert_int_equal(e.code, EINVAL);
	assert_string_equal(wr_err_msg(&e), "bad 7");
	assert_int_equal(wr_err_set(&e, -ENOENT, "x"), -ENOENT);
	assert_int_equal(wr_err_set(NULL, EPERM, "ignored"), -EPERM);
}

static void test_prefix_and_errno(void **state)
{
	(void)state;
	struct wr_err e = {0};
	wr_err_errno(&e, ENOENT, "open %s", "/x");
	assert_string_equal(e.msg, "open /x: No such file or directory");
	assert_int_equal(wr_err_prefix(&e, e.code, "create %s", "cl-1"), -ENOENT);
	assert_string_equal(e.msg, "create cl-1: open /x: No such file or directory");
	struct wr_err f = {0};
	wr_err_prefix(&f, EACCES, "ctx");
	assert_string_equal(f.msg, "ctx: Permission denied");
	wr_err_clear(&f);
	assert_int_equal(f.code, 0);
	assert_string_equal(wr_err_msg(&f), "");
}

static void test_take_ptr_fd(void **state)
{
	(void)state;
	cleanup_free char *p = xstrdup("abc");
	char *q = TAKE_PTR(p);
	assert_null(p);
	assert_string_equal(q, "abc");
	free(q);
	cleanup_close int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int g = TAKE_FD(fd);
	assert_int_equal(fd, -1);
	close(g);
}

static void test_files(void **state)
{
	(void)state;
	char dir[] = "/tmp/wrenn-unit-XXXXXX";
	assert_non_null(mkdtemp(dir));
	cleanup_free char *sub = xasprintf("%s/a/b/c", dir);
	assert_int_equal(mkdir_p(sub, 0755), 0);
	cleanup_free char *f = xasprintf("%s/file", sub);
	assert_int_equal(write_file_atomic(f, "hello", 5, 0644), 0);
	cleanup_free char *buf = NULL;
	size_t n = 0;
	assert_int_equal(read_file(f, 1024, &buf, &n), 0);
	assert_int_equal(n, 5);
	assert_string_equal(buf, "hello");
	cleanup_free char *big = NULL;
	assert_int_equal(read_file(f, 2, &big, NULL), -EFBIG);
	assert_int_equal(rm_rf(dir), 0);
	struct stat st;
	assert_int_equal(stat(dir, &st), -1);
	assert_int_equal(rm_rf(dir), 0);
}

static void test_hex(void **state)
{
	(void)state;
	char out[9];
	hex_encode((const unsigned char[]){0x00, 0x9f, 0xa5, 0xff}, 4, out);
	assert_string_equal(out, "009fa5ff");
	hex_encode("", 0, out);
	assert_string_equal(out, "");
	assert_int_equal(hex_digit('0'), 0);
	assert_int_equal(hex_digit('9'), 9);
	assert_int_equal(hex_digit('a'), 10);
	assert_int_equal(hex_digit('F'), 15);
	assert_int_equal(hex_digit('g'), -1);
	assert_int_equal(hex_digit('/'), -1);
}

static size_t finish(char *line, size_t cap, int n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t len = log_line_finish(line, cap, n, fmt, ap);
	va_end(ap);
	return len;
}

static void test_log_line(void **state)
{
	(void)state;
	char line[16] = "pre: ";
	assert_int_equal(finish(line, sizeof(line), 5, "%s %d", "ab", 7), 10);
	assert_memory_equal(line, "pre: ab 7\n", 10);
	/* too long: cut so the newline still fits */
	assert_int_equal(finish(line, sizeof(line), 5, "%s", "0123456789abcdef"), 15);
	assert_memory_equal(line, "pre: 012345678\n", 15);
}

static void test_deadline(void **state)
{
	(void)state;
	struct timespec now, d;
	for (unsigned ms = 0; ms < 3000; ms += 250) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		d = deadline_after_ms(CLOCK_MONOTONIC, ms);
		assert_true(d.tv_nsec >= 0 && d.tv_nsec < 1000000000L);
		int64_t diff = (int64_t)(d.tv_sec - now.tv_sec) * 1000 +
			       (d.tv_nsec - now.tv_nsec) / 1000000;
		assert_true(diff >= (int64_t)ms && diff < (int64_t)ms + 100);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_set_returns_negative),
		cmocka_unit_test(test_prefix_and_errno),
		cmocka_unit_test(test_take_ptr_fd),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_log_line),
		cmocka_unit_test(test_deadline),
	};
	return cmocka_run_group_tests_name("basic", tests, NULL, NULL);
}
