/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * VM configuration: the seed's VMConfig (shared/seed/vm-config.go.txt),
 * field for field, with the same defaults, kernel command line and
 * validation messages.
 *
 * All string fields are owned by the struct (malloc'd or NULL = "" in Go);
 * set them with vm_config_set() and release everything with
 * vm_config_done().  The usual order is: fill, vm_config_apply_defaults(),
 * vm_config_validate(), vm_config_kernel_args().
 */
#include "basic/err.h"

#include <stdbool.h>

struct vm_config {
	char *sandbox_id;	 /* "cl-a1b2c3d4" */
	char *template_id;	 /* passed to envd via /init */
	char *kernel_path;	 /* uncompressed vmlinux */
	char *rootfs_path;	 /* the sandbox's block device or image */
	int vcpus;		 /* default 1 */
	int memory_mb;		 /* default 512 */
	char *network_namespace; /* netns the VMM runs in (must exist, with the TAP) */
	char *tap_device;	 /* default "tap0" */
	char *tap_mac;		 /* default "02:FC:00:00:00:05" */
	char *guest_ip;		 /* "169.254.0.21" */
	char *gateway_ip;	 /* "169.254.0.22" */
	char *net_mask;		 /* "255.255.255.252" */
	char *vmm_bin;		 /* default "/usr/local/bin/cloud-hypervisor" */
	char *socket_path;	 /* default "/tmp/ch-<id>.sock" */
	char *sandbox_dir;	 /* default "/tmp/ch-vm-<id>" (tmpfs in the VMM's mount ns) */
	char *init_path;	 /* default "/usr/local/bin/wrenn-init" */
	char *snapshot_dir;	 /* set only when restoring */
};

#define VM_DEFAULT_VCPUS 1
#define VM_DEFAULT_MEMORY_MB 512
#define VM_DEFAULT_VMM_BIN "/usr/local/bin/cloud-hypervisor"
#define VM_DEFAULT_TAP_DEVICE "tap0"
#define VM_DEFAULT_TAP_MAC "02:FC:00:00:00:05"
#define VM_DEFAULT_INIT_PATH "/usr/local/bin/wrenn-init"
/* The seed's network: every guest has the same address (snapshots stay reusable). */
#define VM_GUEST_IP "169.254.0.21"
#define VM_GATEWAY_IP "169.254.0.22"
#define VM_NET_MASK "255.255.255.252"

/* Limits beyond the seed (validation of what would fail later). */
#define VM_MAX_VCPUS 254 /* Cloud Hypervisor's limit */
#define VM_MIN_MEMORY_MB 64
#define VM_MAX_MEMORY_MB (1024 * 1024)
#define VM_ID_MAX 63
#define VM_UNIX_PATH_MAX 107 /* sizeof(sun_path) - 1 */

/* Replace a string field (copy of value; NULL clears it). */
void vm_config_set(char **field, const char *value);
void vm_config_done(struct vm_config *c);
void vm_config_apply_defaults(struct vm_config *c);
/* The kernel command line, byte for byte the seed's; malloc'd. */
char *vm_config_kernel_args(const struct vm_config *c);
/* The seed's checks (same messages) then wrenn's own. 0 or -EINVAL. */
int vm_config_validate(const struct vm_config *c, struct wr_err *err);

/* Helpers used by validation, exported for other modules. */
bool vm_valid_id(const char *s);
bool vm_valid_ipv4(const char *s);
bool vm_valid_netmask(const char *s);
bool vm_valid_mac(const char *s);
