/* SPDX-License-Identifier: MIT */
/*
 * Cloud Hypervisor client (ch-api.c) and backend (vmm-ch.c) against the
 * fake CH server of fake-ch.c, which follows CH's own behaviour: status
 * codes, JSON error arrays, the VM state machine, the qcow2 backing-file
 * rule, ignored unknown fields and version-dependent fields. Several tests
 * replay what the client sent before it knew those rules and check that the
 * fake refuses or misbehaves the way CH does, so the fake can catch them.
 */
#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "fake-ch.h"
#include "vm/ch-api.h"
#include "vm/vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

struct fixture {
	char dir[64];
	char sock[96];
	char kernel[96];
	char disk[96];
	struct fake_ch *f;
	struct ch_api a;
};

static void put_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* A qcow2 v3 header; backing != NULL puts a backing file name after it. */
static void put_qcow2(const char *path, const char *backing)
{
	unsigned char h[512] = {'Q', 'F', 'I', 0xfb, 0, 0, 0, 3};
	if (backing) {
		h[15] = 104;				/* backing_file_offset (BE u64 at 8) */
		h[19] = (unsigned char)strlen(backing); /* backing_file_size (BE u32 at 16) */
		memcpy(h + 104, backing, strlen(backing));
	}
	put_file(path, h, sizeof(h));
}

static void setup(struct fixture *x, const char *version)
{
	strcpy(x->dir, "/tmp/test-ch-XXXXXX");
	assert_non_null(mkdtemp(x->dir));
	snprintf(x->sock, sizeof(x->sock), "%s/api.sock", x->dir);
	snprintf(x->kernel, sizeof(x->kernel), "%s/vmlinux", x->dir);
	snprintf(x->disk, sizeof(x->disk), "%s/rootfs", x->dir);
	put_file(x->kernel, "kernel", 6);
	put_file(x->disk, "\0\0\0\0\0\0\0\0raw-ext4-image-stand-in........", 40);
	x->f = version ? fake_ch_start(x->sock, version, NULL) : NULL;
	assert_true(!version || x->f);
	x->a = (struct ch_api){.socket_path = x->sock, .timeout_ms = 5000};
	if (version)
		x->a.ver = (struct ch_version){atoi(version), 0};
}

static void teardown(struct fixture *x)
{
	fake_ch_free(x->f);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", x->dir);
	assert_int_equal(system(cmd), 0);
}

static struct ch_vm_spec spec(const struct fixture *x)
{
	return (struct ch_vm_spec){
		.kernel = x->kernel,
		.cmdline = "console=ttyS0 root=/dev/vda rw",
		.vcpus = 2,
		.memory_bytes = 512ull << 20,
		.shared_mem = true,
		.disk = x->disk,
		.disk_format = "raw",
		.mac = "02:FC:00:00:00:05",
		.serial_file = "/var/lib/wrenn/sandboxes/cl-1/serial.log",
	};
}

/* main() moved the test into a network namespace of its own when it could (root). */
static bool own_netns;

/* A TAP (not persistent: it goes with the fd) in the test's own namespace, as
 * the agent hands CH one; -1 and the test skipped without a namespace. */
static int test_tap(const char *name)
{
	if (!own_netns)
		return -1;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
	return fd;
}

/* Request i as method, endpoint and answered status; returns its JSON body (or NULL). */
static json_t *expect_req(struct fake_ch *f, int i, const char *method, const char *endpoint,
			  int status)
{
	struct fake_ch_req q = fake_ch_req(f, i);
	char path[64];
	snprintf(path, sizeof(path), "/api/v1/%s", endpoint);
	assert_string_equal(q.method, method);
	assert_string_equal(q.path, path);
	assert_int_equal(q.status, status);
	json_t *j = *q.body ? json_loads(q.body, 0, NULL) : NULL;
	assert_true(!*q.body || j);
	free(q.body);
	return j;
}

static const char *sget(json_t *o, const char *a, const char *b)
{
	return json_string_value(json_object_get(b ? json_object_get(o, a) : o, b ? b : a));
}

static void assert_msg(const struct wr_err *err, const char *part)
{
	if (!strstr(wr_err_msg(err), part))
		fail_msg("\"%s\" not in \"%s\"", part, wr_err_msg(err));
}

static void test_lifecycle(void **state)
{
	(void)state;
	struct fixture x;
	setup(&x, "53.0.0");
	struct ch_vm_spec s = spec(&x);
	struct wr_err err = {0};
	struct ch_version ver = {0};
	char snap[128];
	snprintf(snap, sizeof(snap), "%s/snap", x.dir);
	assert_int_equal(mkdir(snap, 0700), 0);

	assert_int_equal(ch_api_ping(&x.a, &ver, &err), 0);
	assert_int_equal(ver.major, 53);
	assert_int_equal(ver.minor, 0);
	int tap = test_tap("wrtap-life");
	if (tap < 0) {
		teardown(&x);
		skip();
	}
	assert_int_equal(ch_api_create(&x.a, &s, &err), 0);
	assert_string_equal(fake_ch_state(x.f), "Created");
	assert_int_equal(ch_api_add_net(&x.a, &s, tap, &err), 0);
	close(tap); /* CH holds its own copy now */
	assert_int_equal(ch_api_put(&x.a, "vm.boot", &err), 0);
	assert_string_equal(fake_ch_state(x.f), "Running");
	assert_string_equal(fake_ch_tap(x.f), "wrtap-life"); /* what TUNGETIFF said at boot */
	assert_int_equal(ch_api_put(&x.a, "vm.pause", &err), 0);
	cleanup_free char *st = NULL;
	assert_int_equal(ch_api_state(&x.a, &st, &err), 0);
	assert_string_equal(st, "Paused");
	assert_int_equal(ch_api_snapshot(&x.a, snap, &err), 0);
	assert_int_equal(ch_api_put(&x.a, "vm.resume", &err), 0);
	assert_int_equal(ch_api_put(&x.a, "vm.shutdown", &err), 0);
	assert_string_equal(fake_ch_state(x.f), "Created"); /* as CH: config kept */
	assert_int_equal(ch_api_put(&x.a, "vmm.shutdown", &err), 0);
	assert_true(fake_ch_exited(x.f));
	/* CH is gone: nobody answers any more */
	assert_int_equal(ch_api_ping(&x.a, NULL, &err), -ECONNREFUSED);

	assert_int_equal(fake_ch_nreq(x.f), 10);
	json_decref(expect_req(x.f, 0, "GET", "vmm.ping", 200));
	json_t *c = expect_req(x.f, 1, "PUT", "vm.create", 204);
	assert_int_equal(fake_ch_req_nfds(x.f, 1), 0);
	assert_string_equal(sget(c, "payload", "kernel"), x.kernel);
	assert_string_equal(sget(c, "payload", "cmdline"), "console=ttyS0 root=/dev/vda rw");
	json_t *cpus = json_object_get(c, "cpus");
	assert_int_equal(json_integer_value(json_object_get(cpus, "boot_vcpus")), 2);
	assert_int_equal(json_integer_value(json_object_get(cpus, "max_vcpus")), 2);
	json_t *mem = json_object_get(c, "memory");
	assert_int_equal(json_integer_value(json_object_get(mem, "size")), 512ll << 20);
	assert_true(json_is_true(json_object_get(mem, "shared")));
	assert_int_equal(json_array_size(json_object_get(c, "disks")), 1);
	json_t *disk = json_array_get(json_object_get(c, "disks"), 0);
	assert_string_equal(sget(disk, "path", NULL), x.disk);
	assert_string_equal(sget(disk, "image_type", NULL), "Raw");
	assert_null(json_object_get(disk, "backing_files")); /* raw: nothing to open */
	assert_null(json_object_get(c, "net")); /* vm.create drops fds: the NIC comes next */
	assert_string_equal(sget(c, "rng", "src"), "/dev/urandom");
	assert_string_equal(sget(c, "serial", "mode"), "File");
	assert_string_equal(sget(c, "serial", "file"), "/var/lib/wrenn/sandboxes/cl-1/serial.log");
	assert_string_equal(sget(c, "console", "mode"), "Off");
	json_decref(c);
	/* the NIC: the TAP by SCM_RIGHTS, never by name */
	json_t *net = expect_req(x.f, 2, "PUT", "vm.add-net", 204);
	assert_int_equal(fake_ch_req_nfds(x.f, 2), 1);
	assert_string_equal(sget(net, "id", NULL), CH_NET_ID);
	assert_string_equal(sget(net, "mac", NULL), "02:FC:00:00:00:05");
	assert_int_equal(json_integer_value(json_object_get(net, "num_queues")), 2);
	assert_null(json_object_get(net, "tap"));
	assert_null(json_object_get(net, "fds"));
	assert_null(json_object_get(net, "rate_limiter_config")); /* off by default */
	json_decref(net);
	assert_null(expect_req(x.f, 3, "PUT", "vm.boot", 204));
	assert_null(expect_req(x.f, 4, "PUT", "vm.pause", 204));
	assert_null(expect_req(x.f, 5, "GET", "vm.info", 200));
	json_t *sn = expect_req(x.f, 6, "PUT", "vm.snapshot", 204);
	char url[160];
	snprintf(url, sizeof(url), "file://%s", snap);
	assert_string_equal(sget(sn, "destination_url", NULL), url);
	assert_int_equal(json_object_size(sn), 1);
	json_decref(sn);
	assert_null(expect_req(x.f, 7, "PUT", "vm.resume", 204));
	assert_null(expect_req(x.f, 8, "PUT", "vm.shutdown", 204));
	assert_null(expect_req(x.f, 9, "PUT", "vmm.shutdown", 200)); /* CH: 200, no body */
	char p[192];
	snprintf(p, sizeof(p), "%s/config.json", snap);
	assert_int_equal(access(p, R_OK), 0);
	teardown(&x);
}

/* The bug of issue 12: a qcow2 overlay without "backing_files": true. */
static void test_qcow2_overlay_needs_backing_files(void **state)
{
	(void)state;
	struct fixture x;
	setup(&x, "51.0.0");
	put_qcow2(x.disk, "/var/lib/wrenn/images/minimal.ext4");
	struct ch_vm_spec s = spec(&x);
	s.disk_format = "qcow2";
	struct wr_err err = {0};

	/* What the client sent before: the same config without the field. */
	json_t *old = ch_vm_config_json(&s);
	json_object_del(json_array_get(json_object_get(old, "disks"), 0), "backing_files");
	assert_int_equal(ch_api_call(&x.a, "PUT", "vm.create", old, NULL, &err), 0);
	assert_int_equal(ch_api_put(&x.a, "vm.boot", &err), -EIO);
	assert_msg(&err, "HTTP 500");
	assert_msg(&err, "Error from API: The VM could not boot");
	assert_msg(&err, "backing file");
	assert_string_equal(fake_ch_state(x.f), "Created");
	fake_ch_free(x.f);

	/* Now: the field is sent and the overlay boots. */
	x.f = fake_ch_start(x.sock, "51.0.0", NULL);
	assert_non_null(x.f);
	assert_int_equal(ch_api_create(&x.a, &s, &err), 0);
	if (ch_api_put(&x.a, "vm.boot", &err) < 0)
		fail_msg("%s", wr_err_msg(&err));
	assert_string_equal(fake_ch_state(x.f), "Running");
	json_t *c = expect_req(x.f, 0, "PUT", "vm.create", 204);
	json_t *disk = json_array_get(json_object_get(c, "disks"), 0);
	assert_string_equal(sget(disk, "image_type", NULL), "Qcow2");
	assert_true(json_is_true(json_object_get(disk, "backing_files")));
	json_decref(c);
	teardown(&x);
}

static void test_boot_opens_kernel_and_disk(void **state)
{
	(void)state;
	struct fixture x;
	setup(&x, "53.0.0");
	struct ch_vm_spec s = spec(&x);
	struct wr_err err = {0};
	/* a qcow2 without a backing file needs no opt-in */
	put_qcow2(x.disk, NULL);
	s.disk_format = "qcow2";
	assert_int_equal(ch_api_create(&x.a, &s, &err), 0);
	assert_int_equal(ch_api_put(&x.a, "vm.boot", &err), 0);
	fake_ch_free(x.f);

	/* Qcow2 declared, raw on disk */
	put_file(x.disk, "raw", 3);
	x.f = fake_ch_start(x.sock, "53.0.0", NULL);
	assert_int_equal(ch_api_create(&x.a, &s, &err), 0);
	assert_int_equal(ch_api_put(&x.a, "vm.boot", &err), -EIO);
	assert_msg(&err, "QCOW2");
	fake_ch_free(x.f);

	/* kernel missing */
	s.disk_format = "raw";
	unlink(x.kernel);
	x.f = fake_ch_start(x.sock, "53.0.0", NULL);
	assert_int_equal(ch_api_create(&x.a, &s, &err), 0);
	assert_int_equal(ch_api_put(&x.a, "vm.boot", &err), -EIO);
	assert_msg(&err, "HTTP 500");
	assert_msg(&err, "kernel");
	teardown(&x);
}

static void test_state_machine(void **state)
{
	(void)state;
	struct fixture x;
	setup(&x, "53.0.0");
	struct ch_vm_spec s = spec(&x);
	struct wr_err err = {0};
	cleanup_free char *st = NULL;

	assert_int_equal(ch_api_state(&x.a, &st, &err), -EIO);
	assert_msg(&err,
		   "HTTP 404: Error from API: The VM info is not available: VM is not created");
	assert_int_equal(ch_api_put(&x.a, "vm.boot", &err), -EIO);
	assert_msg(&err, "HTTP 404");
	assert_msg(&err, "VM config is missing");
	assert_int_equal(ch_api_put(&x.a, "vm.pause", &err), -EIO);
	assert_msg(&err, "HTTP 500: Error from API: The VM could not be paused: VM is not running");
	assert_int_equal(ch_api_put(&x.a, "vm.shutdown", &err), -EIO);
	assert_msg(&err, "VM is not running");

	assert_int_equal(ch_api_create(&x.a, &s, &err), 0);
	assert_int_equal(ch_api_create(&x.a, &s, &err), -EIO);
	assert_msg(&err, "HTTP 500");
	assert_msg(&err, "VM is already created");
	assert_int_equal(ch_api_put(&x.a, "vm.resume", &err), -EIO); /* not booted */
	assert_int_equal(ch_api_put(&x.a, "vm.boot", &err), 0);
	assert_int_equal(ch_api_put(&x.a, "vm.boot", &err), -EIO);
	assert_msg(&err, "VM is already created");
	assert_int_equal(ch_api_put(&x.a, "vm.resume", &err), -EIO);
	assert_msg(&err, "Cannot resume VM: Invalid transition: InvalidStateTransition(Running, "
			 "Running)");
	assert_int_equal(ch_api_snapshot(&x.a, x.dir, &err), -EIO);
	assert_msg(&err, "Trying to snapshot while VM is running");
	assert_int_equal(ch_api_put(&x.a, "vm.pause", &err), 0);
	assert_int_equal(ch_api_put(&x.a, "vm.pause", &err), -EIO);
	assert_msg(&err, "InvalidStateTransition(Paused, Paused)");
	assert_int_equal(ch_api_state(&x.a, &st, &err), 0);
	assert_string_equal(st, "Paused");
	/* a restore needs a fresh VMM */
	assert_int_equal(ch_api_restore(&x.a, x.dir,
					&(struct ch_restore){.resume = true, .tap_fd = -1}, &err),
			 -EIO);
	assert_msg(&err, "The VM could not be restored: VM is already created");
	assert_int_equal(ch_api_put(&x.a, "vm.shutdown", &err), 0);
	assert_int_equal(ch_api_restore(&x.a, x.dir,
					&(struct ch_restore){.resume = true, .tap_fd = -1}, &err),
			 -EIO); /* config stays */
	/* wrong method, unknown endpoint */
	assert_int_equal(ch_api_call(&x.a, "GET", "vm.boot", NULL, NULL, &err), -EIO);
	assert_msg(&err, "HTTP 400: Bad Request");
	assert_int_equal(ch_api_put(&x.a, "vm.frobnicate", &err), -EIO);
	assert_msg(&err, "HTTP 404: Not Found");
	teardown(&x);
}

/* Snapshot on one VMM, restore on a fresh one of the given version; the
 * client uses the version that one reports, or *as when given. */
static struct fake_ch *restored(struct fixture *x, const char *version, bool resume,
				const struct ch_version *as, struct wr_err *err, int *ret)
{
	struct ch_vm_spec s = spec(x);
	char snap[128];
	snprintf(snap, sizeof(snap), "%s/snap", x->dir);
	mkdir(snap, 0700);
	int tap = test_tap("wrtap-snap");
	assert_int_equal(ch_api_create(&x->a, &s, err), 0);
	assert_int_equal(ch_api_add_net(&x->a, &s, tap, err), 0);
	close(tap);
	assert_int_equal(ch_api_put(&x->a, "vm.boot", err), 0);
	assert_int_equal(ch_api_put(&x->a, "vm.pause", err), 0);
	assert_int_equal(ch_api_snapshot(&x->a, snap, err), 0);
	fake_ch_free(x->f);
	x->f = fake_ch_start(x->sock, version, NULL);
	assert_non_null(x->f);
	struct ch_version v = {0};
	assert_int_equal(ch_api_ping(&x->a, &v, err), 0);
	x->a.ver = as ? *as : v;
	/* The snapshot's NIC was fd-backed: restore must hand it a TAP again
	 * (the first VMM is gone, so is its TAP: a new one of the same name). */
	tap = test_tap("wrtap-snap");
	struct ch_restore o = {
		.resume = resume, .on_demand = true, .net_id = CH_NET_ID, .tap_fd = tap};
	*ret = ch_api_restore(&x->a, snap, &o, err);
	close(tap);
	return x->f;
}

static void test_restore_v53_resumes_in_one_call(void **state)
{
	(void)state;
	struct fixture x;
	setup(&x, "53.0.0");
	struct wr_err err = {0};
	int r;
	if (!own_netns) {
		teardown(&x);
		skip();
	}
	struct fake_ch *f = restored(&x, "53.0.0", true, NULL, &err, &r);
	assert_int_equal(r, 0);
	assert_string_equal(fake_ch_state(f), "Running");
	assert_int_equal(fake_ch_nreq(f), 2);
	json_t *b = expect_req(f, 1, "PUT", "vm.restore", 204);
	assert_non_null(strstr(sget(b, "source_url", NULL), "file:///tmp/test-ch-"));
	assert_string_equal(sget(b, "memory_restore_mode", NULL), "OnDemand");
	assert_true(json_is_true(json_object_get(b, "resume")));
	/* the TAP again, by SCM_RIGHTS, for the snapshot's NIC by id */
	assert_int_equal(fake_ch_req_nfds(f, 1), 1);
	json_t *nf = json_array_get(json_object_get(b, "net_fds"), 0);
	assert_string_equal(sget(nf, "id", NULL), CH_NET_ID);
	assert_int_equal(json_integer_value(json_object_get(nf, "num_fds")), 1);
	assert_string_equal(fake_ch_tap(f), "wrtap-snap");
	json_decref(b);
	json_t *cfg = fake_ch_config(f);
	assert_string_equal(sget(cfg, "payload", "kernel"), x.kernel);
	json_decref(cfg);
	teardown(&x);

	/* resume=false leaves it paused */
	setup(&x, "52.0.0");
	f = restored(&x, "52.0.0", false, NULL, &err, &r);
	assert_int_equal(r, 0);
	assert_string_equal(fake_ch_state(f), "Paused");
	b = expect_req(f, 1, "PUT", "vm.restore", 204);
	assert_true(json_is_false(json_object_get(b, "resume")));
	json_decref(b);
	teardown(&x);
}

static void test_restore_v51_resumes_explicitly(void **state)
{
	(void)state;
	struct fixture x;
	setup(&x, "51.0.0");
	struct wr_err err = {0};
	int r;
	if (!own_netns) {
		teardown(&x);
		skip();
	}
	struct fake_ch *f = restored(&x, "51.0.0", true, NULL, &err, &r);
	assert_int_equal(r, 0);
	assert_string_equal(fake_ch_state(f), "Running");
	assert_int_equal(fake_ch_nreq(f), 3);
	json_t *b = expect_req(f, 1, "PUT", "vm.restore", 204);
	assert_int_equal(json_object_size(b), 2); /* source_url and net_fds (v51 has both) */
	assert_non_null(json_object_get(b, "net_fds"));
	json_decref(b);
	assert_null(expect_req(f, 2, "PUT", "vm.resume", 204));
	teardown(&x);

	/* What the client did before: v52 fields to a v51 VMM, which ignores
	 * them and leaves the VM paused while we believed it running. */
	setup(&x, "51.0.0");
	struct ch_version newer = {53, 0};
	f = restored(&x, "51.0.0", true, &newer, &err, &r);
	assert_int_equal(r, 0);
	assert_int_equal(fake_ch_nreq(f), 2); /* ping, restore: no vm.resume */
	assert_string_equal(fake_ch_state(f), "Paused");
	teardown(&x);
}

static void test_versions(void **state)
{
	(void)state;
	struct ch_version v;
	assert_int_equal(ch_version_parse("53.0.0", "v53.0-12-gabcdef", &v), 0);
	assert_int_equal(v.major, 53);
	assert_int_equal(ch_version_parse(NULL, "v48.1-12-gabcdef-dirty", &v), 0);
	assert_int_equal(v.major, 48);
	assert_int_equal(v.minor, 1);
	assert_int_equal(ch_version_parse("", "v52.3", &v), 0);
	assert_int_equal(v.major, 52);
	assert_int_equal(v.minor, 3);
	assert_int_equal(ch_version_parse("dev", "unknown", &v), -EINVAL);
	assert_int_equal(ch_version_parse(NULL, NULL, &v), -EINVAL);

	struct wr_err err = {0};
	v = (struct ch_version){50, 2};
	assert_int_equal(ch_version_check(&v, &err), -ENOTSUP);
	assert_msg(&err, "v50.2");
	assert_msg(&err, "v51.0 or newer");
	v = (struct ch_version){51, 0};
	assert_int_equal(ch_version_check(&v, &err), 0);

	/* what the fake's vmm.ping reports */
	struct fixture x;
	setup(&x, NULL);
	x.f = fake_ch_start(x.sock, "49.0.0", "v49.0-3-g1234567");
	assert_int_equal(ch_api_ping(&x.a, &v, &err), 0);
	assert_int_equal(v.major, 49);
	json_t *pong = NULL;
	assert_int_equal(ch_api_call(&x.a, "GET", "vmm.ping", NULL, &pong, &err), 0);
	assert_string_equal(sget(pong, "build_version", NULL), "v49.0-3-g1234567");
	assert_true(json_integer_value(json_object_get(pong, "pid")) > 0);
	json_decref(pong);
	fake_ch_free(x.f);
	x.f = fake_ch_start(x.sock, "garbage", "no-version");
	assert_int_equal(ch_api_ping(&x.a, &v, &err), -EPROTO);
	assert_msg(&err, "no version");
	teardown(&x);
}

static void test_net_rate_limit(void **state)
{
	(void)state;
	struct fixture x;
	setup(&x, "53.0.0");
	struct ch_vm_spec s = spec(&x);
	s.net_limit = (struct ch_rate_limit){.bytes_per_sec = 12500000, .ops_per_sec = 0};
	struct wr_err err = {0};
	/* any fd does until boot, which these tests never reach */
	int nic[2];
	assert_int_equal(pipe2(nic, O_CLOEXEC), 0);
	assert_int_equal(ch_api_create(&x.a, &s, &err), 0);
	assert_int_equal(ch_api_add_net(&x.a, &s, nic[0], &err), 0);
	json_t *c = expect_req(x.f, 1, "PUT", "vm.add-net", 204);
	json_t *rl = json_object_get(c, "rate_limiter_config");
	json_t *bw = json_object_get(rl, "bandwidth");
	assert_int_equal(json_integer_value(json_object_get(bw, "size")), 12500000);
	assert_int_equal(json_integer_value(json_object_get(bw, "refill_time")), 1000);
	assert_null(json_object_get(rl, "ops"));
	json_decref(c);
	fake_ch_free(x.f);

	x.f = fake_ch_start(x.sock, "53.0.0", NULL);
	s.net_limit = (struct ch_rate_limit){.bytes_per_sec = 0, .ops_per_sec = 2000};
	assert_int_equal(ch_api_create(&x.a, &s, &err), 0);
	assert_int_equal(ch_api_add_net(&x.a, &s, nic[0], &err), 0);
	c = fake_ch_config(x.f);
	rl = json_object_get(json_array_get(json_object_get(c, "net"), 0), "rate_limiter_config");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(rl, "ops"), "size")),
			 2000);
	assert_null(json_object_get(rl, "bandwidth"));
	json_decref(c);
	fake_ch_free(x.f);

	/* CH's RateLimiterConfig denies unknown fields; the rest of VmConfig ignores them */
	x.f = fake_ch_start(x.sock, "53.0.0", NULL);
	json_t *extra = ch_vm_config_json(&s);
	json_object_set_new(extra, "not_a_ch_field", json_true());
	assert_int_equal(ch_api_call(&x.a, "PUT", "vm.create", extra, NULL, &err), 0);
	json_t *bad = ch_net_config_json(&s);
	json_object_set_new(json_object_get(bad, "rate_limiter_config"), "tx",
			    json_pack("{s:i, s:i}", "size", 1, "refill_time", 1));
	assert_int_equal(ch_api_call(&x.a, "PUT", "vm.add-net", bad, NULL, &err), -EIO);
	assert_msg(&err, "HTTP 400: Failed to deserialize JSON: unknown field `tx`");
	close(nic[0]);
	close(nic[1]);
	teardown(&x);
}

static void test_fake_rejects_bad_json(void **state)
{
	(void)state;
	struct fixture x;
	setup(&x, "52.0.0");
	struct ch_vm_spec s = spec(&x);
	struct wr_err err = {0};
	json_t *c = ch_vm_config_json(&s);
	json_object_set_new(json_array_get(json_object_get(c, "disks"), 0), "image_type",
			    json_string("Vmdk"));
	assert_int_equal(ch_api_call(&x.a, "PUT", "vm.create", c, NULL, &err), -EIO);
	assert_msg(&err, "HTTP 400: Failed to deserialize JSON: unknown variant `Vmdk`");
	c = ch_vm_config_json(&s);
	json_object_set_new(json_object_get(c, "memory"), "size", json_string("512M"));
	assert_int_equal(ch_api_call(&x.a, "PUT", "vm.create", c, NULL, &err), -EIO);
	assert_msg(&err, "invalid type for `size`");
	assert_int_equal(ch_api_call(&x.a, "PUT", "vm.restore",
				     json_pack("{s:s, s:s}", "source_url", "file:///x",
					       "memory_restore_mode", "Lazy"),
				     NULL, &err),
			 -EIO);
	assert_msg(&err, "unknown variant `Lazy`");
	assert_string_equal(fake_ch_state(x.f), "none");
	teardown(&x);
}

/* Why the NIC is not in vm.create: CH drops fds sent with it (and resets those
 * in the body), so the VM would boot without its TAP; one by name needs
 * /dev/net/tun, which the jail does not have, and then CAP_NET_ADMIN-free
 * ownership of the TAP.  A non-TAP fd is refused at boot. */
static void test_nic_needs_add_net(void **state)
{
	(void)state;
	struct fixture x;
	setup(&x, "53.0.0");
	struct ch_vm_spec s = spec(&x);
	struct wr_err err = {0};
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	json_t *c = ch_vm_config_json(&s);
	json_t *net = ch_net_config_json(&s);
	json_object_set_new(net, "fds", json_pack("[i]", p[0]));
	json_object_set_new(c, "net", json_pack("[o]", net));
	assert_int_equal(ch_api_call_fds(&x.a, "PUT", "vm.create", c, &p[0], 1, NULL, &err), 0);
	assert_int_equal(fake_ch_req_nfds(x.f, 0), 1);
	assert_int_equal(ch_api_put(&x.a, "vm.boot", &err), -EIO);
	assert_msg(&err, "Failed to create tap device: Operation not permitted");
	fake_ch_free(x.f);

	/* vm.add-net with a pipe instead of a TAP: accepted, refused at boot */
	x.f = fake_ch_start(x.sock, "53.0.0", NULL);
	assert_int_equal(ch_api_create(&x.a, &s, &err), 0);
	assert_int_equal(ch_api_add_net(&x.a, &s, p[0], &err), 0);
	assert_int_equal(ch_api_put(&x.a, "vm.boot", &err), -EIO);
	assert_msg(&err, "Failed to open tap device from fd");
	close(p[0]);
	close(p[1]);
	teardown(&x);
}

/* A snapshot whose NIC took fds cannot be restored without new ones (CH's
 * RestoreConfig::validate), and restore reads the snapshot's three files. */
static void test_restore_needs_net_fds(void **state)
{
	(void)state;
	struct fixture x;
	setup(&x, "53.0.0");
	int tap = test_tap("wrtap-nofd");
	if (tap < 0) {
		teardown(&x);
		skip();
	}
	struct ch_vm_spec s = spec(&x);
	struct wr_err err = {0};
	char snap[128], mem[160];
	snprintf(snap, sizeof(snap), "%s/snap", x.dir);
	snprintf(mem, sizeof(mem), "%s/memory-ranges", snap);
	assert_int_equal(mkdir(snap, 0700), 0);
	assert_int_equal(ch_api_create(&x.a, &s, &err), 0);
	assert_int_equal(ch_api_add_net(&x.a, &s, tap, &err), 0);
	assert_int_equal(ch_api_put(&x.a, "vm.boot", &err), 0);
	assert_int_equal(ch_api_put(&x.a, "vm.pause", &err), 0);
	assert_int_equal(ch_api_snapshot(&x.a, snap, &err), 0);
	fake_ch_free(x.f);
	x.f = fake_ch_start(x.sock, "53.0.0", NULL);
	struct ch_restore o = {.resume = true, .on_demand = false, .tap_fd = -1};
	assert_int_equal(ch_api_restore(&x.a, snap, &o, &err), -EIO);
	assert_msg(&err, "Missing required net id for restore: " CH_NET_ID);
	o = (struct ch_restore){.resume = true, .net_id = CH_NET_ID, .tap_fd = tap};
	assert_int_equal(unlink(mem), 0);
	assert_int_equal(ch_api_restore(&x.a, snap, &o, &err), -EIO);
	assert_msg(&err, "memory-ranges");
	close(tap);
	teardown(&x);
}

static void test_no_server(void **state)
{
	(void)state;
	struct ch_api a = {.socket_path = "/nonexistent/ch.sock"};
	struct wr_err err = {0};
	assert_int_equal(ch_api_ping(&a, NULL, &err), -ENOENT);
	assert_msg(&err, "vmm.ping");
}

/* --- the backend (vmm-ch.c) on a VMM it re-attaches to ------------------------ */

/* The forked fake CH of the running test, until the backend has reaped it (0 then).  A failed
 * assertion leaves the test by longjmp, past vmm_stop/vmm_free: reap_fake, the test's teardown
 * (cmocka runs it after a failure too), kills and reaps it, so the binary fails instead of
 * waiting on a server that serves forever with our stdout and stderr.  PR_SET_PDEATHSIG covers
 * the test binary itself dying (a signal, a harness timeout). */
static pid_t fake_pid;

static int reap_fake(void **state)
{
	(void)state;
	if (fake_pid > 0) {
		kill(fake_pid, SIGKILL);
		waitpid(fake_pid, NULL, 0);
	}
	fake_pid = 0;
	return 0;
}

static pid_t fork_fake(const char *sock, const char *version)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	pid_t parent = getpid();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* the parent may have died before the prctl: then nobody would send the signal */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(3);
		setpgid(0, 0);
		close(p[0]);
		struct fake_ch *f = fake_ch_new(sock, version, NULL);
		if (write(p[1], f ? "y" : "n", 1) != 1)
			_exit(2);
		close(p[1]);
		if (!f)
			_exit(1);
		fake_ch_serve(f);
		_exit(0);
	}
	fake_pid = pid;
	close(p[1]);
	char c = 0;
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	assert_int_equal(c, 'y');
	return pid;
}

static void backend_config(struct vm_config *c, const struct fixture *x)
{
	vm_config_set(&c->sandbox_id, "cl-t1");
	vm_config_set(&c->kernel_path, x->kernel);
	vm_config_set(&c->rootfs_path, x->disk);
	vm_config_set(&c->network_namespace, "wrenn-ns-1");
	vm_config_set(&c->guest_ip, VM_GUEST_IP);
	vm_config_set(&c->gateway_ip, VM_GATEWAY_IP);
	vm_config_set(&c->net_mask, VM_NET_MASK);
	vm_config_set(&c->socket_path, x->sock);
	vm_config_apply_defaults(c);
}

static void test_backend_reattach_snapshot_stop(void **state)
{
	(void)state;
	struct fixture x;
	setup(&x, NULL);
	pid_t pid = fork_fake(x.sock, "53.0.0");
	struct wr_err err = {0};
	/* as if a previous agent had started it */
	struct ch_vm_spec s = spec(&x);
	assert_int_equal(ch_api_create(&x.a, &s, &err), 0);
	assert_int_equal(ch_api_put(&x.a, "vm.boot", &err), 0);

	struct vm_config c = {0};
	backend_config(&c, &x);
	char log[128], snap[128], lock[128];
	snprintf(log, sizeof(log), "%s/vmm.log", x.dir);
	snprintf(snap, sizeof(snap), "%s/snap", x.dir);
	snprintf(lock, sizeof(lock), "%s.lock", x.sock);
	struct vmm_params p = {.cfg = &c, .kind = VMM_KIND_CH, .log_path = log};
	struct vmm *v = NULL;
	assert_int_equal(vmm_new(&p, &v, &err), 0);
	assert_int_equal(vmm_reattach(v, pid, &err), 0);
	assert_int_equal(v->state, VMM_STATE_RUNNING);
	assert_int_equal(vmm_snapshot(v, snap, &err), 0); /* pauses first */
	assert_int_equal(v->state, VMM_STATE_PAUSED);
	char meta[192];
	snprintf(meta, sizeof(meta), "%s/wrenn-vmm.json", snap);
	assert_int_equal(access(meta, R_OK), 0);
	assert_int_equal(access(lock, F_OK), 0);
	/* 0: it exited by itself on vmm.shutdown (and was reaped) */
	assert_int_equal(vmm_stop(v, 5000, &err), 0);
	assert_int_equal(kill(pid, 0), -1);
	fake_pid = 0; /* reaped: its pid may be reused */
	/* the socket and CH >= v53's lock file go with the VMM */
	assert_int_equal(access(x.sock, F_OK), -1);
	assert_int_equal(access(lock, F_OK), -1);
	vmm_free(v);

	/* a CH too old to drive is refused by name */
	pid = fork_fake(x.sock, "50.0.0");
	assert_int_equal(vmm_new(&p, &v, &err), 0);
	assert_int_equal(vmm_reattach(v, pid, &err), -ENOTSUP);
	assert_msg(&err, "cloud-hypervisor v50.0 is too old: wrenn needs v51.0 or newer");
	vmm_free(v); /* stops and reaps it */
	assert_int_equal(kill(pid, 0), -1);
	fake_pid = 0;
	vm_config_done(&c);
	teardown(&x);
}

static void test_qemu_refuses_net_limit(void **state)
{
	(void)state;
	struct fixture x;
	setup(&x, NULL);
	struct vm_config c = {0};
	backend_config(&c, &x);
	struct vmm_params p = {.cfg = &c,
			       .kind = VMM_KIND_QEMU,
			       .log_path = "/tmp/x.log",
			       .net_bytes_per_sec = 1000000};
	struct vmm *v = NULL;
	struct wr_err err = {0};
	assert_int_equal(vmm_new(&p, &v, &err), -ENOTSUP);
	assert_msg(&err, "rate limit needs cloud-hypervisor");
	vm_config_done(&c);
	teardown(&x);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	/* TAPs made by the tests live and die in a namespace of their own */
	own_netns = geteuid() == 0 && unshare(CLONE_NEWNET) == 0;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifecycle),
		cmocka_unit_test(test_qcow2_overlay_needs_backing_files),
		cmocka_unit_test(test_boot_opens_kernel_and_disk),
		cmocka_unit_test(test_state_machine),
		cmocka_unit_test(test_restore_v53_resumes_in_one_call),
		cmocka_unit_test(test_restore_v51_resumes_explicitly),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_net_rate_limit),
		cmocka_unit_test(test_fake_rejects_bad_json),
		cmocka_unit_test(test_nic_needs_add_net),
		cmocka_unit_test(test_restore_needs_net_fds),
		cmocka_unit_test(test_no_server),
		cmocka_unit_test_teardown(test_backend_reattach_snapshot_stop, reap_fake),
		cmocka_unit_test(test_qemu_refuses_net_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
