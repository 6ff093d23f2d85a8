/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Network slots.  Slot N owns claim file <data_dir>/slots/<N>, namespace
 * <ns_prefix><N> with tap0 169.254.0.22/30, and (egress only) host link
 * <veth_prefix><N> plus elements in the daemon's nft table.  The pool keeps
 * up to pool_size prepared slots so a create does not wait for netlink.
 * Thread-safe.
 */
#include "basic/err.h"
#include "net/egress.h"
#include "net/netns.h"

#include <stdbool.h>

struct slot_pool_config {
	const char *data_dir;  /* default /var/lib/wrenn */
	const char *ns_prefix; /* default "wrenn-ns-" */
	unsigned int first;    /* default 1 */
	unsigned int last;     /* default 1024 */
	unsigned int pool_size;
	struct egress_config egress;
};

struct slot_pool;

struct slot_sweep_stats {
	unsigned int claims, namespaces, links;
	bool table;
};

int slot_pool_new(const struct slot_pool_config *cfg, struct slot_pool **ret, struct wr_err *err);
/* Release idle prepared slots (namespace + claim).  Slots still handed out
 * keep their namespaces; their claims unlock (stale until reserved again). */
void slot_pool_free(struct slot_pool *p);
/* Prepare slots until pool_size idle ones exist. */
int slot_pool_fill(struct slot_pool *p, struct wr_err *err);
/* Take a prepared slot (prepares one now if the pool is empty); -ENOSPC when
 * every slot in [first,last] is claimed. */
int slot_pool_acquire(struct slot_pool *p, unsigned int *ret_slot, struct wr_err *err);
/* Adopt slot n of a re-attached sandbox (its namespace must exist). */
int slot_pool_reserve(struct slot_pool *p, unsigned int n, struct wr_err *err);
/* Give back an acquired slot: egress off, namespace reset, back to the idle
 * list if below pool_size, else namespace deleted and claim removed. */
int slot_pool_release(struct slot_pool *p, unsigned int n, struct wr_err *err);
int slot_pool_egress(struct slot_pool *p, unsigned int n, bool on, struct wr_err *err);
/* Remove namespaces, host links, claims and nft state of slots with no live
 * owner (not ours, claim unlocked or absent).  Call after reserving
 * re-attached slots, before fill. */
int slot_pool_sweep(struct slot_pool *p, struct slot_sweep_stats *ret_stats, struct wr_err *err);
/* Namespace name of slot n into buf. */
void slot_pool_ns_name(const struct slot_pool *p, unsigned int n, char buf[NETNS_NAME_MAX]);
unsigned int slot_pool_idle(struct slot_pool *p);
/* The pool's egress configuration (defaults filled; valid until slot_pool_free). */
const struct egress_config *slot_pool_egress_config(const struct slot_pool *p);
