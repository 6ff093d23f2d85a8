/* SPDX-License-Identifier: MIT */
/*
 * vm_config validation and kernel command line on arbitrary field strings:
 * the input is split at NUL bytes into the string fields in declaration
 * order; two bytes of the first field's length pick vcpus and memory.
 */
#include "vm/vmconfig.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	struct vm_config c = {0};
	char **fields[] = {&c.sandbox_id,	 &c.template_id, &c.kernel_path, &c.rootfs_path,
			   &c.network_namespace, &c.tap_device,	 &c.tap_mac,	 &c.guest_ip,
			   &c.gateway_ip,	 &c.net_mask,	 &c.vmm_bin,	 &c.socket_path,
			   &c.sandbox_dir,	 &c.init_path,	 &c.snapshot_dir};
	size_t nf = sizeof(fields) / sizeof(fields[0]);
	char *copy = malloc(size + 1);
	memcpy(copy, data, size);
	copy[size] = '\0';
	/* vcpus and memory from the first two bytes (signed: negatives too) */
	if (size >= 2) {
		c.vcpus = (int8_t)data[0];
		c.memory_mb = (int16_t)((data[1] << 8) | data[0]) * 16;
	}
	size_t f = 0;
	for (char *p = copy; f < nf && p <= copy + size; f++) {
		/* "\x01" leaves the field unset, so defaults get their turn */
		if (strcmp(p, "\x01"))
			vm_config_set(fields[f], p);
		p += strlen(p) + 1;
	}
	free(copy);
	struct wr_err err = {0};
	int r = vm_config_validate(&c, &err);
	if (r < 0 && !err.msg[0])
		abort(); /* a rejection always says why */
	/* kernel_args is only defined for configs that passed validation */
	vm_config_apply_defaults(&c);
	r = vm_config_validate(&c, &err);
	if (r == 0) {
		char *args = vm_config_kernel_args(&c);
		if (!args || !*args)
			abort();
		free(args);
	}
	/* The helpers take strings, not the struct's NULL-means-empty. */
	(void)vm_valid_id(c.sandbox_id ? c.sandbox_id : "");
	(void)vm_valid_ipv4(c.guest_ip ? c.guest_ip : "");
	(void)vm_valid_netmask(c.net_mask ? c.net_mask : "");
	(void)vm_valid_mac(c.tap_mac ? c.tap_mac : "");
	vm_config_done(&c);
	return 0;
}
