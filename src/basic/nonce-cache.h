/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * The replay guard of signed calls (basic/hmac.h): the nonces seen within the freshness window.
 *
 * A call is accepted only when its timestamp is within ±window of the verifier's clock, so a
 * nonce needs remembering only until its timestamp is older than the window: after that the
 * call fails the clock check whatever its nonce.  The cache is bounded: when `max` nonces are
 * still live it refuses new ones (-ENOBUFS) rather than forget one that could then be replayed
 * (fail closed; at the control plane's rates the bound is never near).  Thread-safe.
 */
#include <stddef.h>
#include <stdint.h>

struct nonce_cache;

struct nonce_cache *nonce_cache_new(size_t max, int64_t window_ms);
void nonce_cache_free(struct nonce_cache *nc);

/*
 * Remember `nonce` (at most 64 characters) of a call stamped ts_ms, the verifier's clock being
 * now_ms.  Returns 0 when it is new, -EALREADY when it was seen (a replay), -ENOBUFS when the
 * cache is full of live nonces, -EINVAL for an empty or too long nonce.
 */
int nonce_cache_add(struct nonce_cache *nc, const char *nonce, int64_t ts_ms, int64_t now_ms);
/* Live nonces (tests). */
size_t nonce_cache_size(struct nonce_cache *nc);
