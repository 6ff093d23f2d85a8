/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Optional per-sandbox egress (off unless asked for).  Path of a guest packet:
 * guest 169.254.0.21 -> tap0 -> forwarded in the namespace to eth0 and
 * masqueraded there to the slot's namespace address -> veth -> host
 * wrenn-veth-<N> -> forwarded and masqueraded on the host.  Host rules live in
 * one daemon-owned table (`inet <table>`): base chains plus two sets keyed by
 * slot (veth names, namespace addresses), so enabling/disabling a slot is an
 * element add/delete and the daemon's stop is one `delete table`.
 */
#include "basic/err.h"

#include <stdbool.h>

struct egress_config {
	const char *veth_prefix; /* host link prefix, default "wrenn-veth-" */
	const char *nft_table;	 /* default "wrenn" (family inet on the host, ip in the ns) */
	const char *base;	 /* /16 for per-slot /30s, default 10.200.0.0 */
};

/* Fill NULL fields with defaults. */
void egress_config_defaults(struct egress_config *c);

/* Pure script builders (malloc'd). */
char *egress_host_enable_script(const struct egress_config *c, unsigned int slot,
				struct wr_err *err);
char *egress_host_disable_script(const struct egress_config *c, unsigned int slot,
				 struct wr_err *err);
char *egress_ns_enable_script(const struct egress_config *c);
char *egress_ns_disable_script(const struct egress_config *c);

int egress_enable(const struct egress_config *c, unsigned int slot, const char *ns,
		  struct wr_err *err);
/* Idempotent: also cleans a half-enabled slot. */
int egress_disable(const struct egress_config *c, unsigned int slot, const char *ns,
		   struct wr_err *err);
/* Delete the host table (daemon stop / sweep with no live egress); absent = ok. */
int egress_shutdown(const struct egress_config *c, struct wr_err *err);
