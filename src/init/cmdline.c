/* SPDX-License-Identifier: MIT */
#include "init/cmdline.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int cmdline_get(const char *cmdline, const char *key, char **ret)
{
	size_t klen = strlen(key);
	char *found = NULL;
	const char *p = cmdline;

	while (*p) {
		while (is_space(*p))
			p++;
		if (!*p)
			break;
		/* One argument: key[=value]; quotes may appear anywhere and group spaces. */
		const char *start = p;
		bool quoted = false;
		while (*p && (quoted || !is_space(*p))) {
			if (*p == '"')
				quoted = !quoted;
			p++;
		}
		if (quoted) {
			free(found);
			return -EINVAL;
		}
		size_t len = (size_t)(p - start);
		if (len > klen && strncmp(start, key, klen) == 0 && start[klen] == '=') {
			/* copy the value without quote characters */
			free(found);
			found = xmalloc(len - klen);
			size_t n = 0;
			for (const char *q = start + klen + 1; q < p; q++)
				if (*q != '"')
					found[n++] = *q;
			found[n] = '\0';
		} else if (len == klen && strncmp(start, key, klen) == 0) {
			free(found);
			found = xstrdup("");
		}
	}
	if (!found)
		return 0;
	*ret = found;
	return 1;
}

/* Split at ':' into at most n fields; returns the number of fields. Modifies s. */
static size_t split_colon(char *s, char **fields, size_t n)
{
	size_t i = 0;
	fields[i++] = s;
	for (char *p = s; *p; p++) {
		if (*p != ':')
			continue;
		if (i == n)
			return n + 1; /* too many */
		*p = '\0';
		fields[i++] = p + 1;
	}
	return i;
}

static int parse_addr(const char *s, const char *what, bool optional, struct in_addr *out,
		      struct wr_err *err)
{
	if (!*s) {
		if (optional) {
			out->s_addr = 0;
			return 0;
		}
		return wr_err_set(err, EINVAL, "missing %s address", what);
	}
	if (inet_pton(AF_INET, s, out) != 1)
		return wr_err_set(err, EINVAL, "%s address '%s' is not an IPv4 address", what, s);
	return 0;
}

static bool mask_contiguous(struct in_addr m)
{
	uint32_t h = ntohl(m.s_addr);
	/* ones then zeros: inverting gives 0...01...1, and x & (x+1) == 0 for such x */
	uint32_t inv = ~h;
	return (inv & (inv + 1)) == 0;
}

int ip_parse(const char *value, struct init_ip *ret, struct wr_err *err)
{
	struct init_ip ip = {0};
	char *f[7] = {0};
	int r;

	if (!value || !*value)
		return wr_err_set(err, EINVAL, "empty ip= argument");
	if (strlen(value) > 256)
		return wr_err_set(err, EINVAL, "ip= argument is too long");
	cleanup_free char *s = xstrdup(value);
	size_t n = split_colon(s, f, 7);
	if (n > 7)
		return wr_err_set(err, EINVAL, "ip= has more than 7 ':'-separated fields");
	if (n == 1 &&
	    (strcmp(f[0], "dhcp") == 0 || strcmp(f[0], "on") == 0 || strcmp(f[0], "any") == 0 ||
	     strcmp(f[0], "bootp") == 0 || strcmp(f[0], "rarp") == 0 || strcmp(f[0], "off") == 0 ||
	     strcmp(f[0], "none") == 0))
		return wr_err_set(err, EINVAL, "ip=%s asks for no static address", f[0]);

	r = parse_addr(f[0], "client", false, &ip.client, err);
	if (r < 0)
		return r;
	/* f[1] is the NFS server address; ignored */
	if (n > 1 && *f[1]) {
		struct in_addr unused;
		r = parse_addr(f[1], "server", false, &unused, err);
		if (r < 0)
			return r;
	}
	if (n > 2) {
		r = parse_addr(f[2], "gateway", true, &ip.gateway, err);
		if (r < 0)
			return r;
	}
	if (n > 3) {
		r = parse_addr(f[3], "netmask", true, &ip.netmask, err);
		if (r < 0)
			return r;
		if (!mask_contiguous(ip.netmask))
			return wr_err_set(err, EINVAL, "netmask '%s' is not contiguous", f[3]);
	}
	if (n > 4) {
		if (strlen(f[4]) >= sizeof(ip.hostname))
			return wr_err_set(err, EINVAL, "hostname in ip= is longer than 64 bytes");
		snprintf(ip.hostname, sizeof(ip.hostname), "%s", f[4]);
	}
	if (n > 5) {
		if (strlen(f[5]) >= sizeof(ip.device))
			return wr_err_set(err, EINVAL, "device '%s' in ip= is longer than 15 bytes",
					  f[5]);
		if (strchr(f[5], '/'))
			return wr_err_set(err, EINVAL, "device '%s' in ip= contains '/'", f[5]);
		snprintf(ip.device, sizeof(ip.device), "%s", f[5]);
	}
	if (n > 6 && *f[6] && strcmp(f[6], "off") != 0 && strcmp(f[6], "none") != 0)
		return wr_err_set(err, EINVAL,
				  "ip= autoconf '%s' is not supported (only off/none, static)",
				  f[6]);

	if (ip.netmask.s_addr == 0) {
		/* the kernel's rule: classful default */
		uint32_t a = ntohl(ip.client.s_addr);
		uint32_t m = (a >> 31) == 0   ? 0xff000000u
			     : (a >> 30) == 2 ? 0xffff0000u
					      : 0xffffff00u;
		ip.netmask.s_addr = htonl(m);
	}
	if (ip.gateway.s_addr &&
	    (ip.gateway.s_addr & ip.netmask.s_addr) != (ip.client.s_addr & ip.netmask.s_addr))
		return wr_err_set(err, EINVAL, "gateway %s is not in the client's subnet", f[2]);
	*ret = ip;
	return 0;
}

int dns_parse(const char *value, char **ret_resolv_conf, struct wr_err *err)
{
	if (!value || !*value)
		return wr_err_set(err, EINVAL, "empty wrenn.dns= argument");
	if (strlen(value) > 256)
		return wr_err_set(err, EINVAL, "wrenn.dns= argument is too long");
	cleanup_free char *s = xstrdup(value);
	cleanup_free char *out = xstrdup("");
	size_t count = 0;
	/* not strtok: it would silently skip empty entries, which we report */
	char *cur = s;
	for (;;) {
		char *comma = strchr(cur, ',');
		if (comma)
			*comma = '\0';
		if (!*cur)
			return wr_err_set(err, EINVAL, "wrenn.dns= has an empty entry");
		unsigned char buf[sizeof(struct in6_addr)];
		if (inet_pton(AF_INET, cur, buf) != 1 && inet_pton(AF_INET6, cur, buf) != 1)
			return wr_err_set(err, EINVAL, "wrenn.dns= entry '%s' is not an IP address",
					  cur);
		if (++count > INIT_DNS_MAX)
			return wr_err_set(err, EINVAL, "wrenn.dns= lists more than %d servers",
					  INIT_DNS_MAX);
		char *next = xasprintf("%snameserver %s\n", out, cur);
		free(out);
		out = next;
		if (!comma)
			break;
		cur = comma + 1;
	}
	*ret_resolv_conf = TAKE_PTR(out);
	return 0;
}

bool init_vol_path_ok(const char *p)
{
	static const char *const sys[] = {"/proc",  "/sys",    "/dev",	"/run",	  "/etc",
					  "/usr",   "/bin",    "/sbin", "/lib",	  "/lib32",
					  "/lib64", "/libx32", "/boot", "/wrenn", NULL};
	size_t n = p ? strlen(p) : 0;
	if (n < 2 || n > 200 || p[0] != '/' || p[n - 1] == '/')
		return false;
	for (const char *s = p; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("._-/", *s)))
			return false;
	for (const char *s = p; *s;) {
		s++;
		size_t l = strcspn(s, "/");
		if (l == 0 || (l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s += l;
	}
	for (size_t i = 0; sys[i]; i++) {
		size_t l = strlen(sys[i]);
		if (!strncmp(p, sys[i], l) && (p[l] == '\0' || p[l] == '/'))
			return false;
	}
	return true;
}

int cmdline_volumes(const char *cmdline, struct init_vol *ret, size_t *ret_n, struct wr_err *err)
{
	static const char key[] = "wrenn.vol=";
	size_t n = 0;
	for (const char *p = cmdline; *p;) {
		while (is_space(*p))
			p++;
		const char *start = p;
		while (*p && !is_space(*p))
			p++;
		size_t len = (size_t)(p - start);
		if (len < sizeof(key) - 1 || strncmp(start, key, sizeof(key) - 1))
			continue;
		const char *v = start + sizeof(key) - 1;
		size_t vl = len - (sizeof(key) - 1);
		const char *colon = memchr(v, ':', vl);
		size_t sl = colon ? (size_t)(colon - v) : 0;
		size_t pl = colon ? vl - sl - 1 : 0;
		if (n == INIT_VOL_MAX)
			return wr_err_set(err, E2BIG, "more than %d wrenn.vol= arguments",
					  INIT_VOL_MAX);
		struct init_vol *o = &ret[n];
		if (!colon || sl == 0 || sl >= sizeof(o->serial) || pl >= sizeof(o->path))
			return wr_err_set(err, EINVAL, "wrenn.vol=%.*s: want <serial>:<path>",
					  (int)vl, v);
		memcpy(o->serial, v, sl);
		o->serial[sl] = '\0';
		memcpy(o->path, colon + 1, pl);
		o->path[pl] = '\0';
		for (const char *s = o->serial; *s; s++)
			if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
				return wr_err_set(err, EINVAL, "wrenn.vol: bad serial \"%s\"",
						  o->serial);
		if (!init_vol_path_ok(o->path))
			return wr_err_set(err, EINVAL,
					  "wrenn.vol: mount path \"%s\" is not allowed", o->path);
		n++;
	}
	*ret_n = n;
	return 0;
}
