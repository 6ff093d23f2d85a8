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
