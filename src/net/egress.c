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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

/* Destinations a guest never reaches, whatever its allowOut says: "this"
 * network, RFC 1918, CGNAT, loopback, link-local (cloud metadata), IETF
 * protocol assignments, benchmarking, multicast, reserved and broadcast.
 * (The documentation ranges are left routable: they never exist on the
 * internet, and the tests use them as their "internet".) */
const char *const egress_blocked_ranges[] = {
	"0.0.0.0/8",	  "10.0.0.0/8",	   "100.64.0.0/10", "127.0.0.0/8",
	"169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",  "192.168.0.0/16",
	"198.18.0.0/15",  "224.0.0.0/4",   "240.0.0.0/4",   NULL,
};

static char *join(const char *const *v)
{
	size_t n = 1;
	for (const char *const *p = v; p && *p; p++)
		n += strlen(*p) + 2;
	char *s = xmalloc(n);
	s[0] = 0;
	for (const char *const *p = v; p && *p; p++) {
		if (p != v)
			strcat(s, ", ");
		strcat(s, *p);
	}
	return s;
}

/* Set declarations shared by every host batch: "add" of an existing set
 * must repeat its exact type and flags. */
#define HOST_SETS                                                                                  \
	"add table inet %1$s\n"                                                                    \
	"add set inet %1$s egress_ifs { type ifname; }\n"                                          \
	"add set inet %1$s egress_addrs { type ipv4_addr; }\n"                                     \
	"add set inet %1$s egress_src { type ifname . ipv4_addr; }\n"                              \
	"add set inet %1$s blocked { type ipv4_addr; flags interval; }\n"

/* Declarations are "add" (idempotent) and base chains are flushed and
 * refilled, so the same batch is correct on a fresh host, after a crash,
 * and with other slots' elements present. */
static char *host_base(const struct egress_config *c)
{
	const char *t = c->nft_table, *v = c->veth_prefix;
	cleanup_free char *blocked = join(egress_blocked_ranges);
	return xasprintf(
		HOST_SETS
		"flush set inet %1$s blocked\n"
		"add element inet %1$s blocked { %3$s }\n"
		"add chain inet %1$s forward { type filter hook forward priority filter; "
		"policy accept; }\n"
		"flush chain inet %1$s forward\n"
		/* no sandbox-to-sandbox traffic */
		"add rule inet %1$s forward iifname \"%2$s*\" oifname \"%2$s*\" drop\n"
		"add rule inet %1$s forward oifname @egress_ifs ct state established,related "
		"accept\n"
		/* only the slot's own (masqueraded) source, IPv4, to public addresses */
		"add rule inet %1$s forward iifname @egress_ifs meta nfproto ipv4 iifname . ip "
		"saddr @egress_src ip daddr != @blocked accept\n"
		"add rule inet %1$s forward iifname \"%2$s*\" counter drop\n"
		"add rule inet %1$s forward oifname \"%2$s*\" drop\n"
		"add chain inet %1$s input { type filter hook input priority filter; policy "
		"accept; }\n"
		"flush chain inet %1$s input\n"
		/* sandboxes do not get to talk to host services (any host address) */
		"add rule inet %1$s input iifname \"%2$s*\" ct state established,related "
		"accept\n"
		"add rule inet %1$s input iifname \"%2$s*\" drop\n"
		"add chain inet %1$s postrouting { type nat hook postrouting priority srcnat; "
		"policy accept; }\n"
		"flush chain inet %1$s postrouting\n"
		"add rule inet %1$s postrouting ip saddr @egress_addrs oifname != \"%2$s*\" "
		"masquerade\n",
		t, v, blocked);
}

char *egress_host_enable_script(const struct egress_config *c, unsigned int slot,
				struct wr_err *err)
{
	struct slot_names n;
	if (slot_names(c, slot, &n, err) < 0)
		return NULL;
	cleanup_free char *base = host_base(c);
	return xasprintf("%1$s"
			 "add element inet %2$s egress_ifs { \"%3$s\" }\n"
			 "add element inet %2$s egress_addrs { %4$s }\n"
			 "add element inet %2$s egress_src { \"%3$s\" . %4$s }\n",
			 base, c->nft_table, n.veth, n.ns_addr);
}

char *egress_host_disable_script(const struct egress_config *c, unsigned int slot,
				 struct wr_err *err)
{
	struct slot_names n;
	if (slot_names(c, slot, &n, err) < 0)
		return NULL;
	/* nft 1.0.6 has no "destroy": add-then-delete removes an element
	 * whether or not it was there, atomically. */
	return xasprintf(HOST_SETS "add element inet %1$s egress_ifs { \"%2$s\" }\n"
				   "delete element inet %1$s egress_ifs { \"%2$s\" }\n"
				   "add element inet %1$s egress_addrs { %3$s }\n"
				   "delete element inet %1$s egress_addrs { %3$s }\n"
				   "add element inet %1$s egress_src { \"%2$s\" . %3$s }\n"
				   "delete element inet %1$s egress_src { \"%2$s\" . %3$s }\n",
			 c->nft_table, n.veth, n.ns_addr);
}

/* The namespace's own table: the first line of defence, installed before
 * forwarding is switched on.  tap0 -> eth0 only from the guest's address,
 * IPv4 only, never to a blocked range; allow_out beats deny_out (E2B's
 * order); replies come back through conntrack.  Nothing from the guest
 * reaches the namespace itself except replies to connections the host made. */
char *egress_ns_enable_script(const struct egress_config *c)
{
	cleanup_free char *blocked = join(egress_blocked_ranges);
	return xasprintf(
		"add table ip %1$s\n"
		"delete table ip %1$s\n"
		"add table inet %1$s\n"
		"delete table inet %1$s\n"
		"add table inet %1$s\n"
		"add set inet %1$s blocked { type ipv4_addr; flags interval; elements = { %2$s } "
		"}\n"
		"add set inet %1$s allow_out { type ipv4_addr; flags interval; auto-merge; }\n"
		"add set inet %1$s deny_out { type ipv4_addr; flags interval; auto-merge; }\n"
		"add chain inet %1$s forward { type filter hook forward priority filter; "
		"policy drop; }\n"
		"add rule inet %1$s forward iifname \"" NET_NS_VETH_NAME
		"\" oifname \"" NET_TAP_NAME "\" ct state established,related accept\n"
		"add rule inet %1$s forward iifname \"" NET_TAP_NAME
		"\" meta nfproto != ipv4 counter drop\n"
		"add rule inet %1$s forward iifname \"" NET_TAP_NAME
		"\" ip saddr != " NET_GUEST_ADDR " counter drop\n"
		"add rule inet %1$s forward ip daddr @blocked counter drop\n"
		"add rule inet %1$s forward iifname \"" NET_TAP_NAME
		"\" oifname \"" NET_NS_VETH_NAME "\" ip daddr @allow_out accept\n"
		"add rule inet %1$s forward ip daddr @deny_out counter drop\n"
		"add rule inet %1$s forward iifname \"" NET_TAP_NAME
		"\" oifname \"" NET_NS_VETH_NAME "\" accept\n"
		"add chain inet %1$s input { type filter hook input priority filter; "
		"policy accept; }\n"
		"add rule inet %1$s input iifname \"" NET_TAP_NAME
		"\" ct state established,related accept\n"
		"add rule inet %1$s input iifname \"" NET_TAP_NAME "\" counter drop\n"
		"add chain inet %1$s postrouting { type nat hook postrouting priority "
		"srcnat; policy accept; }\n"
		"add rule inet %1$s postrouting ip saddr " NET_GUEST_ADDR
		" oifname \"" NET_NS_VETH_NAME "\" masquerade\n",
		c->nft_table, blocked);
}

char *egress_ns_disable_script(const struct egress_config *c)
{
	return xasprintf("add table ip %1$s\ndelete table ip %1$s\n"
			 "add table inet %1$s\ndelete table inet %1$s\n",
			 c->nft_table);
}

char *egress_ns_policy_script(const struct egress_config *c, const struct egress_policy *p)
{
	cleanup_free char *allow = join(p ? (const char *const *)p->allow_out : NULL);
	cleanup_free char *deny = join(p ? (const char *const *)p->deny_out : NULL);
	cleanup_free char *add_allow =
		*allow ? xasprintf("add element inet %s allow_out { %s }\n", c->nft_table, allow)
		       : xstrdup("");
	cleanup_free char *add_deny =
		*deny ? xasprintf("add element inet %s deny_out { %s }\n", c->nft_table, deny)
		      : xstrdup("");
	return xasprintf("flush set inet %1$s allow_out\n%2$s"
			 "flush set inet %1$s deny_out\n%3$s",
			 c->nft_table, add_allow, add_deny);
}

int egress_cidr_parse(const char *s, char ret[EGRESS_CIDR_MAX], struct wr_err *err)
{
	char ip[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof(ip))
		return wr_err_set(err, EINVAL, "'%s' is not an IPv4 address or CIDR", s);
	memcpy(ip, s, n);
	ip[n] = 0;
	struct in_addr a;
	if (inet_pton(AF_INET, ip, &a) != 1)
		return wr_err_set(err, EINVAL, "'%s' is not an IPv4 address or CIDR", s);
	unsigned long len = 32;
	if (slash) {
		char *end;
		if (!slash[1] || slash[1] < '0' || slash[1] > '9' ||
		    (len = strtoul(slash + 1, &end, 10), *end) || len > 32)
			return wr_err_set(err, EINVAL, "'%s': prefix length must be 0..32", s);
	}
	uint32_t mask = len ? ~UINT32_C(0) << (32 - len) : 0;
	a.s_addr = htonl(ntohl(a.s_addr) & mask);
	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	snprintf(ret, EGRESS_CIDR_MAX, "%s/%lu", ip, len);
	return 0;
}

static void cidr_range(const char *cidr, uint32_t *lo, uint32_t *hi)
{
	char ip[INET_ADDRSTRLEN];
	const char *slash = strchr(cidr, '/');
	size_t n = (size_t)(slash - cidr);
	memcpy(ip, cidr, n);
	ip[n] = 0;
	struct in_addr a;
	inet_pton(AF_INET, ip, &a);
	unsigned long len = strtoul(slash + 1, NULL, 10);
	*lo = ntohl(a.s_addr);
	*hi = *lo | (len ? ~(~UINT32_C(0) << (32 - len)) : ~UINT32_C(0));
}

const char *egress_cidr_blocked(const char *cidr)
{
	uint32_t lo, hi;
	cidr_range(cidr, &lo, &hi);
	for (const char *const *p = egress_blocked_ranges; *p; p++) {
		uint32_t blo, bhi;
		cidr_range(*p, &blo, &bhi);
		if (lo <= bhi && blo <= hi)
			return *p;
	}
	return NULL;
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
	/* fail closed: the rules exist before the link is up and before
	 * forwarding is switched on */
	cleanup_free char *script = egress_ns_enable_script(e->c);
	int r = nft_run(-1, script, err);
	if (r < 0)
		return r;
	cleanup_nl struct nl nl = {0};
	r = nl_open(&nl, err);
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
	return write_sysctl("/proc/sys/net/ipv4/ip_forward", "1", err);
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
	/* host rules first, then the namespace's, then links and forwarding */
	cleanup_free char *script = egress_host_enable_script(&c, slot, err);
	r = script ? nft_run(-1, script, err) : -EINVAL;
	if (r >= 0) {
		struct ns_enable e = {.c = &c, .n = &n};
		r = netns_run(nsfd, ns_enable_fn, &e, err);
	}
	if (r >= 0)
		r = nl_addr_add4(&nl, n.veth, n.a.host, n.a.prefixlen, err);
	if (r >= 0)
		r = nl_link_set_up(&nl, n.veth, err);
	if (r >= 0)
		r = write_sysctl("/proc/sys/net/ipv4/ip_forward", "1", err);
	if (r < 0) {
		r = wr_err_prefix(err, r, "egress for slot %u", slot);
		egress_disable(&c, slot, ns, NULL);
		return r;
	}
	return 0;
}

int egress_set_policy(const struct egress_config *cfg, const char *ns,
		      const struct egress_policy *p, struct wr_err *err)
{
	struct egress_config c = *cfg;
	egress_config_defaults(&c);
	cleanup_close int nsfd = -1;
	int r = netns_open(ns, &nsfd, err);
	if (r < 0)
		return r;
	cleanup_free char *script = egress_ns_policy_script(&c, p);
	r = nft_run(nsfd, script, err);
	if (r < 0)
		return wr_err_prefix(err, r, "egress policy in %s", ns);
	return 0;
}

int egress_reapply(const struct egress_config *cfg, unsigned int slot, const char *ns,
		   const struct egress_policy *p, struct wr_err *err)
{
	struct egress_config c = *cfg;
	egress_config_defaults(&c);
	cleanup_free char *host = egress_host_enable_script(&c, slot, err);
	if (!host)
		return -EINVAL;
	cleanup_close int nsfd = -1;
	int r = netns_open(ns, &nsfd, err);
	if (r < 0)
		return r;
	/* one batch per side: the namespace's table and its sets are replaced
	 * together, so no packet sees the table without its policy */
	cleanup_free char *nsbase = egress_ns_enable_script(&c);
	cleanup_free char *pol = egress_ns_policy_script(&c, p);
	cleanup_free char *nsall = xasprintf("%s%s", nsbase, pol);
	if ((r = nft_run(-1, host, err)) < 0 || (r = nft_run(nsfd, nsall, err)) < 0)
		return wr_err_prefix(err, r, "egress for slot %u", slot);
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
