/* SPDX-License-Identifier: MIT */
#include "daemon/static.h"
#include "daemon/reply.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The dashboard's pages load nothing but these files and talk only to this origin (the PTY
 * WebSocket included: 'self' covers ws: of the same host).  xterm.js sets its cell metrics in a
 * style element it creates, hence style-src 'unsafe-inline' (styles only, never scripts). */
#define STATIC_CSP                                                                                 \
	"default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "             \
	"frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

/* The bundle is small; a file above this is not ours. */
#define STATIC_MAX_BYTES (16u << 20)

static const struct static_file files[] = {
	{"/", "index.html", "text/html; charset=utf-8"},
	{"/index.html", "index.html", "text/html; charset=utf-8"},
	{"/app.js", "app.js", "text/javascript; charset=utf-8"},
	{"/app.css", "app.css", "text/css; charset=utf-8"},
	{"/favicon.svg", "favicon.svg", "image/svg+xml"},
	{"/favicon.ico", "favicon.svg", "image/svg+xml"},
};

const struct static_file *static_lookup(const char *path)
{
	if (!path)
		return NULL;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (!strcmp(files[i].path, path))
			return &files[i];
	return NULL;
}

static bool has_index(const char *dir)
{
	cleanup_free char *p = xasprintf("%s/index.html", dir);
	return access(p, R_OK) == 0;
}

char *static_default_dir(const char *exe)
{
	char real[PATH_MAX];
	if (exe && realpath(exe, real)) {
		cleanup_free char *cand = xasprintf("%s/../../web", dirname(real));
		char r2[PATH_MAX];
		if (realpath(cand, r2) && has_index(r2))
			return xstrdup(r2);
	}
	return xstrdup("/usr/share/wrenn/web");
}

static void security_headers(struct http_req *req)
{
	http_resp_header(req, "Content-Security-Policy", STATIC_CSP);
	http_resp_header(req, "X-Content-Type-Options", "nosniff");
	http_resp_header(req, "Referrer-Policy", "no-referrer");
	http_resp_header(req, "X-Frame-Options", "DENY");
}

bool static_handle(struct http_req *req, const char *dir)
{
	const struct static_file *f = static_lookup(http_req_path(req));
	if (!f)
		return false;
	if (strcmp(http_req_method(req), "GET") != 0) {
		http_resp_header(req, "Allow", "GET");
		reply_error(req, 405, "method %s not allowed on %s", http_req_method(req),
			    http_req_path(req));
		return true;
	}
	cleanup_free char *path = xasprintf("%s/%s", dir, f->name);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		reply_error(req, 404,
			    "dashboard file %s not found in %s (build it with `make web`, or set "
			    "web_dir)",
			    f->name, dir);
		return true;
	}
	if ((uint64_t)st.st_size > STATIC_MAX_BYTES) {
		reply_error(req, 500, "dashboard file %s is larger than %u bytes", f->name,
			    STATIC_MAX_BYTES);
		return true;
	}
	char etag[64];
	snprintf(etag, sizeof(etag), "\"%llx-%llx-%lx\"", (unsigned long long)st.st_size,
		 (unsigned long long)st.st_mtim.tv_sec, (unsigned long)st.st_mtim.tv_nsec);
	security_headers(req);
	/* the names carry no content hash: revalidate every time, cheap with the ETag */
	http_resp_header(req, "Cache-Control", "no-cache");
	http_resp_header(req, "ETag", etag);
	const char *inm = http_req_header(req, "If-None-Match");
	if (inm && strstr(inm, etag)) {
		http_resp_send(req, 304, NULL, NULL, 0);
		return true;
	}
	size_t n = (size_t)st.st_size;
	cleanup_free char *buf = xmalloc(n ? n : 1);
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got != n) {
		reply_error(req, 500, "cannot read dashboard file %s", path);
		return true;
	}
	http_resp_send(req, 200, f->content_type, buf, n);
	return true;
}
