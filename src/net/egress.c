/* SPDX-License-Identifier: MIT */
#include "net/egress.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "net/addr.h"
#include "net/netns.h"
#include "net/nft.h"
#include "net/nl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void egress_config_defaults(struct egress_config *c)
{
	if (!c->veth_prefix)
		c->veth_prefix = "wrenn-veth-";
	if (!c->nft_table)
		c->nft_table = "wrenn";
	if (!c->base)
		c->base = NET_EGRESS_BASE_DEFAULT;
}

struct slot_names {
	char veth[IFNAMSIZ];
	char ns_addr[INET_ADDRSTRLEN];
	char host_addr[INET_ADDRSTRLEN];
	struct egress_addrs a;
};

static int slot_names(const struct egress_config *c, unsigned int slot, struct slot_names *n,
		      struct wr_err *err)
{
	int r = net_ifname(n->veth, c->veth_prefix, slot, err);
	if (r < 0)
		return r;
	r = net_egress_addrs(c->base, slot, &n->a, err);
	if (r < 0)
		return r;
	inet_ntop(AF_INET, &n->a.ns, n->ns_addr, sizeof(n->ns_addr));
	inet_ntop(AF_INET, &n->a.host, n->host_addr, sizeof(n->host_addr));
	return 0;
}

/* Declarations are "add" (idempotent) and base chains are flushed and
 * refilled, so the same batch is correct on a fresh host, after a crash,
 * and with other slots' elements present. */
static char *host_base(const struct egress_config *c)
{
	const char *t = c->nft_table, *v = c->veth_prefix;
	return xasprintf(
		"add table inet %1$s\n"
		"add set inet %1$s egress_ifs { type ifname; }\n"
		"add set inet %1$s egress_addrs { type ipv4_addr; }\n"
		"add chain inet %1$s forward { type filter hook forward priority filter; policy "
		"accept; }\n"
		"flush chain inet %1$s forward\n"
		/* no sandbox-to-sandbox traffic */
		"add rule inet %1$s forward iifname \"%2$s*\" oifname \"%2$s*\" drop\n"
		"add rule inet %1$s forward iifname @egress_ifs accept\n"
		"add rule inet %1$s forward oifname @egress_ifs ct state established,related "
		"accept\n"
		"add rule inet %1$s forward iifname \"%2$s*\" drop\n"
		"add rule inet %1$s forward oifname \"%2$s*\" drop\n"
		"add chain inet %1$s input { type filter hook input priority filter; policy "
		"accept; }\n"
		"flush chain inet %1$s input\n"
		/* sandboxes do not get to talk to host services */
		"add rule inet %1$s input iifname \"%2$s*\" ct state established,related accept\n"
		"add rule inet %1$s input iifname \"%2$s*\" drop\n"
		"add chain inet %1$s postrouting { type nat hook postrouting priority srcnat; "
		"policy accept; }\n"
		"flush chain inet %1$s postrouting\n"
		"add rule inet %1$s postrouting ip saddr @egress_addrs oifname != \"%2$s*\" "
		"masquerade\n",
		t, v);
}

char *egress_host_enable_script(const struct egress_config *c, unsigned int slot,
				struct wr_err *err)
{
	struct slot_names n;
	if (slot_names(c, slot, &n, err) < 0)
		return NULL;
	cleanup_free char *base = host_base(c);
	return xasprintf("%s"
			 "add element inet %s egress_ifs { \"%s\" }\n"
			 "add element inet %s egress_addrs { %s }\n",
			 base, c->nft_table, n.veth, c->nft_table, n.ns_addr);
}

char *egress_host_disable_script(const struct egress_config *c, unsigned int slot,
				 struct wr_err *err)
{
	struct slot_names n;
	if (slot_names(c, slot, &n, err) < 0)
		return NULL;
	const char *t = c->nft_table;
	/* nft 1.0.6 has no "destroy": add-then-delete removes an element
	 * whether or not it was there, atomically. */
	return xasprintf("add table inet %1$s\n"
			 "add set inet %1$s egress_ifs { type ifname; }\n"
			 "add set inet %1$s egress_addrs { type ipv4_addr; }\n"
			 "add element inet %1$s egress_ifs { \"%2$s\" }\n"
			 "delete element inet %1$s egress_ifs { \"%2$s\" }\n"
			 "add element inet %1$s egress_addrs { %3$s }\n"
			 "delete element inet %1$s egress_addrs { %3$s }\n",
			 t, n.veth, n.ns_addr);
}

char *egress_ns_enable_script(const struct egress_config *c)
{
	return xasprintf("add table ip %1$s\n"
			 "delete table ip %1$s\n"
			 "add table ip %1$s\n"
			 "add chain ip %1$s forward { type filter hook forward priority filter; "
			 "policy drop; }\n"
			 "add rule ip %1$s forward iifname \"" NET_TAP_NAME
			 "\" oifname \"" NET_NS_VETH_NAME "\" accept\n"
			 "add rule ip %1$s forward iifname \"" NET_NS_VETH_NAME
			 "\" oifname \"" NET_TAP_NAME "\" ct state established,related accept\n"
			 "add chain ip %1$s postrouting { type nat hook postrouting priority "
			 "srcnat; policy accept; }\n"
			 "add rule ip %1$s postrouting ip saddr " NET_TAP_SUBNET
			 " oifname \"" NET_NS_VETH_NAME "\" masquerade\n",
			 c->nft_table);
}

char *egress_ns_disable_script(const struct egress_config *c)
{
	return xasprintf("add table ip %1$s\ndelete table ip %1$s\n", c->nft_table);
}

static int write_sysctl(const char *path, const char *val, struct wr_err *err)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return wr_err_errno(err, errno, "open %s", path);
	int r = write_full(fd, val, strlen(val));
	if (r < 0)
		return wr_err_errno(err, -r, "write %s", path);
	return 0;
}

struct ns_enable {
	const struct egress_config *c;
	struct slot_names *n;
};

/* Runs inside the namespace: /proc/sys/net and the netlink socket resolve to
 * the calling thread's namespace. */
static int ns_enable_fn(void *arg, struct wr_err *err)
{
	struct ns_enable *e = arg;
	cleanup_nl struct nl nl = {0};
	int r = nl_open(&nl, err);
	if (r < 0)
		return r;
	r = nl_addr_add4(&nl, NET_NS_VETH_NAME, e->n->a.ns, e->n->a.prefixlen, err);
	if (r < 0)
		return r;
	r = nl_link_set_up(&nl, NET_NS_VETH_NAME, err);
	if (r < 0)
		return r;
	r = nl_route_add_default4(&nl, e->n->a.host, NET_NS_VETH_NAME, err);
	if (r < 0)
		return r;
	r = write_sysctl("/proc/sys/net/ipv4/ip_forward", "1", err);
	if (r < 0)
		return r;
	cleanup_free char *script = egress_ns_enable_script(e->c);
	return nft_run(-1, script, err);
}

int egress_enable(const struct egress_config *cfg, unsigned int slot, const char *ns,
		  struct wr_err *err)
{
	struct egress_config c = *cfg;
	egress_config_defaults(&c);
	struct slot_names n;
	int r = slot_names(&c, slot, &n, err);
	if (r < 0)
		return r;
	cleanup_close int nsfd = -1;
	r = netns_open(ns, &nsfd, err);
	if (r < 0)
		return r;
	cleanup_nl struct nl nl = {0};
	r = nl_open(&nl, err);
	if (r < 0)
		return r;
	r = nl_veth_create(&nl, n.veth, NET_NS_VETH_NAME, nsfd, err);
	if (r < 0)
		return wr_err_prefix(err, r, "egress for slot %u", slot);
	r = nl_addr_add4(&nl, n.veth, n.a.host, n.a.prefixlen, err);
	if (r >= 0)
		r = nl_link_set_up(&nl, n.veth, err);
	if (r >= 0) {
		struct ns_enable e = {.c = &c, .n = &n};
		r = netns_run(nsfd, ns_enable_fn, &e, err);
	}
	if (r >= 0)
		r = write_sysctl("/proc/sys/net/ipv4/ip_forward", "1", err);
	if (r >= 0) {
		cleanup_free char *script = egress_host_enable_script(&c, slot, err);
		r = script ? nft_run(-1, script, err) : -EINVAL;
	}
	if (r < 0) {
		r = wr_err_prefix(err, r, "egress for slot %u", slot);
		egress_disable(&c, slot, ns, NULL);
		return r;
	}
	return 0;
}

int egress_disable(const struct egress_config *cfg, unsigned int slot, const char *ns,
		   struct wr_err *err)
{
	struct egress_config c = *cfg;
	egress_config_defaults(&c);
	struct slot_names n;
	int r = slot_names(&c, slot, &n, err);
	if (r < 0)
		return r;
	int ret = 0;
	cleanup_free char *script = egress_host_disable_script(&c, slot, err);
	r = nft_run(-1, script, err);
	if (r < 0)
		ret = r;
	cleanup_nl struct nl nl = {0};
	r = nl_open(&nl, ret < 0 ? NULL : err);
	if (r >= 0) {
		/* deleting one end of a veth pair deletes the other end */
		r = nl_link_delete(&nl, n.veth, NULL);
		if (r < 0 && r != -ENODEV && ret == 0)
			ret = wr_err_errno(err, -r, "delete %s", n.veth);
	} else if (ret == 0) {
		ret = r;
	}
	if (ns && netns_exists(ns)) {
		cleanup_close int nsfd = -1;
		r = netns_open(ns, &nsfd, ret < 0 ? NULL : err);
		if (r >= 0) {
			cleanup_free char *ns_script = egress_ns_disable_script(&c);
			r = nft_run(nsfd, ns_script, ret < 0 ? NULL : err);
		}
		if (r < 0 && ret == 0)
			ret = r;
	}
	return ret;
}

int egress_shutdown(const struct egress_config *cfg, struct wr_err *err)
{
	struct egress_config c = *cfg;
	egress_config_defaults(&c);
	cleanup_free char *script =
		xasprintf("add table inet %1$s\ndelete table inet %1$s\n", c.nft_table);
	return nft_run(-1, script, err);
}
