/* SPDX-License-Identifier: MIT */
#include "http/http.h"

#include "basic/cleanup.h"
#include "basic/hex.h"
#include "basic/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

const char *http_status_text(int status)
{
	switch (status) {
	case 100:
		return "Continue";
	case 101:
		return "Switching Protocols";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 202:
		return "Accepted";
	case 204:
		return "No Content";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 406:
		return "Not Acceptable";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 411:
		return "Length Required";
	case 412:
		return "Precondition Failed";
	case 413:
		return "Content Too Large";
	case 415:
		return "Unsupported Media Type";
	case 416:
		return "Range Not Satisfiable";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 499:
		return "Client Closed Request";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 507:
		return "Insufficient Storage";
	default:
		return "Unknown";
	}
}

int http_unescape(const char *s, size_t n, bool plus_is_space, char **ret)
{
	cleanup_free char *out = xmalloc(n + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			if (i + 2 >= n)
				return -EINVAL;
			int h = hex_digit(s[i + 1]), l = hex_digit(s[i + 2]);
			if (h < 0 || l < 0)
				return -EINVAL;
			c = (char)(h * 16 + l);
			i += 2;
		} else if (c == '+' && plus_is_space) {
			c = ' ';
		}
		if (c == '\0')
			return -EINVAL;
		out[o++] = c;
	}
	out[o] = '\0';
	*ret = TAKE_PTR(out);
	return 0;
}

char *http_escape(const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = xmalloc(n * 3 + 1), *o = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
			*o++ = (char)c;
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

int http_listen_tcp(const char *addr, int *ret_fd, int *ret_port, struct wr_err *err)
{
	const char *colon = strrchr(addr, ':');
	if (!colon)
		return wr_err_set(err, EINVAL, "listen address %s: want HOST:PORT", addr);
	cleanup_free char *host = xstrndup(addr, (size_t)(colon - addr));
	const char *port = colon + 1;
	size_t hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		memmove(host, host + 1, hl - 2);
		host[hl - 2] = '\0';
	}
	char *end;
	long pn = strtol(port, &end, 10);
	if (!*port || *end || pn < 0 || pn > 65535)
		return wr_err_set(err, EINVAL, "listen address %s: bad port", addr);
	/* Numeric addresses only (inet_pton): no resolver, so static binaries
	 * need no NSS. */
	struct sockaddr_storage ss = {0};
	socklen_t sl;
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	if (!*host || inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)pn);
		if (!*host)
			a4->sin_addr.s_addr = htonl(INADDR_ANY);
		sl = sizeof(*a4);
	} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)pn);
		sl = sizeof(*a6);
	} else {
		return wr_err_set(err, EINVAL, "listen address %s: not a numeric IP", addr);
	}
	cleanup_close int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return wr_err_errno(err, errno, "socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		return wr_err_errno(err, errno, "bind %s", addr);
	if (listen(fd, 512) < 0)
		return wr_err_errno(err, errno, "listen %s", addr);
	if (ret_port) {
		sl = sizeof(ss);
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
			return wr_err_errno(err, errno, "getsockname");
		*ret_port = ss.ss_family == AF_INET6
				    ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
				    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int http_listen_unix(const char *path, mode_t mode, int *ret_fd, struct wr_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return wr_err_set(err, ENAMETOOLONG, "unix socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return wr_err_errno(err, errno, "socket");
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return wr_err_errno(err, errno, "bind %s", path);
	if (chmod(path, mode) < 0)
		return wr_err_errno(err, errno, "chmod %s", path);
	if (listen(fd, 512) < 0)
		return wr_err_errno(err, errno, "listen %s", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}
