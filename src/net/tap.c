/* SPDX-License-Identifier: MIT */
#include "net/tap.h"
#include "basic/cleanup.h"
#include "net/addr.h"
#include "net/netns.h"
#include "net/nl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/neighbour.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int tap_create_persistent(const char *name, struct wr_err *err)
{
	if (!name || !*name || strlen(name) >= IFNAMSIZ)
		return wr_err_set(err, EINVAL, "invalid TAP name '%s'", name ? name : "");
	cleanup_close int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return wr_err_errno(err, errno, "open /dev/net/tun");
	struct ifreq ifr = {0};
	strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return wr_err_errno(err, errno, "TUNSETIFF %s", name);
	if (ioctl(fd, TUNSETPERSIST, 1) < 0)
		return wr_err_errno(err, errno, "TUNSETPERSIST %s", name);
	return 0;
}

static int setup_fn(void *arg, struct wr_err *err)
{
	(void)arg;
	cleanup_nl struct nl nl = {0};
	int r = nl_open(&nl, err);
	if (r < 0)
		return r;
	r = nl_link_set_up(&nl, "lo", err);
	if (r < 0)
		return r;
	r = tap_create_persistent(NET_TAP_NAME, err);
	if (r < 0)
		return r;
	r = nl_link_set_txqlen(&nl, NET_TAP_NAME, NET_TAP_TXQLEN, err);
	if (r < 0)
		return r;
	/* Every namespace's tap0 has the same MAC: a guest restored from a
	 * snapshot taken in another namespace has this gateway MAC cached. */
	static const unsigned char tap_mac[6] = NET_TAP_MAC;
	static const unsigned char guest_mac[6] = NET_GUEST_MAC;
	r = nl_link_set_mac(&nl, NET_TAP_NAME, tap_mac, err);
	if (r < 0)
		return r;
	struct in_addr a;
	inet_pton(AF_INET, NET_TAP_ADDR, &a);
	r = nl_addr_add4(&nl, NET_TAP_NAME, a, NET_TAP_PREFIXLEN, err);
	if (r < 0)
		return r;
	r = nl_link_set_up(&nl, NET_TAP_NAME, err);
	if (r < 0)
		return r;
	/* The guest's MAC is fixed too: no ARP round trip to a guest whose
	 * code is still cold after a restore.  STALE, not PERMANENT: it is used
	 * at once, and if a guest ever had another MAC, neighbour probing
	 * replaces the entry instead of black-holing the guest. */
	struct in_addr g;
	inet_pton(AF_INET, NET_GUEST_ADDR, &g);
	return nl_neigh_set4(&nl, NET_TAP_NAME, g, guest_mac, NUD_STALE, err);
}

int net_ns_setup(int nsfd, struct wr_err *err)
{
	return netns_run(nsfd, setup_fn, NULL, err);
}

static int reset_fn(void *arg, struct wr_err *err)
{
	(void)arg;
	cleanup_nl struct nl nl = {0};
	int r = nl_open(&nl, err);
	if (r < 0)
		return r;
	int idx;
	r = nl_link_index(&nl, NET_TAP_NAME, &idx, err);
	if (r == -ENODEV)
		return wr_err_set(err, ENODEV, "%s missing in namespace", NET_TAP_NAME);
	if (r < 0)
		return r;
	char **names = NULL;
	r = nl_link_list(&nl, "", &names, err);
	if (r < 0)
		return r;
	for (char **p = names; *p && r >= 0; p++)
		if (strcmp(*p, "lo") && strcmp(*p, NET_TAP_NAME))
			r = nl_link_delete(&nl, *p, err);
	netns_list_free(names);
	return r;
}

int net_ns_reset(int nsfd, struct wr_err *err)
{
	return netns_run(nsfd, reset_fn, NULL, err);
}
