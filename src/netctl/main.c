/* SPDX-License-Identifier: MIT */
/*
 * wrenn-netctl: drives src/net from test scripts.  One pool per process,
 * commands on stdin, one answer line each ("ok ...", "err <message>"):
 *
 *   acquire                 -> ok <slot> <namespace>
 *   release <slot>          -> ok
 *   egress <slot> on|off    -> ok
 *   connect <slot> <ipv4> <port> <word>
 *                           -> ok <reply line>   (socket made inside the namespace)
 *   guest-udp <slot> <ipv4> <port> <word>
 *                           -> ok   (stands in for the guest: one UDP datagram
 *                              from 169.254.0.21 written as a frame into tap0)
 *   guest-udp-from <slot> <src-ipv4> <ipv4> <port> <word>
 *                           -> ok   (the same with a forged source address)
 *   policy <slot> <allow> <deny>
 *                           -> ok   (comma-separated IPv4s/CIDRs or "-" for none:
 *                              the slot's allowOut/denyOut sets, one atomic batch)
 *   reserve <slot>          -> ok
 *   sweep                   -> ok links=L namespaces=N claims=C
 *   fill                    -> ok idle=K
 *   quit                    -> frees the pool, deletes the nft table
 *
 * Usage: wrenn-netctl DATA_DIR NS_PREFIX VETH_PREFIX NFT_TABLE POOL_SIZE [FIRST LAST]
 */
#include "basic/cleanup.h"
#include "basic/err.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "net/addr.h"
#include "net/egress.h"
#include "net/netns.h"
#include "net/slot.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int do_connect(struct slot_pool *p, unsigned int slot, const char *ip, unsigned int port,
		      const char *word, struct wr_err *err)
{
	char ns[NETNS_NAME_MAX];
	slot_pool_ns_name(p, slot, ns);
	cleanup_close int fd = -1;
	int r = net_connect_in_ns(ns, ip, (uint16_t)port, 3000, &fd, err);
	if (r < 0)
		return r;
	struct timeval tv = {.tv_sec = 3};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char msg[256];
	int n = snprintf(msg, sizeof(msg), "%s\n", word);
	r = write_full(fd, msg, (size_t)n);
	if (r < 0)
		return wr_err_errno(err, -r, "send");
	shutdown(fd, SHUT_WR);
	char buf[256];
	size_t len = 0;
	for (;;) {
		ssize_t k = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (k < 0)
			return wr_err_errno(err, errno, "receive");
		if (k == 0 || (len += (size_t)k) == sizeof(buf) - 1)
			break;
	}
	buf[len] = 0;
	buf[strcspn(buf, "\r\n")] = 0;
	printf("ok %s\n", buf);
	return 0;
}

static uint16_t ip_csum(const void *data, size_t n)
{
	const uint8_t *b = data;
	uint32_t sum = 0;
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

struct udp_args {
	struct in_addr src, dst;
	uint16_t port;
	const char *word;
};

/* Runs inside the namespace: attach to tap0 like the VMM does and inject
 * what the guest's kernel would send. */
static int guest_udp_fn(void *arg, struct wr_err *err)
{
	struct udp_args *a = arg;
	cleanup_close int tfd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (tfd < 0)
		return wr_err_errno(err, errno, "open /dev/net/tun");
	struct ifreq ifr = {0};
	strcpy(ifr.ifr_name, NET_TAP_NAME);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(tfd, TUNSETIFF, &ifr) < 0)
		return wr_err_errno(err, errno, "attach to %s", NET_TAP_NAME);
	cleanup_close int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq hw = {0};
	strcpy(hw.ifr_name, NET_TAP_NAME);
	if (s < 0 || ioctl(s, SIOCGIFHWADDR, &hw) < 0)
		return wr_err_errno(err, errno, "MAC of %s", NET_TAP_NAME);
	uint8_t f[14 + 20 + 8 + 64] = {0};
	size_t wl = strlen(a->word) > 64 ? 64 : strlen(a->word);
	memcpy(f, hw.ifr_hwaddr.sa_data, 6);
	const uint8_t guest_mac[6] = {0x02, 0xfc, 0, 0, 0, 0x05};
	memcpy(f + 6, guest_mac, 6);
	f[12] = 0x08;
	uint8_t *ip = f + 14;
	uint16_t tot = (uint16_t)(20 + 8 + wl);
	ip[0] = 0x45;
	ip[2] = (uint8_t)(tot >> 8);
	ip[3] = (uint8_t)tot;
	ip[8] = 64;
	ip[9] = IPPROTO_UDP;
	memcpy(ip + 12, &a->src, 4);
	memcpy(ip + 16, &a->dst, 4);
	uint16_t c = ip_csum(ip, 20);
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
	uint8_t *udp = ip + 20;
	udp[0] = 0x9c;
	udp[1] = 0x40; /* source port 40000 */
	udp[2] = (uint8_t)(a->port >> 8);
	udp[3] = (uint8_t)a->port;
	udp[4] = (uint8_t)((8 + wl) >> 8);
	udp[5] = (uint8_t)(8 + wl); /* checksum 0 = none (IPv4) */
	memcpy(udp + 8, a->word, wl);
	if (write(tfd, f, 14 + tot) < 0)
		return wr_err_errno(err, errno, "write to %s", NET_TAP_NAME);
	return 0;
}

static int guest_udp(struct slot_pool *p, unsigned int slot, const char *src, const char *ip,
		     unsigned int port, const char *word, struct wr_err *err)
{
	struct udp_args a = {.port = (uint16_t)port, .word = word};
	if (inet_pton(AF_INET, src, &a.src) != 1 || inet_pton(AF_INET, ip, &a.dst) != 1)
		return wr_err_set(err, EINVAL, "bad address %s or %s", src, ip);
	char ns[NETNS_NAME_MAX];
	slot_pool_ns_name(p, slot, ns);
	cleanup_close int nsfd = -1;
	int r = netns_open(ns, &nsfd, err);
	if (r < 0)
		return r;
	return netns_run(nsfd, guest_udp_fn, &a, err);
}

/* "a,b/24" or "-" into a NULL-terminated array of normalised CIDRs. */
static int cidr_list(const char *csv, char ***ret, struct wr_err *err)
{
	*ret = NULL;
	if (!strcmp(csv, "-"))
		return 0;
	size_t n = 1;
	for (const char *c = csv; *c; c++)
		n += *c == ',';
	char **v = xcalloc(n + 1, sizeof(*v));
	cleanup_free char *dup = xstrdup(csv);
	char *save = NULL;
	size_t i = 0;
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char buf[EGRESS_CIDR_MAX];
		int r = egress_cidr_parse(t, buf, err);
		if (r < 0) {
			for (size_t k = 0; k < i; k++)
				free(v[k]);
			free(v);
			return r;
		}
		v[i++] = xstrdup(buf);
	}
	*ret = v;
	return 0;
}

static void strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

static int set_policy(struct slot_pool *p, const struct egress_config *eg, unsigned int slot,
		      const char *allow, const char *deny, struct wr_err *err)
{
	struct egress_policy pol = {0};
	int r = cidr_list(allow, &pol.allow_out, err);
	if (r >= 0)
		r = cidr_list(deny, &pol.deny_out, err);
	if (r >= 0) {
		char ns[NETNS_NAME_MAX];
		slot_pool_ns_name(p, slot, ns);
		r = egress_set_policy(eg, ns, &pol, err);
	}
	strv_free(pol.allow_out);
	strv_free(pol.deny_out);
	return r;
}

int main(int argc, char **argv)
{
	log_init("wrenn-netctl");
	if (argc != 6 && argc != 8) {
		fprintf(stderr,
			"usage: %s DATA_DIR NS_PREFIX VETH_PREFIX NFT_TABLE POOL_SIZE "
			"[FIRST LAST]\n",
			argv[0]);
		return 2;
	}
	struct slot_pool_config cfg = {
		.data_dir = argv[1],
		.ns_prefix = argv[2],
		.pool_size = (unsigned int)strtoul(argv[5], NULL, 10),
		.egress = {.veth_prefix = argv[3], .nft_table = argv[4]},
	};
	if (argc == 8) {
		cfg.first = (unsigned int)strtoul(argv[6], NULL, 10);
		cfg.last = (unsigned int)strtoul(argv[7], NULL, 10);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct wr_err err = {0};
	struct slot_pool *p = NULL;
	if (slot_pool_new(&cfg, &p, &err) < 0) {
		printf("err %s\n", wr_err_msg(&err));
		return 1;
	}
	struct egress_config eg = cfg.egress;
	char line[512];
	while (fgets(line, sizeof(line), stdin)) {
		char cmd[32] = "", a2[256] = "", a3[256] = "", a4[64] = "", a5[64] = "";
		unsigned int slot = 0;
		int n = sscanf(line, "%31s %u %255s %255s %63s %63s", cmd, &slot, a2, a3, a4, a5);
		wr_err_clear(&err);
		int r = 0;
		if (n < 1)
			continue;
		if (!strcmp(cmd, "quit"))
			break;
		if (!strcmp(cmd, "acquire")) {
			r = slot_pool_acquire(p, &slot, &err);
			if (r >= 0) {
				char ns[NETNS_NAME_MAX];
				slot_pool_ns_name(p, slot, ns);
				printf("ok %u %s\n", slot, ns);
			}
		} else if (!strcmp(cmd, "release") && n >= 2) {
			r = slot_pool_release(p, slot, &err);
		} else if (!strcmp(cmd, "reserve") && n >= 2) {
			r = slot_pool_reserve(p, slot, &err);
		} else if (!strcmp(cmd, "egress") && n >= 3) {
			r = slot_pool_egress(p, slot, !strcmp(a2, "on"), &err);
		} else if (!strcmp(cmd, "connect") && n >= 5) {
			r = do_connect(p, slot, a2, (unsigned int)strtoul(a3, NULL, 10), a4, &err);
		} else if (!strcmp(cmd, "guest-udp") && n >= 5) {
			r = guest_udp(p, slot, NET_GUEST_ADDR, a2,
				      (unsigned int)strtoul(a3, NULL, 10), a4, &err);
		} else if (!strcmp(cmd, "guest-udp-from") && n >= 6) {
			r = guest_udp(p, slot, a2, a3, (unsigned int)strtoul(a4, NULL, 10), a5,
				      &err);
		} else if (!strcmp(cmd, "policy") && n >= 4) {
			r = set_policy(p, &eg, slot, a2, a3, &err);
		} else if (!strcmp(cmd, "fill")) {
			r = slot_pool_fill(p, &err);
			if (r >= 0)
				printf("ok idle=%u\n", slot_pool_idle(p));
		} else if (!strcmp(cmd, "sweep")) {
			struct slot_sweep_stats st;
			r = slot_pool_sweep(p, &st, &err);
			if (r >= 0)
				printf("ok links=%u namespaces=%u claims=%u\n", st.links,
				       st.namespaces, st.claims);
		} else {
			r = wr_err_set(&err, EINVAL, "bad command: %s", cmd);
		}
		if (r < 0)
			printf("err %s\n", wr_err_msg(&err));
		else if (strcmp(cmd, "acquire") && strcmp(cmd, "connect") && strcmp(cmd, "fill") &&
			 strcmp(cmd, "sweep"))
			printf("ok\n");
	}
	slot_pool_free(p);
	if (egress_shutdown(&eg, &err) < 0) {
		printf("err %s\n", wr_err_msg(&err));
		return 1;
	}
	return 0;
}
