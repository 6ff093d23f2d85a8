/* SPDX-License-Identifier: MIT */
/* wrenn-init's pure parts: kernel command line, ip= and wrenn.dns= parsing, restart backoff. */
#include "basic/err.h"
#include "init/cmdline.h"
#include "init/supervise.h"

#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

/* The seed's exact command line (src/vm/vmconfig.c) with the seed's addresses. */
static const char *const seed_cmdline =
	"console=ttyS0 root=/dev/vda rw reboot=k panic=1 quiet loglevel=1 init_on_free=1 "
	"clocksource=kvm-clock init=/usr/local/bin/wrenn-init "
	"ip=169.254.0.21::169.254.0.22:255.255.255.252:capsule:eth0:off\n";

static const char *addr(struct in_addr a, char *buf)
{
	return inet_ntop(AF_INET, &a, buf, INET_ADDRSTRLEN);
}

static void test_get_seed(void **state)
{
	(void)state;
	char *v = NULL;
	assert_int_equal(cmdline_get(seed_cmdline, "ip", &v), 1);
	assert_string_equal(v, "169.254.0.21::169.254.0.22:255.255.255.252:capsule:eth0:off");
	free(v);
	assert_int_equal(cmdline_get(seed_cmdline, "init", &v), 1);
	assert_string_equal(v, "/usr/local/bin/wrenn-init");
	free(v);
	v = NULL;
	/* "i" is a prefix of "ip" and "init": it must not match either */
	assert_int_equal(cmdline_get(seed_cmdline, "i", &v), 0);
	assert_int_equal(cmdline_get(seed_cmdline, "wrenn.dns", &v), 0);
	assert_null(v);
	assert_int_equal(cmdline_get(seed_cmdline, "quiet", &v), 1);
	assert_string_equal(v, "");
	free(v);
}

static void test_get_last_wins_and_quotes(void **state)
{
	(void)state;
	char *v = NULL;
	assert_int_equal(cmdline_get("ip=1.2.3.4 x=\"a b\" ip=5.6.7.8", "ip", &v), 1);
	assert_string_equal(v, "5.6.7.8");
	free(v);
	assert_int_equal(cmdline_get("ip=1.2.3.4 x=\"a b\" ip=5.6.7.8", "x", &v), 1);
	assert_string_equal(v, "a b");
	free(v);
	v = NULL;
	assert_int_equal(cmdline_get("x=\"unterminated ip=1.1.1.1", "ip", &v), -EINVAL);
	assert_null(v);
	assert_int_equal(cmdline_get("", "ip", &v), 0);
	assert_int_equal(cmdline_get("   \t\n", "ip", &v), 0);
}

static void test_ip_seed(void **state)
{
	(void)state;
	struct init_ip ip;
	struct wr_err err = {0};
	char b[INET_ADDRSTRLEN];
	assert_int_equal(
		ip_parse("169.254.0.21::169.254.0.22:255.255.255.252:capsule:eth0:off", &ip, &err),
		0);
	assert_string_equal(addr(ip.client, b), "169.254.0.21");
	assert_string_equal(addr(ip.gateway, b), "169.254.0.22");
	assert_string_equal(addr(ip.netmask, b), "255.255.255.252");
	assert_string_equal(ip.hostname, "capsule");
	assert_string_equal(ip.device, "eth0");
}

static void test_ip_short_forms(void **state)
{
	(void)state;
	struct init_ip ip;
	struct wr_err err = {0};
	char b[INET_ADDRSTRLEN];
	/* address only: classful mask (169.254/16 is class B), no gateway, default device */
	assert_int_equal(ip_parse("169.254.0.21", &ip, &err), 0);
	assert_string_equal(addr(ip.netmask, b), "255.255.0.0");
	assert_int_equal(ip.gateway.s_addr, 0);
	assert_string_equal(ip.device, "");
	assert_int_equal(ip_parse("10.0.0.2::10.0.0.1", &ip, &err), 0);
	assert_string_equal(addr(ip.netmask, b), "255.0.0.0");
	assert_string_equal(addr(ip.gateway, b), "10.0.0.1");
	assert_int_equal(ip_parse("192.168.1.5:::::eth1:none", &ip, &err), 0);
	assert_string_equal(addr(ip.netmask, b), "255.255.255.0");
	assert_string_equal(ip.device, "eth1");
}

static void expect_ip_error(const char *value, const char *msg_part)
{
	struct init_ip ip;
	memset(&ip, 0xaa, sizeof(ip));
	struct init_ip before = ip;
	struct wr_err err = {0};
	assert_int_equal(ip_parse(value, &ip, &err), -EINVAL);
	if (!strstr(wr_err_msg(&err), msg_part))
		fail_msg("ip=%s: message '%s' lacks '%s'", value, wr_err_msg(&err), msg_part);
	/* ret is written only on success */
	assert_memory_equal(&ip, &before, sizeof(ip));
}

static void test_ip_errors(void **state)
{
	(void)state;
	expect_ip_error("", "empty");
	expect_ip_error("dhcp", "no static address");
	expect_ip_error("off", "no static address");
	expect_ip_error("::169.254.0.22:255.255.255.252:capsule:eth0:off", "missing client");
	expect_ip_error("169.254.0.300::169.254.0.22:255.255.255.252", "not an IPv4");
	expect_ip_error("169.254.0.21::gw:255.255.255.252", "gateway address 'gw'");
	expect_ip_error("169.254.0.21::169.254.0.22:255.0.255.0", "not contiguous");
	expect_ip_error("169.254.0.21::10.0.0.1:255.255.255.252", "not in the client's subnet");
	expect_ip_error("169.254.0.21::169.254.0.22:255.255.255.252:capsule:eth0:dhcp",
			"autoconf 'dhcp'");
	expect_ip_error("169.254.0.21::169.254.0.22:255.255.255.252:h:averyveryverylongname:off",
			"longer than 15");
	expect_ip_error("169.254.0.21::169.254.0.22:255.255.255.252:h:../x:off", "contains '/'");
	expect_ip_error("1.2.3.4:::::eth0:off:extra", "more than 7");
	char big[400];
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_ip_error(big, "too long");
}

static void test_dns(void **state)
{
	(void)state;
	char *conf = NULL;
	struct wr_err err = {0};
	assert_int_equal(dns_parse("169.254.0.22", &conf, &err), 0);
	assert_string_equal(conf, "nameserver 169.254.0.22\n");
	free(conf);
	assert_int_equal(dns_parse("10.0.0.1,fd00::1", &conf, &err), 0);
	assert_string_equal(conf, "nameserver 10.0.0.1\nnameserver fd00::1\n");
	free(conf);
	conf = NULL;
	assert_int_equal(dns_parse("10.0.0.1,,10.0.0.2", &conf, &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "empty entry"));
	assert_int_equal(dns_parse("10.0.0.1,", &conf, &err), -EINVAL);
	assert_int_equal(dns_parse("", &conf, &err), -EINVAL);
	assert_int_equal(dns_parse("example.com", &conf, &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "'example.com' is not an IP"));
	/* a newline would inject a line into resolv.conf */
	assert_int_equal(dns_parse("10.0.0.1\noptions x", &conf, &err), -EINVAL);
	assert_int_equal(dns_parse("1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4", &conf, &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "more than 3"));
	assert_null(conf);
}

static void test_backoff(void **state)
{
	(void)state;
	assert_int_equal(svc_backoff_ms(0), SVC_BACKOFF_MIN_MS);
	assert_int_equal(svc_backoff_ms(1), 100);
	assert_int_equal(svc_backoff_ms(2), 200);
	assert_int_equal(svc_backoff_ms(3), 400);
	assert_int_equal(svc_backoff_ms(7), 6400);
	assert_int_equal(svc_backoff_ms(8), SVC_BACKOFF_MAX_MS);
	assert_int_equal(svc_backoff_ms(4000000000u), SVC_BACKOFF_MAX_MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_seed),  cmocka_unit_test(test_get_last_wins_and_quotes),
		cmocka_unit_test(test_ip_seed),	  cmocka_unit_test(test_ip_short_forms),
		cmocka_unit_test(test_ip_errors), cmocka_unit_test(test_dns),
		cmocka_unit_test(test_backoff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
