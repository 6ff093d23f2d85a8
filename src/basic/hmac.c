/* SPDX-License-Identifier: MIT */
#include "basic/hmac.h"

#include "basic/cleanup.h"
#include "basic/hex.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 32;
	/* HMAC() with EVP_sha256 cannot fail for in-memory input short of OOM, which aborts. */
	if (!HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &n))
		abort();
}

void sha256_digest(const void *data, size_t len, uint8_t out[32])
{
	if (!EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL))
		abort();
}

static void sign_raw(const uint8_t key[32], const char *method, const char *path,
		     const char *host_id, int64_t ts_ms, const void *body, size_t body_len,
		     uint8_t out[32])
{
	uint8_t bh[32];
	char bhex[HMAC_SHA256_HEX];
	sha256_digest(body ? body : "", body ? body_len : 0, bh);
	hex_encode(bh, sizeof(bh), bhex);
	cleanup_free char *canon = xasprintf("WRENN-HMAC-SHA256\n%s\n%s\n%s\n%" PRId64 "\n%s",
					     method, path, host_id, ts_ms, bhex);
	hmac_sha256(key, 32, canon, strlen(canon), out);
}

void hmac_req_sign(const uint8_t key[32], const char *method, const char *path, const char *host_id,
		   int64_t ts_ms, const void *body, size_t body_len, char out[HMAC_SHA256_HEX])
{
	uint8_t mac[32];
	sign_raw(key, method, path, host_id, ts_ms, body, body_len, mac);
	hex_encode(mac, sizeof(mac), out);
}

/* hex -> 32 bytes; false when not 64 hex digits */
static bool parse_mac(const char *sig_hex, uint8_t got[32])
{
	if (!sig_hex || strlen(sig_hex) != 64)
		return false;
	for (size_t i = 0; i < 32; i++) {
		int hi = hex_digit(sig_hex[2 * i]), lo = hex_digit(sig_hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		got[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

int hmac_req_verify(const uint8_t key[32], const char *method, const char *path,
		    const char *host_id, int64_t ts_ms, const void *body, size_t body_len,
		    const char *sig_hex, int64_t now_ms, int64_t last_ts_ms)
{
	uint8_t want[32], got[32];
	if (!sig_hex || strlen(sig_hex) != 64)
		return -EACCES;
	for (size_t i = 0; i < 32; i++) {
		int hi = hex_digit(sig_hex[2 * i]), lo = hex_digit(sig_hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EACCES;
		got[i] = (uint8_t)(hi << 4 | lo);
	}
	sign_raw(key, method, path, host_id, ts_ms, body, body_len, want);
	if (CRYPTO_memcmp(want, got, sizeof(want)) != 0)
		return -EACCES;
	/* only a genuine request tells about the clock or a replay */
	if (ts_ms < now_ms - HMAC_REQ_WINDOW_MS || ts_ms > now_ms + HMAC_REQ_WINDOW_MS)
		return -ETIME;
	if (ts_ms <= last_ts_ms)
		return -EALREADY;
	return 0;
}

int hmac_nonce(char out[HMAC_NONCE_HEX])
{
	uint8_t rnd[16];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	hex_encode(rnd, sizeof(rnd), out);
	return 0;
}

bool hmac_nonce_well_formed(const char *nonce)
{
	if (!nonce || strlen(nonce) != HMAC_NONCE_HEX - 1)
		return false;
	for (const char *p = nonce; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

void sha256_hex(const void *data, size_t len, char out[HMAC_SHA256_HEX])
{
	uint8_t h[32];
	sha256_digest(data ? data : "", data ? len : 0, h);
	hex_encode(h, sizeof(h), out);
}

/* A team (a call made for a team's API key, X-Wrenn-Team) is one more line after the body digest;
 * the digest has a fixed length, so a call with a team and one without never share a canonical
 * string, and the team can be neither added, removed nor changed. */
static void call_raw(const uint8_t key[32], const char *method, const char *target,
		     const char *host_id, int64_t ts_ms, const char *nonce, const char *team,
		     const void *body, size_t body_len, uint8_t out[32])
{
	char bhex[HMAC_SHA256_HEX];
	sha256_hex(body, body_len, bhex);
	bool t = team && *team;
	cleanup_free char *canon =
		xasprintf("WRENN-CALL-HMAC-SHA256\n%s\n%s\n%s\n%" PRId64 "\n%s\n%s%s%s", method,
			  target, host_id, ts_ms, nonce, bhex, t ? "\n" : "", t ? team : "");
	hmac_sha256(key, 32, canon, strlen(canon), out);
}

void hmac_call_sign_team(const uint8_t key[32], const char *method, const char *target,
			 const char *host_id, int64_t ts_ms, const char *nonce, const char *team,
			 const void *body, size_t body_len, char out[HMAC_SHA256_HEX])
{
	uint8_t mac[32];
	call_raw(key, method, target, host_id, ts_ms, nonce, team, body, body_len, mac);
	hex_encode(mac, sizeof(mac), out);
}

void hmac_call_sign(const uint8_t key[32], const char *method, const char *target,
		    const char *host_id, int64_t ts_ms, const char *nonce, const void *body,
		    size_t body_len, char out[HMAC_SHA256_HEX])
{
	hmac_call_sign_team(key, method, target, host_id, ts_ms, nonce, NULL, body, body_len, out);
}

int hmac_call_verify_team(const uint8_t key[32], const char *method, const char *target,
			  const char *host_id, int64_t ts_ms, const char *nonce, const char *team,
			  const void *body, size_t body_len, const char *sig_hex, int64_t now_ms)
{
	uint8_t want[32], got[32];
	/* a nonce with a newline would let two different calls share a canonical string */
	if (!parse_mac(sig_hex, got) || !hmac_nonce_well_formed(nonce) || strchr(method, '\n') ||
	    strchr(target, '\n') || strchr(host_id, '\n') || (team && strchr(team, '\n')))
		return -EACCES;
	call_raw(key, method, target, host_id, ts_ms, nonce, team, body, body_len, want);
	if (CRYPTO_memcmp(want, got, sizeof(want)) != 0)
		return -EACCES;
	/* only a genuine call tells about the clock */
	if (ts_ms < now_ms - HMAC_CALL_WINDOW_MS || ts_ms > now_ms + HMAC_CALL_WINDOW_MS)
		return -ETIME;
	return 0;
}

int hmac_call_verify(const uint8_t key[32], const char *method, const char *target,
		     const char *host_id, int64_t ts_ms, const char *nonce, const void *body,
		     size_t body_len, const char *sig_hex, int64_t now_ms)
{
	return hmac_call_verify_team(key, method, target, host_id, ts_ms, nonce, NULL, body,
				     body_len, sig_hex, now_ms);
}
