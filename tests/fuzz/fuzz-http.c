/* SPDX-License-Identifier: MIT */
/*
 * HTTP server request path: request line, headers, chunked / length bodies,
 * pipelining, percent-decoding of path and query, body limits, response
 * writing; plus the envd pieces that read request heads (path resolution,
 * Accept-Encoding negotiation).
 */
#include "serve.h"

#include "basic/xalloc.h"
#include "envd/envd.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void handler(struct http_req *req, void *ud)
{
	(void)ud;
	const char *path = http_req_path(req);
	const char *q = http_req_query(req, "path");
	(void)http_req_query(req, "username");
	(void)http_req_header(req, "Content-Type");
	(void)http_req_content_length(req);
	for (size_t i = 0; i < http_req_header_count(req); i++) {
		const char *k, *v;
		http_req_header_at(req, i, &k, &v);
		if (!k || !v)
			abort();
	}
	struct envd_user u = {.name = "user", .home = "/home/user"};
	char *r = envd_resolve_path(q ? q : path, &u);
	if (r[0] != '/' || strstr(r, "/../") || strstr(r, "//"))
		abort(); /* the resolver promises a clean absolute path */
	free(r);
	(void)envd_pick_coding(http_req_header(req, "Accept-Encoding"),
			       http_req_header(req, "Range") != NULL);
	if (!strcmp(path, "/upgrade")) {
		int fd;
		char *buf;
		size_t len;
		if (http_req_take_socket(req, &fd, &buf, &len) == 0) {
			free(buf);
			close(fd);
			return;
		}
	}
	char *body = NULL;
	size_t len = 0;
	int rr = http_req_read_all(req, 4096, &body, &len);
	if (rr < 0) {
		http_resp_close_after(req);
		http_resp_text(req, rr == -EFBIG ? 413 : 400, "text/plain", "bad body\n");
		return;
	}
	if (!strcmp(path, "/stream")) {
		http_resp_begin(req, 200, "text/plain", HTTP_CHUNKED);
		http_resp_write(req, body, len > 64 ? 64 : len);
		http_resp_end(req);
	} else {
		http_resp_header(req, "X-Fuzz", "1");
		http_resp_send(req, 200, "text/plain", body, len > 64 ? 64 : len);
	}
	free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_serve(data, size, handler, 16);
	return 0;
}
