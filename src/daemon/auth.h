/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * API key authentication: `X-API-Key: e2b_<40 hex>` (what the E2B SDKs send) or
 * `Authorization: Bearer <key>`.  Keys are checked against the hashed keys in the store.
 */
#include "http/http.h"

#include <stdbool.h>

struct store;

/* The key a request presents, from the two header values (either may be NULL).  X-API-Key wins;
 * "Bearer" is matched case-insensitively and surrounding blanks are ignored.  Returns a pointer
 * into the header value and its length, or NULL when no key was presented.  Pure. */
const char *auth_key_from_headers(const char *x_api_key, const char *authorization,
				  size_t *ret_len);
/* True when s[0..n) has the shape e2b_ + 40 lowercase hex.  Pure. */
bool auth_key_well_formed(const char *s, size_t n);

/* Check the request's key.  On failure answers 401 {code, message} and returns -EACCES;
 * ret_key_id (optional) receives the key's id (caller frees). */
int auth_check(struct store *st, struct http_req *req, char **ret_key_id);
