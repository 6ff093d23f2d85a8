/* SPDX-License-Identifier: MIT */
#include "vm/kvm.h"

#include "basic/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

const char *vm_accel_name(enum vm_accel a)
{
	return a == VM_ACCEL_KVM ? "kvm" : "tcg";
}

const char *vmm_kind_name(enum vmm_kind k)
{
	return k == VMM_KIND_CH ? "cloud-hypervisor" : "qemu";
}

void kvm_probe_at(const char *dev_path, const char *pvm_module_path, bool pvm_guest_ok,
		  struct accel_probe *ret)
{
	ret->accel = VM_ACCEL_TCG;
	cleanup_close int fd = open(dev_path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(ret->reason, sizeof(ret->reason), "%s: %s", dev_path, strerror(errno));
		return;
	}
	int v = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (v < 0) {
		snprintf(ret->reason, sizeof(ret->reason), "%s: KVM_GET_API_VERSION: %s", dev_path,
			 strerror(errno));
		return;
	}
	if (v != KVM_API_VERSION) {
		snprintf(ret->reason, sizeof(ret->reason), "%s: KVM API version %d, need %d",
			 dev_path, v, KVM_API_VERSION);
		return;
	}
	if (access(pvm_module_path, F_OK) == 0 && !pvm_guest_ok) {
		snprintf(
			ret->reason, sizeof(ret->reason),
			"%s is provided by kvm_pvm (%s); a stock guest kernel is slower there than "
			"TCG and no PVM-capable guest kernel is configured",
			dev_path, pvm_module_path);
		return;
	}
	ret->accel = VM_ACCEL_KVM;
	snprintf(ret->reason, sizeof(ret->reason), "%s usable (API %d%s)", dev_path, v,
		 access(pvm_module_path, F_OK) == 0 ? ", PVM with PVM guest kernel" : "");
}

void kvm_probe(bool pvm_guest_ok, struct accel_probe *ret)
{
	kvm_probe_at(KVM_DEV_PATH, KVM_PVM_MODULE_PATH, pvm_guest_ok, ret);
}

static bool empty(const char *s)
{
	return !s || !*s;
}

int vmm_choose_with(const char *ch_bin, const struct accel_probe *probe, const char *vmm_override,
		    const char *accel_override, struct vmm_choice *ret, struct wr_err *err)
{
	struct vmm_choice c = {.accel = probe->accel};
	bool ch_ok = !empty(ch_bin) && access(ch_bin, X_OK) == 0;

	if (!empty(accel_override)) {
		if (!strcmp(accel_override, "kvm"))
			c.accel = VM_ACCEL_KVM;
		else if (!strcmp(accel_override, "tcg"))
			c.accel = VM_ACCEL_TCG;
		else
			return wr_err_set(err, EINVAL, "WRENN_ACCEL=\"%s\" is not one of kvm, tcg",
					  accel_override);
	}
	if (!empty(vmm_override)) {
		if (!strcmp(vmm_override, "qemu")) {
			c.kind = VMM_KIND_QEMU;
		} else if (!strcmp(vmm_override, "cloud-hypervisor")) {
			if (!ch_ok)
				return wr_err_set(err, ENOENT,
						  "WRENN_VMM=cloud-hypervisor but %s is not an "
						  "executable file",
						  empty(ch_bin) ? "(no VMMBin)" : ch_bin);
			if (c.accel != VM_ACCEL_KVM)
				return wr_err_set(err, ENODEV,
						  "WRENN_VMM=cloud-hypervisor needs KVM: %s",
						  probe->reason);
			c.kind = VMM_KIND_CH;
		} else {
			return wr_err_set(err, EINVAL,
					  "WRENN_VMM=\"%s\" is not one of qemu, cloud-hypervisor",
					  vmm_override);
		}
	} else {
		c.kind = ch_ok && c.accel == VM_ACCEL_KVM ? VMM_KIND_CH : VMM_KIND_QEMU;
	}
	snprintf(c.reason, sizeof(c.reason), "%s/%s: %s%s%s", vmm_kind_name(c.kind),
		 vm_accel_name(c.accel),
		 empty(vmm_override) && empty(accel_override) ? "" : "override; ", probe->reason,
		 c.kind == VMM_KIND_QEMU && !ch_ok ? "; no cloud-hypervisor binary" : "");
	*ret = c;
	return 0;
}

int vmm_choose(const char *ch_bin, bool pvm_guest_ok, struct vmm_choice *ret, struct wr_err *err)
{
	struct accel_probe p;
	kvm_probe(pvm_guest_ok, &p);
	return vmm_choose_with(ch_bin, &p, getenv("WRENN_VMM"), getenv("WRENN_ACCEL"), ret, err);
}
