/* SPDX-License-Identifier: MIT */
/* basic/base64: the one base64 of the tree (OpenSSL underneath). */
#include "basic/base64.h"
#include "basic/cleanup.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

/* RFC 4648 section 10 vectors */
static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};

static void test_rfc_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(plain) / sizeof(*plain); i++) {
		cleanup_free char *e = base64_encode(plain[i], strlen(plain[i]));
		assert_string_equal(e, coded[i]);
		cleanup_free uint8_t *d = NULL;
		size_t n = 99;
		assert_int_equal(base64_decode(coded[i], &d, &n), 0);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(d, plain[i], n);
		assert_int_equal(d[n], 0);
	}
}

static void test_binary_and_large(void **state)
{
	(void)state;
	/* every byte value, and more than one chunk (3 MiB) of data */
	size_t n = 4u << 20;
	cleanup_free uint8_t *bin = malloc(n);
	assert_non_null(bin);
	for (size_t i = 0; i < n; i++)
		bin[i] = (uint8_t)(i * 7 + (i >> 11));
	cleanup_free char *e = base64_encode(bin, n);
	assert_int_equal(strlen(e), (n + 2) / 3 * 4);
	cleanup_free uint8_t *d = NULL;
	size_t dn = 0;
	assert_int_equal(base64_decode(e, &d, &dn), 0);
	assert_int_equal(dn, n);
	assert_memory_equal(d, bin, n);
}

static void test_lenient_and_strict(void **state)
{
	(void)state;
	uint8_t *d = NULL;
	size_t n = 0;
	/* padding optional; URL-safe alphabet accepted */
	assert_int_equal(base64_decode("Zm9vYg", &d, &n), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(d, "foob", 4);
	free(d);
	assert_int_equal(base64_decode("-_8=", &d, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(d[0], 0xfb);
	assert_int_equal(d[1], 0xff);
	free(d);
	/* refused: a stray character, whitespace (EVP_DecodeBlock would skip it), a 4k+1
	 * length, three '=' */
	d = NULL;
	assert_int_equal(base64_decode("Zm9v!A==", &d, &n), -EINVAL);
	assert_int_equal(base64_decode(" Zm9v", &d, &n), -EINVAL);
	assert_int_equal(base64_decode("Zm9v\n", &d, &n), -EINVAL);
	assert_int_equal(base64_decode("Z", &d, &n), -EINVAL);
	assert_int_equal(base64_decode("Zg===", &d, &n), -EINVAL);
	assert_null(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_vectors),
		cmocka_unit_test(test_binary_and_large),
		cmocka_unit_test(test_lenient_and_strict),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
