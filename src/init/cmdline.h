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
