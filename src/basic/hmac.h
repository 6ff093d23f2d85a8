/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * HMAC-SHA256 (OpenSSL underneath) and the signed requests between a host agent and the control
 * plane (docs/ARCHITECTURE.md "Multiple hosts").
 *
 * A host holds a credential issued by the admin; the control plane stores only its SHA-256, and
 * that digest is the signing key: the credential itself never crosses the wire and is never
 * stored.  A signed request carries three headers:
 *
 *   X-Wrenn-Host: <host id>
 *   X-Wrenn-Timestamp: <unix milliseconds>
 *   X-Wrenn-Signature: hex(HMAC-SHA256(key, "WRENN-HMAC-SHA256\n" METHOD "\n" PATH "\n"
 *                                            HOST-ID "\n" TIMESTAMP "\n" hex(SHA-256(body))))
 *
 * The verifier accepts a timestamp within HMAC_REQ_WINDOW_MS of its own clock and strictly
 * newer than the last one it accepted from that host, so a captured request cannot be replayed.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HMAC_REQ_WINDOW_MS 60000
#define HMAC_SHA256_HEX (64 + 1)

void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len, uint8_t out[32]);
void sha256_digest(const void *data, size_t len, uint8_t out[32]);

/* The request signature as lower-case hex (out: HMAC_SHA256_HEX bytes). */
void hmac_req_sign(const uint8_t key[32], const char *method, const char *path, const char *host_id,
		   int64_t ts_ms, const void *body, size_t body_len, char out[HMAC_SHA256_HEX]);

/*
 * Check a signed request against the key and the verifier's clock now_ms; last_ts_ms is the
 * newest timestamp already accepted from this host (0 = none).  Returns 0 when valid,
 * -EACCES for a wrong or malformed signature, -ETIME outside the clock window, -EALREADY for a
 * timestamp not newer than last_ts_ms (replay).  Constant-time comparison.
 */
int hmac_req_verify(const uint8_t key[32], const char *method, const char *path,
		    const char *host_id, int64_t ts_ms, const void *body, size_t body_len,
		    const char *sig_hex, int64_t now_ms, int64_t last_ts_ms);

/*
 * Calls from the control plane to a host (every request it forwards: creates, per-sandbox
 * operations, lists).  The same key as the heartbeats (the SHA-256 of the host's credential,
 * which both sides hold: it is never sent), a different label, so that neither kind of
 * signature is valid as the other, and a random nonce instead of a per-host counter, so that
 * any number of control-plane replicas can call a host without sharing a clock or a sequence:
 *
 *   X-Wrenn-Host: <host id>
 *   X-Wrenn-Timestamp: <unix milliseconds>
 *   X-Wrenn-Nonce: <32 hex: 16 random bytes>
 *   X-Wrenn-Content-SHA256: hex(SHA-256(body))
 *   X-Wrenn-Signature: hex(HMAC-SHA256(key, "WRENN-CALL-HMAC-SHA256\n" METHOD "\n" TARGET "\n"
 *                          HOST-ID "\n" TIMESTAMP "\n" NONCE "\n" hex(SHA-256(body))))
 *
 * TARGET is the request target as sent, path and query.  The host accepts a timestamp within
 * HMAC_CALL_WINDOW_MS of its clock and a nonce it has not seen in that window (nonce-cache.h):
 * a captured call cannot be replayed, nor its method, target, body or host changed.
 *
 * A call the control plane makes for a team's API key also carries X-Wrenn-Team: <team>, and
 * the canonical string then ends with "\n" TEAM after the body digest (hmac_call_*_team; team
 * NULL or "" = the canonical string above, an operator's call).  The host acts as that team
 * (tenancy, daemon/auth.c); the header cannot be added, removed or changed without the key.
 */
#define HMAC_CALL_WINDOW_MS 30000
#define HMAC_NONCE_HEX (32 + 1)

/* A fresh nonce (getrandom); -errno when the kernel gives no randomness. */
int hmac_nonce(char out[HMAC_NONCE_HEX]);
/* True for 32 lower-case hex digits. */
bool hmac_nonce_well_formed(const char *nonce);
/* hex(SHA-256(data)) */
void sha256_hex(const void *data, size_t len, char out[HMAC_SHA256_HEX]);

void hmac_call_sign(const uint8_t key[32], const char *method, const char *target,
		    const char *host_id, int64_t ts_ms, const char *nonce, const void *body,
		    size_t body_len, char out[HMAC_SHA256_HEX]);
/*
 * Check a call's signature and freshness (the nonce's novelty is the caller's: nonce-cache.h).
 * Returns 0, -EACCES for a wrong or malformed signature or nonce, -ETIME outside
 * HMAC_CALL_WINDOW_MS of now_ms.  Constant-time comparison.
 */
int hmac_call_verify(const uint8_t key[32], const char *method, const char *target,
		     const char *host_id, int64_t ts_ms, const char *nonce, const void *body,
		     size_t body_len, const char *sig_hex, int64_t now_ms);
/* The same for a call made as `team` (NULL or "" = as the operator). */
void hmac_call_sign_team(const uint8_t key[32], const char *method, const char *target,
			 const char *host_id, int64_t ts_ms, const char *nonce, const char *team,
			 const void *body, size_t body_len, char out[HMAC_SHA256_HEX]);
int hmac_call_verify_team(const uint8_t key[32], const char *method, const char *target,
			  const char *host_id, int64_t ts_ms, const char *nonce, const char *team,
			  const void *body, size_t body_len, const char *sig_hex, int64_t now_ms);
