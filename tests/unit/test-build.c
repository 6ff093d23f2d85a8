/* SPDX-License-Identifier: MIT */
/* src/build pure parts and the store rows they use: shell quoting, hashes, build contexts
 * (libarchive), builds and aliases in the store. */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "build/build-internal.h"
#include "store/store.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_shell_quote(void **state)
{
	(void)state;
	const char *cases[][2] = {{"", "''"},
				  {"abc", "'abc'"},
				  {"it's", "'it'\\''s'"},
				  {"$HOME `x` \"y\"", "'$HOME `x` \"y\"'"}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cleanup_free char *q = build_shell_quote(cases[i][0]);
		assert_string_equal(q, cases[i][1]);
	}
	/* round trip through a real shell */
	cleanup_free char *q = build_shell_quote("a'b\"c $d\n");
	cleanup_free char *cmd =
		xasprintf("test \"$(printf %%s %s)\" = \"$(printf 'a%%sb\"c $d\\n' \"'\")\"", q);
	assert_int_equal(system(cmd), 0);
}

static void test_hash_valid(void **state)
{
	(void)state;
	char h[65];
	memset(h, 'a', 64);
	h[64] = 0;
	assert_true(build_hash_valid(h));
	h[3] = 'A';
	assert_false(build_hash_valid(h));
	h[3] = 'g';
	assert_false(build_hash_valid(h));
	assert_false(build_hash_valid("abc"));
	assert_false(build_hash_valid("../../etc/passwd"));
	assert_false(build_hash_valid(NULL));
}

static void test_context(void **state)
{
	(void)state;
	char dir[] = "/tmp/test-build-XXXXXX";
	assert_non_null(mkdtemp(dir));
	cleanup_free char *cmd = xasprintf(
		"cd %s && mkdir -p ctx/app/sub && echo hi > ctx/app/a.txt && echo x > ctx/app/sub/b && "
		"printf 'FROM base\\n' > ctx/Dockerfile && tar -cf ctx.tar -C ctx .",
		dir);
	assert_int_equal(system(cmd), 0);
	cleanup_free char *tar = xasprintf("%s/ctx.tar", dir);
	cleanup_free char *text = NULL;
	size_t len = 0;
	struct wr_err err = {0};
	assert_int_equal(build_context_read(tar, "Dockerfile", 4096, &text, &len, &err), 0);
	assert_string_equal(text, "FROM base\n");
	assert_int_equal(build_context_read(tar, "./Dockerfile", 4, &text, &len, &err), -EFBIG);
	assert_int_equal(build_context_read(tar, "nope", 4096, &text, &len, &err), -ENOENT);

	/* a files store without a runtime: only the paths are used */
	struct build_engine e = {0};
	e.files_dir = xasprintf("%s/files", dir);
	assert_int_equal(mkdir(e.files_dir, 0750), 0);
	json_t *b = json_pack("{s:[{s:s, s:[s,s,s,s]}, {s:s, s:[s]}]}", "steps", "type", "COPY",
			      "args", "app", "/srv/app", "", "", "type", "RUN", "args", "true");
	assert_int_equal(build_context_files(&e, tar, b, &err), 0);
	const char *h = json_string_value(
		json_object_get(json_array_get(json_object_get(b, "steps"), 0), "filesHash"));
	assert_non_null(h);
	assert_true(build_hash_valid(h));
	assert_null(json_object_get(json_array_get(json_object_get(b, "steps"), 1), "filesHash"));
	/* the stored archive holds the source with its context-relative paths, nothing else */
	cleanup_free char *list = xasprintf("tar -tf %s/%s | sort | tr '\\n' ' '", e.files_dir, h);
	FILE *p = popen(list, "r");
	char out[256] = "";
	assert_non_null(fgets(out, sizeof(out), p));
	pclose(p);
	assert_string_equal(out, "app/ app/a.txt app/sub/ app/sub/b ");
	/* the same source again: the same content address */
	json_t *b2 = json_deep_copy(b);
	assert_int_equal(build_context_files(&e, tar, b2, &err), 0);
	assert_string_equal(h,
			    json_string_value(json_object_get(
				    json_array_get(json_object_get(b2, "steps"), 0), "filesHash")));
	json_decref(b2);
	json_decref(b);
	/* a missing source names the step; wildcards are refused */
	b = json_pack("{s:[{s:s}, {s:s, s:[s,s]}]}", "steps", "type", "ENV", "type", "COPY", "args",
		      "missing", "/x");
	assert_int_equal(build_context_files(&e, tar, b, &err), -EINVAL);
	assert_string_equal(wr_err_msg(&err),
			    "step 2: COPY source \"missing\" is not in the build context");
	json_decref(b);
	b = json_pack("{s:[{s:s, s:[s,s]}]}", "steps", "type", "COPY", "args", "app/*.txt", "/x");
	assert_int_equal(build_context_files(&e, tar, b, &err), -EINVAL);
	json_decref(b);
	free(e.files_dir);
	rm_rf(dir);
}

static void test_store_rows(void **state)
{
	(void)state;
	char dir[] = "/tmp/test-build-XXXXXX";
	assert_non_null(mkdtemp(dir));
	cleanup_free char *db = xasprintf("%s/wrenn.db", dir);
	struct store *s = NULL;
	struct wr_err err = {0};
	assert_int_equal(store_open(db, &s, &err), 0);
	struct store_build b = {.id = "b1",
				.template_id = "t",
				.status = "building",
				.target = "t.bb1",
				.sandbox_id = "cl-1",
				.cache_key = "k1",
				.vcpus = 1,
				.memory_mb = 512};
	assert_int_equal(store_build_put(s, &b, &err), 0);
	struct store_build got = {0};
	assert_int_equal(store_build_get(s, "b1", &got, &err), 0);
	assert_string_equal(got.status, "building");
	assert_string_equal(got.sandbox_id, "cl-1");
	store_build_done(&got);
	/* a ready build is a cache hit only while its snapshot template exists */
	b.status = "ready";
	b.sandbox_id = NULL;
	assert_int_equal(store_build_put(s, &b, &err), 0);
	assert_int_equal(store_build_find_cached(s, "k1", &got, &err), -ENOENT);
	struct store_template t = {.name = "t.bb1",
				   .kind = STORE_TPL_SNAPSHOT,
				   .rootfs_path = "/x",
				   .snapshot_dir = "/y"};
	assert_int_equal(store_template_put(s, &t, &err), 0);
	assert_int_equal(store_build_find_cached(s, "k1", &got, &err), 0);
	assert_string_equal(got.id, "b1");
	store_build_done(&got);
	struct store_build *rows = NULL;
	size_t n = 0;
	assert_int_equal(store_build_list(s, "t", "building", &rows, &n, &err), 0);
	assert_int_equal(n, 0);
	store_build_list_free(rows, n);
	/* aliases */
	assert_int_equal(store_alias_put(s, "t", "t.bb1", "b1", &err), 0);
	assert_int_equal(store_alias_put(s, "t:v1", "t.bb1", "b1", &err), 0);
	struct store_alias al = {0};
	assert_int_equal(store_alias_get(s, "t:v1", &al, &err), 0);
	assert_string_equal(al.target, "t.bb1");
	store_alias_done(&al);
	struct store_alias *as = NULL;
	assert_int_equal(store_alias_list(s, "t.bb1", &as, &n, &err), 0);
	assert_int_equal(n, 2);
	store_alias_list_free(as, n);
	assert_int_equal(store_alias_delete(s, "t:v1", &err), 0);
	assert_int_equal(store_alias_delete(s, "t:v1", &err), -ENOENT);
	assert_int_equal(store_build_delete_template(s, "t", &err), 0);
	assert_int_equal(store_build_get(s, "b1", &got, &err), -ENOENT);
	store_close(s);
	rm_rf(dir);
}

/* Step cache keys chain: the same parent and step give the same key; args, files, type or the
 * parent change it; force and upload options do not. */
static void test_step_key(void **state)
{
	(void)state;
	json_t *a = json_pack("{s:s, s:[s], s:b}", "type", "RUN", "args", "echo 1", "force", 0);
	json_t *a2 = json_pack("{s:s, s:[s], s:b, s:b}", "type", "RUN", "args", "echo 1", "force",
			       1, "forceUpload", 1);
	json_t *b = json_pack("{s:s, s:[s]}", "type", "RUN", "args", "echo 2");
	json_t *c = json_pack("{s:s, s:[s,s], s:s}", "type", "COPY", "args", "a", "/a", "filesHash",
			      "00");
	json_t *c2 = json_pack("{s:s, s:[s,s], s:s}", "type", "COPY", "args", "a", "/a",
			       "filesHash", "01");
	const char *p = "0000000000000000000000000000000000000000000000000000000000000000";
	cleanup_free char *ka = build_cache_step_key(p, a);
	cleanup_free char *ka2 = build_cache_step_key(p, a2);
	cleanup_free char *kb = build_cache_step_key(p, b);
	cleanup_free char *kc = build_cache_step_key(p, c);
	cleanup_free char *kc2 = build_cache_step_key(p, c2);
	cleanup_free char *kpa = build_cache_step_key(ka, a);
	assert_int_equal(strlen(ka), 64);
	assert_string_equal(ka, ka2);
	assert_string_not_equal(ka, kb);
	assert_string_not_equal(kc, kc2);
	assert_string_not_equal(ka, kpa);
	json_decref(a);
	json_decref(a2);
	json_decref(b);
	json_decref(c);
	json_decref(c2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shell_quote), cmocka_unit_test(test_hash_valid),
		cmocka_unit_test(test_context),	    cmocka_unit_test(test_store_rows),
		cmocka_unit_test(test_step_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
