/* SPDX-License-Identifier: MIT */
/* basic/logrot: copy-truncate rotation of a log another process appends to, with logical offsets
 * that go on across rotations. */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/logrot.h"
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

/* byte i of the whole stream */
static char pat(int64_t i)
{
	return (char)('a' + i % 23);
}

static void append(int fd, int64_t from, size_t n)
{
	cleanup_free char *b = xmalloc(n);
	for (size_t i = 0; i < n; i++)
		b[i] = pat(from + (int64_t)i);
	assert_int_equal(write_full(fd, b, n), 0);
}

static int64_t fsize(const char *p)
{
	struct stat st;
	return stat(p, &st) < 0 ? -1 : st.st_size;
}

/* Read [off, off+n) through a fresh view and compare with the pattern. */
static void check_range(const char *log, int64_t off, size_t n)
{
	struct logrot_view v;
	assert_int_equal(logrot_view_open(log, &v, NULL), 0);
	cleanup_free char *b = xmalloc(n);
	size_t got = 0;
	while (got < n) {
		ssize_t r = logrot_view_read(&v, off + (int64_t)got, b + got, n - got);
		assert_true(r > 0);
		got += (size_t)r;
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(b[i], pat(off + (int64_t)i));
	logrot_view_close(&v);
}

static void test_rotate_and_offsets(void **state)
{
	(void)state;
	char dir[] = "/tmp/test-logrot-XXXXXX";
	assert_non_null(mkdtemp(dir));
	cleanup_free char *log = xasprintf("%s/vmm.log", dir);
	cleanup_free char *old = xasprintf("%s/vmm.log.1", dir);
	struct wr_err e = {0};
	/* no file yet: nothing to do, and a view says ENOENT */
	assert_int_equal(logrot_cap(log, 4096, &e), 0);
	struct logrot_view v;
	assert_int_equal(logrot_view_open(log, &v, NULL), -ENOENT);
	assert_int_equal(logrot_cap(log, 0, NULL), -EINVAL);

	/* the writer keeps its O_APPEND fd across rotations, like the VMM */
	cleanup_close int w = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	assert_true(w >= 0);
	append(w, 0, 4096);
	assert_int_equal(logrot_cap(log, 4096, &e), 0); /* at the cap, not past it */
	append(w, 4096, 6000);
	assert_int_equal(logrot_cap(log, 4096, &e), 1);
	assert_int_equal(fsize(log), 0);
	assert_int_equal(fsize(old), 4096); /* only the last cap bytes are kept */
	assert_int_equal(logrot_view_open(log, &v, NULL), 0);
	assert_int_equal(logrot_view_start(&v), 10096 - 4096);
	assert_int_equal(logrot_view_end(&v), 10096);
	char c;
	/* before the start: clamped to the start */
	assert_int_equal(logrot_view_read(&v, 0, &c, 1), 1);
	assert_int_equal(c, pat(10096 - 4096));
	assert_int_equal(logrot_view_read(&v, 10096, &c, 1), 0);
	logrot_view_close(&v);
	check_range(log, 6000, 4096);

	/* the writer's next append lands at 0 of the truncated file: logical 10096 */
	append(w, 10096, 5000);
	assert_int_equal(fsize(log), 5000);
	check_range(log, 9000, 6096); /* across .1 and the current file */
	assert_int_equal(logrot_cap(log, 4096, &e), 1);
	append(w, 15096, 10);
	assert_int_equal(logrot_view_open(log, &v, NULL), 0);
	assert_int_equal(logrot_view_start(&v), 15096 - 4096);
	assert_int_equal(logrot_view_end(&v), 15106);
	logrot_view_close(&v);
	check_range(log, 15096 - 4096, 4106);
	/* a flood stays bounded: many rotations, disk use stays at most 2 caps */
	for (int i = 0; i < 50; i++) {
		append(w, 15106 + (int64_t)i * 9000, 9000);
		assert_int_equal(logrot_cap(log, 4096, &e), 1);
		assert_true(fsize(log) + fsize(old) <= 2 * 4096);
	}
	check_range(log, 15106 + 50 * 9000 - 4096, 4096);

	/* a corrupt .base counts as 0 and offsets stay non-negative */
	cleanup_free char *base = xasprintf("%s/vmm.log.base", dir);
	assert_int_equal(write_file_atomic(base, "-5x", 3, 0640), 0);
	assert_int_equal(logrot_view_open(log, &v, NULL), 0);
	assert_true(logrot_view_start(&v) >= 0);
	logrot_view_close(&v);
	assert_int_equal(rm_rf(dir), 0);
}

static void test_parse_size(void **state)
{
	(void)state;
	int64_t v = -1;
	assert_int_equal(logrot_parse_size("0", 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(logrot_parse_size("4194304", INT64_MAX, &v), 0);
	assert_int_equal(v, 4194304);
	assert_int_equal(logrot_parse_size("10", 10, &v), 0);
	assert_int_equal(logrot_parse_size("11", 10, &v), -EINVAL);
	assert_int_equal(logrot_parse_size("9223372036854775807", INT64_MAX, &v), 0);
	assert_int_equal(v, INT64_MAX);
	assert_int_equal(logrot_parse_size("9223372036854775808", INT64_MAX, &v), -EINVAL);
	assert_int_equal(logrot_parse_size("", 10, &v), -EINVAL);
	assert_int_equal(logrot_parse_size(NULL, 10, &v), -EINVAL);
	assert_int_equal(logrot_parse_size("-1", 10, &v), -EINVAL);
	assert_int_equal(logrot_parse_size("+1", 10, &v), -EINVAL);
	assert_int_equal(logrot_parse_size("1k", 10000, &v), -EINVAL);
	assert_int_equal(logrot_parse_size(" 1", 10, &v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rotate_and_offsets),
		cmocka_unit_test(test_parse_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
