/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Kernel command line parsing for wrenn-init (pure: no I/O, unit-tested).
 *
 * ip=<client>:<server>:<gateway>:<netmask>:<hostname>:<device>:<autoconf>  (kernel nfsroot.rst)
 * wrenn.dns=<addr>[,<addr>...]  resolvers the host wants in /etc/resolv.conf
 */
#include "basic/err.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#define INIT_DNS_MAX 3 /* glibc and musl read at most 3 nameserver lines */

struct init_ip {
	struct in_addr client;
	struct in_addr gateway; /* 0.0.0.0 = none */
	struct in_addr netmask; /* 0.0.0.0 = derive from address class, like the kernel */
	char hostname[65];	/* may be empty */
	char device[16];	/* IFNAMSIZ; empty = first device, we use "eth0" */
};

/*
 * Find the value of `key` (e.g. "ip") in a command line: the last occurrence wins, as in
 * the kernel. Values may be double-quoted. Returns 1 and a malloc'd copy in *ret, 0 if the
 * key is absent (ret untouched), -EINVAL on an unterminated quote.
 */
int cmdline_get(const char *cmdline, const char *key, char **ret);

/* Parse an ip= value for a static configuration. Fails with a message for anything we cannot
 * apply: autoconf other than off/none, a missing or malformed client address, a bad mask. */
int ip_parse(const char *value, struct init_ip *ret, struct wr_err *err);

/* Parse a comma-separated wrenn.dns= list of IPv4/IPv6 addresses into resolv.conf text
 * ("nameserver X\n" per entry, malloc'd). Rejects empty entries, invalid addresses and more than
 * INIT_DNS_MAX entries. */
int dns_parse(const char *value, char **ret_resolv_conf, struct wr_err *err);

/* wrenn.vol=<serial>:<path>, one per volume (the host's vm_config extra disks): the block
 * device whose /sys/block/<dev>/serial is <serial> is mounted at <path>. */
#define INIT_VOL_MAX 4
struct init_vol {
	char serial[21];
	char path[201];
};
/* Every wrenn.vol= argument, in order, at most INIT_VOL_MAX; an argument that does not parse or
 * whose path is not allowed (init_vol_path_ok) is an error naming it (the guest checks what the
 * host checked: nothing is mounted over the system). */
int cmdline_volumes(const char *cmdline, struct init_vol *ret, size_t *ret_n, struct wr_err *err);
/* Absolute, <= 200 bytes of [A-Za-z0-9._/-], no empty/./.. component, no trailing '/', not / or
 * inside /proc /sys /dev /run /etc /usr /bin /sbin /lib* /boot /wrenn. */
bool init_vol_path_ok(const char *p);
