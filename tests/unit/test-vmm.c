/* SPDX-License-Identifier: MIT */
/* Accelerator detection, backend choice and VMM parameter checks. */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "vm/kvm.h"
#include "vm/tsc.h"
#include "vm/vmm.h"

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

static void test_probe_missing_and_not_kvm(void **state)
{
	(void)state;
	struct accel_probe p;
	kvm_probe_at("/nonexistent/kvm", "/nonexistent/pvm", false, &p);
	assert_int_equal(p.accel, VM_ACCEL_TCG);
	assert_non_null(strstr(p.reason, "No such file"));
	/* opens, but the ioctl is not KVM's */
	kvm_probe_at("/dev/null", "/nonexistent/pvm", false, &p);
	assert_int_equal(p.accel, VM_ACCEL_TCG);
	assert_non_null(strstr(p.reason, "KVM_GET_API_VERSION"));
}

static void test_probe_pvm_host(void **state)
{
	(void)state;
	/* On a host with a working /dev/kvm, a kvm_pvm marker makes it unusable
	 * unless a PVM guest kernel is configured. */
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		skip();
		return;
	}
	char dir[] = "/tmp/test-vmm-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct accel_probe p;
	kvm_probe_at("/dev/kvm", dir, false, &p);
	assert_int_equal(p.accel, VM_ACCEL_TCG);
	assert_non_null(strstr(p.reason, "kvm_pvm"));
	kvm_probe_at("/dev/kvm", dir, true, &p);
	assert_int_equal(p.accel, VM_ACCEL_KVM);
	rmdir(dir);
}

static void test_choose(void **state)
{
	(void)state;
	struct accel_probe kvm = {.accel = VM_ACCEL_KVM, .reason = "ok"};
	struct accel_probe tcg = {.accel = VM_ACCEL_TCG, .reason = "no kvm"};
	struct vmm_choice c;
	struct wr_err err = {0};
	/* /bin/sh stands in for an executable cloud-hypervisor */
	assert_int_equal(vmm_choose_with("/bin/sh", &kvm, NULL, NULL, &c, &err), 0);
	assert_int_equal(c.kind, VMM_KIND_CH);
	assert_int_equal(c.accel, VM_ACCEL_KVM);
	assert_int_equal(vmm_choose_with("/bin/sh", &tcg, NULL, NULL, &c, &err), 0);
	assert_int_equal(c.kind, VMM_KIND_QEMU);
	assert_int_equal(c.accel, VM_ACCEL_TCG);
	assert_int_equal(vmm_choose_with("/nonexistent/ch", &kvm, "", "", &c, &err), 0);
	assert_int_equal(c.kind, VMM_KIND_QEMU);
	assert_int_equal(c.accel, VM_ACCEL_KVM);
	assert_non_null(strstr(c.reason, "no cloud-hypervisor binary"));
	assert_int_equal(vmm_choose_with("/bin/sh", &kvm, "qemu", "tcg", &c, &err), 0);
	assert_int_equal(c.kind, VMM_KIND_QEMU);
	assert_int_equal(c.accel, VM_ACCEL_TCG);
	assert_int_equal(vmm_choose_with("/bin/sh", &tcg, "cloud-hypervisor", NULL, &c, &err),
			 -ENODEV);
	assert_non_null(strstr(wr_err_msg(&err), "needs KVM"));
	assert_int_equal(
		vmm_choose_with("/nonexistent/ch", &kvm, "cloud-hypervisor", NULL, &c, &err),
		-ENOENT);
	assert_int_equal(vmm_choose_with(NULL, &kvm, "firecracker", NULL, &c, &err), -EINVAL);
	assert_int_equal(vmm_choose_with(NULL, &kvm, NULL, "hvf", &c, &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "WRENN_ACCEL"));
}

static void fill(struct vm_config *c)
{
	vm_config_set(&c->sandbox_id, "cl-test1");
	vm_config_set(&c->kernel_path, "/k/vmlinux");
	vm_config_set(&c->rootfs_path, "/d/rootfs.ext4");
	vm_config_set(&c->network_namespace, "wrenn-ns-1");
	vm_config_set(&c->guest_ip, VM_GUEST_IP);
	vm_config_set(&c->gateway_ip, VM_GATEWAY_IP);
	vm_config_set(&c->net_mask, VM_NET_MASK);
	vm_config_apply_defaults(c);
}

static void test_new_checks(void **state)
{
	(void)state;
	struct vm_config c = {0};
	fill(&c);
	struct vmm_params p = {.cfg = &c, .log_path = "/tmp/x.log"};
	struct wr_err err = {0};
	struct vmm *v = NULL;
	assert_int_equal(vmm_new(&p, &v, &err), 0);
	assert_string_equal(v->kernel_link, "/tmp/ch-vm-cl-test1/vmlinux");
	assert_string_equal(v->rootfs_link, "/tmp/ch-vm-cl-test1/rootfs");
	assert_ptr_equal(v->ops, &vmm_qemu_ops);
	assert_int_equal(v->p.memory_max, (512ull + 256) << 20);
	/* never started: stop/info/free are harmless */
	enum vmm_state st;
	assert_int_equal(vmm_info(v, &st, &err), 0);
	assert_int_equal(st, VMM_STATE_NONE);
	assert_int_equal(vmm_pause(v, &err), -ESRCH);
	assert_int_equal(vmm_stop(v, 100, &err), 0);
	vmm_free(v);

	p.rootfs_format = "vmdk";
	assert_int_equal(vmm_new(&p, &v, &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "vmdk"));
	p.rootfs_format = "qcow2";
	p.mem_file = "/tmp/a,share=on";
	assert_int_equal(vmm_new(&p, &v, &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "memory file"));
	p.mem_file = NULL;
	p.log_path = NULL;
	assert_int_equal(vmm_new(&p, &v, &err), -EINVAL);
	p.log_path = "/tmp/x.log";
	vm_config_set(&c.kernel_path, NULL);
	assert_int_equal(vmm_new(&p, &v, &err), -EINVAL);
	assert_string_equal(wr_err_msg(&err), "KernelPath is required");
	vm_config_done(&c);
}

static void test_restore_rejects_bad_snapshots(void **state)
{
	(void)state;
	struct vm_config c = {0};
	fill(&c);
	char dir[] = "/tmp/test-vmm-snap-XXXXXX";
	assert_non_null(mkdtemp(dir));
	struct vmm_params p = {.cfg = &c, .log_path = "/tmp/x.log"};
	struct wr_err err = {0};
	struct vmm *v = NULL;
	assert_int_equal(vmm_new(&p, &v, &err), 0);
	/* no metadata */
	assert_int_equal(vmm_restore(v, dir, true, &err), -ENOENT);
	/* metadata of another backend / size */
	cleanup_free char *meta = xasprintf("%s/wrenn-vmm.json", dir);
	const char *other = "{\"backend\":\"cloud-hypervisor\",\"memory_mb\":512,\"vcpus\":1}";
	assert_int_equal(write_file_atomic(meta, other, strlen(other), 0600), 0);
	assert_int_equal(vmm_restore(v, dir, true, &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "cloud-hypervisor, not qemu"));
	const char *small = "{\"backend\":\"qemu\",\"accel\":\"tcg\",\"memory_mb\":256,\"vcpus\":1,"
			    "\"memory\":\"file\",\"rootfs_format\":\"raw\"}";
	assert_int_equal(write_file_atomic(meta, small, strlen(small), 0600), 0);
	assert_int_equal(vmm_restore(v, dir, true, &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "256 MiB"));
	assert_int_equal(vmm_restore(v, "relative/dir", true, &err), -EINVAL);
	assert_int_equal(vmm_pid(v), 0);
	vmm_free(v);
	unlink(meta);
	rmdir(dir);
	vm_config_done(&c);
}

/* The QEMU >= 8.2 probe (readonly=on,rom=off for clones' template RAM). */
static void test_qemu_ro_private_probe(void **state)
{
	(void)state;
	char dir[] = "/tmp/test-vmm-probe-XXXXXX";
	assert_non_null(mkdtemp(dir));
	cleanup_free char *new_q = xasprintf("%s/qemu-8.2", dir);
	cleanup_free char *old_q = xasprintf("%s/qemu-7.2", dir);
	const char *s82 = "#!/bin/sh\n[ \"$2\" = memory-backend-file,help ] && "
			  "printf 'memory-backend-file options:\\n  readonly=<bool>\\n  "
			  "rom=<OnOffAuto>\\n'\n";
	const char *s72 = "#!/bin/sh\nprintf 'memory-backend-file options:\\n  "
			  "readonly=<bool>\\n  share=<bool>\\n'\n";
	assert_int_equal(write_file_atomic(new_q, s82, strlen(s82), 0755), 0);
	assert_int_equal(write_file_atomic(old_q, s72, strlen(s72), 0755), 0);
	assert_true(vmm_qemu_ro_private(new_q));
	assert_false(vmm_qemu_ro_private(old_q));
	assert_true(vmm_qemu_ro_private(new_q)); /* the answer follows the binary */
	unlink(new_q);
	unlink(old_q);
	rmdir(dir);
}

static void test_tcg_kernel_args(void **state)
{
	(void)state;
	cleanup_free char *plain = vmm_tcg_kernel_args("console=ttyS0 quiet", 0);
	assert_string_equal(
		plain, "console=ttyS0 quiet no_timer_check tsc=reliable lapic_timer_khz=1000000 "
		       "pty.legacy_count=0");
	cleanup_free char *tsc = vmm_tcg_kernel_args("console=ttyS0 quiet", 2600000);
	assert_string_equal(tsc,
			    "console=ttyS0 quiet no_timer_check tsc=reliable "
			    "lapic_timer_khz=1000000 pty.legacy_count=0 tsc_early_khz=2600000");
}

static void test_host_tsc(void **state)
{
	(void)state;
	const char *good = "processor\t: 0\nflags\t\t: fpu tsc constant_tsc nonstop_tsc rdtscp\n"
			   "flags\t\t: fpu\n";
	assert_true(vm_cpuinfo_tsc_stable(good));
	assert_false(vm_cpuinfo_tsc_stable("flags\t\t: fpu tsc constant_tsc\n"));
	assert_false(vm_cpuinfo_tsc_stable("flags\t\t: nonstop_tsc_x constant_tsc\n"));
	assert_true(vm_cpuinfo_tsc_stable("flags\t: nonstop_tsc constant_tsc"));
	assert_false(vm_cpuinfo_tsc_stable("vendor_id: x\n"));
	assert_false(vm_cpuinfo_tsc_stable(""));
	/* 26,000,000 ticks in 10 ms: 2.6 GHz */
	assert_int_equal(vm_tsc_khz_from(1000, 5000000, 26001000, 15000000), 2600000);
	assert_int_equal(vm_tsc_khz_from(1000, 5000, 1000, 6000), 0);	 /* no ticks */
	assert_int_equal(vm_tsc_khz_from(1000, 5000, 2000, 5000), 0);	 /* no time */
	assert_int_equal(vm_tsc_khz_from(0, 0, 1000, 1000000000), 0);	 /* 1 kHz: not a TSC */
	assert_int_equal(vm_tsc_khz_from(0, 0, 1ULL << 62, 1000000), 0); /* absurdly fast */
	/* the live measurement: 0 (not measurable here) or a plausible rate, stable per process */
	unsigned k = vm_host_tsc_khz();
	assert_true(k == 0 || (k >= 100000 && k <= 20000000));
	assert_int_equal(vm_host_tsc_khz(), k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_missing_and_not_kvm),
		cmocka_unit_test(test_probe_pvm_host),
		cmocka_unit_test(test_choose),
		cmocka_unit_test(test_new_checks),
		cmocka_unit_test(test_restore_rejects_bad_snapshots),
		cmocka_unit_test(test_qemu_ro_private_probe),
		cmocka_unit_test(test_tcg_kernel_args),
		cmocka_unit_test(test_host_tsc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
