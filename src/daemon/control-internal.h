/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * What the control plane's files share (control.c: routes, hosts, creates and per-sandbox
 * forwarding; control-proxy.c: the sandbox-traffic port; control-list.c: lists across hosts).
 */
#include "daemon/config.h"
#include "http/http.h"

#include <stdbool.h>
#include <stddef.h>

struct pg;

struct control {
	const struct agent_config *cfg;
	struct pg *db;
	/* the `domain` sandbox replies carry when the control plane serves the sandbox traffic
	 * (proxy_public_domain of its own proxy listener); "" = keep the host's */
	char public_domain[256];
};

/* Send method+target(+body) to a host's API as a signed call (basic/hmac.h: timestamp, nonce,
 * body digest, HMAC with the host's key; no secret on the wire); the whole exchange bounded by
 * timeout_ms (-ETIMEDOUT).  team: the call is made for that team's key (X-Wrenn-Team, under
 * the signature: the host applies its tenancy); NULL or "" = as the operator. */
int control_forward(struct control *c, const char *host_id, const char *api_url, const char *team,
		    const char *method, const char *target, const char *body, size_t len,
		    unsigned timeout_ms, int *ret_status, char **ret_body, size_t *ret_len,
		    struct wr_err *err);

/* The sandbox-traffic port: the agent's proxy routing (Host <port>-<id>.<domain> or the
 * E2b-Sandbox-Id/-Port headers), relayed to the proxy of the host the placement names. */
void control_proxy_handle(struct http_req *req, void *userdata);

/* GET /sandboxes, GET /v2/sandboxes (E2B) and GET /v1/sandboxes (native), merged over the hosts;
 * the caller checked the key: team is its team (NULL or "" = an operator's, who sees all). */
void control_list(struct control *c, struct http_req *req, const char *team);

/* The key of the request (an admin key or a key of the api_keys table): 0 and its team ("" =
 * operator, caller frees); answers 401 (503 without the database) itself and returns < 0. */
int control_caller(struct control *c, struct http_req *req, char **ret_team);
/* The same, for routes only an operator may use: a team key gets 403. */
int control_admin(struct control *c, struct http_req *req);
/* /v1/keys and /v1/teams of the control plane (operator keys only; control-keys.c):
 * true when path was one of them (answered). */
bool control_keys_handle(struct control *c, struct http_req *req);
/* An answer for a PostgreSQL failure: 503 when the database is unreachable. */
void control_reply_pg_error(struct http_req *req, int r, const struct wr_err *err);
