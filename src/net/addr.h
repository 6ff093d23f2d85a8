/* SPDX-License-Identifier: MIT */
#pragma once
/* Fixed sandbox addressing (the seed's) and per-slot egress addresses. */
#include "basic/err.h"

#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>

#define NET_TAP_NAME "tap0"
#define NET_TAP_ADDR "169.254.0.22"
#define NET_GUEST_ADDR "169.254.0.21"
#define NET_TAP_PREFIXLEN 30
#define NET_TAP_SUBNET "169.254.0.20/30"
#define NET_TAP_TXQLEN 5000
/* Locally administered unicast MACs: the host end (tap0, every namespace)
 * and the guest (vm_config's default TapMAC 02:FC:00:00:00:05). */
#define NET_TAP_MAC                                                                                \
	{                                                                                          \
		0x02, 0xfc, 0x00, 0x00, 0x00, 0x01                                                 \
	}
#define NET_GUEST_MAC                                                                              \
	{                                                                                          \
		0x02, 0xfc, 0x00, 0x00, 0x00, 0x05                                                 \
	}
/* Namespace end of the egress veth pair (wrenn's "vpeer" renamed eth0). */
#define NET_NS_VETH_NAME "eth0"
/* Default egress range: a /16 holding one /30 per slot. */
#define NET_EGRESS_BASE_DEFAULT "10.200.0.0"
#define NET_EGRESS_SLOT_MAX 16383

struct egress_addrs {
	struct in_addr net;  /* slot's /30 network */
	struct in_addr host; /* host end (wrenn-veth-N), gateway of the namespace */
	struct in_addr ns;   /* namespace end (eth0); guest traffic is masqueraded to it */
	int prefixlen;	     /* 30 */
};

/* base: dotted IPv4 address of a /16 (low 16 bits must be 0); slot 0..16383
 * gets base + 4*slot .. +3: host = +1, ns = +2. */
int net_egress_addrs(const char *base, unsigned int slot, struct egress_addrs *ret,
		     struct wr_err *err);
/* prefix + decimal slot into buf (IFNAMSIZ); -ENAMETOOLONG if it would not fit. */
int net_ifname(char buf[IFNAMSIZ], const char *prefix, unsigned int slot, struct wr_err *err);
/* Parse "<prefix><decimal>" (no sign, no leading zeros except "0"); -EINVAL otherwise. */
int net_parse_slot_name(const char *name, const char *prefix, unsigned int *ret_slot);
