/* SPDX-License-Identifier: MIT */
/* Pure parts of src/net: claims, addressing, names, nft scripts. */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "net/addr.h"
#include "net/claim.h"
#include "net/egress.h"
#include "net/netns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *tmpdir(void)
{
	char *d = xstrdup("/tmp/test-net-XXXXXX");
	assert_non_null(mkdtemp(d));
	return d;
}

static void test_claim_exclusive_and_release(void **state)
{
	(void)state;
	cleanup_free char *d = tmpdir();
	int a = -1, b = -1;
	assert_int_equal(claim_probe(d, 3), CLAIM_FREE);
	assert_int_equal(claim_take(d, 3, &a, NULL), 0);
	assert_true(a >= 0);
	/* a second owner (another open file description) is refused */
	assert_int_equal(claim_take(d, 3, &b, NULL), -EBUSY);
	assert_int_equal(claim_probe(d, 3), CLAIM_LIVE);
	assert_int_equal(claim_remove_stale(d, 3), -EBUSY);
	claim_release(d, 3, a);
	assert_int_equal(claim_probe(d, 3), CLAIM_FREE);
	cleanup_free char *p = xasprintf("%s/3", d);
	assert_int_equal(access(p, F_OK), -1);
	assert_int_equal(rm_rf(d), 0);
}

static void test_claim_of_dead_owner_is_stale(void **state)
{
	(void)state;
	cleanup_free char *d = tmpdir();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd;
		_exit(claim_take(d, 7, &fd, NULL) == 0 ? 0 : 1); /* dies holding it */
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cleanup_free char *p = xasprintf("%s/7", d);
	assert_int_equal(access(p, F_OK), 0);
	assert_int_equal(claim_probe(d, 7), CLAIM_STALE);
	/* a new owner adopts it and then it is live again */
	int fd = -1;
	assert_int_equal(claim_take(d, 7, &fd, NULL), 0);
	assert_int_equal(claim_probe(d, 7), CLAIM_LIVE);
	claim_release(d, 7, fd);
	/* sweep path: a stale claim is removed */
	pid = fork();
	if (pid == 0) {
		int f2;
		_exit(claim_take(d, 8, &f2, NULL) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(claim_remove_stale(d, 8), 0);
	assert_int_equal(claim_probe(d, 8), CLAIM_FREE);
	assert_int_equal(rm_rf(d), 0);
}

/* 8 processes race for slots 1..8: each gets exactly one, all different. */
static void test_claim_race(void **state)
{
	(void)state;
	cleanup_free char *d = tmpdir();
	int res[2], hold[2];
	assert_int_equal(pipe(res), 0);
	assert_int_equal(pipe(hold), 0);
	pid_t kids[8];
	for (int k = 0; k < 8; k++) {
		kids[k] = fork();
		assert_true(kids[k] >= 0);
		if (kids[k] == 0) {
			close(hold[1]);
			unsigned char got = 0;
			for (unsigned int n = 1; n <= 8 && !got; n++) {
				int fd;
				if (claim_take(d, n, &fd, NULL) == 0)
					got = (unsigned char)n;
			}
			(void)!write(res[1], &got, 1);
			char c;
			(void)!read(hold[0], &c, 1); /* keep the claim until the parent is done */
			_exit(0);
		}
	}
	close(hold[0]);
	close(res[1]);
	unsigned int seen = 0;
	for (int k = 0; k < 8; k++) {
		unsigned char got = 0;
		assert_int_equal(read(res[0], &got, 1), 1);
		assert_true(got >= 1 && got <= 8);
		assert_false(seen & (1u << got));
		seen |= 1u << got;
	}
	close(hold[1]);
	close(res[0]);
	for (int k = 0; k < 8; k++)
		waitpid(kids[k], NULL, 0);
	/* every holder died: all eight claims are stale now */
	for (unsigned int n = 1; n <= 8; n++)
		assert_int_equal(claim_probe(d, n), CLAIM_STALE);
	assert_int_equal(rm_rf(d), 0);
}

static void test_claim_bad_dir(void **state)
{
	(void)state;
	struct wr_err e = {0};
	int fd;
	assert_int_equal(claim_take("/nonexistent/wrenn", 1, &fd, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "/nonexistent/wrenn"));
}

static void test_egress_addrs(void **state)
{
	(void)state;
	struct egress_addrs a;
	char h[INET_ADDRSTRLEN], n[INET_ADDRSTRLEN], net[INET_ADDRSTRLEN];
	assert_int_equal(net_egress_addrs("10.200.0.0", 5, &a, NULL), 0);
	inet_ntop(AF_INET, &a.host, h, sizeof(h));
	inet_ntop(AF_INET, &a.ns, n, sizeof(n));
	inet_ntop(AF_INET, &a.net, net, sizeof(net));
	assert_string_equal(net, "10.200.0.20");
	assert_string_equal(h, "10.200.0.21");
	assert_string_equal(n, "10.200.0.22");
	assert_int_equal(a.prefixlen, 30);
	assert_int_equal(net_egress_addrs("10.200.0.0", 16383, &a, NULL), 0);
	inet_ntop(AF_INET, &a.ns, n, sizeof(n));
	assert_string_equal(n, "10.200.255.254");
	struct wr_err e = {0};
	assert_int_equal(net_egress_addrs("10.200.0.0", 16384, &a, &e), -ERANGE);
	assert_int_equal(net_egress_addrs("10.200.1.0", 1, &a, &e), -EINVAL);
	assert_int_equal(net_egress_addrs("banana", 1, &a, &e), -EINVAL);
}

static void test_names(void **state)
{
	(void)state;
	char b[IFNAMSIZ];
	assert_int_equal(net_ifname(b, "wrenn-veth-", 9999, NULL), 0);
	assert_string_equal(b, "wrenn-veth-9999");
	struct wr_err e = {0};
	assert_int_equal(net_ifname(b, "wrenn-veth-", 10000, &e), -ENAMETOOLONG);
	unsigned int n;
	assert_int_equal(net_parse_slot_name("wrenn-ns-12", "wrenn-ns-", &n), 0);
	assert_int_equal(n, 12);
	assert_int_equal(net_parse_slot_name("wrenn-ns-012", "wrenn-ns-", &n), -EINVAL);
	assert_int_equal(net_parse_slot_name("wrenn-ns-", "wrenn-ns-", &n), -EINVAL);
	assert_int_equal(net_parse_slot_name("wrenn-ns-1x", "wrenn-ns-", &n), -EINVAL);
	assert_int_equal(net_parse_slot_name("other-1", "wrenn-ns-", &n), -EINVAL);
	assert_true(netns_name_valid("wrenn-ns-1"));
	assert_false(netns_name_valid(".."));
	assert_false(netns_name_valid("a/b"));
	assert_false(netns_name_valid(""));
	assert_false(netns_name_valid(NULL));
}

static void test_nft_scripts(void **state)
{
	(void)state;
	struct egress_config c = {0};
	egress_config_defaults(&c);
	cleanup_free char *en = egress_host_enable_script(&c, 5, NULL);
	assert_non_null(en);
	assert_non_null(strstr(en, "add table inet wrenn\n"));
	assert_non_null(strstr(en, "flush chain inet wrenn forward\n"));
	assert_non_null(strstr(en, "add element inet wrenn egress_ifs { \"wrenn-veth-5\" }\n"));
	assert_non_null(strstr(en, "add element inet wrenn egress_addrs { 10.200.0.22 }\n"));
	assert_non_null(
		strstr(en, "ip saddr @egress_addrs oifname != \"wrenn-veth-*\" masquerade"));
	/* sandbox-to-sandbox forwarding is dropped before the accept */
	const char *drop = strstr(en, "iifname \"wrenn-veth-*\" oifname \"wrenn-veth-*\" drop");
	const char *acc = strstr(en, "iifname . ip saddr @egress_src ip daddr != @blocked accept");
	assert_non_null(strstr(en, "egress_src { \"wrenn-veth-5\" . 10.200.0.22 }\n"));
	assert_non_null(strstr(en, "169.254.0.0/16"));
	assert_non_null(drop);
	assert_non_null(acc);
	assert_true(drop < acc);
	cleanup_free char *dis = egress_host_disable_script(&c, 5, NULL);
	assert_non_null(strstr(dis, "add element inet wrenn egress_ifs { \"wrenn-veth-5\" }\n"
				    "delete element inet wrenn egress_ifs { \"wrenn-veth-5\" }\n"));
	assert_null(strstr(dis, "flush"));
	cleanup_free char *ns = egress_ns_enable_script(&c);
	/* only the guest's address is masqueraded; forged sources and blocked
	 * ranges are dropped before any accept */
	assert_non_null(strstr(ns, "ip saddr 169.254.0.21 oifname \"eth0\" masquerade"));
	const char *spoof = strstr(ns, "iifname \"tap0\" ip saddr != 169.254.0.21 counter drop");
	const char *blk = strstr(ns, "ip daddr @blocked counter drop");
	const char *allow = strstr(ns, "ip daddr @allow_out accept");
	const char *deny = strstr(ns, "ip daddr @deny_out counter drop");
	const char *any = strstr(ns, "iifname \"tap0\" oifname \"eth0\" accept");
	assert_true(spoof && blk && allow && deny && any);
	assert_true(spoof < blk && blk < allow && allow < deny && deny < any);
	assert_non_null(strstr(ns, "policy drop;"));
	char *allow_v[] = {"1.2.3.4/32", "8.8.0.0/16", NULL};
	struct egress_policy pol = {.allow_out = allow_v};
	cleanup_free char *ps = egress_ns_policy_script(&c, &pol);
	assert_string_equal(ps, "flush set inet wrenn allow_out\n"
				"add element inet wrenn allow_out { 1.2.3.4/32, 8.8.0.0/16 }\n"
				"flush set inet wrenn deny_out\n");
	struct egress_config c2 = {.veth_prefix = "t-v-", .nft_table = "wrt", .base = "10.77.0.0"};
	cleanup_free char *en2 = egress_host_enable_script(&c2, 1, NULL);
	assert_non_null(strstr(en2, "add element inet wrt egress_addrs { 10.77.0.6 }"));
	assert_non_null(strstr(en2, "\"t-v-*\""));
	struct wr_err e = {0};
	assert_null(egress_host_enable_script(&c, 20000, &e));
	assert_int_equal(e.code, ENAMETOOLONG);
}

static void test_cidr_parse(void **state)
{
	(void)state;
	char b[EGRESS_CIDR_MAX];
	struct wr_err e = {0};
	assert_int_equal(egress_cidr_parse("1.2.3.4", b, NULL), 0);
	assert_string_equal(b, "1.2.3.4/32");
	assert_int_equal(egress_cidr_parse("10.1.2.3/8", b, NULL), 0);
	assert_string_equal(b, "10.0.0.0/8");
	assert_int_equal(egress_cidr_parse("0.0.0.0/0", b, NULL), 0);
	assert_string_equal(b, "0.0.0.0/0");
	assert_int_equal(egress_cidr_parse("example.com", b, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "example.com"));
	assert_int_equal(egress_cidr_parse("::1", b, &e), -EINVAL);
	assert_int_equal(egress_cidr_parse("1.2.3.4/33", b, &e), -EINVAL);
	assert_int_equal(egress_cidr_parse("1.2.3.4/", b, &e), -EINVAL);
	assert_int_equal(egress_cidr_parse("1.2.3.4/-1", b, &e), -EINVAL);
	assert_int_equal(egress_cidr_parse("1.2.3.4 ", b, &e), -EINVAL);
	assert_string_equal(egress_cidr_blocked("169.254.169.254/32"), "169.254.0.0/16");
	assert_string_equal(egress_cidr_blocked("0.0.0.0/0"), "0.0.0.0/8");
	assert_string_equal(egress_cidr_blocked("100.127.255.255/32"), "100.64.0.0/10");
	assert_null(egress_cidr_blocked("100.128.0.0/32"));
	assert_null(egress_cidr_blocked("198.51.100.0/24"));
	assert_null(egress_cidr_blocked("8.8.8.8/32"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_claim_exclusive_and_release),
		cmocka_unit_test(test_claim_of_dead_owner_is_stale),
		cmocka_unit_test(test_claim_race),
		cmocka_unit_test(test_claim_bad_dir),
		cmocka_unit_test(test_egress_addrs),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_nft_scripts),
		cmocka_unit_test(test_cidr_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
