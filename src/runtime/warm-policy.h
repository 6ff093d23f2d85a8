/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Sizing policy of the warm pool (warm.c), pure: no clock, no locks, no I/O.
 *
 * Each key (snapshot template, vCPUs, memory) remembers the arrival times of
 * its last WP_HIST creates.  Its demand is the largest number of creates
 * that arrived within any burst window (cfg.burst_ms) among the arrivals of
 * the last cfg.idle_ms: a burst of 20 concurrent creates asks for 20 warm
 * VMs, a steady one create a second asks for a window's worth.  Once no
 * create has arrived for cfg.idle_ms the history is empty and the target is
 * back to the floor.  The target is then clamped to [floor, max_per_key],
 * and all keys together to the memory budget: while the sum of
 * target * cost_mb is over it, the largest above-floor target shrinks
 * (floors shrink last, so a budget smaller than the floors still wins).
 */
#include <stddef.h>
#include <stdint.h>

#define WP_HIST 64 /* arrivals remembered per key */

struct wp_cfg {
	unsigned floor;	      /* --warm-pool: entries kept even when idle; 0 = pool off */
	unsigned max_per_key; /* never more than this per key */
	uint64_t budget_mb;   /* all keys' entries together (estimated host MiB) */
	int64_t idle_ms;      /* no create for this long: back to the floor */
	int64_t burst_ms;     /* creates this close together count as one burst */
};

struct wp_hist {
	int64_t t[WP_HIST]; /* arrival times (ms), ring buffer, oldest at head */
	unsigned head, n;
};

/* Why a target is what it is (for the log line when it changes). */
enum wp_reason {
	WP_FLOOR,  /* no recent demand above the floor */
	WP_IDLE,   /* demand was seen, but none for idle_ms */
	WP_BURST,  /* peak burst in the recent history */
	WP_MAX,	   /* capped at max_per_key */
	WP_BUDGET, /* cut by the memory budget */
};

void wp_hist_add(struct wp_hist *h, int64_t now_ms);
/* Largest number of arrivals within any burst_ms window among those after now - idle_ms. */
unsigned wp_peak(const struct wp_hist *h, int64_t now_ms, int64_t idle_ms, int64_t burst_ms);
/* Target of one key before the budget: max(floor, peak) capped at max_per_key. */
unsigned wp_target(const struct wp_cfg *c, const struct wp_hist *h, int64_t now_ms,
		   enum wp_reason *ret_reason);
/* Shrink targets[0..n) so that sum(targets[i] * cost_mb[i]) <= budget_mb (floor-protected
 * entries last); reasons[i] becomes WP_BUDGET where cut.  Returns the MiB the result uses. */
uint64_t wp_fit_budget(const struct wp_cfg *c, unsigned *targets, const uint64_t *cost_mb,
		       enum wp_reason *reasons, size_t n);
const char *wp_reason_str(enum wp_reason r);
