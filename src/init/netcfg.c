/* SPDX-License-Identifier: MIT */
#include "init/netcfg.h"

#include "basic/cleanup.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

/* Plain ioctls instead of netlink: a handful of calls, no library, and PID 1 must not depend on
 * anything but the kernel ABI. */
static int ctl_socket(struct wr_err *err)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return wr_err_errno(err, errno, "socket(AF_INET)");
	return fd;
}

static void ifr_init(struct ifreq *ifr, const char *ifname)
{
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
}

static void set_sin(struct sockaddr *sa, struct in_addr a)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr = a};
	memcpy(sa, &sin, sizeof(sin));
}

int net_link_up(const char *ifname, struct wr_err *err)
{
	cleanup_close int fd = ctl_socket(err);
	if (fd < 0)
		return fd;
	struct ifreq ifr;
	ifr_init(&ifr, ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return wr_err_errno(err, errno, "%s: get flags", ifname);
	if (ifr.ifr_flags & IFF_UP)
		return 0;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		return wr_err_errno(err, errno, "%s: set up", ifname);
	return 0;
}

int net_has_ipv4(const char *ifname, struct wr_err *err)
{
	cleanup_close int fd = ctl_socket(err);
	if (fd < 0)
		return fd;
	struct ifreq ifr;
	ifr_init(&ifr, ifname);
	if (ioctl(fd, SIOCGIFADDR, &ifr) < 0) {
		if (errno == EADDRNOTAVAIL)
			return 0;
		return wr_err_errno(err, errno, "%s: get address", ifname);
	}
	return 1;
}

int net_apply(const struct init_ip *ip, struct wr_err *err)
{
	const char *dev = ip->device[0] ? ip->device : "eth0";
	cleanup_close int fd = ctl_socket(err);
	if (fd < 0)
		return fd;
	struct ifreq ifr;

	ifr_init(&ifr, dev);
	set_sin(&ifr.ifr_addr, ip->client);
	if (ioctl(fd, SIOCSIFADDR, &ifr) < 0)
		return wr_err_errno(err, errno, "%s: set address", dev);
	ifr_init(&ifr, dev);
	set_sin(&ifr.ifr_netmask, ip->netmask);
	if (ioctl(fd, SIOCSIFNETMASK, &ifr) < 0)
		return wr_err_errno(err, errno, "%s: set netmask", dev);
	int r = net_link_up(dev, err);
	if (r < 0)
		return r;
	if (ip->gateway.s_addr == 0)
		return 0;

	struct rtentry rt;
	memset(&rt, 0, sizeof(rt));
	set_sin(&rt.rt_dst, (struct in_addr){0});
	set_sin(&rt.rt_genmask, (struct in_addr){0});
	set_sin(&rt.rt_gateway, ip->gateway);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	char devname[IFNAMSIZ];
	snprintf(devname, sizeof(devname), "%s", dev);
	rt.rt_dev = devname;
	if (ioctl(fd, SIOCADDRT, &rt) < 0 && errno != EEXIST)
		return wr_err_errno(err, errno, "%s: add default route via %s", dev,
				    inet_ntoa(ip->gateway));
	return 0;
}
