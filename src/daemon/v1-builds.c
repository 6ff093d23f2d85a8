/* SPDX-License-Identifier: MIT */
/*
 * The native Dockerfile build route (the CLI's `wrenn templates build`):
 *   POST /v1/templates/{name}/builds?dockerfile=&cpuCount=&memoryMB=&force=   body: tar of the
 *        build context -> 202 {templateID, buildID, name}
 *   GET  /v1/templates/{name}/builds/{build}?logsOffset=&level=   -> E2B's build status shape
 * The Dockerfile is parsed (dockerfile_parse) and every COPY source archived out of the context
 * before any VM starts: a bad line or a missing source is a 400.  The build itself is src/build's.
 */
#include "daemon/agent.h"
#include "daemon/reply.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "build/build.h"
#include "build/dockerfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DOCKERFILE_MAX (1024 * 1024)

static int query_uint(struct http_req *req, const char *name, int max, int *ret)
{
	const char *q = http_req_query(req, name);
	*ret = 0;
	if (!q)
		return 0;
	char *end = NULL;
	long v = strtol(q, &end, 10);
	if (!*q || *end || v < 1 || v > max) {
		reply_error(req, 400, "%s must be an integer 1..%d", name, max);
		return -EINVAL;
	}
	*ret = (int)v;
	return 0;
}

/* The request body into a scratch file in the files store's directory. */
static int save_body(struct agent *a, struct http_req *req, char **ret_path)
{
	cleanup_free char *dir = build_files_dir(a->builds);
	char *path = xasprintf("%s/.context-XXXXXX", dir);
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		reply_error(req, 500, "create a scratch file in %s: %s", dir, strerror(errno));
		free(path);
		return -errno;
	}
	http_req_set_body_limit(req, a->cfg.max_upload_bytes);
	char buf[65536];
	int r = 0;
	for (;;) {
		ssize_t n = http_req_read(req, buf, sizeof(buf));
		if (n == 0)
			break;
		if (n < 0) {
			r = (int)n;
			if (r == -EFBIG)
				reply_error(req, 413, "the build context is larger than %llu bytes",
					    (unsigned long long)a->cfg.max_upload_bytes);
			else
				reply_error(req, 400, "reading the build context: %s",
					    strerror(-r));
			break;
		}
		if ((r = write_full(fd, buf, (size_t)n)) < 0) {
			reply_error(req, 507, "writing the build context: %s", strerror(-r));
			break;
		}
	}
	close(fd);
	if (r < 0) {
		unlink(path);
		free(path);
		return r;
	}
	*ret_path = path;
	return 0;
}

void v1_template_builds_post(struct agent *a, struct http_req *req, char **caps)
{
	if (!a->builds) {
		reply_error(req, 503, "template builds are not available on this agent");
		return;
	}
	const char *name = caps[0];
	const char *df = http_req_query(req, "dockerfile");
	const char *force = http_req_query(req, "force");
	int vcpus = 0, mem = 0;
	if (query_uint(req, "cpuCount", 64, &vcpus) < 0 ||
	    query_uint(req, "memoryMB", 1 << 20, &mem) < 0)
		return;
	if (force && strcmp(force, "true") && strcmp(force, "false")) {
		reply_error(req, 400, "force must be true or false");
		return;
	}
	cleanup_free char *ctx = NULL;
	if (save_body(a, req, &ctx) < 0)
		return;
	cleanup_free char *text = NULL;
	size_t len = 0;
	struct wr_err err = {0};
	cleanup_json json_t *build = NULL, *notes = NULL;
	int r = build_context_read(ctx, df && *df ? df : "Dockerfile", DOCKERFILE_MAX, &text, &len,
				   &err);
	if (r >= 0)
		r = dockerfile_parse(text, len, NULL, &build, &notes, &err);
	if (r >= 0) {
		if (force && !strcmp(force, "true"))
			json_object_set_new(build, "force", json_true());
		r = build_context_files(a->builds, ctx, build, &err);
	}
	unlink(ctx);
	if (r < 0) {
		reply_error(req, r == -EFBIG ? 413 : 400, "%s", wr_err_msg(&err));
		return;
	}
	cleanup_free char *tid = NULL, *bid = NULL;
	r = build_request(a->builds, name, vcpus, mem, &tid, &bid, &err);
	if (r >= 0) {
		r = build_start(a->builds, tid, bid, build, &err);
		if (r < 0)
			build_abandon(a->builds, bid);
	}
	/* A bare FROM name is a template (dockerfile.h); Docker would have pulled an image. */
	const char *ft = json_string_value(json_object_get(build, "fromTemplate"));
	if (r == -EINVAL && ft && !strncmp(wr_err_msg(&err), "fromTemplate:", 13)) {
		char msg[sizeof(err.msg)];
		snprintf(msg, sizeof(msg), "%s", wr_err_msg(&err));
		wr_err_set(&err, EINVAL, "%s; an image needs a tag or a registry (FROM %s:latest)",
			   msg, ft);
	}
	if (r < 0) {
		reply_error(req, reply_status_for_errno(r), "%s", wr_err_msg(&err));
		return;
	}
	log_info("template %s: Dockerfile build %s started", tid, bid);
	json_t *out = json_pack("{s:s, s:s, s:s}", "templateID", tid, "buildID", bid, "name", tid);
	if (notes && json_array_size(notes))
		json_object_set(out, "notes", notes);
	reply_json_new(req, 202, out);
}
