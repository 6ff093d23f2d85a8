/* SPDX-License-Identifier: MIT */
#include "vm/vmconfig.h"

#include "basic/xalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static bool empty(const char *s)
{
	return !s || !*s;
}

/* Go's "" and our NULL are the same value. */
static const char *str(const char *s)
{
	return s ? s : "";
}

void vm_config_set(char **field, const char *value)
{
	free(*field);
	*field = value ? xstrdup(value) : NULL;
}

void vm_config_done(struct vm_config *c)
{
	char **fields[] = {
		&c->sandbox_id,	       &c->template_id, &c->kernel_path,  &c->rootfs_path,
		&c->network_namespace, &c->tap_device,	&c->tap_mac,	  &c->guest_ip,
		&c->gateway_ip,	       &c->net_mask,	&c->vmm_bin,	  &c->socket_path,
		&c->sandbox_dir,       &c->init_path,	&c->snapshot_dir,
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		free(*fields[i]);
		*fields[i] = NULL;
	}
	c->vcpus = 0;
	c->memory_mb = 0;
	for (int i = 0; i < c->n_extra_disks && i < VM_MAX_EXTRA_DISKS; i++) {
		free(c->extra_disks[i].path);
		free(c->extra_disks[i].serial);
		free(c->extra_disks[i].mount_path);
		c->extra_disks[i] = (struct vm_disk){0};
	}
	c->n_extra_disks = 0;
}

int vm_config_add_disk(struct vm_config *c, const char *path, const char *serial,
		       const char *mount_path, struct wr_err *err)
{
	if (c->n_extra_disks >= VM_MAX_EXTRA_DISKS)
		return wr_err_set(err, E2BIG, "at most %d extra disks", VM_MAX_EXTRA_DISKS);
	struct vm_disk *d = &c->extra_disks[c->n_extra_disks++];
	d->path = path ? xstrdup(path) : NULL;
	d->serial = serial ? xstrdup(serial) : NULL;
	d->mount_path = mount_path ? xstrdup(mount_path) : NULL;
	return 0;
}

void vm_config_apply_defaults(struct vm_config *c)
{
	if (c->vcpus == 0)
		c->vcpus = VM_DEFAULT_VCPUS;
	if (c->memory_mb == 0)
		c->memory_mb = VM_DEFAULT_MEMORY_MB;
	if (empty(c->vmm_bin))
		vm_config_set(&c->vmm_bin, VM_DEFAULT_VMM_BIN);
	if (empty(c->socket_path)) {
		free(c->socket_path);
		c->socket_path = xasprintf("/tmp/ch-%s.sock", str(c->sandbox_id));
	}
	if (empty(c->sandbox_dir)) {
		free(c->sandbox_dir);
		c->sandbox_dir = xasprintf("/tmp/ch-vm-%s", str(c->sandbox_id));
	}
	if (empty(c->tap_device))
		vm_config_set(&c->tap_device, VM_DEFAULT_TAP_DEVICE);
	if (empty(c->tap_mac))
		vm_config_set(&c->tap_mac, VM_DEFAULT_TAP_MAC);
	if (empty(c->init_path))
		vm_config_set(&c->init_path, VM_DEFAULT_INIT_PATH);
}

char *vm_config_kernel_args(const struct vm_config *c)
{
	/* ip= format: <client>::<gateway>:<netmask>:<hostname>:<device>:<autoconf> */
	char *s = xasprintf("console=ttyS0 root=/dev/vda rw reboot=k panic=1 quiet loglevel=1 "
			    "init_on_free=1 clocksource=kvm-clock init=%s "
			    "ip=%s::%s:%s:capsule:eth0:off",
			    str(c->init_path), str(c->guest_ip), str(c->gateway_ip),
			    str(c->net_mask));
	for (int i = 0; i < c->n_extra_disks && i < VM_MAX_EXTRA_DISKS; i++) {
		char *t = xasprintf("%s wrenn.vol=%s:%s", s, str(c->extra_disks[i].serial),
				    str(c->extra_disks[i].mount_path));
		free(s);
		s = t;
	}
	return s;
}

bool vm_valid_disk_serial(const char *s)
{
	if (!s)
		return false;
	size_t n = strlen(s);
	if (n == 0 || n > VM_DISK_SERIAL_MAX)
		return false;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-'))
			return false;
	return true;
}

bool vm_valid_mount_path(const char *p)
{
	static const char *const sys[] = {"/proc",  "/sys",    "/dev",	"/run",	  "/etc",
					  "/usr",   "/bin",    "/sbin", "/lib",	  "/lib32",
					  "/lib64", "/libx32", "/boot", "/wrenn", NULL};
	if (!p || p[0] != '/')
		return false;
	size_t n = strlen(p);
	if (n < 2 || n > VM_MOUNT_PATH_MAX || p[n - 1] == '/')
		return false;
	for (const char *s = p; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '.' || *s == '_' || *s == '-' ||
		      *s == '/'))
			return false;
	/* every component: not empty, not "." or ".." */
	for (const char *s = p; *s;) {
		s++; /* past '/' */
		size_t l = strcspn(s, "/");
		if (l == 0 || (l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s += l;
	}
	for (size_t i = 0; sys[i]; i++) {
		size_t l = strlen(sys[i]);
		if (!strncmp(p, sys[i], l) && (p[l] == '\0' || p[l] == '/'))
			return false;
	}
	return true;
}

bool vm_valid_id(const char *s)
{
	if (!s)
		return false;
	size_t n = strlen(s);
	if (n == 0 || n > VM_ID_MAX || s[0] == '-')
		return false;
	for (; *s; s++)
		if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-'))
			return false;
	return true;
}

static bool parse_ipv4(const char *s, uint32_t *out)
{
	struct in_addr a;
	/* inet_pton accepts only the strict dotted-quad form (no octal, no short forms). */
	if (inet_pton(AF_INET, s, &a) != 1)
		return false;
	*out = ntohl(a.s_addr);
	return true;
}

bool vm_valid_ipv4(const char *s)
{
	uint32_t a;
	if (!s)
		return false;
	return parse_ipv4(s, &a);
}

bool vm_valid_netmask(const char *s)
{
	uint32_t m;
	if (!s || !parse_ipv4(s, &m) || m == 0)
		return false;
	/* contiguous ones followed by zeros */
	return ((~m + 1) & ~m) == 0;
}

bool vm_valid_mac(const char *s)
{
	if (!s)
		return false;
	for (int i = 0; i < 6; i++) {
		if (!isxdigit((unsigned char)s[0]) || !isxdigit((unsigned char)s[1]))
			return false;
		s += 2;
		if (i < 5 && *s++ != ':')
			return false;
	}
	return *s == '\0';
}

static bool valid_ifname(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n >= IFNAMSIZ)
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

static bool valid_nsname(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 64 || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

/* A path that goes on the kernel command line or a VMM argument list must be
 * absolute and free of whitespace and control characters. */
static bool valid_path(const char *s)
{
	if (s[0] != '/' || strlen(s) > 4095)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == ',')
			return false;
	return true;
}

static bool valid_text(const char *s)
{
	if (strlen(s) > 255)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return false;
	return true;
}

static int check_path(const char *name, const char *v, struct wr_err *err)
{
	if (!empty(v) && !valid_path(v))
		return wr_err_set(
			err, EINVAL,
			"%s must be an absolute path without spaces, commas or control characters: \"%s\"",
			name, v);
	return 0;
}

int vm_config_validate(const struct vm_config *c, struct wr_err *err)
{
	/* The seed's checks, in the seed's order, with the seed's messages. */
	if (empty(c->sandbox_id))
		return wr_err_set(err, EINVAL, "SandboxID is required");
	if (empty(c->kernel_path))
		return wr_err_set(err, EINVAL, "KernelPath is required");
	if (empty(c->rootfs_path))
		return wr_err_set(err, EINVAL, "RootfsPath is required");
	if (empty(c->network_namespace))
		return wr_err_set(err, EINVAL, "NetworkNamespace is required");
	if (empty(c->guest_ip))
		return wr_err_set(err, EINVAL, "GuestIP is required");
	if (empty(c->gateway_ip))
		return wr_err_set(err, EINVAL, "GatewayIP is required");
	if (empty(c->net_mask))
		return wr_err_set(err, EINVAL, "NetMask is required");

	/* wrenn's checks: reject now what would otherwise fail inside the VMM or guest. */
	if (!vm_valid_id(c->sandbox_id))
		return wr_err_set(
			err, EINVAL,
			"SandboxID \"%s\" is invalid: use 1-%d characters from [a-z0-9-], not starting with '-'",
			c->sandbox_id, VM_ID_MAX);
	if (!empty(c->template_id) && !valid_text(c->template_id))
		return wr_err_set(err, EINVAL,
				  "TemplateID contains control characters or is too long");
	if (c->vcpus < 1 || c->vcpus > VM_MAX_VCPUS)
		return wr_err_set(err, EINVAL, "VCPUs must be between 1 and %d, got %d",
				  VM_MAX_VCPUS, c->vcpus);
	if (c->memory_mb < VM_MIN_MEMORY_MB || c->memory_mb > VM_MAX_MEMORY_MB)
		return wr_err_set(err, EINVAL, "MemoryMB must be between %d and %d, got %d",
				  VM_MIN_MEMORY_MB, VM_MAX_MEMORY_MB, c->memory_mb);
	if (!valid_nsname(c->network_namespace))
		return wr_err_set(err, EINVAL,
				  "NetworkNamespace \"%s\" is not a valid namespace name",
				  c->network_namespace);
	if (!empty(c->tap_device) && !valid_ifname(c->tap_device))
		return wr_err_set(
			err, EINVAL,
			"TapDevice \"%s\" is not a valid interface name (1-%d characters)",
			c->tap_device, IFNAMSIZ - 1);
	if (!empty(c->tap_mac)) {
		if (!vm_valid_mac(c->tap_mac))
			return wr_err_set(
				err, EINVAL,
				"TapMAC \"%s\" is not a MAC address (6 hex octets separated by ':')",
				c->tap_mac);
		if (strtoul(c->tap_mac, NULL, 16) & 1)
			return wr_err_set(err, EINVAL, "TapMAC \"%s\" is a multicast address",
					  c->tap_mac);
	}
	uint32_t guest, gw, mask;
	if (!parse_ipv4(c->guest_ip, &guest))
		return wr_err_set(err, EINVAL, "GuestIP \"%s\" is not an IPv4 address",
				  c->guest_ip);
	if (!parse_ipv4(c->gateway_ip, &gw))
		return wr_err_set(err, EINVAL, "GatewayIP \"%s\" is not an IPv4 address",
				  c->gateway_ip);
	if (!vm_valid_netmask(c->net_mask))
		return wr_err_set(err, EINVAL, "NetMask \"%s\" is not a contiguous IPv4 netmask",
				  c->net_mask);
	parse_ipv4(c->net_mask, &mask);
	if (guest == gw)
		return wr_err_set(err, EINVAL, "GuestIP and GatewayIP must differ (both %s)",
				  c->guest_ip);
	if ((guest & mask) != (gw & mask))
		return wr_err_set(err, EINVAL,
				  "GuestIP %s and GatewayIP %s are not in one %s subnet",
				  c->guest_ip, c->gateway_ip, c->net_mask);

	int r;
	if ((r = check_path("KernelPath", c->kernel_path, err)) < 0 ||
	    (r = check_path("RootfsPath", c->rootfs_path, err)) < 0 ||
	    (r = check_path("VMMBin", c->vmm_bin, err)) < 0 ||
	    (r = check_path("SocketPath", c->socket_path, err)) < 0 ||
	    (r = check_path("SandboxDir", c->sandbox_dir, err)) < 0 ||
	    (r = check_path("InitPath", c->init_path, err)) < 0 ||
	    (r = check_path("SnapshotDir", c->snapshot_dir, err)) < 0)
		return r;
	if (c->n_extra_disks < 0 || c->n_extra_disks > VM_MAX_EXTRA_DISKS)
		return wr_err_set(err, EINVAL, "at most %d extra disks", VM_MAX_EXTRA_DISKS);
	for (int i = 0; i < c->n_extra_disks; i++) {
		const struct vm_disk *d = &c->extra_disks[i];
		if (empty(d->path) || !valid_path(d->path))
			return wr_err_set(err, EINVAL,
					  "extra disk %d: path must be an absolute path without "
					  "spaces, commas or control characters",
					  i);
		if (!vm_valid_disk_serial(d->serial))
			return wr_err_set(err, EINVAL,
					  "extra disk %d: serial must be 1-%d characters from "
					  "[a-z0-9-]",
					  i, VM_DISK_SERIAL_MAX);
		if (!vm_valid_mount_path(d->mount_path))
			return wr_err_set(
				err, EINVAL,
				"extra disk %d: mount path \"%s\" is not allowed (absolute, "
				"[A-Za-z0-9._/-], no . or .. components, not / or a "
				"system directory)",
				i, str(d->mount_path));
		for (int k = 0; k < i; k++)
			if (!strcmp(c->extra_disks[k].serial, d->serial) ||
			    !strcmp(c->extra_disks[k].mount_path, d->mount_path) ||
			    !strcmp(c->extra_disks[k].path, d->path))
				return wr_err_set(err, EINVAL,
						  "extra disks %d and %d share a path, serial or "
						  "mount path",
						  k, i);
	}
	if (!empty(c->socket_path) && strlen(c->socket_path) > VM_UNIX_PATH_MAX)
		return wr_err_set(err, ENAMETOOLONG,
				  "SocketPath is %zu bytes, longer than a unix socket allows (%d)",
				  strlen(c->socket_path), VM_UNIX_PATH_MAX);
	return 0;
}
