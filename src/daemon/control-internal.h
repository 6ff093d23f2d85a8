/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * What the control plane's files share (control.c: routes, hosts, creates and the E2B
 * per-sandbox forwarding; control-v1.c: the native per-sandbox routes; control-call.c: signed
 * calls to hosts; control-proxy.c: the sandbox-traffic port; control-list.c: lists across hosts;
 * control-snapshots.c: snapshots, forks, the native snapshot and template lists).
 */
#include "daemon/config.h"
#include "http/http.h"

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>

struct pg;
struct pg_host;

/* How long a call to a host may take (a create under load takes long). */
#define CONTROL_FORWARD_TIMEOUT_MS 120000

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

/* One signed call (control-call.c).  team: as in control_forward; content_type NULL = JSON when
 * there is a body. */
struct control_call {
	const char *host_id, *api_url, *team;
	const char *method, *target, *content_type;
	const char *body;
	size_t len;
	unsigned timeout_ms; /* until the answer's head; its body then streams unbounded */
};
/* Send cc (with req's upgrade handshake headers when req asks for an Upgrade, else
 * Connection: close) and read the host's answer head: *ret is the client, the body unread
 * (release with http_client_free).  -ETIMEDOUT when no head came in cc->timeout_ms. */
int control_call_open(struct control *c, const struct control_call *cc, struct http_req *req,
		      struct http_client **ret, struct wr_err *err);
/* The host's answer to the client: status, end-to-end headers, the body as it arrives. */
void control_call_relay(struct http_req *req, struct http_client *cl, bool head_only);
/* After control_call_open of an Upgrade: a 101 becomes a byte relay between the client and the
 * host (until both ends close); any other answer is relayed and the connection closed. */
void control_call_upgrade(struct http_req *req, struct http_client *cl);

/* The native per-sandbox routes (/v1/sandboxes/{id}[/...]; control-v1.c), forwarded to the
 * placement's host: true when path was one of them (answered). */
bool control_v1_handle(struct control *c, struct http_req *req);
/* The host of sandbox id for a caller of team (tenancy decided here: another team's sandbox is
 * 404 like an unknown one); *ret filled (pg_host_done), or answered (404, 500) and < 0. */
int control_sandbox_host(struct control *c, struct http_req *req, const char *id, const char *team,
			 struct pg_host *ret);

/* The sandbox-traffic port: the agent's proxy routing (Host <port>-<id>.<domain> or the
 * E2b-Sandbox-Id/-Port headers), relayed to the proxy of the host the placement names. */
void control_proxy_handle(struct http_req *req, void *userdata);

/* GET /sandboxes, GET /v2/sandboxes (E2B) and GET /v1/sandboxes (native), merged over the hosts;
 * the caller checked the key: team is its team (NULL or "" = an operator's, who sees all). */
void control_list(struct control *c, struct http_req *req, const char *team);

/* A host's 200 answer to a fan-out (control_fanout): < 0 counts the host as not answering. */
typedef int (*control_take_fn)(const struct pg_host *h, const char *resp, size_t rlen, void *arg);
/* GET to every ready or draining host as team (control-list.c; 10 s bound each): target_of(h,
 * targ) is the target for h (malloc'd; NULL = nothing to ask it), each 200 answer goes to take.
 * Hosts that are lost, did not answer or answered something else are appended to unreachable (a
 * JSON array of ids).  A host's 4xx (a bad query: every host would say the same) stops the
 * fan-out: *ret_status, *ret_body (caller frees), *ret_len to relay; else *ret_status is 0.
 * < 0 only when the host list could not be read. */
int control_fanout(struct control *c, const char *team,
		   char *(*target_of)(const struct pg_host *h, void *targ), void *targ,
		   control_take_fn take, void *arg, json_t *unreachable, int *ret_status,
		   char **ret_body, size_t *ret_len, struct wr_err *err);
/* X-Wrenn-Unreachable-Hosts: the ids of unreachable, comma-separated (nothing when empty). */
void control_reply_unreachable(struct http_req *req, const json_t *unreachable);

/* Snapshots, forks and the native snapshot and template lists (control-snapshots.c): true when
 * the request was one of their routes (answered). */
bool control_snapshots_handle(struct control *c, struct http_req *req);

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
/* A request's body read whole (it is forwarded as sent, at most REPLY_MAX_JSON_BODY) and parsed
 * as a JSON object ({} when empty); < 0 once it has answered 413 or 400 itself. */
int control_read_json(struct http_req *req, char **ret_raw, size_t *ret_len, json_t **ret_body);
