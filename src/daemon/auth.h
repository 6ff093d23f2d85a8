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

/*
 * Who is calling: the key and its team.  Teams are the tenancy boundary: a key sees and controls
 * only its team's sandboxes and snapshots; another team's id answers 404 exactly like an id that
 * does not exist (so ids cannot be probed across teams).  A key of team "" is an operator key:
 * it sees everything and alone manages keys and teams.
 */
struct auth_caller {
	char *key_id;
	char *team; /* "" = operator */
};
void auth_caller_done(struct auth_caller *c);

/* Check the request's key.  On failure answers 401 {code, message} and returns -EACCES; on
 * success fills ret (optional; release with auth_caller_done). */
int auth_check(struct store *st, struct http_req *req, struct auth_caller *ret);

/* The caller the API dispatcher attached to the request (http_req_ctx), or NULL. */
const struct auth_caller *auth_caller_of(const struct http_req *req);
/* True for operator keys (and for requests without a caller: internal calls). */
bool auth_is_operator(const struct http_req *req);
/* The team filter for lists and the owner for new objects: NULL for operators, else the
 * caller's team. */
const char *auth_team(const struct http_req *req);
/* May the caller see an object owned by `owner_team` (NULL = "")? */
bool auth_may_see(const struct http_req *req, const char *owner_team);
