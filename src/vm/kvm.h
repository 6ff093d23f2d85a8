/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Accelerator detection and VMM backend choice.
 *
 * "KVM usable" is decided honestly: /dev/kvm must open, KVM_GET_API_VERSION
 * must answer 12, and the module must not be kvm_pvm (a stock guest kernel
 * under PVM runs >30x slower than TCG) unless the configuration says a
 * PVM-capable guest kernel is in use.
 */
#include "basic/err.h"

#include <stdbool.h>

enum vm_accel { VM_ACCEL_TCG, VM_ACCEL_KVM };
enum vmm_kind { VMM_KIND_QEMU, VMM_KIND_CH };

#define KVM_DEV_PATH "/dev/kvm"
#define KVM_PVM_MODULE_PATH "/sys/module/kvm_pvm"

struct accel_probe {
	enum vm_accel accel;
	char reason[256];
};

/* Probe with explicit paths (tests); never fails, the reason says why. */
void kvm_probe_at(const char *dev_path, const char *pvm_module_path, bool pvm_guest_ok,
		  struct accel_probe *ret);
void kvm_probe(bool pvm_guest_ok, struct accel_probe *ret);

struct vmm_choice {
	enum vmm_kind kind;
	enum vm_accel accel;
	char reason[384];
};

/*
 * Cloud Hypervisor when ch_bin is executable and KVM is real, else QEMU with
 * the probed accelerator. Overrides (from the caller, usually the
 * environment): vmm_override "qemu"|"cloud-hypervisor", accel_override
 * "kvm"|"tcg"; NULL or "" = automatic. Contradictions (unknown names, Cloud
 * Hypervisor without KVM or without its binary) are errors.
 */
int vmm_choose_with(const char *ch_bin, const struct accel_probe *probe, const char *vmm_override,
		    const char *accel_override, struct vmm_choice *ret, struct wr_err *err);
/* Same, probing the host and reading WRENN_VMM / WRENN_ACCEL. */
int vmm_choose(const char *ch_bin, bool pvm_guest_ok, struct vmm_choice *ret, struct wr_err *err);

const char *vm_accel_name(enum vm_accel a);
const char *vmm_kind_name(enum vmm_kind k);
