/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Multiple hosts (docs/ARCHITECTURE.md "Multiple hosts").
 *
 * control_run: `wrenn-agent --role control --database postgres://...`: no runtime, no VMs; the
 * state lives in PostgreSQL (src/pg).  Serves GET /health, the host registry under /v1/hosts
 * (admin key), POST /v1/hosts/{id}/heartbeat signed by the host (basic/hmac.h), E2B creates
 * (scheduled), the lists (merged over the hosts) and the per-sandbox routes (forwarded by
 * placement), and on proxy_listen the sandbox traffic (control-internal.h).  Every other route
 * answers 501 naming what is not there yet.  Returns the process exit code.
 *
 * heartbeat_start: `--role host --control URL[,URL...] --host-id ID --host-credential-file F`:
 * the ordinary agent plus a thread that posts a signed heartbeat with the host's capacity every
 * HEARTBEAT_INTERVAL_MS (to the replica that answered last, else the others in order), and
 * signed calls from the control plane accepted (host-call.h).
 */
#include "daemon/config.h"
#include "store/store.h"

#include <signal.h>
#include <stdint.h>

#define HEARTBEAT_INTERVAL_MS 3000

int control_run(const struct agent_config *cfg, const sigset_t *sigs);

struct agent;
struct heartbeat;
int heartbeat_start(struct agent *a, struct heartbeat **ret, struct wr_err *err);
/* Stop the thread and free; NULL-safe. */
void heartbeat_stop(struct heartbeat *hb);

/* "http://HOST:PORT[/]" -> host and port (https: -ENOTSUP, named). */
int control_parse_url(const char *url, char **ret_host, char **ret_port, struct wr_err *err);
/* A blocking TCP connection (SOCK_CLOEXEC, 5 s send/connect timeout). */
int control_tcp_connect(const char *host, const char *port, int *ret_fd, struct wr_err *err);
/*
 * The API key older releases derived from a host's signing key (e2b_ + 40 hex of HMAC(key,
 * label)) for the control plane's calls, a bearer on the wire; calls are signed now
 * (host-call.h) and a host agent revokes this key from its store at start.
 */
void control_host_api_key(const uint8_t host_key[32], char out[STORE_KEY_LEN + 1]);
