/* SPDX-License-Identifier: MIT */
/* The seed's VMConfig: every default, the exact cmdline, every rejection. */
#include "vm/vmconfig.h"
#include "basic/cleanup.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

/* A config that passes validation, as the runtime would build it. */
static void valid(struct vm_config *c)
{
	vm_config_set(&c->sandbox_id, "cl-a1b2c3d4");
	vm_config_set(&c->template_id, "0000-base");
	vm_config_set(&c->kernel_path, "/var/lib/wrenn/kernels/vmlinux");
	vm_config_set(&c->rootfs_path, "/dev/mapper/wrenn-sb-a1b2c3d4");
	vm_config_set(&c->network_namespace, "wrenn-ns-1");
	vm_config_set(&c->guest_ip, VM_GUEST_IP);
	vm_config_set(&c->gateway_ip, VM_GATEWAY_IP);
	vm_config_set(&c->net_mask, VM_NET_MASK);
	vm_config_apply_defaults(c);
}

static void test_defaults(void **state)
{
	(void)state;
	struct vm_config c = {0};
	vm_config_set(&c.sandbox_id, "cl-a1b2c3d4");
	vm_config_apply_defaults(&c);
	assert_int_equal(c.vcpus, 1);
	assert_int_equal(c.memory_mb, 512);
	assert_string_equal(c.vmm_bin, "/usr/local/bin/cloud-hypervisor");
	assert_string_equal(c.socket_path, "/tmp/ch-cl-a1b2c3d4.sock");
	assert_string_equal(c.sandbox_dir, "/tmp/ch-vm-cl-a1b2c3d4");
	assert_string_equal(c.tap_device, "tap0");
	assert_string_equal(c.tap_mac, "02:FC:00:00:00:05");
	assert_string_equal(c.init_path, "/usr/local/bin/wrenn-init");
	/* fields without defaults stay empty */
	assert_null(c.snapshot_dir);
	assert_null(c.kernel_path);
	vm_config_done(&c);
}

static void test_defaults_keep_explicit_values(void **state)
{
	(void)state;
	struct vm_config c = {0};
	c.vcpus = 2;
	c.memory_mb = 1024;
	vm_config_set(&c.sandbox_id, "cl-x");
	vm_config_set(&c.vmm_bin, "/usr/bin/qemu-system-x86_64");
	vm_config_set(&c.socket_path, "/run/wrenn/x.sock");
	vm_config_set(&c.sandbox_dir, "/ch-vm");
	vm_config_set(&c.tap_device, "tap7");
	vm_config_set(&c.tap_mac, "02:00:00:00:00:01");
	vm_config_set(&c.init_path, "/sbin/init");
	vm_config_apply_defaults(&c);
	assert_int_equal(c.vcpus, 2);
	assert_int_equal(c.memory_mb, 1024);
	assert_string_equal(c.vmm_bin, "/usr/bin/qemu-system-x86_64");
	assert_string_equal(c.socket_path, "/run/wrenn/x.sock");
	assert_string_equal(c.sandbox_dir, "/ch-vm");
	assert_string_equal(c.tap_device, "tap7");
	assert_string_equal(c.tap_mac, "02:00:00:00:00:01");
	assert_string_equal(c.init_path, "/sbin/init");
	/* empty string is Go's zero value too */
	vm_config_set(&c.tap_device, "");
	vm_config_apply_defaults(&c);
	assert_string_equal(c.tap_device, "tap0");
	vm_config_done(&c);
}

static void test_kernel_args_exact(void **state)
{
	(void)state;
	struct vm_config c = {0};
	valid(&c);
	cleanup_free char *args = vm_config_kernel_args(&c);
	assert_string_equal(args,
			    "console=ttyS0 root=/dev/vda rw reboot=k panic=1 quiet loglevel=1 "
			    "init_on_free=1 clocksource=kvm-clock init=/usr/local/bin/wrenn-init "
			    "ip=169.254.0.21::169.254.0.22:255.255.255.252:capsule:eth0:off");
	vm_config_set(&c.init_path, "/sbin/init");
	cleanup_free char *args2 = vm_config_kernel_args(&c);
	assert_non_null(strstr(args2, " init=/sbin/init ip="));
	vm_config_done(&c);
}

static void test_valid_passes(void **state)
{
	(void)state;
	struct vm_config c = {0};
	valid(&c);
	struct wr_err e = {0};
	assert_int_equal(vm_config_validate(&c, &e), 0);
	vm_config_done(&c);
}

/* Each seed check, in order, with its exact message. */
static void test_seed_required_fields(void **state)
{
	(void)state;
	static const struct {
		size_t off;
		const char *msg;
	} req[] = {
		{offsetof(struct vm_config, sandbox_id), "SandboxID is required"},
		{offsetof(struct vm_config, kernel_path), "KernelPath is required"},
		{offsetof(struct vm_config, rootfs_path), "RootfsPath is required"},
		{offsetof(struct vm_config, network_namespace), "NetworkNamespace is required"},
		{offsetof(struct vm_config, guest_ip), "GuestIP is required"},
		{offsetof(struct vm_config, gateway_ip), "GatewayIP is required"},
		{offsetof(struct vm_config, net_mask), "NetMask is required"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(req); i++) {
		struct vm_config c = {0};
		valid(&c);
		char **f = (char **)((char *)&c + req[i].off);
		vm_config_set(f, "");
		struct wr_err e = {0};
		assert_int_equal(vm_config_validate(&c, &e), -EINVAL);
		assert_string_equal(e.msg, req[i].msg);
		vm_config_set(f, NULL);
		assert_int_equal(vm_config_validate(&c, &e), -EINVAL);
		assert_string_equal(e.msg, req[i].msg);
		vm_config_done(&c);
	}
	/* all empty: the first check wins, as in the seed */
	struct vm_config z = {0};
	struct wr_err e = {0};
	assert_int_equal(vm_config_validate(&z, &e), -EINVAL);
	assert_string_equal(e.msg, "SandboxID is required");
}

struct bad {
	size_t off; /* string field, or SIZE_MAX for ints */
	const char *value;
	int vcpus, mem;
	const char *needle;
};

#define S(field, v, needle)                                                                        \
	{                                                                                          \
		offsetof(struct vm_config, field), v, 0, 0, needle                                 \
	}
#define I(vc, m, needle)                                                                           \
	{                                                                                          \
		SIZE_MAX, NULL, vc, m, needle                                                      \
	}

static void test_rejections(void **state)
{
	(void)state;
	static const struct bad bads[] = {
		S(sandbox_id, "CL-UPPER", "SandboxID \"CL-UPPER\" is invalid"),
		S(sandbox_id, "cl_a", "is invalid"),
		S(sandbox_id, "cl-a/../x", "is invalid"),
		S(sandbox_id, "-cl", "is invalid"),
		S(sandbox_id, "cl-0123456789012345678901234567890123456789012345678901234567890",
		  "is invalid"),
		S(template_id, "a\nb", "TemplateID"),
		S(guest_ip, "169.254.0", "GuestIP \"169.254.0\" is not an IPv4 address"),
		S(guest_ip, "169.254.0.256", "is not an IPv4 address"),
		S(guest_ip, "169.254.0.21 ", "is not an IPv4 address"),
		S(guest_ip, "::1", "is not an IPv4 address"),
		S(gateway_ip, "gateway", "GatewayIP \"gateway\" is not an IPv4 address"),
		S(gateway_ip, "169.254.0.21", "GuestIP and GatewayIP must differ"),
		S(gateway_ip, "169.254.1.22", "are not in one"),
		S(net_mask, "255.0.255.0", "NetMask \"255.0.255.0\" is not a contiguous"),
		S(net_mask, "0.0.0.0", "is not a contiguous"),
		S(net_mask, "255.255.255.300", "is not a contiguous"),
		S(tap_mac, "02:FC:00:00:00", "TapMAC \"02:FC:00:00:00\" is not a MAC"),
		S(tap_mac, "02:FC:00:00:00:05:06", "is not a MAC"),
		S(tap_mac, "02-FC-00-00-00-05", "is not a MAC"),
		S(tap_mac, "0g:FC:00:00:00:05", "is not a MAC"),
		S(tap_mac, "01:00:5E:00:00:01", "multicast"),
		S(tap_device, "a-very-long-interface-name", "TapDevice"),
		S(tap_device, "tap 0", "TapDevice"),
		S(network_namespace, "ns/1", "NetworkNamespace \"ns/1\""),
		S(network_namespace, "..", "NetworkNamespace"),
		S(kernel_path, "vmlinux", "KernelPath must be an absolute path"),
		S(rootfs_path, "/a b", "RootfsPath must be an absolute path"),
		S(init_path, "/sbin/init quiet", "InitPath must be an absolute path"),
		S(vmm_bin, "cloud-hypervisor", "VMMBin"),
		S(sandbox_dir, "tmp/x", "SandboxDir"),
		S(snapshot_dir, "snap", "SnapshotDir"),
		S(socket_path,
		  "/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock",
		  "longer than a unix socket allows"),
		I(0, 512, "VCPUs must be between 1 and 254, got 0"),
		I(-1, 512, "VCPUs must be between"),
		I(255, 512, "VCPUs must be between"),
		I(1, 0, "MemoryMB must be between 64 and 1048576, got 0"),
		I(1, -5, "MemoryMB must be between"),
		I(1, 32, "MemoryMB must be between"),
		I(1, 2 * 1024 * 1024, "MemoryMB must be between"),
	};
	for (size_t i = 0; i < ARRAY_SIZE(bads); i++) {
		struct vm_config c = {0};
		valid(&c);
		if (bads[i].off == SIZE_MAX) {
			c.vcpus = bads[i].vcpus;
			c.memory_mb = bads[i].mem;
		} else {
			vm_config_set((char **)((char *)&c + bads[i].off), bads[i].value);
		}
		struct wr_err e = {0};
		int r = vm_config_validate(&c, &e);
		if (r == 0 || !strstr(e.msg, bads[i].needle))
			fail_msg("case %zu: got r=%d msg=\"%s\", want \"%s\"", i, r, e.msg,
				 bads[i].needle);
		vm_config_done(&c);
	}
}

static void test_socket_path_boundary(void **state)
{
	(void)state;
	struct vm_config c = {0};
	valid(&c);
	char p[VM_UNIX_PATH_MAX + 2];
	memset(p, 'a', sizeof(p));
	p[0] = '/';
	p[VM_UNIX_PATH_MAX] = '\0'; /* exactly 107 bytes: fits */
	vm_config_set(&c.socket_path, p);
	struct wr_err e = {0};
	assert_int_equal(vm_config_validate(&c, &e), 0);
	p[VM_UNIX_PATH_MAX] = 'a';
	p[VM_UNIX_PATH_MAX + 1] = '\0'; /* 108 bytes: no room for the NUL */
	vm_config_set(&c.socket_path, p);
	assert_int_equal(vm_config_validate(&c, &e), -ENAMETOOLONG);
	vm_config_done(&c);
}

static void test_helpers(void **state)
{
	(void)state;
	assert_true(vm_valid_mac("02:fc:00:00:00:05"));
	assert_false(vm_valid_mac(""));
	assert_true(vm_valid_netmask("255.255.255.252"));
	assert_true(vm_valid_netmask("255.255.255.255"));
	assert_false(vm_valid_netmask("255.255.255.253"));
	assert_true(vm_valid_ipv4("10.0.0.1"));
	assert_false(vm_valid_ipv4("010.0.0.1x"));
	assert_true(vm_valid_id("cl-a1b2c3d4"));
	assert_false(vm_valid_id(""));
	/* NULL is the struct's "empty" value: the helpers accept it */
	assert_false(vm_valid_id(NULL));
	assert_false(vm_valid_ipv4(NULL));
	assert_false(vm_valid_netmask(NULL));
	assert_false(vm_valid_mac(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_defaults_keep_explicit_values),
		cmocka_unit_test(test_kernel_args_exact),
		cmocka_unit_test(test_valid_passes),
		cmocka_unit_test(test_seed_required_fields),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_socket_path_boundary),
		cmocka_unit_test(test_helpers),
	};
	return cmocka_run_group_tests_name("vmconfig", tests, NULL, NULL);
}
