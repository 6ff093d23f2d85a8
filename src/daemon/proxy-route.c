/* SPDX-License-Identifier: MIT */
#include "daemon/proxy-route.h"

#include "basic/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool id_ok(const char *s, size_t n)
{
	if (n == 0 || n > PROXY_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      (c >= 'A' && c <= 'Z')))
			return false;
	}
	return true;
}

static int parse_port(const char *s, size_t n)
{
	if (n == 0 || n > 5)
		return -1;
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v >= 1 && v <= 65535 ? v : -1;
}

int proxy_route(const char *host, const char *hdr_id, const char *hdr_port, const char *domain,
		struct proxy_target *ret, struct wr_err *err)
{
	if (hdr_id && *hdr_id) {
		size_t n = strlen(hdr_id);
		if (!id_ok(hdr_id, n))
			return wr_err_set(err, EINVAL, "invalid E2b-Sandbox-Id header");
		int port = PROXY_ENVD_PORT;
		if (hdr_port && *hdr_port) {
			port = parse_port(hdr_port, strlen(hdr_port));
			if (port < 0)
				return wr_err_set(err, EINVAL, "invalid E2b-Sandbox-Port header");
		}
		memcpy(ret->id, hdr_id, n + 1);
		ret->port = port;
		return 0;
	}
	if (!host || !*host)
		return wr_err_set(
			err, ENOENT,
			"no sandbox given: send E2b-Sandbox-Id or use Host <port>-<id>.<domain>");
	/* strip the listen port; IPv6 literals never name a sandbox */
	if (*host == '[')
		return wr_err_set(err, ENOENT, "no sandbox given: send the E2b-Sandbox-Id header");
	size_t hl = strcspn(host, ":");
	size_t l1 = strcspn(host, ".");
	if (l1 >= hl)
		return wr_err_set(err, ENOENT, "no sandbox given: send the E2b-Sandbox-Id header");
	const char *dash = memchr(host, '-', l1);
	int port = dash ? parse_port(host, (size_t)(dash - host)) : -1;
	if (port < 0)
		return wr_err_set(
			err, ENOENT,
			"no sandbox given: send E2b-Sandbox-Id or use Host <port>-<id>.<domain>");
	if (domain && *domain) {
		/* <port>-<id>.localhost (the zero-setup local mode) is routed whatever the domain:
		 * the E2b-Sandbox-Id header reaches any sandbox anyway */
		size_t dl = strlen(domain), rest = hl - l1 - 1;
		bool in_domain = rest == dl && strncasecmp(host + l1 + 1, domain, dl) == 0;
		bool local = rest == 9 && strncasecmp(host + l1 + 1, "localhost", 9) == 0;
		if (!in_domain && !local)
			return wr_err_set(err, ENOENT, "host is not under the sandbox domain %s",
					  domain);
	}
	size_t idl = l1 - (size_t)(dash - host) - 1;
	if (!id_ok(dash + 1, idl))
		return wr_err_set(err, EINVAL, "invalid sandbox id in the Host header");
	memcpy(ret->id, dash + 1, idl);
	ret->id[idl] = '\0';
	ret->port = port;
	return 0;
}

void proxy_public_domain(const char *domain, const char *listen, char *buf, size_t len)
{
	if (len == 0)
		return;
	buf[0] = '\0';
	if (domain && *domain) {
		snprintf(buf, len, "%s", domain);
		return;
	}
	if (!listen)
		return;
	const char *colon = strrchr(listen, ':');
	if (!colon || parse_port(colon + 1, strlen(colon + 1)) < 0)
		return;
	size_t hl = (size_t)(colon - listen);
	bool loopback = (hl == 9 && strncasecmp(listen, "localhost", 9) == 0) ||
			(hl == 5 && strncmp(listen, "[::1]", 5) == 0) ||
			(hl >= 4 && strncmp(listen, "127.", 4) == 0);
	if (loopback)
		snprintf(buf, len, "localhost:%s", colon + 1);
}

bool proxy_path_host_only(int port, const char *path)
{
	static const char *const internal[] = {"/init",	    "/prepare",	 "/upgrade", "/freeze",
					       "/unfreeze", "/fsfreeze", "/fsthaw",  "/collapse"};
	if (port != PROXY_ENVD_PORT)
		return false;
	/* collapse "//init" and "/init/" the way a lenient router would */
	while (path[0] == '/' && path[1] == '/')
		path++;
	for (size_t i = 0; i < sizeof(internal) / sizeof(internal[0]); i++) {
		size_t n = strlen(internal[i]);
		if (strncasecmp(path, internal[i], n) == 0 &&
		    (path[n] == '\0' || path[n] == '/' || path[n] == '?'))
			return true;
	}
	return false;
}

bool proxy_header_dropped(const char *name, bool upgrade)
{
	static const char *const hop[] = {
		"Connection",	       "Upgrade", "Keep-Alive", "Proxy-Connection",
		"Proxy-Authorization", "TE",	  "Trailer",	"Transfer-Encoding",
		"Content-Length"};
	if (strcasecmp(name, "E2b-Sandbox-Id") == 0 || strcasecmp(name, "E2b-Sandbox-Port") == 0)
		return true;
	/* an upgraded connection is relayed byte for byte: the handshake stays intact */
	if (upgrade)
		return false;
	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (strcasecmp(name, hop[i]) == 0)
			return true;
	return false;
}

int proxy_traffic_check(int port, const char *want, const char *got)
{
	if (!want || port == PROXY_ENVD_PORT)
		return 0;
	if (!got)
		return 401;
	size_t n = strlen(want), m = strlen(got);
	unsigned char d = (unsigned char)(n != m);
	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(want[i] ^ (i < m ? got[i] : 0));
	return d ? 403 : 0;
}

char *proxy_mask_host(const char *mask, int port)
{
	if (!mask || !*mask || port == PROXY_ENVD_PORT)
		return NULL;
	char ps[16];
	int pl = snprintf(ps, sizeof(ps), "%d", port);
	size_t n = 0;
	for (const char *p = mask; *p; p++, n++)
		if (!strncmp(p, "${PORT}", 7)) {
			n += (size_t)pl - 1;
			p += 6;
		}
	char *out = xmalloc(n + 1), *o = out;
	for (const char *p = mask; *p; p++)
		if (!strncmp(p, "${PORT}", 7)) {
			memcpy(o, ps, (size_t)pl);
			o += pl;
			p += 6;
		} else {
			*o++ = *p;
		}
	*o = '\0';
	return out;
}
