/* SPDX-License-Identifier: MIT */
#include "net/addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int net_egress_addrs(const char *base, unsigned int slot, struct egress_addrs *ret,
		     struct wr_err *err)
{
	struct in_addr b;
	if (!base || inet_pton(AF_INET, base, &b) != 1)
		return wr_err_set(err, EINVAL, "invalid egress base address '%s'",
				  base ? base : "");
	uint32_t h = ntohl(b.s_addr);
	if (h & 0xffffu)
		return wr_err_set(err, EINVAL, "egress base %s is not a /16 network address", base);
	if (slot > NET_EGRESS_SLOT_MAX)
		return wr_err_set(err, ERANGE, "slot %u outside the egress range (max %u)", slot,
				  NET_EGRESS_SLOT_MAX);
	uint32_t net = h + 4u * slot;
	ret->net.s_addr = htonl(net);
	ret->host.s_addr = htonl(net + 1);
	ret->ns.s_addr = htonl(net + 2);
	ret->prefixlen = 30;
	return 0;
}

int net_ifname(char buf[IFNAMSIZ], const char *prefix, unsigned int slot, struct wr_err *err)
{
	int n = snprintf(buf, IFNAMSIZ, "%s%u", prefix, slot);
	if (n < 0 || n >= IFNAMSIZ)
		return wr_err_set(err, ENAMETOOLONG, "interface name %s%u longer than %d", prefix,
				  slot, IFNAMSIZ - 1);
	return 0;
}

int net_parse_slot_name(const char *name, const char *prefix, unsigned int *ret_slot)
{
	size_t pl = strlen(prefix);
	if (strncmp(name, prefix, pl) != 0)
		return -EINVAL;
	const char *d = name + pl;
	size_t n = strlen(d);
	if (n == 0 || n > 9 || (d[0] == '0' && n > 1))
		return -EINVAL;
	unsigned int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (d[i] < '0' || d[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned int)(d[i] - '0');
	}
	*ret_slot = v;
	return 0;
}
