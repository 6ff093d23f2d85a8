/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * The web dashboard's files (web/, built by `make web` into build/web): a fixed set of names
 * served from one directory at GET /, before auth (the page itself holds no data; everything it
 * shows comes from the API with the user's key).  Only the names in the table are ever opened,
 * so no request path reaches another file.  Every answer carries a CSP (default-src 'self'),
 * nosniff, no-referrer and no framing; files are revalidated (ETag from size and mtime).
 */
#include "http/http.h"

#include <stdbool.h>

struct static_file {
	const char *path; /* request path: "/", "/app.js", ... */
	const char *name; /* file in the assets directory */
	const char *content_type;
};

/* The file served at request path `path` (decoded, query removed), NULL for any other path.
 * Pure. */
const struct static_file *static_lookup(const char *path);

/* The assets directory when none is configured: <exe dir>/../../web when it holds index.html
 * (build/<mode>/bin/wrenn-agent -> build/web), else /usr/share/wrenn/web.  malloc'd. */
char *static_default_dir(const char *exe);

/* Answer the request if its path is a dashboard file: true when answered (200, 304, 404 when
 * the directory lacks the file, 405 for a method other than GET/HEAD), false for every other
 * path. */
bool static_handle(struct http_req *req, const char *dir);
