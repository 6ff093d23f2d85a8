/* SPDX-License-Identifier: MIT */
/*
 * Template file uploads through the control plane (control-templates-internal.h).
 *
 *   GET /templates/{id}/files/{hash}   forwarded to the template's build host; an upload link
 *                 it gives is rewritten to point at the control plane (the client's Host and
 *                 X-Forwarded-Proto, as on one host: e2b-templates.c) and the SHA-256 of its
 *                 one-time token is recorded with the host (pg/templates.h), so that
 *   PUT|POST /build-files/{hash}?token=   (no API key: the token is the authorisation) takes
 *                 that row and streams the body to the host's own /build-files route.
 *
 * Security: the control plane keeps only the token's digest; a link works once through any
 * replica (the row is deleted when taken) and the host checks the token again (its own one-time
 * list).  A token that is wrong, used, expired or another hash's is 403 without calling a host.
 * The body is bounded by the control plane's --max-upload-bytes (a declared length over it is
 * 413 before any host; a chunked body over it is cut, without its end chunk, so the host
 * discards its partial file) and by the host's own limit.
 */
#include "daemon/control-templates-internal.h"

#include "daemon/control.h"
#include "daemon/reply.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/hmac.h"
#include "basic/log.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* An upload's relay: the longest wait for the host to take or answer a piece. */
#define UPLOAD_IO_TIMEOUT_MS 120000

/* The token of an upload link "scheme://host/build-files/<hash>?token=<tok>[&...]" (malloc'd),
 * NULL when url is not one for hash. */
static char *link_token(const char *url, const char *hash)
{
	cleanup_free char *want = xasprintf("/build-files/%s?", hash);
	const char *p = strstr(url, want);
	if (!p)
		return NULL;
	const char *q = strstr(p, "token=");
	if (!q || (q[-1] != '?' && q[-1] != '&'))
		return NULL;
	q += strlen("token=");
	size_t n = strcspn(q, "&#");
	return n ? xstrndup(q, n) : NULL;
}

/* GET /templates/{id}/files/{hash} -> {present} or {present: false, url} */
void ctpl_files_link(struct control *c, struct http_req *req, const char *team, const char *id,
		     const char *hash)
{
	struct pg_template t = {0};
	struct pg_host h = {0};
	if (ctpl_route(c, req, id, team, &t, &h) < 0)
		return;
	int status = 0;
	cleanup_free char *resp = NULL, *tok = NULL, *link = NULL;
	cleanup_json json_t *jr = NULL;
	size_t rlen = 0;
	if (ctpl_forward(c, req, &h, team, NULL, 0, TPL_TIMEOUT_MS, &status, &resp, &rlen) < 0)
		goto out;
	jr = status == 200 ? json_loadb(resp, rlen, 0, NULL) : NULL;
	const char *url = json_string_value(json_object_get(jr, "url"));
	tok = url ? link_token(url, hash) : NULL;
	if (!tok) { /* present, or an error: as the host said */
		ctpl_relay(req, h.id, status, resp, rlen);
		goto out;
	}
	/*
	 * The link points at the control plane, which relays the upload to this host.  Only the
	 * token's SHA-256 is kept; the upload must show the token itself, for this hash.  Host and
	 * scheme come from the request, as on one host (e2b-templates.c): the link goes back to
	 * the client that sent them, so trusting them gives nobody else anything.
	 */
	uint8_t th[32];
	sha256_digest(tok, strlen(tok), th);
	struct wr_err err = {0};
	if (pg_upload_put(c->db, th, hash, id, h.id, &err) < 0) {
		control_reply_pg_error(req, -EIO, &err);
		goto out;
	}
	const char *host = http_req_header(req, "Host");
	const char *fwd = http_req_header(req, "X-Forwarded-Proto");
	const char *scheme = fwd && !strcasecmp(fwd, "https") ? "https" : "http";
	link = xasprintf("%s://%s/build-files/%s?token=%s", scheme,
			 host && *host ? host : "localhost", hash, tok);
	explicit_bzero(tok, strlen(tok));
	http_resp_header(req, "X-Wrenn-Host", h.id);
	reply_json_new(req, 200, json_pack("{s:b, s:s}", "present", 0, "url", link));
	explicit_bzero(link, strlen(link));
out:
	pg_template_done(&t);
	pg_host_done(&h);
}

static bool hash_ok(const char *s)
{
	size_t n = strlen(s);
	if (n != 64)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* The rest of the client's body after an answer was decided: the connection cannot be reused. */
static void upload_answer(struct http_req *req, int status, const char *fmt, const char *a)
{
	http_resp_close_after(req);
	reply_error(req, status, fmt, a);
}

/*
 * PUT|POST /build-files/{hash}?token= (no API key: the link's one-time token authorises, as on
 * one host).  The token's row names the host; it is taken (deleted) here, so a link works once
 * through any replica.  The body streams to the host's own /build-files route (chunked: no
 * length is promised the host that the client might not keep), bounded here by
 * max_upload_bytes; the host checks the token again and applies its own limit.
 */
void ctpl_files_upload(struct control *c, struct http_req *req)
{
	const char *method = http_req_method(req), *path = http_req_path(req);
	const char *hash = path + strlen("/build-files/");
	if (strcmp(method, "PUT") && strcmp(method, "POST")) {
		reply_error(req, 405, "method %s not allowed on %s", method, path);
		return;
	}
	if (!hash_ok(hash)) {
		reply_error(req, 400, "invalid files hash \"%s\" (64 lowercase hex characters)",
			    hash);
		return;
	}
	const char *tok = http_req_query(req, "token");
	uint64_t max = c->cfg->max_upload_bytes;
	int64_t clen = http_req_content_length(req);
	if (clen >= 0 && (uint64_t)clen > max) {
		http_resp_close_after(req);
		reply_error(req, 413, "upload of %lld bytes is over the limit of %llu",
			    (long long)clen, (unsigned long long)max);
		return;
	}
	uint8_t th[32];
	sha256_digest(tok ? tok : "", tok ? strlen(tok) : 0, th);
	struct wr_err err = {0};
	cleanup_free char *hid = NULL;
	int r = tok && *tok ? pg_upload_take(c->db, th, hash, &hid, &err)
			    : wr_err_set(&err, EACCES, "no upload token for %s", hash);
	if (r == -EACCES) {
		log_warn("build files %s from %s: %s", hash, http_req_peer(req), wr_err_msg(&err));
		upload_answer(req, 403, "%s", wr_err_msg(&err));
		return;
	}
	if (r < 0) {
		http_resp_close_after(req);
		control_reply_pg_error(req, r, &err);
		return;
	}
	struct pg_host h = {0};
	if (ctpl_host_of(c, req, "upload", hid, &h) < 0)
		return;
	cleanup_free char *host = NULL, *port = NULL;
	int fd = -1;
	if ((r = control_parse_url(h.api_url, &host, &port, &err)) < 0 ||
	    (r = control_tcp_connect(host, port, &fd, &err)) < 0) {
		upload_answer(req, 502, "%s", wr_err_msg(&err));
		pg_host_done(&h);
		return;
	}
	struct http_client *cl = http_client_new(fd, true);
	http_client_set_timeout(cl, UPLOAD_IO_TIMEOUT_MS);
	/* the raw target: /build-files/<hash>?token=<tok>, what the host's link named */
	struct http_creq rq = {.method = method,
			       .target = http_req_target(req),
			       .host = host,
			       .content_type = "application/octet-stream",
			       .chunked = true};
	http_req_set_body_limit(req, max);
	uint64_t total = 0;
	int in_err = 0;
	r = http_client_send(cl, &rq, &err);
	static const size_t BUF = 256 * 1024;
	cleanup_free char *buf = xmalloc(BUF);
	while (r >= 0) {
		ssize_t n = http_req_read(req, buf, BUF);
		if (n <= 0) {
			in_err = (int)n;
			break;
		}
		total += (uint64_t)n;
		r = http_client_write(cl, buf, (size_t)n, &err);
	}
	if (r >= 0 && in_err == 0)
		r = http_client_end(cl, &err);
	if (in_err < 0) {
		/* the chunked body is cut without its end: the host discards its partial file */
		log_warn("build files %s: client upload failed after %llu bytes: %s", hash,
			 (unsigned long long)total, strerror(-in_err));
		http_client_free(cl);
		upload_answer(req, in_err == -EFBIG ? 413 : 400, "upload: %s",
			      in_err == -EFBIG ? "over the upload limit" : strerror(-in_err));
		pg_host_done(&h);
		return;
	}
	/* the host may have answered early (and stopped reading): its answer counts */
	int st = 0;
	cleanup_free char *resp = NULL;
	size_t rlen = 0;
	struct wr_err e2 = {0};
	if (http_client_read_head(cl, false, &e2) >= 0) {
		st = http_client_status(cl);
		if (http_client_read_all(cl, 64 * 1024, &resp, &rlen, &e2) < 0)
			rlen = 0;
	}
	http_client_free(cl);
	if (!st) {
		log_warn("build files %s to host %s: %s", hash, h.id,
			 wr_err_msg(r < 0 ? &err : &e2));
		upload_answer(req, 502, "%s", wr_err_msg(r < 0 ? &err : &e2));
		pg_host_done(&h);
		return;
	}
	if (r < 0 || st / 100 != 2)
		http_resp_close_after(req);
	log_info("build files %s: %llu bytes relayed to host %s (%d)", hash,
		 (unsigned long long)total, h.id, st);
	ctpl_relay(req, h.id, st, resp, rlen);
	pg_host_done(&h);
}
