/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * rtnetlink over libmnl.  A netlink socket belongs to the namespace it was
 * created in, so `nl_open_in_ns` creates it on a thread inside the target
 * namespace and the socket is then usable from any thread.
 */
#include "basic/err.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

struct mnl_socket;
struct nlmsghdr;

struct nl {
	struct mnl_socket *sk;
	unsigned int portid;
	unsigned int seq;
};

int nl_open(struct nl *nl, struct wr_err *err);
int nl_open_in_ns(int nsfd, struct nl *nl, struct wr_err *err);
void nl_close(struct nl *nl);
#define cleanup_nl __attribute__((cleanup(nl_close)))

/* Link index by name; -ENODEV (no message) if there is none. */
int nl_link_index(struct nl *nl, const char *name, int *ret_index, struct wr_err *err);
int nl_link_set_up(struct nl *nl, const char *name, struct wr_err *err);
int nl_link_set_txqlen(struct nl *nl, const char *name, unsigned int qlen, struct wr_err *err);
/* Delete a link by name; -ENODEV if absent. */
int nl_link_delete(struct nl *nl, const char *name, struct wr_err *err);
/* Names of links starting with prefix (NULL-terminated, free with netns_list_free). */
int nl_link_list(struct nl *nl, const char *prefix, char ***ret_names, struct wr_err *err);
int nl_addr_add4(struct nl *nl, const char *ifname, struct in_addr addr, int prefixlen,
		 struct wr_err *err);
int nl_link_set_mac(struct nl *nl, const char *name, const unsigned char mac[6],
		    struct wr_err *err);
/* Add or replace the IPv4 neighbour dst -> mac on ifname in state nud_state (NUD_*). */
int nl_neigh_set4(struct nl *nl, const char *ifname, struct in_addr dst, const unsigned char mac[6],
		  uint16_t nud_state, struct wr_err *err);
/* Create veth pair: `name` in nl's namespace, `peer` in peer_nsfd's. */
int nl_veth_create(struct nl *nl, const char *name, const char *peer, int peer_nsfd,
		   struct wr_err *err);
int nl_route_add_default4(struct nl *nl, struct in_addr gw, const char *ifname, struct wr_err *err);
