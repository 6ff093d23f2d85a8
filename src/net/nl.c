/* SPDX-License-Identifier: MIT */
#include "net/nl.h"
#include "basic/xalloc.h"
#include "net/netns.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Requests are small; dumps may come in 32 KiB chunks (kernel cap). */
#define NL_MSG_SIZE 4096
#define NL_RECV_SIZE 32768

int nl_open(struct nl *nl, struct wr_err *err)
{
	*nl = (struct nl){0};
	struct mnl_socket *sk = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!sk)
		return wr_err_errno(err, errno, "open rtnetlink socket");
	if (mnl_socket_bind(sk, 0, MNL_SOCKET_AUTOPID) < 0) {
		int e = errno;
		mnl_socket_close(sk);
		return wr_err_errno(err, e, "bind rtnetlink socket");
	}
	nl->sk = sk;
	nl->portid = mnl_socket_get_portid(sk);
	nl->seq = (unsigned int)time(NULL);
	return 0;
}

static int open_fn(void *arg, struct wr_err *err)
{
	return nl_open(arg, err);
}

int nl_open_in_ns(int nsfd, struct nl *nl, struct wr_err *err)
{
	*nl = (struct nl){0};
	return netns_run(nsfd, open_fn, nl, err);
}

void nl_close(struct nl *nl)
{
	if (nl->sk)
		mnl_socket_close(nl->sk);
	nl->sk = NULL;
}

/* Send one request and run callbacks until the ack (or the end of a dump).
 * Returns -errno from the kernel's NLMSG_ERROR without setting a message,
 * so callers can add context. */
static int nl_talk(struct nl *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	nlh->nlmsg_seq = ++nl->seq;
	/* a dump ends with NLMSG_DONE; asking for an ack too could leave a
	 * late message for the next request on this socket.  Compare the whole
	 * mask: NLM_F_MATCH has the value of NLM_F_EXCL used by NEW requests. */
	if ((nlh->nlmsg_flags & NLM_F_DUMP) != NLM_F_DUMP)
		nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nl->sk, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	char *buf = xmalloc(NL_RECV_SIZE);
	int r;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl->sk, buf, NL_RECV_SIZE);
		if (n < 0) {
			r = -errno;
			break;
		}
		r = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, nl->portid, cb, data);
		if (r <= MNL_CB_STOP) {
			r = r < 0 ? -errno : 0;
			break;
		}
	}
	free(buf);
	return r;
}

/* Send a request that expects only an ack; on failure the message is
 * fmt's text followed by the kernel's error. */
static int __attribute__((format(printf, 4, 5)))
nl_request(struct nl *nl, struct nlmsghdr *nlh, struct wr_err *err, const char *fmt, ...)
{
	int r = nl_talk(nl, nlh, NULL, NULL);
	if (r >= 0)
		return 0;
	char what[WR_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return wr_err_errno(err, -r, "%s", what);
}

static struct nlmsghdr *req_msg(char *buf, int type, int flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	return nlh;
}

static struct nlmsghdr *link_msg(char *buf, int type, int flags, int index)
{
	struct nlmsghdr *nlh = req_msg(buf, type, flags);
	struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	return nlh;
}

static int ifname_check(const char *name, struct wr_err *err)
{
	if (!name || !*name || strlen(name) >= IFNAMSIZ)
		return wr_err_set(err, EINVAL, "invalid interface name '%s'", name ? name : "");
	return 0;
}

static int index_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	*(int *)data = ifi->ifi_index;
	return MNL_CB_OK;
}

int nl_link_index(struct nl *nl, const char *name, int *ret_index, struct wr_err *err)
{
	int r = ifname_check(name, err);
	if (r < 0)
		return r;
	char buf[NL_MSG_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_GETLINK, 0, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	int idx = 0;
	r = nl_talk(nl, nlh, index_cb, &idx);
	if (r == -ENODEV)
		return r;
	if (r < 0)
		return wr_err_errno(err, -r, "look up link %s", name);
	if (idx <= 0)
		return -ENODEV;
	*ret_index = idx;
	return 0;
}

/* nl_link_index for a request about ifname: a missing link is an error
 * naming the request. */
static int link_index_of(struct nl *nl, const char *ifname, const char *what, int *ret_index,
			 struct wr_err *err)
{
	int r = nl_link_index(nl, ifname, ret_index, err);
	if (r == -ENODEV)
		return wr_err_set(err, ENODEV, "%s: no link %s", what, ifname);
	return r;
}

int nl_link_set_up(struct nl *nl, const char *name, struct wr_err *err)
{
	int r = ifname_check(name, err);
	if (r < 0)
		return r;
	char buf[NL_MSG_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, 0, 0);
	struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	return nl_request(nl, nlh, err, "set link %s up", name);
}

int nl_link_set_txqlen(struct nl *nl, const char *name, unsigned int qlen, struct wr_err *err)
{
	int r = ifname_check(name, err);
	if (r < 0)
		return r;
	char buf[NL_MSG_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, 0, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put_u32(nlh, IFLA_TXQLEN, qlen);
	return nl_request(nl, nlh, err, "set txqueuelen of %s", name);
}

int nl_link_delete(struct nl *nl, const char *name, struct wr_err *err)
{
	int r = ifname_check(name, err);
	if (r < 0)
		return r;
	char buf[NL_MSG_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_DELLINK, 0, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	r = nl_talk(nl, nlh, NULL, NULL);
	if (r == -ENODEV)
		return wr_err_set(err, ENODEV, "delete link %s: no such link", name);
	if (r < 0)
		return wr_err_errno(err, -r, "delete link %s", name);
	return 0;
}

struct list_ctx {
	const char *prefix;
	char **v;
	size_t n, cap;
};

static int list_attr_cb(const struct nlattr *a, void *data)
{
	struct list_ctx *c = data;
	if (mnl_attr_get_type(a) != IFLA_IFNAME || mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
		return MNL_CB_OK;
	const char *s = mnl_attr_get_str(a);
	if (strncmp(s, c->prefix, strlen(c->prefix)) != 0)
		return MNL_CB_OK;
	if (c->n + 1 >= c->cap) {
		c->cap *= 2;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	c->v[c->n++] = xstrdup(s);
	c->v[c->n] = NULL;
	return MNL_CB_OK;
}

static int list_cb(const struct nlmsghdr *nlh, void *data)
{
	mnl_attr_parse(nlh, sizeof(struct ifinfomsg), list_attr_cb, data);
	return MNL_CB_OK;
}

int nl_link_list(struct nl *nl, const char *prefix, char ***ret_names, struct wr_err *err)
{
	char buf[NL_MSG_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_GETLINK, NLM_F_DUMP, 0);
	struct list_ctx c = {.prefix = prefix, .cap = 8};
	c.v = xcalloc(c.cap, sizeof(*c.v));
	int r = nl_talk(nl, nlh, list_cb, &c);
	if (r < 0) {
		netns_list_free(c.v);
		return wr_err_errno(err, -r, "list links");
	}
	*ret_names = c.v;
	return 0;
}

int nl_addr_add4(struct nl *nl, const char *ifname, struct in_addr addr, int prefixlen,
		 struct wr_err *err)
{
	int idx;
	int r = link_index_of(nl, ifname, "add address", &idx, err);
	if (r < 0)
		return r;
	if (prefixlen < 0 || prefixlen > 32)
		return wr_err_set(err, EINVAL, "invalid prefix length %d", prefixlen);
	char buf[NL_MSG_SIZE];
	struct nlmsghdr *nlh = req_msg(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefixlen;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned int)idx;
	mnl_attr_put_u32(nlh, IFA_LOCAL, addr.s_addr);
	mnl_attr_put_u32(nlh, IFA_ADDRESS, addr.s_addr);
	return nl_request(nl, nlh, err, "add address to %s", ifname);
}

int nl_link_set_mac(struct nl *nl, const char *name, const unsigned char mac[6], struct wr_err *err)
{
	int r = ifname_check(name, err);
	if (r < 0)
		return r;
	char buf[NL_MSG_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, 0, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put(nlh, IFLA_ADDRESS, 6, mac);
	return nl_request(nl, nlh, err, "set MAC address of %s", name);
}

int nl_neigh_set4(struct nl *nl, const char *ifname, struct in_addr dst, const unsigned char mac[6],
		  uint16_t nud_state, struct wr_err *err)
{
	int idx;
	int r = link_index_of(nl, ifname, "add neighbour", &idx, err);
	if (r < 0)
		return r;
	char buf[NL_MSG_SIZE];
	struct nlmsghdr *nlh = req_msg(buf, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
	struct ndmsg *nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	nd->ndm_family = AF_INET;
	nd->ndm_ifindex = idx;
	nd->ndm_state = nud_state;
	mnl_attr_put_u32(nlh, NDA_DST, dst.s_addr);
	mnl_attr_put(nlh, NDA_LLADDR, 6, mac);
	return nl_request(nl, nlh, err, "add neighbour on %s", ifname);
}

int nl_veth_create(struct nl *nl, const char *name, const char *peer, int peer_nsfd,
		   struct wr_err *err)
{
	int r = ifname_check(name, err);
	if (r < 0)
		return r;
	r = ifname_check(peer, err);
	if (r < 0)
		return r;
	char buf[NL_MSG_SIZE];
	struct nlmsghdr *nlh = link_msg(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	struct nlattr *linkinfo = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	struct nlattr *peerinfo = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	struct ifinfomsg *pifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifi));
	pifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
	if (peer_nsfd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)peer_nsfd);
	mnl_attr_nest_end(nlh, peerinfo);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, linkinfo);
	return nl_request(nl, nlh, err, "create veth %s/%s", name, peer);
}

int nl_route_add_default4(struct nl *nl, struct in_addr gw, const char *ifname, struct wr_err *err)
{
	int idx;
	int r = link_index_of(nl, ifname, "add route", &idx, err);
	if (r < 0)
		return r;
	char buf[NL_MSG_SIZE];
	struct nlmsghdr *nlh = req_msg(buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = AF_INET;
	rtm->rtm_dst_len = 0;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_STATIC;
	rtm->rtm_scope = RT_SCOPE_UNIVERSE;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put_u32(nlh, RTA_GATEWAY, gw.s_addr);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)idx);
	return nl_request(nl, nlh, err, "add default route via %s", ifname);
}
