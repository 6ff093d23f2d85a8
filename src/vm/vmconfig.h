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
	/*
	 * Beyond the seed: extra data disks (volumes), each a raw image attached after the
	 * root disk as a virtio block device with a serial, mounted by wrenn-init at
	 * mount_path.  The seed's model has one RootfsPath; these extend it the same way
	 * (host path, stable across snapshot/restore) and add "wrenn.vol=<serial>:<path>" to
	 * the kernel command line, after the seed's text (unchanged without extra disks).
	 */
	struct vm_disk {
		char *path;   /* raw image on the host */
		char *serial; /* [a-z0-9-]{1,20}: how the guest finds it (/sys/block/vdX/serial) */
		char *mount_path; /* where the guest mounts it (vm_valid_mount_path) */
	} extra_disks[4];
	int n_extra_disks;
};

#define VM_MAX_EXTRA_DISKS 4
#define VM_DISK_SERIAL_MAX 20 /* virtio-blk's serial field */
#define VM_MOUNT_PATH_MAX 200 /* keeps 4 of them inside the kernel's 2048-byte command line */

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

/* Add an extra disk (copies of the strings); -E2BIG past VM_MAX_EXTRA_DISKS.  Validated by
 * vm_config_validate. */
int vm_config_add_disk(struct vm_config *c, const char *path, const char *serial,
		       const char *mount_path, struct wr_err *err);

/* Helpers used by validation, exported for other modules. */
/* A guest mount point for a volume: absolute, 2..VM_MOUNT_PATH_MAX bytes of
 * [A-Za-z0-9._/-], no empty, "." or ".." component, no trailing '/', and not "/" nor
 * inside the guest's system directories (/proc /sys /dev /run /etc /usr /bin /sbin /lib*
 * /boot and wrenn's own).  Pure; also used by wrenn-init. */
bool vm_valid_mount_path(const char *p);
bool vm_valid_disk_serial(const char *s);
bool vm_valid_id(const char *s);
bool vm_valid_ipv4(const char *s);
bool vm_valid_netmask(const char *s);
bool vm_valid_mac(const char *s);
