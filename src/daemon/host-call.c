/* SPDX-License-Identifier: MIT */
/* Signed calls from the control plane, verified on the host (host-call.h). */
#include "daemon/host-call.h"

#include "daemon/reply.h"

#include "basic/hmac.h"
#include "basic/log.h"
#include "basic/nonce-cache.h"
#include "basic/parse.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Live nonces at most: 30 s window x 2 = 60 s of calls; the control plane makes a few per
 * create and per list, so this is hundreds of calls a second before -ENOBUFS. */
#define NONCES_MAX 32768

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	bool on;
	char *host_id;
	uint8_t key[32];
	int64_t since_ms;
	struct nonce_cache *seen;
} st;

static int64_t real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void host_call_enable(const char *host_id, const uint8_t key[32])
{
	struct nonce_cache *nc = nonce_cache_new(NONCES_MAX, HMAC_CALL_WINDOW_MS);
	pthread_mutex_lock(&lock);
	free(st.host_id);
	nonce_cache_free(st.seen);
	st.host_id = xstrdup(host_id);
	memcpy(st.key, key, 32);
	st.since_ms = real_ms();
	st.seen = nc;
	st.on = true;
	pthread_mutex_unlock(&lock);
}

void host_call_disable(void)
{
	pthread_mutex_lock(&lock);
	st.on = false;
	explicit_bzero(st.key, sizeof(st.key));
	free(st.host_id);
	st.host_id = NULL;
	nonce_cache_free(st.seen);
	st.seen = NULL;
	pthread_mutex_unlock(&lock);
}

static int refuse(struct http_req *req, int status, const char *why)
{
	log_warn("signed call %s %s from %s refused: %s", http_req_method(req),
		 http_req_target(req), http_req_peer(req), why);
	reply_error(req, status, "control-plane call refused: %s", why);
	return -EACCES;
}

int host_call_check(struct http_req *req)
{
	const char *hid = http_req_header(req, "X-Wrenn-Host");
	const char *nonce = http_req_header(req, "X-Wrenn-Nonce");
	const char *sig = http_req_header(req, "X-Wrenn-Signature");
	const char *digest = http_req_header(req, "X-Wrenn-Content-SHA256");
	/* a call made for a team's key: covered by the signature (hmac.h), so the team is the
	 * control plane's word, never a client's */
	const char *team = http_req_header(req, "X-Wrenn-Team");
	int64_t ts = 0;
	if (!hid || !nonce || !sig ||
	    !parse_positive_i64(http_req_header(req, "X-Wrenn-Timestamp"), &ts))
		return refuse(req, 401,
			      "a signed call needs X-Wrenn-Host, X-Wrenn-Timestamp, X-Wrenn-Nonce "
			      "and X-Wrenn-Signature");
	const char *body = NULL;
	size_t len = 0;
	int r = http_req_buffer_body(req, HOST_CALL_MAX_BODY, &body, &len);
	if (r < 0)
		return refuse(req, r == -EFBIG ? 413 : 400,
			      r == -EFBIG ? "body over the signed-call limit" : "unreadable body");
	if (digest) { /* optional: only a clearer message than "bad signature" */
		char have[HMAC_SHA256_HEX];
		sha256_hex(body, len, have);
		if (strcmp(have, digest) != 0)
			return refuse(req, 401, "body does not match X-Wrenn-Content-SHA256");
	}
	int64_t now = real_ms();
	const char *why = NULL;
	int status = 401;
	pthread_mutex_lock(&lock);
	if (!st.on)
		why = "this agent is not a host of a control plane (--role host)";
	else if (strcmp(hid, st.host_id) != 0)
		why = "X-Wrenn-Host names another host";
	else if ((r = hmac_call_verify_team(st.key, http_req_method(req), http_req_target(req), hid,
					    ts, nonce, team, body, len, sig, now)) == -ETIME)
		why = "timestamp outside the ±30 s clock window";
	else if (r < 0)
		why = "bad signature";
	else if (ts < st.since_ms)
		why = "timestamp older than this agent's start (a call from before a restart)";
	else if ((r = nonce_cache_add(st.seen, nonce, ts, now)) == -EALREADY)
		why = "nonce already used (replay)";
	else if (r < 0) {
		why = "too many calls in the replay window";
		status = 503;
	}
	pthread_mutex_unlock(&lock);
	if (why)
		return refuse(req, status, why);
	return 0;
}
