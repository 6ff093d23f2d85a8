/* SPDX-License-Identifier: MIT */
/*
 * Volumes: mount-path and name validation (host and guest), the extra disks in the VM config
 * (kernel command line, Cloud Hypervisor's disks), the store's holder rules, and the content
 * access with libext2fs on images made here with mkfs.ext4, hostile ones included.
 */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "disk/ext2vol-run.h"
#include "disk/ext2vol.h"
#include "init/cmdline.h"
#include "runtime/volumes.h"
#include "store/volumes.h"
#include "fake-ch.h"
#include "vm/ch-api.h"
#include "vm/vmconfig.h"

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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_mount_paths(void **state)
{
	(void)state;
	static const char *const good[] = {"/mnt/data", "/home/user/vol", "/data", "/a.b/c_d-e",
					   "/x/proc",	"/devices",	  NULL};
	static const char *const bad[] = {
		"/",	  "",	      "mnt",	  "/mnt/",    "/mnt//x", "/mnt/./x",   "/mnt/../x",
		"/proc",  "/proc/x",  "/sys/fs",  "/dev/vdb", "/etc",	 "/usr/local", "/lib64/x",
		"/run/x", "/mnt/a b", "/mnt/a,b", "/mnt/a:b", "/mnt/\n", "/wrenn",     NULL};
	for (size_t i = 0; good[i]; i++) {
		assert_true(vm_valid_mount_path(good[i]));
		assert_true(init_vol_path_ok(good[i])); /* the guest agrees with the host */
	}
	for (size_t i = 0; bad[i]; i++) {
		assert_false(vm_valid_mount_path(bad[i]));
		assert_false(init_vol_path_ok(bad[i]));
	}
	char longp[260] = "/";
	memset(longp + 1, 'a', 220);
	assert_false(vm_valid_mount_path(longp));
	assert_false(init_vol_path_ok(longp));
	assert_false(vm_valid_mount_path(NULL));
}

static void test_names(void **state)
{
	(void)state;
	assert_true(runtime_volume_name_valid("data"));
	assert_true(runtime_volume_name_valid("My_vol-1.x"));
	assert_false(runtime_volume_name_valid(""));
	assert_false(runtime_volume_name_valid(".hidden"));
	assert_false(runtime_volume_name_valid("a/b"));
	assert_false(runtime_volume_name_valid("a b"));
	char l[80];
	memset(l, 'a', 65);
	l[65] = '\0';
	assert_false(runtime_volume_name_valid(l));
	assert_true(runtime_volume_id_valid("vol-abcdef012345"));
	assert_false(runtime_volume_id_valid("vol-abcdef01234"));
	assert_false(runtime_volume_id_valid("vol-ABCDEF012345"));
	assert_false(runtime_volume_id_valid("cl-abcdef012345x"));
	assert_true(vm_valid_disk_serial("vol-abcdef012345"));
	assert_false(vm_valid_disk_serial("vol-abcdef0123456789ab")); /* 21 > 20 */
	assert_false(vm_valid_disk_serial("a:b"));
}

static void valid(struct vm_config *c)
{
	vm_config_set(&c->sandbox_id, "cl-a1b2c3d4");
	vm_config_set(&c->kernel_path, "/k/vmlinux");
	vm_config_set(&c->rootfs_path, "/d/rootfs.img");
	vm_config_set(&c->network_namespace, "wrenn-ns-1");
	vm_config_set(&c->guest_ip, VM_GUEST_IP);
	vm_config_set(&c->gateway_ip, VM_GATEWAY_IP);
	vm_config_set(&c->net_mask, VM_NET_MASK);
	vm_config_apply_defaults(c);
}

static void test_config_disks(void **state)
{
	(void)state;
	struct vm_config c = {0};
	struct wr_err err = {0};
	valid(&c);
	cleanup_free char *seed = vm_config_kernel_args(&c);
	assert_int_equal(vm_config_add_disk(&c, "/v/vol-a.ext4", "vol-a", "/mnt/a", &err), 0);
	assert_int_equal(vm_config_add_disk(&c, "/v/vol-b.ext4", "vol-b", "/mnt/b", &err), 0);
	assert_int_equal(vm_config_validate(&c, &err), 0);
	cleanup_free char *args = vm_config_kernel_args(&c);
	/* the seed's command line, unchanged, then one wrenn.vol= per disk */
	cleanup_free char *want =
		xasprintf("%s wrenn.vol=vol-a:/mnt/a wrenn.vol=vol-b:/mnt/b", seed);
	assert_string_equal(args, want);
	/* and the guest reads back what the host wrote */
	struct init_vol v[INIT_VOL_MAX];
	size_t n = 0;
	assert_int_equal(cmdline_volumes(args, v, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].serial, "vol-a");
	assert_string_equal(v[1].path, "/mnt/b");

	/* CH gets the same disks after its root disk, each with its serial */
	const char *xd[] = {c.extra_disks[0].path, c.extra_disks[1].path};
	const char *xs[] = {c.extra_disks[0].serial, c.extra_disks[1].serial};
	struct ch_vm_spec s = {.kernel = "/k",
			       .cmdline = args,
			       .vcpus = 1,
			       .memory_bytes = 1 << 29,
			       .disk = "/sb/rootfs",
			       .disk_format = "raw",
			       .mac = VM_DEFAULT_TAP_MAC,
			       .extra_disks = xd,
			       .extra_serials = xs,
			       .n_extra = 2};
	json_t *j = ch_vm_config_json(&s);
	json_t *disks = json_object_get(j, "disks");
	assert_int_equal(json_array_size(disks), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(disks, 0), "path")),
			    "/sb/rootfs");
	assert_string_equal(json_string_value(json_object_get(json_array_get(disks, 2), "path")),
			    "/v/vol-b.ext4");
	assert_string_equal(json_string_value(json_object_get(json_array_get(disks, 2), "serial")),
			    "vol-b");
	json_decref(j);

	/* rejected: a shared mount path, a bad mount path, a bad serial, a fifth disk */
	vm_config_set(&c.extra_disks[1].mount_path, "/mnt/a");
	assert_int_equal(vm_config_validate(&c, &err), -EINVAL);
	vm_config_set(&c.extra_disks[1].mount_path, "/proc/b");
	assert_int_equal(vm_config_validate(&c, &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "/proc/b"));
	vm_config_set(&c.extra_disks[1].mount_path, "/mnt/b");
	vm_config_set(&c.extra_disks[1].serial, "BAD");
	assert_int_equal(vm_config_validate(&c, &err), -EINVAL);
	vm_config_set(&c.extra_disks[1].serial, "vol-b");
	assert_int_equal(vm_config_add_disk(&c, "/v/c", "c", "/c", &err), 0);
	assert_int_equal(vm_config_add_disk(&c, "/v/d", "d", "/d", &err), 0);
	assert_int_equal(vm_config_add_disk(&c, "/v/e", "e", "/e", &err), -E2BIG);
	vm_config_done(&c);
	assert_int_equal(c.n_extra_disks, 0);

	/* the guest refuses what the host would: a path into /etc, a missing serial */
	assert_int_equal(cmdline_volumes("root=/dev/vda wrenn.vol=x:/etc/x", v, &n, &err), -EINVAL);
	assert_int_equal(cmdline_volumes("wrenn.vol=:/mnt", v, &n, &err), -EINVAL);
	assert_int_equal(cmdline_volumes("wrenn.vol=/mnt", v, &n, &err), -EINVAL);
	assert_int_equal(cmdline_volumes("quiet", v, &n, &err), 0);
	assert_int_equal(n, 0);
}

/* Cloud Hypervisor (the fake of tests/unit/fake-ch.c): the volume is a further disk of
 * vm.create, opened at boot, and in the snapshot's config.json that a restore rebuilds the VM
 * from, so a restored VM gets the same image again. */
static void test_ch_volume_disk(void **state)
{
	(void)state;
	char dir[] = "/tmp/test-volch-XXXXXX";
	assert_non_null(mkdtemp(dir));
	cleanup_free char *sock = xasprintf("%s/api.sock", dir);
	cleanup_free char *kernel = xasprintf("%s/vmlinux", dir);
	cleanup_free char *root = xasprintf("%s/rootfs", dir);
	cleanup_free char *vol = xasprintf("%s/vol-abcdef012345.ext4", dir);
	cleanup_free char *snap = xasprintf("%s/snap", dir);
	const char *files[] = {kernel, root, vol};
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(write_file_atomic(files[i], "x", 1, 0600), 0);
	assert_int_equal(mkdir(snap, 0700), 0);
	struct fake_ch *f = fake_ch_start(sock, "53.0.0", NULL);
	assert_non_null(f);
	struct ch_api a = {.socket_path = sock, .timeout_ms = 5000, .ver = {53, 0}};
	const char *xd[] = {vol}, *xs[] = {"vol-abcdef012345"};
	struct ch_vm_spec s = {.kernel = kernel,
			       .cmdline = "console=ttyS0 wrenn.vol=vol-abcdef012345:/mnt/v",
			       .vcpus = 1,
			       .memory_bytes = 512ull << 20,
			       .disk = root,
			       .disk_format = "raw",
			       .mac = VM_DEFAULT_TAP_MAC,
			       .extra_disks = xd,
			       .extra_serials = xs,
			       .n_extra = 1};
	struct wr_err err = {0};
	assert_int_equal(ch_api_create(&a, &s, &err), 0);
	assert_int_equal(ch_api_put(&a, "vm.boot", &err), 0);
	assert_string_equal(fake_ch_state(f), "Running");
	assert_int_equal(ch_api_put(&a, "vm.pause", &err), 0);
	assert_int_equal(ch_api_snapshot(&a, snap, &err), 0);
	cleanup_free char *cfgp = xasprintf("%s/config.json", snap);
	json_t *cfg = json_load_file(cfgp, 0, NULL);
	assert_non_null(cfg);
	json_t *disks = json_object_get(cfg, "disks");
	assert_int_equal(json_array_size(disks), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(disks, 1), "path")),
			    vol);
	assert_string_equal(json_string_value(json_object_get(json_array_get(disks, 1), "serial")),
			    "vol-abcdef012345");
	json_decref(cfg);
	fake_ch_free(f);
	/* booting with the volume image gone fails: the fake opens every disk, as CH does */
	f = fake_ch_start(sock, "53.0.0", NULL);
	assert_non_null(f);
	assert_int_equal(unlink(vol), 0);
	assert_int_equal(ch_api_create(&a, &s, &err), 0);
	assert_true(ch_api_put(&a, "vm.boot", &err) < 0);
	fake_ch_free(f);
	rm_rf(dir);
}

/* --- store ------------------------------------------------------------------------------- */

struct fx {
	char dir[64];
	struct store *s;
};

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-volumes-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	cleanup_free char *db = xasprintf("%s/wrenn.db", f->dir);
	struct wr_err err = {0};
	assert_int_equal(store_open(db, &f->s, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	store_close(f->s);
	rm_rf(f->dir);
	free(f);
	return 0;
}

static void add(struct store *s, const char *id, const char *name, const char *team, int want)
{
	struct store_volume v = {.id = (char *)id,
				 .name = (char *)name,
				 .team = (char *)team,
				 .size_bytes = 1 << 24,
				 .path = (char *)"/x",
				 .token = (char *)"t"};
	struct wr_err err = {0};
	assert_int_equal(store_volume_add(s, &v, 2, &err), want);
}

static void test_store(void **state)
{
	struct fx *f = *state;
	struct store *s = f->s;
	struct wr_err err = {0};
	add(s, "vol-a", "data", "t1", 0);
	add(s, "vol-b", "data", "t1", -EEXIST); /* names are unique per team */
	add(s, "vol-b", "data", "t2", 0);	/* not across teams */
	add(s, "vol-c", "more", "t1", 0);
	add(s, "vol-d", "third", "t1", -EUSERS); /* max 2 per team */
	struct store_volume v = {0};
	assert_int_equal(store_volume_get(s, "data", "t2", &v, &err), 0);
	assert_string_equal(v.id, "vol-b");
	store_volume_done(&v);
	/* another team's id or name is not found; names need a team */
	assert_int_equal(store_volume_get(s, "vol-b", "t1", &v, &err), -ENOENT);
	assert_int_equal(store_volume_get(s, "data", NULL, &v, &err), -ENOENT);
	assert_int_equal(store_volume_get(s, "vol-b", NULL, &v, &err), 0);
	store_volume_done(&v);
	struct store_volume *rows = NULL;
	size_t n = 0;
	assert_int_equal(store_volume_list(s, "t1", &rows, &n, &err), 0);
	assert_int_equal(n, 2);
	store_volume_list_free(rows, n);

	/* one holder at a time */
	assert_int_equal(store_volume_claim(s, "vol-a", "cl-1", &err), 0);
	assert_int_equal(store_volume_claim(s, "vol-a", "cl-2", &err), -EBUSY);
	assert_non_null(strstr(wr_err_msg(&err), "cl-1"));
	assert_int_equal(store_volume_claim(s, "vol-a", STORE_VOL_CONTENT_HOLDER, &err), -EBUSY);
	assert_int_equal(store_volume_delete(s, "vol-a", &err), -EBUSY);
	assert_int_equal(store_volume_claim(s, "vol-zz", "cl-1", &err), -ENOENT);
	/* a release by another holder changes nothing */
	assert_int_equal(store_volume_release(s, "vol-a", "cl-2", &err), 0);
	assert_int_equal(store_volume_claim(s, "vol-a", "cl-2", &err), -EBUSY);
	assert_int_equal(store_volume_release(s, NULL, "cl-1", &err), 0);
	assert_int_equal(store_volume_claim(s, "vol-a", STORE_VOL_CONTENT_HOLDER, &err), 0);
	assert_int_equal(store_volume_claim(s, "vol-a", STORE_VOL_CONTENT_HOLDER, &err), -EBUSY);
	assert_non_null(strstr(wr_err_msg(&err), "content request"));

	/* recovery: holders that are not live sandboxes are released, live ones kept */
	struct store_sandbox sb = {.id = (char *)"cl-live",
				   .template = (char *)"minimal",
				   .state = STORE_SB_RUNNING,
				   .vcpus = 1,
				   .memory_mb = 512,
				   .slot = -1};
	assert_int_equal(store_sandbox_put(s, &sb, &err), 0);
	assert_int_equal(store_volume_claim(s, "vol-b", "cl-live", &err), 0);
	assert_int_equal(store_volume_claim(s, "vol-c", "cl-dead", &err), 0);
	int rel = -1;
	assert_int_equal(store_volume_release_orphans(s, NULL, &rel, &err), 0);
	assert_int_equal(rel, 2); /* vol-a (content) and vol-c (dead sandbox) */
	assert_int_equal(store_volume_get(s, "vol-b", NULL, &v, &err), 0);
	assert_string_equal(v.holder, "cl-live");
	store_volume_done(&v);
	assert_int_equal(store_volume_get(s, "vol-c", NULL, &v, &err), 0);
	assert_null(v.holder);
	store_volume_done(&v);
	assert_int_equal(store_volume_delete(s, "vol-c", &err), 0);
	assert_int_equal(store_volume_delete(s, "vol-c", &err), -ENOENT);
}

/* --- content ------------------------------------------------------------------------------ */

static int sh(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

struct img {
	char dir[64];
	char *path;
};

static int img_setup(void **state)
{
	struct img *m = xcalloc(1, sizeof(*m));
	snprintf(m->dir, sizeof(m->dir), "/tmp/test-volimg-XXXXXX");
	assert_non_null(mkdtemp(m->dir));
	m->path = xasprintf("%s/v.ext4", m->dir);
	cleanup_free char *cmd = xasprintf(
		"truncate -s 32M %s && mkfs.ext4 -q -F -m 0 -O ^has_journal %s", m->path, m->path);
	if (sh(cmd) != 0) {
		/* mkfs.ext4 is part of the build dependencies (e2fsprogs) */
		fail_msg("mkfs.ext4 failed (is e2fsprogs installed?)");
	}
	*state = m;
	return 0;
}

static int img_teardown(void **state)
{
	struct img *m = *state;
	rm_rf(m->dir);
	free(m->path);
	free(m);
	return 0;
}

struct buf {
	char *p;
	size_t n, off;
};

static ssize_t buf_src(void *ud, void *out, size_t n)
{
	struct buf *b = ud;
	size_t k = b->n - b->off < n ? b->n - b->off : n;
	memcpy(out, b->p + b->off, k);
	b->off += k;
	return (ssize_t)k;
}

static int buf_sink(void *ud, const void *in, size_t n)
{
	struct buf *b = ud;
	b->p = xrealloc(b->p, b->n + n + 1);
	memcpy(b->p + b->n, in, n);
	b->n += n;
	b->p[b->n] = '\0';
	return 0;
}

static void put(struct ext2vol *v, const char *path, const char *text, int want)
{
	struct buf b = {.p = (char *)text, .n = strlen(text)};
	struct wr_err err = {0};
	assert_int_equal(ext2vol_write(v, path, buf_src, &b, 1 << 20, -1, -1, -1, &err), want);
}

static char *get(struct ext2vol *v, const char *path, int want)
{
	struct buf b = {0};
	struct wr_err err = {0};
	assert_int_equal(ext2vol_read(v, path, buf_sink, &b, &err), want);
	return b.p ? b.p : xstrdup("");
}

static void test_content(void **state)
{
	struct img *m = *state;
	struct wr_err err = {0};
	assert_int_equal(ext2vol_chmod_root(m->path, 0777, &err), 0);
	struct ext2vol *v = NULL;
	assert_int_equal(ext2vol_open(m->path, true, &v, &err), 0);
	struct ext2vol_stat st = {0};
	assert_int_equal(ext2vol_stat(v, "/", &st, &err), 0);
	assert_int_equal(st.type, EXT2VOL_DIR);
	assert_int_equal(st.mode & 07777, 0777);
	ext2vol_stat_done(&st);

	put(v, "/a/b/hello.txt", "hello", 0); /* parents made */
	cleanup_free char *t = get(v, "/a/b/hello.txt", 0);
	assert_string_equal(t, "hello");
	put(v, "/a/b/hello.txt", "hi", 0); /* overwrite truncates */
	cleanup_free char *t2 = get(v, "//a/b//hello.txt", 0);
	assert_string_equal(t2, "hi");
	/* a file larger than a block, and one that needs the directory to grow */
	size_t big = 300 * 1024;
	char *data = xmalloc(big + 1);
	for (size_t i = 0; i < big; i++)
		data[i] = (char)('a' + i % 26);
	data[big] = '\0';
	put(v, "/big", data, 0);
	cleanup_free char *back = get(v, "/big", 0);
	assert_int_equal(strlen(back), big);
	assert_memory_equal(back, data, big);
	free(data);
	for (int i = 0; i < 200; i++) {
		char p[64];
		snprintf(p, sizeof(p), "/many/file-with-a-longish-name-%03d", i);
		put(v, p, "x", 0);
	}
	struct ext2vol_stat *rows = NULL;
	size_t n = 0;
	assert_int_equal(ext2vol_list(v, "/many", 1, &rows, &n, &err), 0);
	assert_int_equal(n, 200);
	assert_string_equal(rows[0].path, "/many/file-with-a-longish-name-000");
	assert_string_equal(rows[199].name, "file-with-a-longish-name-199"); /* sorted */
	ext2vol_stat_list_free(rows, n);
	assert_int_equal(ext2vol_list(v, "/a", 2, &rows, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0].path, "/a/b");
	assert_string_equal(rows[1].path, "/a/b/hello.txt");
	assert_int_equal(rows[1].size, 2);
	ext2vol_stat_list_free(rows, n);

	/* mkdir: parent must exist unless parents; existing is EEXIST unless parents */
	assert_int_equal(ext2vol_mkdir(v, "/x/y", false, -1, -1, -1, &err), -ENOENT);
	assert_int_equal(ext2vol_mkdir(v, "/x/y", true, 1000, 1000, 0700, &err), 0);
	assert_int_equal(ext2vol_mkdir(v, "/x/y", false, -1, -1, -1, &err), -EEXIST);
	assert_int_equal(ext2vol_mkdir(v, "/x/y", true, -1, -1, -1, &err), 0);
	assert_int_equal(ext2vol_stat(v, "/x/y", &st, &err), 0);
	assert_int_equal(st.uid, 1000);
	assert_int_equal(st.mode & 07777, 0700);
	ext2vol_stat_done(&st);
	assert_int_equal(ext2vol_setattr(v, "/a/b/hello.txt", 7, 8, 0600, &err), 0);
	assert_int_equal(ext2vol_stat(v, "/a/b/hello.txt", &st, &err), 0);
	assert_int_equal(st.uid, 7);
	assert_int_equal(st.gid, 8);
	assert_int_equal(st.mode & 07777, 0600);
	ext2vol_stat_done(&st);

	/* errors, not guesses */
	cleanup_free char *e1 = get(v, "/a", -EISDIR);
	cleanup_free char *e2 = get(v, "/nope", -ENOENT);
	cleanup_free char *e3 = get(v, "/a/b/hello.txt/x", -ENOTDIR);
	cleanup_free char *e4 = get(v, "/a/../big", -EINVAL);
	assert_int_equal(ext2vol_remove(v, "/", &err), -EINVAL);
	put(v, "/", "x", -EISDIR);
	struct buf b = {.p = (char *)"0123456789", .n = 10};
	assert_int_equal(ext2vol_write(v, "/small", buf_src, &b, 5, -1, -1, -1, &err), -EFBIG);
	assert_int_equal(ext2vol_setattr(v, "/big", -1, -1, 010000, &err), -EINVAL);

	/* remove: a file, then a whole tree */
	assert_int_equal(ext2vol_remove(v, "/big", &err), 0);
	assert_int_equal(ext2vol_stat(v, "/big", &st, &err), -ENOENT);
	assert_int_equal(ext2vol_remove(v, "/many", &err), 0);
	assert_int_equal(ext2vol_stat(v, "/many", &st, &err), -ENOENT);
	assert_int_equal(ext2vol_close(v, &err), 0);
	/* what libext2fs wrote is a clean file system for e2fsck */
	cleanup_free char *fsck = xasprintf("e2fsck -fn %s >/dev/null 2>&1", m->path);
	assert_int_equal(sh(fsck), 0);

	/* symbolic links a guest made are entries, never followed */
	cleanup_free char *mk = xasprintf("debugfs -w -R 'symlink /out /etc' %s >/dev/null 2>&1 && "
					  "debugfs -w -R 'symlink /a/in /a/b' %s >/dev/null 2>&1",
					  m->path, m->path);
	assert_int_equal(sh(mk), 0);
	assert_int_equal(ext2vol_open(m->path, true, &v, &err), 0);
	assert_int_equal(ext2vol_stat(v, "/out", &st, &err), 0);
	assert_int_equal(st.type, EXT2VOL_SYMLINK);
	assert_string_equal(st.target, "/etc");
	ext2vol_stat_done(&st);
	cleanup_free char *e5 = get(v, "/out/passwd", -ELOOP);
	cleanup_free char *e6 = get(v, "/a/in/hello.txt", -ELOOP);
	assert_int_equal(ext2vol_list(v, "/out", 1, &rows, &n, &err), -ELOOP);
	put(v, "/out/x", "x", -ELOOP);
	put(v, "/a/in", "x", -ELOOP); /* writing "through" the link: refused, link kept */
	assert_int_equal(ext2vol_remove(v, "/out", &err), 0); /* the link, not /etc */
	assert_int_equal(ext2vol_close(v, &err), 0);
}

static void test_hostile_images(void **state)
{
	struct img *m = *state;
	struct wr_err err = {0};
	struct ext2vol *v = NULL;
	/* not a file system at all */
	cleanup_free char *junk = xasprintf("%s/junk", m->dir);
	cleanup_free char *cmd = xasprintf("head -c 4M /dev/urandom > %s", junk);
	assert_int_equal(sh(cmd), 0);
	assert_int_equal(ext2vol_open(junk, false, &v, &err), -EUCLEAN);
	/* a file system whose journal needs replaying is refused, not read half-done */
	cleanup_free char *j = xasprintf("%s/j.ext4", m->dir);
	cleanup_free char *mkj =
		xasprintf("truncate -s 32M %s && mkfs.ext4 -q -F %s && "
			  "debugfs -w -R 'feature needs_recovery' %s >/dev/null 2>&1",
			  j, j, j);
	assert_int_equal(sh(mkj), 0);
	assert_int_equal(ext2vol_open(j, false, &v, &err), -EUCLEAN);
	assert_non_null(strstr(wr_err_msg(&err), "recovery"));
	/* an image smaller than its file system claims is refused before any table is sized */
	cleanup_free char *sm = xasprintf("%s/small.ext4", m->dir);
	cleanup_free char *mks = xasprintf("cp %s %s && truncate -s 8M %s", m->path, sm, sm);
	assert_int_equal(sh(mks), 0);
	assert_int_equal(ext2vol_open(sm, false, &v, &err), -EUCLEAN);
	assert_non_null(strstr(wr_err_msg(&err), "claims more blocks"));
	/* a truncated image: open may work, reads past the end are errors, not crashes */
	cleanup_free char *t = xasprintf("%s/t.ext4", m->dir);
	cleanup_free char *mkt = xasprintf("cp %s %s && truncate -s 1M %s", m->path, t, t);
	assert_int_equal(sh(mkt), 0);
	int r = ext2vol_open(t, false, &v, &err);
	if (r == 0) {
		struct ext2vol_stat *rows = NULL;
		size_t n = 0;
		if (ext2vol_list(v, "/", 2, &rows, &n, &err) == 0)
			ext2vol_stat_list_free(rows, n);
		ext2vol_close(v, NULL);
	} else {
		assert_true(r < 0);
	}
	/* directories a guest hard-linked into a cycle: errors, and a remove takes nothing above */
	cleanup_free char *c = xasprintf("%s/c.ext4", m->dir);
	cleanup_free char *mkc =
		xasprintf("truncate -s 32M %s && mkfs.ext4 -q -F -O ^has_journal %s && "
			  "debugfs -w -R 'mkdir /d' %s && debugfs -w -R 'mkdir /keep' %s && "
			  "debugfs -w -R 'link /d /d/loop' %s && debugfs -w -R 'link <2> /d/up' %s",
			  c, c, c, c, c, c);
	cleanup_free char *q = xasprintf("(%s) >/dev/null 2>&1", mkc);
	assert_int_equal(sh(q), 0);
	assert_int_equal(ext2vol_open(c, true, &v, &err), 0);
	struct ext2vol_stat *rows = NULL;
	size_t n = 0;
	assert_int_equal(ext2vol_list(v, "/d", 1, &rows, &n, &err), 0); /* one level is fine */
	assert_int_equal(n, 2);
	ext2vol_stat_list_free(rows, n);
	assert_int_equal(ext2vol_list(v, "/d", 3, &rows, &n, &err), -EUCLEAN);
	assert_non_null(strstr(wr_err_msg(&err), "cycle"));
	assert_int_equal(ext2vol_remove(v, "/d", &err), -EUCLEAN);
	struct ext2vol_stat st = {0};
	assert_int_equal(ext2vol_stat(v, "/keep", &st, &err), 0); /* nothing above was taken */
	ext2vol_stat_done(&st);
	ext2vol_close(v, NULL);
}

/* The agent's side of wrenn-volfs: whatever the helper does, the caller gets an error. */
static void fake_helper(const char *path, const char *script)
{
	cleanup_free char *text = xasprintf("#!/bin/sh\n%s\n", script);
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0700), 0);
}

static void test_helper_answers(void **state)
{
	(void)state;
	char dir[] = "/tmp/test-volrun-XXXXXX";
	assert_non_null(mkdtemp(dir));
	cleanup_free char *img = xasprintf("%s/img", dir);
	cleanup_free char *h = xasprintf("%s/helper", dir);
	assert_int_equal(write_file_atomic(img, "x", 1, 0644), 0);
	const char *args[] = {"stat", "/a", NULL};
	struct ext2vol_run run = {
		.helper = h, .image = img, .uid = getuid(), .gid = getgid(), .args = args};
	struct wr_err err = {0};
	char *out = NULL;
	/* it crashed (a libext2fs bug on a guest's image): an error, and we live on */
	fake_helper(h, "kill -SEGV $$");
	assert_int_equal(ext2vol_run_json(&run, 1 << 20, &out, &err), -EUCLEAN);
	assert_non_null(strstr(wr_err_msg(&err), "crashed"));
	/* errno values it may send, and no others; its message is cleaned */
	fake_helper(h, "echo 'ERR 2 /a not found'; exit 1");
	assert_int_equal(ext2vol_run_json(&run, 1 << 20, &out, &err), -ENOENT);
	assert_string_equal(wr_err_msg(&err), "/a not found");
	fake_helper(h, "printf 'ERR 99999 bad\\001msg\\n'; exit 1");
	assert_int_equal(ext2vol_run_json(&run, 1 << 20, &out, &err), -EUCLEAN);
	assert_null(strchr(wr_err_msg(&err), '\001'));
	fake_helper(h, "echo garbage");
	assert_int_equal(ext2vol_run_json(&run, 1 << 20, &out, &err), -EUCLEAN);
	/* an OK that it does not stand by (exit status) is not an answer */
	fake_helper(h, "printf 'OK\\n{}'; exit 3");
	assert_int_equal(ext2vol_run_json(&run, 1 << 20, &out, &err), -EUCLEAN);
	/* too much JSON */
	fake_helper(h, "printf 'OK\\n'; head -c 100000 /dev/zero");
	assert_int_equal(ext2vol_run_json(&run, 4096, &out, &err), -E2BIG);
	fake_helper(h, "printf 'OK\\n{\"a\":1}'");
	assert_int_equal(ext2vol_run_json(&run, 4096, &out, &err), 0);
	assert_string_equal(out, "{\"a\":1}");
	free(out);
	/* the image was the helper's fd 3, read-write */
	fake_helper(h, "printf 'OK\\n'; readlink /proc/self/fd/3");
	assert_int_equal(ext2vol_run_json(&run, 4096, &out, &err), 0);
	assert_non_null(strstr(out, "/img"));
	free(out);
	rm_rf(dir);
}

static void test_path_norm(void **state)
{
	(void)state;
	struct wr_err err = {0};
	char *p = NULL;
	assert_int_equal(ext2vol_path_norm("a//b/", &p, &err), 0);
	assert_string_equal(p, "/a/b");
	free(p);
	assert_int_equal(ext2vol_path_norm("///", &p, &err), 0);
	assert_string_equal(p, "/");
	free(p);
	assert_int_equal(ext2vol_path_norm("/a/./b", &p, &err), -EINVAL);
	assert_int_equal(ext2vol_path_norm("/a/..", &p, &err), -EINVAL);
	assert_int_equal(ext2vol_path_norm("", &p, &err), -EINVAL);
	assert_int_equal(ext2vol_path_norm("/a\x01", &p, &err), -EINVAL);
	char longc[300];
	memset(longc, 'x', 299);
	longc[0] = '/';
	longc[299] = '\0';
	assert_int_equal(ext2vol_path_norm(longc, &p, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mount_paths),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_config_disks),
		cmocka_unit_test(test_ch_volume_disk),
		cmocka_unit_test(test_path_norm),
		cmocka_unit_test(test_helper_answers),
		cmocka_unit_test_setup_teardown(test_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content, img_setup, img_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_images, img_setup, img_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
