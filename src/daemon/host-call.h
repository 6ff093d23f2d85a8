/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * The host side of signed calls from the control plane (basic/hmac.h "Calls from the control
 * plane to a host"; docs/SECURITY.md).  A host agent (`--role host`) enables it at start with its
 * id and signing key; auth_check() hands every request that carries X-Wrenn-Signature here
 * instead of looking for an API key.  An agent that is not a host takes no signed calls.
 */
#include "http/http.h"

#include <stdbool.h>
#include <stdint.h>

/* Largest body a signed call may carry (it is hashed before the handler reads it). */
#define HOST_CALL_MAX_BODY (16 * 1024 * 1024)

/* Take signed calls for host_id with key (copied).  Calls stamped before this moment are
 * refused: a call captured before a restart cannot be replayed after it, when the nonces it
 * would have collided with are forgotten. */
void host_call_enable(const char *host_id, const uint8_t key[32]);
/* Forget the key and the nonces; signed calls are refused again. */
void host_call_disable(void);

/* Check the signed call req (method, target, body, X-Wrenn-* headers, X-Wrenn-Team when the
 * control plane calls for a team's key: then the signature covers it).  Returns 0 when it is
 * genuine, fresh and new; else answers 401 (413 for a body over HOST_CALL_MAX_BODY, 503 when
 * the replay cache is full) and returns < 0.  The body stays readable by the handler. */
int host_call_check(struct http_req *req);
