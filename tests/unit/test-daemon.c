/* SPDX-License-Identifier: MIT */
/* wrenn-agent: the pure parts (routing, Host parsing, JSON shapes, auth headers, paging, config)
 * and the API server's answers that need no sandbox (auth, 400/404/405/413, keys, openapi). */
#include "daemon/agent.h"
#include "daemon/auth.h"
#include "daemon/config.h"
#include "daemon/envdc.h"
#include "daemon/proxy-route.h"
#include "daemon/reply.h"
#include "daemon/route.h"
#include "daemon/setup.h"
#include "daemon/view.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "store/store.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------ routing */

static void test_route_match(void **state)
{
	(void)state;
	struct route_caps c;
	assert_true(route_match("/sandboxes", "/sandboxes", &c));
	assert_int_equal(c.n, 0);
	assert_true(route_match("/sandboxes", "/sandboxes/", &c));
	assert_false(route_match("/sandboxes", "/sandboxes//", &c));
	assert_false(route_match("/sandboxes", "/sandboxesx", &c));
	assert_true(route_match("/sandboxes/*/connect", "/sandboxes/cl-abc/connect", &c));
	assert_int_equal(c.n, 1);
	assert_string_equal(c.v[0], "cl-abc");
	route_caps_done(&c);
	assert_false(route_match("/sandboxes/*/connect", "/sandboxes//connect", &c));
	assert_int_equal(c.n, 0);
	assert_false(route_match("/sandboxes/*", "/sandboxes/a/b", &c));
	assert_int_equal(c.n, 0);
	assert_false(route_match("/sandboxes/*", "/sandboxes", &c));
	assert_true(route_match("/v1/keys/*", "/v1/keys/k1/", &c));
	assert_string_equal(c.v[0], "k1");
	route_caps_done(&c);
	assert_false(route_match("/v1/keys", "v1/keys", &c));
}

static void test_proxy_mask_host(void **state)
{
	(void)state;
	char *m = proxy_mask_host("${PORT}-app.example.com:${PORT}", 8080);
	assert_string_equal(m, "8080-app.example.com:8080");
	free(m);
	m = proxy_mask_host("fixed.host", 3000);
	assert_string_equal(m, "fixed.host");
	free(m);
	assert_null(proxy_mask_host("x.${PORT}", PROXY_ENVD_PORT)); /* envd keeps the client's */
	assert_null(proxy_mask_host(NULL, 80));
	assert_null(proxy_mask_host("", 80));
}

static void test_proxy_traffic_check(void **state)
{
	(void)state;
	assert_int_equal(proxy_traffic_check(8000, NULL, NULL), 0);
	assert_int_equal(proxy_traffic_check(8000, "tok", NULL), 401);
	assert_int_equal(proxy_traffic_check(8000, "tok", "to"), 403);
	assert_int_equal(proxy_traffic_check(8000, "tok", "tok2"), 403);
	assert_int_equal(proxy_traffic_check(8000, "tok", ""), 403);
	assert_int_equal(proxy_traffic_check(8000, "tok", "tok"), 0);
	assert_int_equal(proxy_traffic_check(PROXY_ENVD_PORT, "tok", NULL), 0);
}

static void test_proxy_route(void **state)
{
	(void)state;
	struct proxy_target t;
	struct wr_err err = {0};
	/* headers win, whatever the Host */
	assert_int_equal(proxy_route("127.0.0.1:3002", "cl-abc1", NULL, NULL, &t, &err), 0);
	assert_string_equal(t.id, "cl-abc1");
	assert_int_equal(t.port, 49983);
	assert_int_equal(proxy_route("49983-cl-zz.example.com", "cl-x", "8080", NULL, &t, &err), 0);
	assert_string_equal(t.id, "cl-x");
	assert_int_equal(t.port, 8080);
	assert_int_equal(proxy_route(NULL, "cl-x", "0", NULL, &t, &err), -EINVAL);
	assert_int_equal(proxy_route(NULL, "cl-x", "65536", NULL, &t, &err), -EINVAL);
	assert_int_equal(proxy_route(NULL, "cl-x", "80a", NULL, &t, &err), -EINVAL);
	assert_int_equal(proxy_route(NULL, "cl x", NULL, NULL, &t, &err), -EINVAL);
	assert_int_equal(proxy_route(NULL, "cl/../x", NULL, NULL, &t, &err), -EINVAL);
	/* Host <port>-<id>.<domain>[:port]: the id keeps its own dashes */
	assert_int_equal(proxy_route("3000-cl-ab12.sb.local:3002", NULL, NULL, NULL, &t, &err), 0);
	assert_string_equal(t.id, "cl-ab12");
	assert_int_equal(t.port, 3000);
	assert_int_equal(proxy_route("3000-cl-ab12.sb.local", NULL, NULL, "sb.local", &t, &err), 0);
	assert_int_equal(proxy_route("3000-cl-ab12.other.local", NULL, NULL, "sb.local", &t, &err),
			 -ENOENT);
	assert_int_equal(proxy_route("3000-cl-ab12.xsb.local", NULL, NULL, "sb.local", &t, &err),
			 -ENOENT);
	/* <port>-<id>.localhost[:port] (zero-setup local mode) is routed under any domain */
	assert_int_equal(
		proxy_route("49983-cl-lo1.LocalHost:3002", NULL, NULL, "sb.local", &t, &err), 0);
	assert_string_equal(t.id, "cl-lo1");
	assert_int_equal(t.port, 49983);
	assert_int_equal(proxy_route("49983-cl-lo1.xlocalhost", NULL, NULL, "sb.local", &t, &err),
			 -ENOENT);
	assert_int_equal(
		proxy_route("49983-cl-lo1.localhost.evil", NULL, NULL, "sb.local", &t, &err),
		-ENOENT);
	/* nothing names a sandbox */
	assert_int_equal(proxy_route("127.0.0.1:3002", NULL, NULL, NULL, &t, &err), -ENOENT);
	assert_int_equal(proxy_route("localhost", NULL, NULL, NULL, &t, &err), -ENOENT);
	assert_int_equal(proxy_route("[::1]:3002", NULL, NULL, NULL, &t, &err), -ENOENT);
	assert_int_equal(proxy_route("abc-cl-x.d", NULL, NULL, NULL, &t, &err), -ENOENT);
	assert_int_equal(proxy_route(NULL, NULL, NULL, NULL, &t, &err), -ENOENT);
	assert_int_equal(proxy_route("", "", NULL, NULL, &t, &err), -ENOENT);
	assert_int_equal(proxy_route("80-.d", NULL, NULL, NULL, &t, &err), -EINVAL);
}

static void test_proxy_public_domain(void **state)
{
	(void)state;
	char b[64];
	proxy_public_domain("sb.example.com", "0.0.0.0:3002", b, sizeof(b));
	assert_string_equal(b, "sb.example.com");
	proxy_public_domain(NULL, "127.0.0.1:3002", b, sizeof(b));
	assert_string_equal(b, "localhost:3002");
	proxy_public_domain("", "[::1]:4000", b, sizeof(b));
	assert_string_equal(b, "localhost:4000");
	proxy_public_domain(NULL, "localhost:80", b, sizeof(b));
	assert_string_equal(b, "localhost:80");
	/* no name reaches these: null in replies */
	proxy_public_domain(NULL, "0.0.0.0:3002", b, sizeof(b));
	assert_string_equal(b, "");
	proxy_public_domain(NULL, "192.0.2.1:3002", b, sizeof(b));
	assert_string_equal(b, "");
	proxy_public_domain(NULL, "127.0.0.1:0", b, sizeof(b));
	assert_string_equal(b, "");
	proxy_public_domain(NULL, NULL, b, sizeof(b));
	assert_string_equal(b, "");
}

static void test_proxy_host_only(void **state)
{
	(void)state;
	assert_true(proxy_path_host_only(49983, "/init"));
	assert_true(proxy_path_host_only(49983, "//init"));
	assert_true(proxy_path_host_only(49983, "/INIT/"));
	assert_true(proxy_path_host_only(49983, "/prepare"));
	assert_true(proxy_path_host_only(49983, "/upgrade"));
	assert_true(proxy_path_host_only(49983, "/fsfreeze"));
	assert_false(proxy_path_host_only(49983, "/initx"));
	assert_false(proxy_path_host_only(49983, "/health"));
	assert_false(proxy_path_host_only(49983, "/files"));
	assert_false(proxy_path_host_only(49983, "/process.Process/Start"));
	assert_false(proxy_path_host_only(8080, "/init"));
	assert_true(proxy_header_dropped("e2b-sandbox-id", false));
	assert_true(proxy_header_dropped("E2b-Sandbox-Port", true));
	assert_true(proxy_header_dropped("connection", false));
	assert_true(proxy_header_dropped("Transfer-Encoding", false));
	assert_false(proxy_header_dropped("Connection", true));
	assert_false(proxy_header_dropped("Upgrade", true));
	assert_false(proxy_header_dropped("X-Access-Token", false));
	assert_false(proxy_header_dropped("Host", false));
}

/* ------------------------------------------------------------------ auth */

static void test_auth_headers(void **state)
{
	(void)state;
	size_t n = 0;
	const char *k = auth_key_from_headers("  e2b_x  ", NULL, &n);
	assert_non_null(k);
	assert_int_equal(n, 5);
	assert_memory_equal(k, "e2b_x", 5);
	k = auth_key_from_headers(NULL, "Bearer e2b_y", &n);
	assert_non_null(k);
	assert_int_equal(n, 5);
	assert_memory_equal(k, "e2b_y", 5);
	k = auth_key_from_headers(NULL, "bearer\t e2b_z ", &n);
	assert_non_null(k);
	assert_memory_equal(k, "e2b_z", n);
	k = auth_key_from_headers("e2b_a", "Bearer e2b_b", &n);
	assert_memory_equal(k, "e2b_a", n);
	assert_null(auth_key_from_headers(NULL, "Basic dXNlcjo=", &n));
	assert_null(auth_key_from_headers(NULL, "Bearer ", &n));
	assert_null(auth_key_from_headers("   ", NULL, &n));
	assert_null(auth_key_from_headers(NULL, NULL, &n));
	const char *good = "e2b_0123456789abcdef0123456789abcdef01234567";
	assert_true(auth_key_well_formed(good, strlen(good)));
	assert_false(auth_key_well_formed(good, strlen(good) - 1));
	assert_false(auth_key_well_formed("e2b_0123456789ABCDEF0123456789abcdef01234567", 44));
	assert_false(auth_key_well_formed("e2c_0123456789abcdef0123456789abcdef01234567", 44));
}

/* ------------------------------------------------------------------ shapes */

static json_t *meta_ab(void)
{
	static json_t *m;
	if (!m)
		m = json_pack("{s:s}", "a", "b");
	return m;
}

static struct sbx_view sample = {
	.id = "cl-abc",
	.template = "minimal",
	.state = "running",
	.vcpus = 2,
	.memory_mb = 512,
	.started_at = 1700000000123,
	.end_at = 1700000300123,
	.envd_version = "0.6.4",
	.envd_token = "tok",
	.allow_internet = true,
};

static void test_view_rfc3339(void **state)
{
	(void)state;
	char b[40];
	view_rfc3339(1700000000123, b, sizeof(b));
	assert_string_equal(b, "2023-11-14T22:13:20.123Z");
	view_rfc3339(0, b, sizeof(b));
	assert_string_equal(b, "1970-01-01T00:00:00.000Z");
}

static void test_view_e2b(void **state)
{
	(void)state;
	sample.metadata = meta_ab();
	json_t *o = view_e2b_sandbox(&sample, true);
	assert_string_equal(json_string_value(json_object_get(o, "sandboxID")), "cl-abc");
	assert_string_equal(json_string_value(json_object_get(o, "templateID")), "minimal");
	assert_string_equal(json_string_value(json_object_get(o, "clientID")), "6532622b");
	assert_string_equal(json_string_value(json_object_get(o, "envdVersion")), "0.6.4");
	assert_string_equal(json_string_value(json_object_get(o, "envdAccessToken")), "tok");
	assert_true(json_is_null(json_object_get(o, "domain")));
	json_decref(o);
	view_set_sandbox_domain("localhost:3002");
	o = view_e2b_sandbox(&sample, true);
	assert_string_equal(json_string_value(json_object_get(o, "domain")), "localhost:3002");
	json_decref(o);
	view_set_sandbox_domain(NULL);
	/* getInfo's lifecycle: only when known */
	o = view_e2b_detail(&sample, true);
	assert_null(json_object_get(o, "lifecycle"));
	json_decref(o);
	struct sbx_view lv = sample;
	lv.lifecycle_known = true;
	lv.lifecycle = STORE_SB_LC_PAUSE_ON_TIMEOUT | STORE_SB_LC_AUTO_RESUME;
	o = view_e2b_detail(&lv, true);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(o, "lifecycle"), "onTimeout")),
		"pause");
	assert_true(json_is_true(json_object_get(json_object_get(o, "lifecycle"), "autoResume")));
	json_decref(o);
	lv.lifecycle = 0;
	o = view_e2b_detail(&lv, true);
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(o, "lifecycle"), "onTimeout")),
		"kill");
	json_decref(o);
	o = view_e2b_sandbox(&sample, false);
	assert_null(json_object_get(o, "envdAccessToken"));
	json_decref(o);

	struct sbx_view v = sample;
	v.state = "creating";
	v.end_at = 0;
	v.metadata = NULL;
	o = view_e2b_detail(&v, false);
	/* every field Python's SandboxDetail parser requires */
	const char *req[] = {"templateID", "sandboxID", "clientID",   "startedAt", "endAt",
			     "cpuCount",   "memoryMB",	"diskSizeMB", "state",	   "envdVersion"};
	for (size_t i = 0; i < ARRAY_SIZE(req); i++)
		assert_non_null(json_object_get(o, req[i]));
	assert_string_equal(json_string_value(json_object_get(o, "state")), "running");
	assert_int_equal(json_integer_value(json_object_get(o, "cpuCount")), 2);
	assert_string_equal(json_string_value(json_object_get(o, "startedAt")),
			    "2023-11-14T22:13:20.123Z");
	assert_string_equal(json_string_value(json_object_get(o, "endAt")),
			    "9999-12-31T23:59:59.000Z");
	assert_true(json_is_object(json_object_get(o, "metadata")));
	assert_int_equal(json_object_size(json_object_get(o, "metadata")), 0);
	json_decref(o);
	v.state = "paused";
	o = view_e2b_detail(&v, false);
	assert_string_equal(json_string_value(json_object_get(o, "state")), "paused");
	json_decref(o);
}

static void test_view_v1(void **state)
{
	(void)state;
	sample.metadata = meta_ab();
	json_t *o = view_v1_sandbox(&sample, false);
	assert_string_equal(json_string_value(json_object_get(o, "id")), "cl-abc");
	assert_string_equal(json_string_value(json_object_get(o, "state")), "running");
	assert_int_equal(json_integer_value(json_object_get(o, "vcpus")), 2);
	assert_int_equal(json_integer_value(json_object_get(o, "memoryMB")), 512);
	assert_string_equal(json_string_value(json_object_get(o, "endAt")),
			    "2023-11-14T22:18:20.123Z");
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "metadata"), "a")),
			    "b");
	assert_null(json_object_get(o, "envdAccessToken"));
	json_decref(o);
	struct sbx_view v = sample;
	v.end_at = 0;
	v.error = "boom";
	o = view_v1_sandbox(&v, true);
	assert_true(json_is_null(json_object_get(o, "endAt")));
	assert_string_equal(json_string_value(json_object_get(o, "error")), "boom");
	assert_string_equal(json_string_value(json_object_get(o, "envdAccessToken")), "tok");
	json_decref(o);
}

static json_t *js(const char *s)
{
	json_t *j = json_loads(s, 0, NULL);
	assert_non_null(j);
	return j;
}

static void test_parse_create(void **state)
{
	(void)state;
	struct create_req c;
	struct wr_err err = {0};
	json_t *b = js("{\"templateID\":\"minimal\",\"timeout\":60,\"metadata\":{\"k\":\"v\"},"
		       "\"envVars\":{\"A\":\"1\"},\"secure\":false,\"allow_internet_access\":false,"
		       "\"autoPause\":false,\"autoResume\":{\"enabled\":false},\"mcp\":null,"
		       "\"volumeMounts\":[]}");
	assert_int_equal(view_parse_e2b_create(b, false, &c, &err), 0);
	assert_string_equal(c.template, "minimal");
	assert_int_equal(c.timeout_s, 60);
	assert_false(c.secure);
	assert_false(c.allow_internet);
	assert_string_equal(json_string_value(json_object_get(c.metadata, "k")), "v");
	assert_string_equal(json_string_value(json_object_get(c.env, "A")), "1");
	assert_int_equal(c.lifecycle, 0);
	create_req_done(&c);
	/* lifecycle as the SDK sends it: onTimeout 'pause' (+ keepMemory) and autoResume */
	json_t *lb = js(
		"{\"autoPause\":true,\"autoPauseMemory\":true,\"autoResume\":{\"enabled\":true}}");
	assert_int_equal(view_parse_e2b_create(lb, true, &c, &err), 0);
	assert_int_equal(c.lifecycle, STORE_SB_LC_PAUSE_ON_TIMEOUT | STORE_SB_LC_AUTO_RESUME);
	create_req_done(&c);
	json_decref(lb);
	lb = js("{\"autoPause\":true,\"autoResume\":{\"enabled\":false}}");
	assert_int_equal(view_parse_e2b_create(lb, true, &c, &err), 0);
	assert_int_equal(c.lifecycle, STORE_SB_LC_PAUSE_ON_TIMEOUT);
	create_req_done(&c);
	json_decref(lb);
	/* v2: secure is always on; asking for it off is refused */
	assert_int_equal(view_parse_e2b_create(b, true, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "secure"));
	json_decref(b);
	b = js("{}");
	assert_int_equal(view_parse_e2b_create(b, true, &c, &err), 0);
	assert_null(c.template);
	assert_int_equal(c.timeout_s, 300);
	assert_true(c.allow_internet);
	create_req_done(&c);
	json_decref(b);
	const char *bad[] = {"{\"templateID\":5}",
			     "{\"templateID\":\"\"}",
			     "{\"templateID\":\"a b\"}",
			     "{\"timeout\":\"60\"}",
			     "{\"timeout\":-1}",
			     "{\"metadata\":{\"k\":1}}",
			     "{\"envVars\":[\"A=1\"]}",
			     "{\"secure\":\"yes\"}",
			     "{\"allow_internet_access\":1}"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		b = js(bad[i]);
		assert_int_equal(view_parse_e2b_create(b, false, &c, &err), -EINVAL);
		json_decref(b);
	}
	/* nothing is silently ignored: the error names the field */
	const char *refused[][2] = {
		{"{\"unknown\":[1,2]}", "unknown is not a known field"},
		{"{\"autoPause\":true,\"autoPauseMemory\":false}", "autoPauseMemory: false"},
		{"{\"autoResume\":{\"enabled\":true}}", "autoResume needs autoPause"},
		{"{\"autoResume\":{\"enabled\":1}}", "autoResume.enabled must be"},
		{"{\"autoResume\":{\"x\":true}}", "autoResume.x is not a known field"},
		{"{\"autoResume\":true}", "autoResume must be an object"},
		{"{\"autoPause\":\"yes\"}", "autoPause must be true or false"},
		{"{\"mcp\":{\"s\":{}}}", "mcp is not supported"},
		{"{\"iam\":{\"tokens\":{}}}", NULL},
		{"{\"volumeMounts\":[{\"name\":\"v\"}]}", "volumeMounts[0] needs name and path"},
		{"{\"volumeMounts\":[{\"name\":\"v\",\"path\":\"/v\",\"x\":1}]}",
		 "volumeMounts[0].x is not a known field"},
		{"{\"volumeMounts\":{\"/v\":\"v\"}}", "volumeMounts must be an array"},
		{"{\"network\":{\"x\":1}}", "network.x is not a known field"},
		{"{\"network\":{\"egressProxy\":{\"address\":\"p:1\"}}}", "network.egressProxy"},
		{"{\"network\":{\"maskRequestHost\":\"h\\r\\nX-Evil: 1\"}}",
		 "network.maskRequestHost: byte 0x0d is not allowed"},
		{"{\"network\":{\"maskRequestHost\":\"a b\"}}", "network.maskRequestHost"},
		{"{\"network\":{\"maskRequestHost\":\"\"}}", "network.maskRequestHost must be"},
		{"{\"network\":{\"maskRequestHost\":7}}", "network.maskRequestHost must be"},
		{"{\"network\":{\"rules\":{\"a.com\":[{}]}}}", "network.rules"},
		{"{\"network\":{\"allowOut\":[\"example.com\"]}}",
		 "domain names are not supported"},
		{"{\"network\":{\"denyOut\":[\"::/0\"]}}", "IPv6"},
		{"{\"network\":{\"allowOut\":[\"10.1.0.0/16\"]}}", "overlaps 10.0.0.0/8"},
		{"{\"network\":{\"allowOut\":\"1.2.3.4\"}}", "network.allowOut must be an array"},
		{"{\"allow_internet_access\":false,\"network\":{\"allowOut\":[\"1.2.3.4\"]}}",
		 "needs allow_internet_access"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		b = js(refused[i][0]);
		wr_err_clear(&err);
		assert_int_equal(view_parse_e2b_create(b, true, &c, &err), -EINVAL);
		if (refused[i][1] && !strstr(err.msg, refused[i][1]))
			fail_msg("%s: %s", refused[i][0], err.msg);
		json_decref(b);
	}
	b = js("{\"network\":{\"allowOut\":[\"8.8.8.8\"],\"denyOut\":[\"0.0.0.0/0\","
	       "\"10.9.9.9/8\"],\"allowPublicTraffic\":false,\"rules\":{},"
	       "\"maskRequestHost\":\"${PORT}-app.example.com\"}}");
	assert_int_equal(view_parse_e2b_create(b, true, &c, &err), 0);
	assert_string_equal(c.mask_host, "${PORT}-app.example.com");
	assert_string_equal(c.allow_out[0], "8.8.8.8/32");
	assert_null(c.allow_out[1]);
	assert_string_equal(c.deny_out[0], "0.0.0.0/0");
	assert_string_equal(c.deny_out[1], "10.0.0.0/8");
	assert_true(c.private_traffic);
	create_req_done(&c);
	json_decref(b);
	char **al = NULL, **de = NULL;
	int inet = 0;
	b = js("{\"denyOut\":[\"1.1.1.1\"],\"allow_internet_access\":true}");
	assert_int_equal(view_parse_network_update(b, &al, &de, &inet, &err), 0);
	assert_null(al);
	assert_string_equal(de[0], "1.1.1.1/32");
	assert_int_equal(inet, 1);
	view_cidrs_free(de);
	json_decref(b);
	b = js("{\"allowPublicTraffic\":false}"); /* not changeable live */
	assert_int_equal(view_parse_network_update(b, &al, &de, &inet, &err), -EINVAL);
	json_decref(b);
	b = js("{\"template\":\"minimal\",\"vcpus\":2,\"memoryMB\":256,\"timeout\":0,"
	       "\"allowInternetAccess\":true}");
	json_t *b1 = js("{\"template\":\"minimal\",\"cpuCount\":2}");
	assert_int_equal(view_parse_v1_create(b1, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "cpuCount is not a known field"));
	json_decref(b1);
	assert_int_equal(view_parse_v1_create(b, &c, &err), 0);
	assert_int_equal(c.vcpus, 2);
	assert_int_equal(c.memory_mb, 256);
	assert_int_equal(c.timeout_s, 0);
	assert_true(c.allow_internet);
	create_req_done(&c);
	json_decref(b);
	const char *bad1[] = {"{\"vcpus\":0}", "{\"memoryMB\":64}", "{\"vcpus\":1.5}"};
	for (size_t i = 0; i < ARRAY_SIZE(bad1); i++) {
		b = js(bad1[i]);
		assert_int_equal(view_parse_v1_create(b, &c, &err), -EINVAL);
		json_decref(b);
	}
}

static void test_metadata_query(void **state)
{
	(void)state;
	char **v = NULL;
	struct wr_err err = {0};
	assert_int_equal(view_parse_metadata_query("a=1&b=x%20y&&", false, &v, &err), 0);
	assert_string_equal(v[0], "a");
	assert_string_equal(v[1], "1");
	assert_string_equal(v[2], "b");
	assert_string_equal(v[3], "x y");
	assert_null(v[4]);
	view_strv_free(v);
	/* E2B: value encoded once more before joining */
	assert_int_equal(
		view_parse_metadata_query("suite=latest%2520%25282.5%2529", true, &v, &err), 0);
	assert_string_equal(v[1], "latest (2.5)");
	view_strv_free(v);
	assert_int_equal(view_parse_metadata_query("", false, &v, &err), 0);
	assert_null(v[0]);
	view_strv_free(v);
	assert_int_equal(view_parse_metadata_query("novalue", false, &v, &err), -EINVAL);
	assert_int_equal(view_parse_metadata_query("a=%zz", false, &v, &err), -EINVAL);
	unsigned bits = 0;
	assert_int_equal(view_parse_states("running,paused", &bits, &err), 0);
	assert_int_equal(bits, (1u << STORE_SB_RUNNING) | (1u << STORE_SB_PAUSED));
	assert_int_equal(view_parse_states("running,bogus", &bits, &err), -EINVAL);
}

static void test_utf8_clean(void **state)
{
	(void)state;
	size_t n = 0;
	cleanup_free char *a = view_utf8_clean("h\xc3\xa9llo", 6, &n);
	assert_string_equal(a, "h\xc3\xa9llo");
	cleanup_free char *b = view_utf8_clean("a\xff"
					       "b\xc3",
					       4, &n);
	assert_string_equal(b, "a\xef\xbf\xbd"
			       "b\xef\xbf\xbd");
	cleanup_free char *c = view_utf8_clean("\xed\xa0\x80", 3, &n); /* surrogate */
	assert_int_equal(n, 9);
	cleanup_free char *d = view_utf8_clean("x\0y", 3, &n);
	assert_int_equal(n, 3);
}

/* ------------------------------------------------------------------ paging, exit codes */

static void test_paging(void **state)
{
	(void)state;
	struct runtime_info rows[5] = {0};
	for (int i = 0; i < 5; i++) {
		snprintf(rows[i].id, sizeof(rows[i].id), "cl-%d", i);
		rows[i].created_at = 1000 - i * 10; /* newest first */
	}
	size_t s, c;
	char *next = NULL;
	agent_page(rows, 5, NULL, 2, &s, &c, &next);
	assert_int_equal(s, 0);
	assert_int_equal(c, 2);
	assert_string_equal(next, "990_cl-1");
	char *n2 = NULL;
	agent_page(rows, 5, next, 2, &s, &c, &n2);
	assert_int_equal(s, 2);
	assert_int_equal(c, 2);
	assert_string_equal(n2, "970_cl-3");
	free(next);
	agent_page(rows, 5, n2, 2, &s, &c, &next);
	assert_int_equal(s, 4);
	assert_int_equal(c, 1);
	assert_null(next);
	free(n2);
	/* the cursor's row is gone: continue with older rows */
	agent_page(rows, 5, "975_cl-gone", 100, &s, &c, &next);
	assert_int_equal(s, 3);
	assert_int_equal(c, 2);
	assert_null(next);
	agent_page(rows, 5, "garbage", 100, &s, &c, &next);
	assert_int_equal(s + c, 5);
	agent_page(rows, 0, NULL, 100, &s, &c, &next);
	assert_int_equal(c, 0);
	assert_null(next);
	/* oldest first (order=asc): the same rows reversed; a gone cursor row continues with
	 * the newer ones */
	struct runtime_info up[5];
	for (int i = 0; i < 5; i++)
		up[i] = rows[4 - i];
	agent_page_dir(up, 5, NULL, 2, true, &s, &c, &next);
	assert_int_equal(s, 0);
	assert_int_equal(c, 2);
	assert_string_equal(next, "970_cl-3");
	free(next);
	agent_page_dir(up, 5, "975_cl-gone", 100, true, &s, &c, &next);
	assert_int_equal(s, 2); /* cl-2 (980) onwards */
	assert_int_equal(c, 3);
	assert_null(next);
	int64_t ms = 0;
	assert_int_equal(view_parse_rfc3339("2024-05-01T12:00:00.123Z", &ms), 0);
	assert_int_equal(ms, INT64_C(1714564800123));
	assert_int_equal(view_parse_rfc3339("2024-05-01T14:00:00+02:00", &ms), 0);
	assert_int_equal(ms, INT64_C(1714564800000));
	assert_int_equal(view_parse_rfc3339("2024-05-01T12:00:00.5Z", &ms), 0);
	assert_int_equal(ms, INT64_C(1714564800500));
	char ts[40];
	view_rfc3339(INT64_C(1714564800123), ts, sizeof(ts));
	assert_int_equal(view_parse_rfc3339(ts, &ms), 0);
	assert_int_equal(ms, INT64_C(1714564800123));
	const char *badts[] = {"",
			       "2024-05-01",
			       "2024-05-01T12:00:00",
			       "2024-13-01T12:00:00Z",
			       "2024-05-01T12:00:00.Z",
			       "2024-05-01T12:00:00Zx",
			       "yesterday"};
	for (size_t i = 0; i < ARRAY_SIZE(badts); i++)
		assert_int_equal(view_parse_rfc3339(badts[i], &ms), -EINVAL);
	int l = 0;
	assert_int_equal(agent_parse_limit(NULL, &l), 0);
	assert_int_equal(l, 100);
	assert_int_equal(agent_parse_limit("7", &l), 0);
	assert_int_equal(l, 7);
	assert_int_equal(agent_parse_limit("0", &l), -EINVAL);
	assert_int_equal(agent_parse_limit("101", &l), -EINVAL);
	assert_int_equal(agent_parse_limit("1x", &l), -EINVAL);
}

static void test_exit_code(void **state)
{
	(void)state;
	json_t *e = js("{\"exited\":true,\"status\":\"exit status 0\"}");
	assert_int_equal(agent_exit_code(e), 0);
	json_decref(e);
	e = js("{\"exitCode\":3,\"exited\":true,\"status\":\"exit status 3\"}");
	assert_int_equal(agent_exit_code(e), 3);
	json_decref(e);
	e = js("{\"exitCode\":-1,\"status\":\"signal: killed\"}");
	assert_int_equal(agent_exit_code(e), 137);
	json_decref(e);
	e = js("{\"exitCode\":-1,\"status\":\"signal: terminated\"}");
	assert_int_equal(agent_exit_code(e), 143);
	json_decref(e);
	e = js("{\"status\":\"signal: signal 40\"}");
	assert_int_equal(agent_exit_code(e), 168);
	json_decref(e);
	assert_int_equal(envdc_errno_for_code("not_found"), -ENOENT);
	assert_int_equal(envdc_errno_for_code("already_exists"), -EEXIST);
	assert_int_equal(envdc_errno_for_code("unauthenticated"), -EACCES);
	assert_int_equal(envdc_errno_for_code("weird"), -EPROTO);
	assert_int_equal(reply_status_for_errno(-ENOENT), 404);
	assert_int_equal(reply_status_for_errno(-EBUSY), 409);
	assert_int_equal(reply_status_for_errno(-EFBIG), 413);
	assert_int_equal(reply_status_for_errno(-ENOSPC), 507);
	assert_int_equal(reply_status_for_errno(-EIO), 500);
	assert_int_equal(reply_status_for_errno(-ESHUTDOWN), 503);
	assert_int_equal(reply_status_for_errno(-ECANCELED), 409);
	assert_int_equal(reply_status_for_errno(-EPROTO), 502);
	assert_int_equal(reply_status_for_errno(-ENOTSUP), 501);
}

static void test_entry(void **state)
{
	(void)state;
	json_t *e = js("{\"name\":\"f\",\"path\":\"/tmp/f\",\"type\":\"FILE_TYPE_FILE\","
		       "\"size\":\"123\",\"mode\":33188,\"permissions\":\"-rw-r--r--\","
		       "\"owner\":\"user\",\"modifiedTime\":\"2024-01-01T00:00:00Z\"}");
	json_t *o = v1_entry_from_envd(e);
	assert_string_equal(json_string_value(json_object_get(o, "type")), "file");
	assert_int_equal(json_integer_value(json_object_get(o, "size")), 123);
	assert_int_equal(json_integer_value(json_object_get(o, "mode")), 0644);
	assert_string_equal(json_string_value(json_object_get(o, "owner")), "user");
	json_decref(o);
	json_decref(e);
	e = js("{\"name\":\"d\",\"type\":\"FILE_TYPE_DIRECTORY\"}");
	o = v1_entry_from_envd(e);
	assert_string_equal(json_string_value(json_object_get(o, "type")), "dir");
	json_decref(o);
	json_decref(e);
}

/* ------------------------------------------------------------------ config */

static void test_config(void **state)
{
	(void)state;
	struct agent_config c;
	agent_config_init(&c);
	struct wr_err err = {0};
	assert_string_equal(c.data_dir, "/var/lib/wrenn");
	assert_string_equal(c.api_listen, "127.0.0.1:3000");
	assert_string_equal(c.proxy_listen, "127.0.0.1:3002");
	assert_int_equal(agent_config_parse_text(&c,
						 "# comment\n"
						 "data_dir = /srv/w   # trailing\n"
						 "\n  log_level=debug\n"
						 "domain = \"sb.local\"\n"
						 "max_sandboxes = 8\n"
						 "resume_on_traffic = yes\n"
						 "unix_socket =\n",
						 "t.conf", &err),
			 0);
	assert_string_equal(c.data_dir, "/srv/w");
	assert_string_equal(c.log_level, "debug");
	assert_string_equal(c.domain, "sb.local");
	assert_int_equal(c.max_sandboxes, 8);
	assert_true(c.resume_on_traffic);
	assert_null(c.unix_socket);
	assert_int_equal(agent_config_parse_text(&c, "bogus = 1\n", "t.conf", &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "t.conf:1"));
	assert_int_equal(agent_config_parse_text(&c, "a\nno equals\n", "t.conf", &err), -EINVAL);
	assert_int_equal(agent_config_set(&c, "log_level", "loud", &err), -EINVAL);
	assert_int_equal(agent_config_set(&c, "max_sandboxes", "-1", &err), -EINVAL);
	assert_int_equal(agent_config_set(&c, "keep_sandboxes", "maybe", &err), -EINVAL);
	agent_config_done(&c);

	setenv("WRENN_PROXY_LISTEN", "127.0.0.1:4002", 1);
	char *argv[] = {"wrenn-agent",	    "--data-dir=/tmp/x", "--api-listen", "127.0.0.1:4000",
			"--keep-sandboxes", "--log-level",	 "warn",	 NULL};
	assert_int_equal(agent_config_load(&c, 7, argv, &err), 0);
	assert_string_equal(c.data_dir, "/tmp/x");
	assert_string_equal(c.api_listen, "127.0.0.1:4000");
	assert_string_equal(c.proxy_listen, "127.0.0.1:4002");
	assert_true(c.keep_sandboxes);
	assert_string_equal(c.log_level, "warn");
	agent_config_done(&c);
	unsetenv("WRENN_PROXY_LISTEN");
	char *bad[] = {"wrenn-agent", "--no-such-flag=1", NULL};
	assert_int_equal(agent_config_load(&c, 2, bad, &err), -EINVAL);
	agent_config_done(&c);
	char *pos[] = {"wrenn-agent", "positional", NULL};
	assert_int_equal(agent_config_load(&c, 2, pos, &err), -EINVAL);
	agent_config_done(&c);

	/* every setting is a flag: the warm pool and automatic snapshots too */
	char *warm[] = {"wrenn-agent", "--warm-pool", "5", "--auto-snapshot=false", NULL};
	assert_int_equal(agent_config_load(&c, 4, warm, &err), 0);
	assert_int_equal(c.warm_pool, 5);
	assert_false(c.auto_snapshot);
	agent_config_done(&c);
	agent_config_init(&c);
	assert_int_equal(c.warm_pool, -1); /* default: the runtime's */
	assert_true(c.auto_snapshot);
	assert_int_equal(agent_config_set(&c, "warm_pool", "0", &err), 0);
	assert_int_equal(c.warm_pool, 0);
	assert_int_equal(agent_config_set(&c, "warm_pool", "65", &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "at most 64"));
	agent_config_done(&c);
	setenv("WRENN_WARM_POOL", "3", 1);
	char *none[] = {"wrenn-agent", NULL};
	assert_int_equal(agent_config_load(&c, 1, none, &err), 0);
	assert_int_equal(c.warm_pool, 3);
	agent_config_done(&c);
	unsetenv("WRENN_WARM_POOL");
	/* the adaptive pool's settings, and their limits checked at load */
	char *wa[] = {"wrenn-agent", "--warm-pool-max",
		      "20",	     "--warm-pool-idle-s",
		      "5",	     "--warm-pool-memory-mb",
		      "2048",	     "--warm-pool-parallel",
		      "3",	     NULL};
	assert_int_equal(agent_config_load(&c, 9, wa, &err), 0);
	assert_int_equal(c.warm_pool_max, 20);
	assert_int_equal(c.warm_pool_idle_s, 5);
	assert_int_equal(c.warm_pool_memory_mb, 2048);
	assert_int_equal(c.warm_pool_parallel, 3);
	agent_config_done(&c);
	char *wpar[] = {"wrenn-agent", "--warm-pool-parallel", "5", NULL};
	assert_int_equal(agent_config_load(&c, 3, wpar, &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "warm_pool_parallel"));
	agent_config_done(&c);
	char *wmax[] = {"wrenn-agent", "--warm-pool-max", "65", NULL};
	assert_int_equal(agent_config_load(&c, 3, wmax, &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "warm_pool_max"));
	agent_config_done(&c);

	/* volume limits: defaults, and a default above the maximum or below 16 MiB is refused */
	agent_config_init(&c);
	assert_int_equal(c.volume_default_size_mb, 1024);
	assert_int_equal(c.volume_max_size_mb, 65536);
	assert_int_equal(c.max_volumes_per_team, 64);
	agent_config_done(&c);
	char *vol_bad[] = {"wrenn-agent", "--volume-max-size-mb", "512", NULL};
	assert_int_equal(agent_config_load(&c, 3, vol_bad, &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "volume_default_size_mb"));
	agent_config_done(&c);
	char *vol_small[] = {"wrenn-agent", "--volume-default-size-mb=8", NULL};
	assert_int_equal(agent_config_load(&c, 2, vol_small, &err), -EINVAL);
	agent_config_done(&c);
	char *vol_ok[] = {"wrenn-agent", "--volume-max-size-mb=512", "--volume-default-size-mb",
			  "256",	 "--max-volumes-per-team=0", NULL};
	assert_int_equal(agent_config_load(&c, 5, vol_ok, &err), 0);
	assert_int_equal(c.volume_max_size_mb, 512);
	assert_int_equal(c.max_volumes_per_team, 0);
	agent_config_done(&c);
	const char *usage = agent_config_usage();
	for (const char *f = "--warm-pool\0--auto-snapshot\0--max-sandboxes\0--pool-size\0"
			     "--max-conns\0--max-upload-bytes\0--ns-prefix\0--admin-key-file\0";
	     *f; f += strlen(f) + 1)
		assert_non_null(strstr(usage, f));

	/* validated at start: relative paths become absolute, bad values are refused */
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	char *rel[] = {"wrenn-agent", "--data-dir", "./state", "--images-dir", "img", NULL};
	assert_int_equal(agent_config_load(&c, 5, rel, &err), 0);
	cleanup_free char *want_d = xasprintf("%s/state", cwd);
	cleanup_free char *want_i = xasprintf("%s/img", cwd);
	assert_string_equal(c.data_dir, want_d);
	assert_string_equal(c.images_dir, want_i);
	agent_config_done(&c);
	char *badvmm[] = {"wrenn-agent", "--vmm=firecracker", NULL};
	err = (struct wr_err){0};
	assert_int_equal(agent_config_load(&c, 2, badvmm, &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "vmm: expected qemu or cloud-hypervisor"));
	agent_config_done(&c);
	char *baddisk[] = {"wrenn-agent", "--disk-backend=zfs", NULL};
	assert_int_equal(agent_config_load(&c, 2, baddisk, &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "disk_backend"));
	agent_config_done(&c);
	char *off[] = {"wrenn-agent", "--api-listen=", "--proxy-listen=", NULL};
	assert_int_equal(agent_config_load(&c, 3, off, &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "nothing to serve"));
	agent_config_done(&c);
	/* --help is answered even with a setting that would be refused */
	char *help[] = {"wrenn-agent", "--vmm=firecracker", "--help", NULL};
	assert_int_equal(agent_config_load(&c, 3, help, &err), 0);
	assert_true(c.help);
	agent_config_done(&c);
}

/* Every WRENN_ variable the agent's layers read (grep getenv src/daemon src/runtime src/vm
 * src/net src/disk src/build) is also a setting: a flag, a file line and the variable. */
static void test_config_every_setting_a_flag(void **state)
{
	(void)state;
	static const char *const vars[] = {
		"DATA_DIR",
		"JAIL",
		"JAIL_UID_BASE",
		"CGROUP_PARENT",
		"MAX_VCPUS",
		"MAX_MEMORY_MB",
		"MAX_SANDBOXES_PER_TEAM",
		"AUTO_SNAPSHOT",
		"WARM_POOL",
		"WARM_POOL_MAX",
		"WARM_POOL_MEMORY_MB",
		"WARM_POOL_IDLE_S",
		"WARM_POOL_PARALLEL",
		"VMM_LOG_MAX",
		"TCG_CPU",
		"NFT",
		"QEMU_IMG",
		"VOLFS",
		"BUILD_CACHE_ENTRIES",
		"VMM",
		"ACCEL",
		"FETCHED_TEMPLATE_TTL",
		"FETCHED_TEMPLATE_MAX_GB",
	};
	const char *usage = agent_config_usage();
	struct agent_config c;
	struct wr_err err = {0};
	for (size_t i = 0; i < sizeof(vars) / sizeof(*vars); i++) {
		char name[64], flag[80];
		size_t k = 0;
		for (const char *p = vars[i]; *p; p++)
			name[k++] = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
		name[k] = '\0';
		snprintf(flag, sizeof(flag), "--%s", name);
		for (char *p = flag + 2; *p; p++)
			if (*p == '_')
				*p = '-';
		agent_config_init(&c);
		if (agent_config_set(&c, name, "1", &err) == -EINVAL &&
		    strstr(wr_err_msg(&err), "unknown setting"))
			fail_msg("WRENN_%s is read but %s is not a setting", vars[i], name);
		agent_config_done(&c);
		if (!strstr(usage, flag))
			fail_msg("%s is not in --help", flag);
	}

	/* the new ones: as flags, checked at start */
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	char *argv[] = {"wrenn-agent",
			"--jail=false",
			"--vmm-log-max",
			"65536",
			"--tcg-cpu=max",
			"--nft",
			"bin/nft",
			"--qemu-img=/opt/qemu-img",
			"--build-cache-entries=0",
			"--cgroup-parent=none",
			"--domain=sbx.example.com",
			NULL};
	assert_int_equal(agent_config_load(&c, 11, argv, &err), 0);
	assert_false(c.jail);
	assert_int_equal(c.vmm_log_max_bytes, 65536);
	assert_int_equal(c.build_cache_entries, 0);
	cleanup_free char *want_nft = xasprintf("%s/bin/nft", cwd);
	assert_string_equal(c.nft, want_nft);
	unsetenv("WRENN_TCG_CPU");
	unsetenv("WRENN_NFT");
	unsetenv("WRENN_QEMU_IMG");
	unsetenv("WRENN_VOLFS");
	agent_config_export(&c);
	assert_string_equal(getenv("WRENN_TCG_CPU"), "max");
	assert_string_equal(getenv("WRENN_NFT"), want_nft);
	assert_string_equal(getenv("WRENN_QEMU_IMG"), "/opt/qemu-img");
	assert_null(getenv("WRENN_VOLFS")); /* not set: left to its default */
	/* --jail=false reaches the runtime, which reads the variable itself */
	assert_string_equal(getenv("WRENN_JAIL"), "0");
	unsetenv("WRENN_TCG_CPU");
	unsetenv("WRENN_NFT");
	unsetenv("WRENN_QEMU_IMG");
	unsetenv("WRENN_JAIL");
	unsetenv("WRENN_AUTO_SNAPSHOT");
	agent_config_done(&c);

	/* defaults, and the variable still works */
	setenv("WRENN_JAIL", "0", 1);
	char *none[] = {"wrenn-agent", NULL};
	assert_int_equal(agent_config_load(&c, 1, none, &err), 0);
	unsetenv("WRENN_JAIL");
	assert_false(c.jail);
	assert_int_equal(c.vmm_log_max_bytes, 0);
	assert_int_equal(c.build_cache_entries, -1);
	agent_config_done(&c);
	assert_int_equal(agent_config_load(&c, 1, none, &err), 0);
	assert_true(c.jail);
	agent_config_done(&c);

	/* refused at start, naming the setting */
	static const struct {
		const char *arg, *msg;
	} bad[] = {
		{"--vmm-log-max=4M", "vmm_log_max"},
		{"--vmm-log-max=100", "vmm_log_max"},
		{"--cgroup-parent=wrenn/sandboxes", "cgroup_parent"},
		{"--domain=sbx.example.com:3002", "domain"},
		{"--domain=a/b", "domain"},
		{"--domain=.example.com", "domain"},
		{"--build-cache-entries=-1", "build_cache_entries"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		char *b[] = {"wrenn-agent", (char *)bad[i].arg, NULL};
		err = (struct wr_err){0};
		if (agent_config_load(&c, 2, b, &err) != -EINVAL ||
		    !strstr(wr_err_msg(&err), bad[i].msg))
			fail_msg("%s: got \"%s\"", bad[i].arg, wr_err_msg(&err));
		agent_config_done(&c);
	}
}

/* The runtime reads WRENN_JAIL and WRENN_AUTO_SNAPSHOT itself (runtime_open: only "0" turns
 * either off).  A flag beats the inherited variable in the agent's layers, and the agent's
 * answer is what the runtime then sees: the variable is rewritten at start. */
static void test_config_flag_beats_runtime_env(void **state)
{
	(void)state;
	struct agent_config c;
	struct wr_err err = {0};

	/* inherited "off", flag "on": on, and the runtime is told so */
	setenv("WRENN_JAIL", "0", 1);
	setenv("WRENN_AUTO_SNAPSHOT", "0", 1);
	char *on[] = {"wrenn-agent", "--jail=true", "--auto-snapshot=true", NULL};
	assert_int_equal(agent_config_load(&c, 3, on, &err), 0);
	assert_true(c.jail);
	assert_true(c.auto_snapshot);
	agent_config_export(&c);
	assert_string_equal(getenv("WRENN_JAIL"), "1");
	assert_string_equal(getenv("WRENN_AUTO_SNAPSHOT"), "1");
	agent_config_done(&c);

	/* inherited "false" (off for the agent, which the runtime would not have seen as "0") */
	setenv("WRENN_JAIL", "false", 1);
	setenv("WRENN_AUTO_SNAPSHOT", "no", 1);
	char *none[] = {"wrenn-agent", NULL};
	assert_int_equal(agent_config_load(&c, 1, none, &err), 0);
	assert_false(c.jail);
	assert_false(c.auto_snapshot);
	agent_config_export(&c);
	assert_string_equal(getenv("WRENN_JAIL"), "0");
	assert_string_equal(getenv("WRENN_AUTO_SNAPSHOT"), "0");
	agent_config_done(&c);

	/* nothing inherited, flags "off" */
	unsetenv("WRENN_JAIL");
	unsetenv("WRENN_AUTO_SNAPSHOT");
	char *off[] = {"wrenn-agent", "--jail=false", "--auto-snapshot=false", NULL};
	assert_int_equal(agent_config_load(&c, 3, off, &err), 0);
	agent_config_export(&c);
	assert_string_equal(getenv("WRENN_JAIL"), "0");
	assert_string_equal(getenv("WRENN_AUTO_SNAPSHOT"), "0");
	agent_config_done(&c);

	/* nothing inherited, defaults: both on */
	unsetenv("WRENN_JAIL");
	unsetenv("WRENN_AUTO_SNAPSHOT");
	assert_int_equal(agent_config_load(&c, 1, none, &err), 0);
	agent_config_export(&c);
	assert_string_equal(getenv("WRENN_JAIL"), "1");
	assert_string_equal(getenv("WRENN_AUTO_SNAPSHOT"), "1");
	agent_config_done(&c);
	unsetenv("WRENN_JAIL");
	unsetenv("WRENN_AUTO_SNAPSHOT");
}

/* ------------------------------------------------------------------ the API server, no runtime */

struct srvfix {
	char dir[64];
	struct agent a;
	struct http_server *srv;
	int lfd, port;
	pthread_t th;
	char *key;
};

static void *run_srv(void *arg)
{
	struct srvfix *f = arg;
	http_server_run(f->srv, f->lfd);
	return NULL;
}

static int srv_setup(void **state)
{
	struct srvfix *f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/test-daemon-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	agent_config_init(&f->a.cfg);
	free(f->a.cfg.data_dir);
	f->a.cfg.data_dir = xstrdup(f->dir);
	cleanup_free char *db = xasprintf("%s/wrenn.db", f->dir);
	struct wr_err err = {0};
	assert_int_equal(store_open(db, &f->a.st, &err), 0);
	FILE *out = tmpfile();
	assert_int_equal(setup_admin_key(&f->a.cfg, f->a.st, out, &err), 1);
	/* printed once, and saved 0600 */
	rewind(out);
	char line[256] = "", keyline[128] = "";
	assert_non_null(fgets(line, sizeof(line), out));
	assert_non_null(fgets(keyline, sizeof(keyline), out));
	fclose(out);
	cleanup_free char *kp = xasprintf("%s/admin-key", f->dir);
	assert_int_equal(read_file(kp, 4096, &f->key, NULL), 0);
	assert_string_equal(f->key, keyline);
	f->key[strcspn(f->key, "\n")] = '\0';
	assert_true(auth_key_well_formed(f->key, strlen(f->key)));
	struct stat st;
	assert_int_equal(stat(kp, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	out = tmpfile();
	assert_int_equal(setup_admin_key(&f->a.cfg, f->a.st, out, &err), 0);
	assert_int_equal(ftell(out), 0);
	fclose(out);

	assert_int_equal(http_listen_tcp("127.0.0.1:0", &f->lfd, &f->port, &err), 0);
	f->srv = http_server_new(NULL, api_handle, &f->a);
	assert_int_equal(pthread_create(&f->th, NULL, run_srv, f), 0);
	*state = f;
	return 0;
}

static int srv_teardown(void **state)
{
	struct srvfix *f = *state;
	http_server_stop(f->srv, 1000);
	pthread_join(f->th, NULL);
	http_server_free(f->srv);
	close(f->lfd);
	store_close(f->a.st);
	agent_config_done(&f->a.cfg);
	rm_rf(f->dir);
	free(f->key);
	free(f);
	return 0;
}

/* One request on a fresh connection; returns the status, *ret_body the body. */
static int req(struct srvfix *f, const char *method, const char *target, const char *key,
	       const char *body, size_t body_len, char **ret_body)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct http_client *c = http_client_new(fd, true);
	cleanup_free char *h = key ? xasprintf("X-API-Key: %s", key) : NULL;
	const char *hdrs[] = {h, NULL};
	struct http_creq rq = {.method = method,
			       .target = target,
			       .headers = h ? hdrs : NULL,
			       .content_type = body ? "application/json" : NULL,
			       .body = body,
			       .body_len = body ? body_len : 0};
	int status = 0;
	struct wr_err err = {0};
	char *b = NULL;
	assert_int_equal(http_client_do(c, &rq, 1 << 20, &status, &b, NULL, &err), 0);
	http_client_free(c);
	if (ret_body)
		*ret_body = b;
	else
		free(b);
	return status;
}

static void check_error_body(const char *body, int status)
{
	json_t *j = json_loads(body, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "code")), status);
	assert_true(json_is_string(json_object_get(j, "message")));
	json_decref(j);
}

static void test_api_errors(void **state)
{
	struct srvfix *f = *state;
	char *b = NULL;
	assert_int_equal(req(f, "GET", "/health", NULL, NULL, 0, &b), 200);
	assert_non_null(strstr(b, "\"ok\""));
	free(b);
	assert_int_equal(req(f, "GET", "/openapi.yaml", NULL, NULL, 0, &b), 200);
	assert_int_equal(strncmp(b, "openapi: 3", 10), 0);
	free(b);
	/* auth */
	assert_int_equal(req(f, "GET", "/v1/sandboxes", NULL, NULL, 0, &b), 401);
	check_error_body(b, 401);
	free(b);
	assert_int_equal(req(f, "GET", "/v2/sandboxes",
			     "e2b_0000000000000000000000000000000000000000", NULL, 0, &b),
			 401);
	check_error_body(b, 401);
	free(b);
	assert_int_equal(req(f, "GET", "/sandboxes", "nonsense", NULL, 0, NULL), 401);
	/* routing */
	assert_int_equal(req(f, "GET", "/v1/nothing", f->key, NULL, 0, &b), 404);
	check_error_body(b, 404);
	free(b);
	assert_int_equal(req(f, "PATCH", "/v1/sandboxes", f->key, NULL, 0, &b), 405);
	check_error_body(b, 405);
	free(b);
	/* bodies are checked before anything touches a sandbox */
	assert_int_equal(req(f, "POST", "/v1/sandboxes", f->key, "{bad", 4, &b), 400);
	check_error_body(b, 400);
	assert_non_null(strstr(b, "invalid JSON"));
	free(b);
	assert_int_equal(req(f, "POST", "/v1/sandboxes", f->key, "[1]", 3, NULL), 400);
	assert_int_equal(req(f, "POST", "/v1/sandboxes", f->key, "", 0, NULL), 400);
	assert_int_equal(req(f, "POST", "/v1/sandboxes", f->key, "{\"vcpus\":\"x\"}", 13, NULL),
			 400);
	assert_int_equal(req(f, "POST", "/sandboxes", f->key, "{\"templateID\":7}", 16, NULL), 400);
	assert_int_equal(req(f, "POST", "/v2/sandboxes", f->key, "{", 1, NULL), 400);
	size_t big = REPLY_MAX_JSON_BODY + 10;
	cleanup_free char *huge = xmalloc(big);
	memset(huge, ' ', big);
	assert_int_equal(req(f, "POST", "/v2/sandboxes", f->key, huge, big, &b), 413);
	check_error_body(b, 413);
	free(b);
	assert_int_equal(
		req(f, "POST", "/sandboxes/cl-x/timeout", f->key, "{\"timeout\":-5}", 14, NULL),
		400);
	assert_int_equal(
		req(f, "POST", "/v1/sandboxes/cl-x/exec", f->key, "{\"cmd\":[]}", 10, NULL), 400);
	assert_int_equal(req(f, "POST", "/v1/sandboxes/cl-x/pty", f->key, NULL, 0, NULL), 400);
}

static void test_api_keys(void **state)
{
	struct srvfix *f = *state;
	char *b = NULL;
	assert_int_equal(req(f, "POST", "/v1/keys", f->key, "{\"name\":\"ci\"}", 13, &b), 201);
	json_t *k = json_loads(b, 0, NULL);
	free(b);
	const char *plain = json_string_value(json_object_get(k, "key"));
	assert_non_null(plain);
	assert_true(auth_key_well_formed(plain, strlen(plain)));
	assert_string_equal(json_string_value(json_object_get(k, "name")), "ci");
	/* the new key works */
	assert_int_equal(req(f, "GET", "/v1/keys", plain, NULL, 0, &b), 200);
	assert_non_null(strstr(b, "\"ci\""));
	assert_null(strstr(b, plain));
	free(b);
	cleanup_free char *path =
		xasprintf("/v1/keys/%s", json_string_value(json_object_get(k, "id")));
	assert_int_equal(req(f, "DELETE", path, f->key, NULL, 0, NULL), 204);
	assert_int_equal(req(f, "DELETE", path, f->key, NULL, 0, NULL), 404);
	/* revoked */
	assert_int_equal(req(f, "GET", "/v1/keys", plain, NULL, 0, NULL), 401);
	json_decref(k);
	assert_int_equal(req(f, "POST", "/v1/keys", f->key, "{\"name\":5}", 10, NULL), 400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_match),
		cmocka_unit_test(test_proxy_route),
		cmocka_unit_test(test_proxy_public_domain),
		cmocka_unit_test(test_proxy_host_only),
		cmocka_unit_test(test_auth_headers),
		cmocka_unit_test(test_view_rfc3339),
		cmocka_unit_test(test_view_e2b),
		cmocka_unit_test(test_view_v1),
		cmocka_unit_test(test_parse_create),
		cmocka_unit_test(test_proxy_traffic_check),
		cmocka_unit_test(test_proxy_mask_host),
		cmocka_unit_test(test_metadata_query),
		cmocka_unit_test(test_utf8_clean),
		cmocka_unit_test(test_paging),
		cmocka_unit_test(test_exit_code),
		cmocka_unit_test(test_entry),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_config_every_setting_a_flag),
		cmocka_unit_test(test_config_flag_beats_runtime_env),
		cmocka_unit_test_setup_teardown(test_api_errors, srv_setup, srv_teardown),
		cmocka_unit_test_setup_teardown(test_api_keys, srv_setup, srv_teardown),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	json_decref(meta_ab());
	return r;
}
