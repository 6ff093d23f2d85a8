/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of src/build/oci*.c. With arguments the binary is the driver of
 * tests/integration/73-oci.t and bench/oci.sh:
 *   test-oci prepare REF CACHE_DIR BINS_DIR SIZE_MB [--insecure] [--creds USER:PASS]
 * prints {"hit": bool, "rootfs": path, "digest": d, "config": {...}} or the error, exit 1.
 */
#include "build/oci.h"
#include "build/oci-rootfs.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static char *tmpdir(void)
{
	char *d = xstrdup("/tmp/test-oci-XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
}

static void put(const char *dir, const char *rel, const char *content)
{
	char *p = xasprintf("%s/%s", dir, rel);
	char *slash = strrchr(p, '/');
	*slash = '\0';
	assert_int_equal(mkdir_p(p, 0755), 0);
	*slash = '/';
	assert_int_equal(write_file_atomic(p, content, strlen(content), 0644), 0);
	free(p);
}

static char *get(const char *dir, const char *rel)
{
	char *p = xasprintf("%s/%s", dir, rel), *buf = NULL;
	size_t len;
	int r = read_file(p, 1 << 20, &buf, &len);
	free(p);
	return r < 0 ? NULL : buf;
}

static void test_ref(void **state)
{
	(void)state;
	struct {
		const char *ref, *registry;
	} cases[] = {
		{"python:3.12-slim", "docker.io"},
		{"library/python", "docker.io"},
		{"ghcr.io/org/img:1", "ghcr.io"},
		{"127.0.0.1:5000/test:1", "127.0.0.1:5000"},
		{"localhost/x", "localhost"},
		{"myregistry:443/a/b@sha256:00", "myregistry:443"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *r = oci_ref_registry(cases[i].ref);
		assert_string_equal(r, cases[i].registry);
		free(r);
	}
	struct wr_err err = {0};
	assert_int_equal(oci_ref_check("alpine:3", &err), 0);
	assert_int_equal(oci_ref_check("", &err), -EINVAL);
	assert_string_equal(wr_err_msg(&err), "image reference is empty");
	assert_int_equal(oci_ref_check("--src-creds=x", &err), -EINVAL);
	assert_string_equal(wr_err_msg(&err),
			    "image reference \"--src-creds=x\" is not a plain name[:tag][@digest]");
	assert_int_equal(oci_ref_check("docker://x", &err), -EINVAL);
	assert_int_equal(oci_ref_check("a b", &err), -EINVAL);
	assert_string_equal(wr_err_msg(&err),
			    "image reference \"a b\" contains whitespace or control characters");
}

static void test_layout_config(void **state)
{
	(void)state;
	char *d = tmpdir();
	put(d, "index.json",
	    "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
	    "\"digest\":\"sha256:aaaa\",\"size\":1,\"annotations\":{\"org.opencontainers.image.ref.name\":\"img\"}}]}");
	put(d, "blobs/sha256/aaaa",
	    "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:bbbb\",\"size\":1},\"layers\":[]}");
	put(d, "blobs/sha256/bbbb",
	    "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"PATH=/bin\",\"A=1\"],"
	    "\"WorkingDir\":\"/srv\",\"User\":\"1000\",\"Cmd\":[\"sh\",\"-c\",\"echo hi\"]}}");
	json_t *cfg = NULL;
	struct wr_err err = {0};
	assert_int_equal(oci_layout_config(d, "img", &cfg, &err), 0);
	json_t *want = json_loads(
		"{\"Env\":[\"PATH=/bin\",\"A=1\"],\"WorkingDir\":\"/srv\",\"User\":\"1000\","
		"\"Cmd\":[\"sh\",\"-c\",\"echo hi\"],\"Entrypoint\":[]}",
		0, NULL);
	assert_true(json_equal(cfg, want));
	json_decref(want);
	json_decref(cfg);

	assert_int_equal(oci_layout_config(d, "other", &cfg, &err), -ENOENT);
	char *msg = xasprintf("OCI layout %s has no image tagged \"other\"", d);
	assert_string_equal(wr_err_msg(&err), msg);
	free(msg);
	/* A digest that would walk out of the layout is refused. */
	put(d, "index.json",
	    "{\"manifests\":[{\"digest\":\"sha256:../../etc/passwd\",\"annotations\":{\"org.opencontainers.image.ref.name\":\"img\"}}]}");
	assert_int_equal(oci_layout_config(d, "img", &cfg, &err), -EINVAL);
	assert_string_equal(wr_err_msg(&err), "OCI layout: bad digest \"sha256:../../etc/passwd\"");
	/* Other architectures are refused by name. */
	put(d, "index.json",
	    "{\"manifests\":[{\"digest\":\"sha256:aaaa\",\"annotations\":{\"org.opencontainers.image.ref.name\":\"img\"}}]}");
	put(d, "blobs/sha256/bbbb", "{\"architecture\":\"arm64\",\"config\":{}}");
	assert_int_equal(oci_layout_config(d, "img", &cfg, &err), -EINVAL);
	assert_string_equal(wr_err_msg(&err), "image architecture is arm64, wrenn runs amd64");
	assert_int_equal(rm_rf(d), 0);
	free(d);
}

static void test_rootfs_prepare(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	char *bins = tmpdir(), *root = tmpdir(), *outside = tmpdir();
	put(bins, "wrenn-init", "INIT");
	put(bins, "envd", "ENVD");
	put(root, "etc/passwd",
	    "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh");
	put(root, "etc/group", "root:x:0:\n");
	put(root, "etc/shadow", "root:*:19000:0:99999:7:::\n");
	put(root, "usr/bin/sudo", "");
	put(root, "bin/bash", "");
	put(outside, "hosts", "HOST FILE\n");
	/* Hostile links: an absolute one out of the root and a /usr/local -> / one. */
	char *hosts_link = xasprintf("%s/etc/hosts", root),
	     *target = xasprintf("%s/hosts", outside);
	assert_int_equal(symlink(target, hosts_link), 0);
	char *local = xasprintf("%s/usr/local", root);
	assert_int_equal(symlink("/", local), 0);
	char *rc = xasprintf("%s/etc/resolv.conf", root);
	assert_int_equal(symlink("../run/systemd/resolve/stub-resolv.conf", rc), 0);

	struct wr_err err = {0};
	int r = oci_rootfs_prepare(root, bins, &err);
	if (r < 0)
		fail_msg("%s", wr_err_msg(&err));

	char *s = get(outside, "hosts");
	assert_string_equal(s, "HOST FILE\n"); /* untouched */
	free(s);
	/* /usr/local -> / resolves inside the root: the binaries land in <root>/bin. */
	s = get(root, "bin/wrenn-init");
	assert_string_equal(s, "INIT");
	free(s);
	s = get(root, "bin/envd");
	assert_string_equal(s, "ENVD");
	free(s);
	s = get(root, "etc/passwd");
	assert_string_equal(
		s,
		"root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/bash\n");
	free(s);
	s = get(root, "etc/group");
	assert_string_equal(s, "root:x:0:\nuser:x:1000:\n");
	free(s);
	s = get(root, "etc/shadow");
	assert_string_equal(s, "root:*:19000:0:99999:7:::\nuser:*:19000:0:99999:7:::\n");
	free(s);
	s = get(root, "etc/sudoers.d/user");
	assert_string_equal(s, "user ALL=(ALL:ALL) NOPASSWD: ALL\n");
	free(s);
	s = get(root, "etc/hosts");
	assert_non_null(strstr(s, "127.0.1.1\tcapsule"));
	free(s);
	s = get(root, "etc/resolv.conf");
	assert_string_equal(s, "");
	free(s);

	struct stat st;
	char *p = xasprintf("%s/etc/sudoers.d/user", root);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0440);
	free(p);
	p = xasprintf("%s/etc/shadow", root);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644); /* kept as the image had it */
	free(p);
	p = xasprintf("%s/home/user", root);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 1000);
	free(p);
	p = xasprintf("%s/tmp", root);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 01777);
	free(p);
	p = xasprintf("%s/bin/wrenn-init", root);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	free(p);

	/* Again: nothing is added twice. */
	assert_int_equal(oci_rootfs_prepare(root, bins, &err), 0);
	s = get(root, "etc/group");
	assert_string_equal(s, "root:x:0:\nuser:x:1000:\n");
	free(s);

	/* A FIFO as /etc/passwd is refused, not read forever. */
	p = xasprintf("%s/etc/passwd", root);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(mkfifo(p, 0644), 0);
	assert_int_equal(oci_rootfs_prepare(root, bins, &err), -EINVAL);
	assert_string_equal(wr_err_msg(&err), "rootfs: /etc/passwd is not a regular file");
	free(p);

	/* Missing guest binaries. */
	p = xasprintf("%s/envd", bins);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(oci_rootfs_prepare(root, bins, &err), -ENOENT);
	char *want = xasprintf("read %s: No such file or directory", p);
	assert_string_equal(wr_err_msg(&err), want);
	free(want);
	free(p);

	free(hosts_link);
	free(target);
	free(local);
	free(rc);
	assert_int_equal(rm_rf(bins), 0);
	assert_int_equal(rm_rf(root), 0);
	assert_int_equal(rm_rf(outside), 0);
	free(bins);
	free(root);
	free(outside);
}

static void test_rootfs_bare(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	/* A static image: no /etc at all, no shell but /bin/sh. */
	char *bins = tmpdir(), *root = tmpdir();
	put(bins, "wrenn-init", "INIT");
	put(bins, "envd", "ENVD");
	put(root, "app/server", "BIN");
	struct wr_err err = {0};
	int r = oci_rootfs_prepare(root, bins, &err);
	if (r < 0)
		fail_msg("%s", wr_err_msg(&err));
	char *s = get(root, "etc/passwd");
	assert_string_equal(
		s, "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n");
	free(s);
	s = get(root, "etc/group");
	assert_string_equal(s, "root:x:0:\nuser:x:1000:\n");
	free(s);
	/* No shadow file is invented, no sudo rule without sudo. */
	assert_null(get(root, "etc/shadow"));
	assert_null(get(root, "etc/sudoers.d/user"));
	s = get(root, "usr/local/bin/wrenn-init");
	assert_string_equal(s, "INIT");
	free(s);
	assert_int_equal(rm_rf(bins), 0);
	assert_int_equal(rm_rf(root), 0);
	free(bins);
	free(root);
}

static void test_prepare_errors(void **state)
{
	(void)state;
	char *bins = tmpdir(), *cache = tmpdir();
	struct oci_image img = {0};
	struct wr_err err = {0};
	struct oci_source src = {.ref = "127.0.0.1:1/nothing:1", .insecure = true};

	/* Guest binaries are checked before anything leaves the machine. */
	assert_int_equal(oci_image_prepare(&src, cache, bins, 0, &img, &err), -ENOENT);
	char *want = xasprintf("guest binary %s/wrenn-init: No such file or directory", bins);
	assert_string_equal(wr_err_msg(&err), want);
	free(want);
	put(bins, "wrenn-init", "I");
	put(bins, "envd", "E");

	src.ref = "-x";
	assert_int_equal(oci_image_prepare(&src, cache, bins, 0, &img, &err), -EINVAL);
	src.ref = "127.0.0.1:1/nothing:1";
	src.username = "a:b";
	src.password = "p";
	assert_int_equal(oci_image_prepare(&src, cache, bins, 0, &img, &err), -EINVAL);
	assert_string_equal(wr_err_msg(&err),
			    "registry credentials need a username without ':' and a password");
	src.username = NULL;
	src.password = NULL;

	/* A dead prepare's temp dir (lock free) is swept, a live one's (lock held) is not. */
	put(cache, ".tmp-dead/.lock", "");
	put(cache, ".tmp-dead/rootfs/x", "x");
	put(cache, ".tmp-live/.lock", "");
	char *live = xasprintf("%s/.tmp-live", cache);
	char *live_lock = xasprintf("%s/.lock", live);
	int lfd = open(live_lock, O_RDONLY | O_CLOEXEC);
	assert_true(lfd >= 0);
	assert_int_equal(flock(lfd, LOCK_EX), 0);

	/* Nothing listens on port 1 of loopback: the error names the registry. */
	int r = oci_image_prepare(&src, cache, bins, 0, &img, &err);
	if (access("/usr/bin/skopeo", X_OK) == 0) {
		assert_int_equal(r, -EIO);
		const char *m = wr_err_msg(&err);
		/* skopeo's logrus framing and image-name preamble are stripped. */
		static const char want_pre[] =
			"pull 127.0.0.1:1/nothing:1 from registry 127.0.0.1:1: pinging container registry 127.0.0.1:1: ";
		if (strncmp(m, want_pre, sizeof(want_pre) - 1) != 0)
			fail_msg("%s", m);
		assert_non_null(strstr(m, "connection refused"));
	} else {
		assert_true(r < 0);
	}
	/* Left in the cache: only the live temp dir (the failed prepare removed its own). */
	DIR *d = opendir(cache);
	assert_non_null(d);
	struct dirent *de;
	int n = 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			assert_string_equal(de->d_name, ".tmp-live");
			n++;
		}
	closedir(d);
	assert_int_equal(n, 1);
	close(lfd);
	assert_int_equal(rm_rf(live), 0);
	free(live);
	free(live_lock);
	assert_int_equal(rmdir(cache), 0);
	assert_int_equal(rm_rf(bins), 0);
	free(bins);
	free(cache);
	oci_image_done(&img);
}

static void test_usage(void **state)
{
	(void)state;
	char *d = tmpdir();
	put(d, "a/b/c", "hello");
	put(d, "x", "y");
	uint64_t bytes = 0, inodes = 0;
	struct wr_err err = {0};
	assert_int_equal(oci_tree_usage(d, &bytes, &inodes, &err), 0);
	assert_int_equal(inodes, 5); /* d, a, a/b, a/b/c, x */
	assert_true(bytes > 0);
	assert_int_equal(rm_rf(d), 0);
	free(d);
}

static int driver(int argc, char **argv)
{
	if (argc < 6) {
		fprintf(stderr,
			"usage: %s prepare REF CACHE_DIR BINS_DIR SIZE_MB [--insecure] [--creds U:P]\n",
			argv[0]);
		return 2;
	}
	struct oci_source src = {.ref = argv[2]};
	char *user = NULL;
	for (int i = 6; i < argc; i++) {
		if (strcmp(argv[i], "--insecure") == 0) {
			src.insecure = true;
		} else if (strcmp(argv[i], "--creds") == 0 && i + 1 < argc) {
			user = xstrdup(argv[++i]);
			char *colon = strchr(user, ':');
			if (!colon)
				return 2;
			*colon = '\0';
			src.username = user;
			src.password = colon + 1;
		} else {
			return 2;
		}
	}
	struct oci_image img = {0};
	struct wr_err err = {0};
	int r = oci_image_prepare(&src, argv[3], argv[4], strtoull(argv[5], NULL, 10), &img, &err);
	free(user);
	if (r < 0) {
		fprintf(stderr, "%s\n", wr_err_msg(&err));
		return 1;
	}
	json_t *out = json_pack("{s:b, s:s, s:s, s:O}", "hit", r == 1, "rootfs", img.rootfs_path,
				"digest", img.digest, "config", img.config);
	char *s = json_dumps(out, JSON_COMPACT);
	printf("%s\n", s);
	free(s);
	json_decref(out);
	oci_image_done(&img);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "prepare") == 0)
		return driver(argc, argv);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref),
		cmocka_unit_test(test_layout_config),
		cmocka_unit_test(test_rootfs_prepare),
		cmocka_unit_test(test_rootfs_bare),
		cmocka_unit_test(test_prepare_errors),
		cmocka_unit_test(test_usage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
