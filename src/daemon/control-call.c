/* SPDX-License-Identifier: MIT */
/*
 * Signed calls from the control plane to a host's API (basic/hmac.h "Calls from the control
 * plane to a host"; control-internal.h).  control_forward reads the host's whole answer
 * (creates, the E2B per-sandbox routes, lists, template fetches); control_call_open +
 * control_call_relay stream it to the client as it comes (the native /v1 per-sandbox routes:
 * exec output, file downloads, logs with their X-Next-Token), and control_call_upgrade turns the
 * host's 101 into a byte relay (the /v1 pty, wrenn-pty or WebSocket) with the sandbox-traffic
 * proxies' primitives (proxy-relay.h).
 *
 * Request bodies are read whole before the call: the signature covers the body's SHA-256, known
 * only once the body is read, and the host buffers a signed call's body to check it anyway
 * (HOST_CALL_MAX_BODY, 16 MiB; a larger file upload answers 413).  Answers stream.
 *
 * Security: the host's key never leaves the database and this process; a captured call is worth
 * nothing after its nonce is used or its 30 s window is past.  Calls are plain HTTP: they are
 * authenticated, not encrypted (docs/SECURITY.md).  Client headers are not passed on, except
 * Content-Type and the upgrade handshake's (Upgrade, Sec-WebSocket-Key/-Version/-Protocol): the
 * host must see the control plane's word only (X-Wrenn-Team is under the signature).
 */
#include "daemon/control-internal.h"
#include "daemon/control.h"
#include "daemon/proxy-relay.h"

#include "basic/cleanup.h"
#include "basic/hmac.h"
#include "basic/xalloc.h"
#include "pg/pg.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define FORWARD_MAX_BODY (16 * 1024 * 1024)
#define MAX_EXTRA 6

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sign, connect, send; *ret: the client, its answer not read yet.  extra: more "Name: value"
 * headers (at most MAX_EXTRA, NULL-terminated; may be NULL). */
static int call_send(struct control *c, const struct control_call *cc, const char *const *extra,
		     struct http_client **ret, struct wr_err *err)
{
	uint8_t key[32];
	int64_t last = 0;
	int r = pg_host_key(c->db, cc->host_id, key, &last, err);
	if (r < 0)
		return r;
	char nonce[HMAC_NONCE_HEX], sig[HMAC_SHA256_HEX], digest[HMAC_SHA256_HEX];
	if ((r = hmac_nonce(nonce)) < 0) {
		explicit_bzero(key, sizeof(key));
		return wr_err_errno(err, -r, "nonce for a call to host %s", cc->host_id);
	}
	int64_t ts = now_ms();
	hmac_call_sign_team(key, cc->method, cc->target, cc->host_id, ts, nonce, cc->team, cc->body,
			    cc->len, sig);
	explicit_bzero(key, sizeof(key));
	sha256_hex(cc->body, cc->len, digest);
	cleanup_free char *h1 = xasprintf("X-Wrenn-Host: %s", cc->host_id);
	cleanup_free char *h2 = xasprintf("X-Wrenn-Timestamp: %" PRId64, ts);
	cleanup_free char *h3 = xasprintf("X-Wrenn-Nonce: %s", nonce);
	cleanup_free char *h4 = xasprintf("X-Wrenn-Content-SHA256: %s", digest);
	cleanup_free char *h5 = xasprintf("X-Wrenn-Signature: %s", sig);
	cleanup_free char *h6 =
		cc->team && *cc->team ? xasprintf("X-Wrenn-Team: %s", cc->team) : NULL;
	const char *hdrs[7 + MAX_EXTRA] = {h1, h2, h3, h4, h5};
	size_t nh = 5;
	if (h6)
		hdrs[nh++] = h6;
	for (size_t i = 0; extra && extra[i] && i < MAX_EXTRA; i++)
		hdrs[nh++] = extra[i];
	cleanup_free char *host = NULL, *port = NULL;
	int fd = -1;
	if ((r = control_parse_url(cc->api_url, &host, &port, err)) < 0 ||
	    (r = control_tcp_connect(host, port, &fd, err)) < 0)
		return wr_err_prefix(err, r, "host %s", cc->host_id);
	struct http_client *cl = http_client_new(fd, true);
	http_client_set_timeout(cl, cc->timeout_ms);
	http_client_set_deadline(cl, cc->timeout_ms);
	const char *ctype = cc->content_type;
	if (!ctype && cc->len)
		ctype = "application/json";
	struct http_creq rq = {.method = cc->method,
			       .target = cc->target,
			       .host = host,
			       .headers = hdrs,
			       .content_type = ctype,
			       .body = cc->body,
			       .body_len = cc->len};
	r = http_client_send(cl, &rq, err);
	if (r < 0) {
		http_client_free(cl);
		return wr_err_prefix(err, r, "host %s (%s)", cc->host_id, cc->api_url);
	}
	*ret = cl;
	return 0;
}

int control_forward(struct control *c, const char *host_id, const char *api_url, const char *team,
		    const char *method, const char *target, const char *body, size_t len,
		    unsigned timeout_ms, int *ret_status, char **ret_body, size_t *ret_len,
		    struct wr_err *err)
{
	struct control_call cc = {.host_id = host_id,
				  .api_url = api_url,
				  .team = team,
				  .method = method,
				  .target = target,
				  .body = body,
				  .len = len,
				  .timeout_ms = timeout_ms};
	struct http_client *cl = NULL;
	int r = call_send(c, &cc, NULL, &cl, err);
	if (r < 0)
		return r;
	cleanup_free char *resp = NULL;
	size_t rlen = 0;
	if ((r = http_client_read_head(cl, !strcmp(method, "HEAD"), err)) >= 0)
		r = http_client_read_all(cl, FORWARD_MAX_BODY, &resp, &rlen, err);
	int status = http_client_status(cl);
	http_client_free(cl);
	if (r < 0)
		return wr_err_prefix(err, r, "host %s (%s)", host_id, api_url);
	*ret_status = status;
	if (ret_body)
		*ret_body = TAKE_PTR(resp);
	if (ret_len)
		*ret_len = rlen;
	return 0;
}

int control_call_open(struct control *c, const struct control_call *cc, struct http_req *req,
		      struct http_client **ret, struct wr_err *err)
{
	const char *up = http_req_header(req, "Upgrade");
	cleanup_free char *h_up = NULL, *h_key = NULL, *h_ver = NULL, *h_proto = NULL;
	const char *extra[MAX_EXTRA + 1] = {0};
	size_t ne = 0;
	if (up) {
		/* the handshake the host's pty needs (v1-pty.c, pty-ws.c), nothing else */
		static const char *const names[] = {"Sec-WebSocket-Key", "Sec-WebSocket-Version",
						    "Sec-WebSocket-Protocol"};
		char **slots[] = {&h_key, &h_ver, &h_proto};
		h_up = xasprintf("Upgrade: %s", up);
		extra[ne++] = "Connection: Upgrade";
		extra[ne++] = h_up;
		for (size_t i = 0; i < 3; i++) {
			const char *v = http_req_header(req, names[i]);
			if (v) {
				*slots[i] = xasprintf("%s: %s", names[i], v);
				extra[ne++] = *slots[i];
			}
		}
	} else {
		extra[ne++] = "Connection: close";
	}
	struct http_client *cl = NULL;
	int r = call_send(c, cc, extra, &cl, err);
	if (r < 0)
		return r;
	r = http_client_read_head(cl, !strcmp(cc->method, "HEAD"), err);
	if (r < 0) {
		http_client_free(cl);
		return wr_err_prefix(err, r, "host %s (%s)", cc->host_id, cc->api_url);
	}
	/* the answer's body may stream for as long as the command runs: no deadline now */
	http_client_set_deadline(cl, 0);
	*ret = cl;
	return 0;
}

/* True when the client closed its end (polled while the host's stream is idle). */
static bool client_gone(struct http_req *req)
{
	struct pollfd pf = {.fd = http_req_socket(req), .events = POLLRDHUP};
	return pf.fd < 0 || (poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR)));
}

void control_call_relay(struct http_req *req, struct http_client *cl, bool head_only)
{
	size_t nh = http_client_header_count(cl);
	const char *ctype = NULL;
	for (size_t i = 0; i < nh; i++) {
		const char *n, *v;
		http_client_header_at(cl, i, &n, &v);
		if (!strcasecmp(n, "Content-Type"))
			ctype = v;
		else if (!proxy_resp_header_dropped(n))
			http_resp_header(req, n, v);
	}
	int status = http_client_status(cl);
	int64_t rlen = http_client_content_length(cl);
	bool bodyless = head_only || status == 204 || status == 304 || status / 100 == 1;
	if (http_resp_begin(req, status, ctype, bodyless ? 0 : rlen >= 0 ? rlen : HTTP_CHUNKED) < 0)
		return;
	cleanup_free char *buf = xmalloc(PROXY_RELAY_CHUNK);
	http_client_set_timeout(cl, 1000);
	while (!bodyless) {
		ssize_t n = http_client_read(cl, buf, PROXY_RELAY_CHUNK);
		if (n == -ETIMEDOUT) {
			/* an idle stream (a command that prints nothing yet) is kept while the
			 * client waits; the host ends it when the command or the guest does */
			if (http_server_stopping(http_req_server(req)) || client_gone(req)) {
				http_resp_abort(req);
				return;
			}
			continue;
		}
		if (n < 0) { /* broken mid-body: the client must see the transfer fail */
			http_resp_abort(req);
			return;
		}
		if (n == 0 || http_resp_write(req, buf, (size_t)n) < 0)
			break;
	}
	http_resp_end(req);
}

void control_call_upgrade(struct http_req *req, struct http_client *cl)
{
	if (http_client_status(cl) != 101) { /* refused: an ordinary answer, then close */
		http_resp_close_after(req);
		control_call_relay(req, cl, false);
		return;
	}
	/* the 101 as the host sent it, then bytes both ways (proxy-relay.h, as the proxies do) */
	int ufd = http_client_fd(cl), cfd = -1;
	if (proxy_relay_switch(req, cl, ufd, &cfd) < 0)
		return;
	cleanup_close int client = cfd;
	proxy_relay_bytes(client, ufd, http_req_server(req));
}
