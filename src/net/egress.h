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

/* Longest normalised "a.b.c.d/nn" plus NUL. */
#define EGRESS_CIDR_MAX 19

/* A sandbox's own rules on top of the fixed ones: NULL-terminated arrays of
 * normalised IPv4 CIDRs (egress_cidr_parse), either may be NULL. allow_out
 * wins over deny_out; neither reaches egress_blocked_ranges. */
struct egress_policy {
	char **allow_out;
	char **deny_out;
};

/* Ranges no guest ever reaches (NULL-terminated). */
extern const char *const egress_blocked_ranges[];

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
/* Replace the namespace's allow_out/deny_out sets (one atomic batch). */
char *egress_ns_policy_script(const struct egress_config *c, const struct egress_policy *p);

/* "1.2.3.4" or "1.2.3.0/24" into ret as "a.b.c.d/nn" with host bits cleared;
 * -EINVAL (message names the text) for anything else: IPv6, names, junk. */
int egress_cidr_parse(const char *s, char ret[EGRESS_CIDR_MAX], struct wr_err *err);
/* The blocked range a normalised CIDR overlaps, or NULL. */
const char *egress_cidr_blocked(const char *cidr);

int egress_enable(const struct egress_config *c, unsigned int slot, const char *ns,
		  struct wr_err *err);
/* Replace a live slot's policy atomically (the slot's egress must be on). */
int egress_set_policy(const struct egress_config *c, const char *ns, const struct egress_policy *p,
		      struct wr_err *err);
/* Re-install the host elements and the namespace's table with policy p on a
 * slot whose veth exists (re-attach after an agent restart). */
int egress_reapply(const struct egress_config *c, unsigned int slot, const char *ns,
		   const struct egress_policy *p, struct wr_err *err);
/* Idempotent: also cleans a half-enabled slot. */
int egress_disable(const struct egress_config *c, unsigned int slot, const char *ns,
		   struct wr_err *err);
/* Delete the host table (daemon stop / sweep with no live egress); absent = ok. */
int egress_shutdown(const struct egress_config *c, struct wr_err *err);
