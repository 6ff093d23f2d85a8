/* SPDX-License-Identifier: MIT */
/* Templates across hosts (daemon/tplmanifest.c): manifests and their content digest, fetch
 * tokens, manifest signatures and the snapshot compatibility rule. */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "daemon/tplmanifest.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *mkdir_tmp(void)
{
	char t[] = "/tmp/wrenn-tplm.XXXXXX";
	assert_non_null(mkdtemp(t));
	return xstrdup(t);
}

static void put(const char *dir, const char *name, const char *text)
{
	cleanup_free char *p = xasprintf("%s/%s", dir, name);
	assert_int_equal(write_file_atomic(p, text, strlen(text), 0640), 0);
}

/* sha256("abc") and sha256("") */
#define ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void test_build_and_digest(void **state)
{
	(void)state;
	cleanup_free char *d = mkdir_tmp();
	put(d, "state", "abc");
	put(d, "memory", "");
	put(d, ".wrenn-manifest.json", "{}"); /* the agent's own: left out */
	cleanup_free char *sub = xasprintf("%s/subdir", d);
	assert_int_equal(mkdir_p(sub, 0750), 0); /* not a regular file: left out */
	json_t *m = NULL;
	struct wr_err err = {0};
	assert_int_equal(tplm_build(d, &m, &err), 0);
	json_t *files = json_object_get(m, "files");
	assert_int_equal(json_array_size(files), 2);
	/* sorted by name */
	json_t *f0 = json_array_get(files, 0), *f1 = json_array_get(files, 1);
	assert_string_equal(json_string_value(json_object_get(f0, "name")), "memory");
	assert_string_equal(json_string_value(json_object_get(f0, "sha256")), EMPTY);
	assert_int_equal(json_integer_value(json_object_get(f0, "size")), 0);
	assert_string_equal(json_string_value(json_object_get(f1, "name")), "state");
	assert_string_equal(json_string_value(json_object_get(f1, "sha256")), ABC);
	assert_int_equal(json_integer_value(json_object_get(f1, "size")), 3);
	assert_string_equal(json_string_value(json_object_get(m, "digest")),
			    json_string_value(json_object_get(m, "digest")));
	assert_int_equal(tplm_check(m, &err), 0);
	/* the same bytes elsewhere: the same digest; one byte different: another */
	cleanup_free char *d2 = mkdir_tmp();
	put(d2, "state", "abc");
	put(d2, "memory", "");
	json_t *m2 = NULL;
	assert_int_equal(tplm_build(d2, &m2, &err), 0);
	assert_true(json_equal(m, m2));
	put(d2, "state", "abd");
	json_t *m3 = NULL;
	assert_int_equal(tplm_build(d2, &m3, &err), 0);
	assert_string_not_equal(json_string_value(json_object_get(m, "digest")),
				json_string_value(json_object_get(m3, "digest")));
	json_decref(m);
	json_decref(m2);
	json_decref(m3);
	rm_rf(d);
	rm_rf(d2);
}

static void test_digest_known(void **state)
{
	(void)state;
	/* printf 'memory\t0\tE3B0..\nstate\t3\tBA78..\n' | sha256sum */
	json_t *files = json_pack("[{s:s,s:i,s:s},{s:s,s:i,s:s}]", "name", "memory", "size", 0,
				  "sha256", EMPTY, "name", "state", "size", 3, "sha256", ABC);
	char want[TPLM_HEX], got[TPLM_HEX];
	FILE *p = popen("printf 'memory\\t0\\t" EMPTY "\\nstate\\t3\\t" ABC
			"\\n' | sha256sum | cut -c1-64",
			"r");
	assert_non_null(p);
	assert_non_null(fgets(want, sizeof(want), p));
	pclose(p);
	struct wr_err err = {0};
	assert_int_equal(tplm_digest(files, got, &err), 0);
	assert_string_equal(got, want);
	json_decref(files);
}

static void test_check_refuses(void **state)
{
	(void)state;
	struct wr_err err = {0};
	char d[TPLM_HEX];
	/* out of order, repeated, bad names, bad hashes, negative sizes, none, too many */
	const char *bad[] = {
		"[{\"name\":\"state\",\"size\":3,\"sha256\":\"" ABC "\"},"
		"{\"name\":\"memory\",\"size\":0,\"sha256\":\"" EMPTY "\"}]",
		"[{\"name\":\"state\",\"size\":3,\"sha256\":\"" ABC "\"},"
		"{\"name\":\"state\",\"size\":3,\"sha256\":\"" ABC "\"}]",
		"[{\"name\":\"../etc/passwd\",\"size\":3,\"sha256\":\"" ABC "\"}]",
		"[{\"name\":\".hidden\",\"size\":3,\"sha256\":\"" ABC "\"}]",
		"[{\"name\":\"a/b\",\"size\":3,\"sha256\":\"" ABC "\"}]",
		"[{\"name\":\"state\",\"size\":3,\"sha256\":\"ABC\"}]",
		"[{\"name\":\"state\",\"size\":-1,\"sha256\":\"" ABC "\"}]",
		"[{\"name\":\"state\",\"size\":\"3\",\"sha256\":\"" ABC "\"}]",
		"[]",
		"{}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		json_t *f = json_loads(bad[i], 0, NULL);
		assert_non_null(f);
		assert_int_equal(tplm_digest(f, d, &err), -EINVAL);
		json_decref(f);
	}
	json_t *many = json_array();
	for (int i = 0; i <= TPLM_MAX_FILES; i++) {
		char n[16];
		snprintf(n, sizeof(n), "f%03d", i);
		json_array_append_new(
			many, json_pack("{s:s,s:i,s:s}", "name", n, "size", 3, "sha256", ABC));
	}
	assert_int_equal(tplm_digest(many, d, &err), -EINVAL);
	json_decref(many);
	/* a manifest whose digest does not match its files (one file's hash changed) */
	json_t *m = json_pack("{s:[{s:s,s:i,s:s}],s:s}", "files", "name", "state", "size", 3,
			      "sha256", ABC, "digest", EMPTY);
	assert_int_equal(tplm_check(m, &err), -EBADMSG);
	assert_int_equal(tplm_digest(json_object_get(m, "files"), d, &err), 0);
	json_object_set_new(m, "digest", json_string(d));
	assert_int_equal(tplm_check(m, &err), 0);
	json_object_set_new(json_array_get(json_object_get(m, "files"), 0), "size",
			    json_integer(4));
	assert_int_equal(tplm_check(m, &err), -EBADMSG);
	json_object_del(m, "digest");
	assert_int_equal(tplm_check(m, &err), -EBADMSG);
	json_decref(m);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(tplm_name_ok("rootfs.img"));
	assert_true(tplm_name_ok("wrenn-vmm.json"));
	assert_true(tplm_name_ok("envd-token"));
	assert_false(tplm_name_ok(""));
	assert_false(tplm_name_ok(NULL));
	assert_false(tplm_name_ok("."));
	assert_false(tplm_name_ok(".."));
	assert_false(tplm_name_ok(".wrenn-manifest.json"));
	assert_false(tplm_name_ok("a/b"));
	assert_false(tplm_name_ok("a b"));
	assert_false(
		tplm_name_ok("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

static const uint8_t key[32] = {7, 7, 7};
#define NOW INT64_C(1800000000000)

static void test_token(void **state)
{
	(void)state;
	char t[TPLM_HEX];
	int64_t exp = NOW + 60000;
	tplm_token(key, "snap-1", "host-b", exp, t);
	assert_int_equal(strlen(t), 64);
	assert_int_equal(tplm_token_verify(key, "snap-1", "host-b", exp, t, NOW), 0);
	/* another template, another host, another expiry, another key: refused */
	assert_int_equal(tplm_token_verify(key, "snap-2", "host-b", exp, t, NOW), -EACCES);
	assert_int_equal(tplm_token_verify(key, "snap-1", "host-c", exp, t, NOW), -EACCES);
	assert_int_equal(tplm_token_verify(key, "snap-1", "host-b", exp + 1, t, NOW), -EACCES);
	uint8_t other[32] = {8};
	assert_int_equal(tplm_token_verify(other, "snap-1", "host-b", exp, t, NOW), -EACCES);
	/* expired; or valid for longer than a token may live */
	assert_int_equal(tplm_token_verify(key, "snap-1", "host-b", exp, t, exp), -ETIME);
	int64_t far = NOW + TPLM_TOKEN_MAX_MS + 1;
	tplm_token(key, "snap-1", "host-b", far, t);
	assert_int_equal(tplm_token_verify(key, "snap-1", "host-b", far, t, NOW), -ETIME);
	/* malformed tokens */
	assert_int_equal(tplm_token_verify(key, "snap-1", "host-b", exp, "", NOW), -EACCES);
	assert_int_equal(tplm_token_verify(key, "snap-1", "host-b", exp, NULL, NOW), -EACCES);
	/* the token's fields are separated: "a\nb" + "c" is not "a" + "b\nc" */
	char t1[TPLM_HEX], t2[TPLM_HEX];
	tplm_token(key, "a\nb", "c", exp, t1);
	tplm_token(key, "a", "b\nc", exp, t2);
	assert_string_equal(t1, t2); /* why names are checked before: tplxfer refuses '\n' */
}

static void test_sign(void **state)
{
	(void)state;
	char t[TPLM_HEX], s1[TPLM_HEX], s2[TPLM_HEX];
	tplm_token(key, "snap-1", "host-b", NOW + 1, t);
	tplm_sign(t, "{\"files\":[]}", 12, s1);
	tplm_sign(t, "{\"files\":[]}", 12, s2);
	assert_true(tplm_hex_equal(s1, s2));
	tplm_sign(t, "{\"files\":[ ]}", 13, s2);
	assert_false(tplm_hex_equal(s1, s2));
	assert_false(tplm_hex_equal(s1, NULL));
	assert_false(tplm_hex_equal(s1, "abc"));
}

static void test_compat(void **state)
{
	(void)state;
	struct wr_err err = {0};
	json_t *ours = json_pack("{s:s,s:s,s:s,s:s,s:s}", "backend", "qemu", "accel", "tcg",
				 "qemuVersion", "QEMU emulator version 7.2.0", "kernelSha256", ABC,
				 "hostCpu", "Intel Xeon");
	json_t *theirs = json_deep_copy(ours);
	assert_int_equal(tplm_compat_check(theirs, ours, &err), 0);
	/* under TCG the host CPU does not matter */
	json_object_set_new(theirs, "hostCpu", json_string("AMD EPYC"));
	assert_int_equal(tplm_compat_check(theirs, ours, &err), 0);
	/* under KVM it does */
	json_object_set_new(ours, "accel", json_string("kvm"));
	json_object_set_new(theirs, "accel", json_string("kvm"));
	assert_int_equal(tplm_compat_check(theirs, ours, &err), -EXDEV);
	assert_non_null(strstr(wr_err_msg(&err), "hostCpu"));
	json_object_set_new(theirs, "hostCpu", json_string("Intel Xeon"));
	assert_int_equal(tplm_compat_check(theirs, ours, &err), 0);
	/* another kernel, QEMU, accelerator or VMM; a field missing */
	const char *fields[] = {"kernelSha256", "qemuVersion", "accel", "backend"};
	for (size_t i = 0; i < 4; i++) {
		json_t *t = json_deep_copy(theirs);
		json_object_set_new(t, fields[i], json_string("other"));
		wr_err_clear(&err);
		assert_int_equal(tplm_compat_check(t, ours, &err), -EXDEV);
		assert_non_null(strstr(wr_err_msg(&err), fields[i]));
		json_object_del(t, fields[i]);
		assert_int_equal(tplm_compat_check(t, ours, &err), -EXDEV);
		json_decref(t);
	}
	assert_int_equal(tplm_compat_check(NULL, ours, &err), -EXDEV);
	json_decref(ours);
	json_decref(theirs);
}

static void test_file_hash(void **state)
{
	(void)state;
	cleanup_free char *d = mkdir_tmp();
	put(d, "f", "abc");
	cleanup_free char *p = xasprintf("%s/f", d);
	char hx[TPLM_HEX];
	int64_t size = 0;
	struct wr_err err = {0};
	assert_int_equal(tplm_file_hash(p, &size, hx, &err), 0);
	assert_string_equal(hx, ABC);
	assert_int_equal(size, 3);
	/* a symlink is not followed */
	cleanup_free char *l = xasprintf("%s/l", d);
	assert_int_equal(symlink(p, l), 0);
	assert_true(tplm_file_hash(l, &size, hx, &err) < 0);
	rm_rf(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build_and_digest),
		cmocka_unit_test(test_digest_known),
		cmocka_unit_test(test_check_refuses),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_sign),
		cmocka_unit_test(test_compat),
		cmocka_unit_test(test_file_hash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
