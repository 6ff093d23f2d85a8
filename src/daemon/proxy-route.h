/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Where a request on the sandbox-traffic port goes (e2b.md §1.2/§1.3):
 *   - headers `E2b-Sandbox-Id` (+ `E2b-Sandbox-Port`, default envd's 49983) — what the SDKs send
 *     on every envd request when E2B_SANDBOX_URL is set, whatever the Host is;
 *   - else the Host `<port>-<id>.<domain>[:listen-port]` (the first label split at its first
 *     '-', so ids may themselves contain '-', e.g. "cl-abc").
 * Pure functions, unit-tested.
 */
#include "basic/err.h"

#include <stdbool.h>
#include <stddef.h>

#define PROXY_ID_MAX 64
#define PROXY_ENVD_PORT 49983

struct proxy_target {
	char id[PROXY_ID_MAX + 1];
	int port;
};

/* domain: when non-NULL and non-empty, a Host must end in ".<domain>" (or ".localhost") to be
 * routed by name.
 * -EINVAL (bad header values), -ENOENT (nothing says which sandbox), with a message. */
int proxy_route(const char *host, const char *hdr_id, const char *hdr_port, const char *domain,
		struct proxy_target *ret, struct wr_err *err);

/*
 * The `domain` sandbox replies carry, so that the SDK's getHost(port), "<port>-<id>.<domain>",
 * reaches this proxy: the configured domain; else, when the proxy listens on loopback,
 * "localhost:<listen port>" (curl and browsers resolve *.localhost to loopback, and Host routing
 * accepts any domain when none is configured); else "" (no usable name: the reply says null).
 */
void proxy_public_domain(const char *domain, const char *listen, char *buf, size_t len);

/* envd routes only the host may call (POST /init and the pause/upgrade hooks). */
bool proxy_path_host_only(int port, const char *path);

/* E2B's header for sandboxes created with allowPublicTraffic: false. */
#define PROXY_TRAFFIC_TOKEN_HEADER "E2b-Traffic-Access-Token"
/* want: the sandbox's traffic token (NULL = public).  0 = let through, else the status to
 * answer: 401 without the header, 403 with a wrong one.  envd's own port is not subject to it
 * (envd checks its access token), as with E2B. Constant-time compare. */
int proxy_traffic_check(int port, const char *want, const char *got);

/* E2B maskRequestHost: the Host sent to a sandbox's port instead of the client's, each
 * "${PORT}" replaced by port (malloc'd).  NULL for envd's own port or without a mask. */
char *proxy_mask_host(const char *mask, int port);

/* Request headers not forwarded upstream: hop-by-hop ones, the framing we redo, and the
 * routing headers themselves. */
bool proxy_header_dropped(const char *name, bool upgrade);
