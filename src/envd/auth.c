/* SPDX-License-Identifier: MIT */
#include "envd/envd.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "http/json.h"

#include <errno.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

char *envd_signature(const char *path, const char *op, const char *user, const char *token,
		     const char *exp)
{
	cleanup_free char *s = exp && *exp ? xasprintf("%s:%s:%s:%s:%s", path, op, user, token, exp)
					   : xasprintf("%s:%s:%s:%s", path, op, user, token);
	unsigned char h[SHA256_DIGEST_LENGTH];
	SHA256((const unsigned char *)s, strlen(s), h);
	cleanup_free char *b = wj_b64_encode(h, sizeof(h));
	size_t n = strlen(b);
	while (n > 0 && b[n - 1] == '=')
		b[--n] = '\0';
	return xasprintf("v1_%s", b);
}

/* Constant-time comparison: the token is a secret. */
static bool same(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/* E2B envd's answers, word for word (the SDKs and their users see them). */
#define MSG_UNAUTHORIZED                                                                           \
	"unauthorized access, please provide a valid access token or method signing if supported"
#define MSG_HEADER_MISMATCH "access token present in header but does not match"
#define MSG_NO_SIGNATURE "missing signature query parameter"
#define MSG_INVALID_SIGNATURE "invalid signature"
#define MSG_EXPIRED "signature is already expired"

const char *envd_auth_error(struct envd *e, struct http_req *req, const char *op, const char *path,
			    const char *user)
{
	pthread_mutex_lock(&e->lock);
	cleanup_free char *token = e->access_token ? xstrdup(e->access_token) : NULL;
	pthread_mutex_unlock(&e->lock);
	if (!token)
		return NULL;
	const char *h = http_req_header(req, "X-Access-Token");
	if (!op) /* a route that takes only the header */
		return h && same(h, token) ? NULL : MSG_UNAUTHORIZED;
	if (h)
		return same(h, token) ? NULL : MSG_HEADER_MISMATCH;
	const char *sig = http_req_query(req, "signature");
	if (!sig)
		return MSG_NO_SIGNATURE;
	return envd_signature_check(sig, path ? path : "", op, user ? user : "", token,
				    http_req_query(req, "signature_expiration"), time(NULL));
}

const char *envd_signature_check(const char *sig, const char *path, const char *op,
				 const char *user, const char *token, const char *exp, time_t now)
{
	long long t = 0;
	if (exp && *exp) {
		char *end;
		errno = 0;
		t = strtoll(exp, &end, 10);
		if (*end || errno)
			return MSG_INVALID_SIGNATURE;
	}
	cleanup_free char *want = envd_signature(path, op, user, token, exp);
	if (!same(sig, want))
		return MSG_INVALID_SIGNATURE;
	/* checked after the signature, as E2B's envd does: a genuine but stale URL says so */
	if (exp && *exp && t < (long long)now)
		return MSG_EXPIRED;
	return NULL;
}

bool envd_signature_ok(const char *sig, const char *path, const char *op, const char *user,
		       const char *token, const char *exp, time_t now)
{
	return envd_signature_check(sig, path, op, user, token, exp, now) == NULL;
}
