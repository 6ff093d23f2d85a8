/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Garbage collection of fetched templates (`--role host`; docs/ARCHITECTURE.md "Multiple
 * hosts"): a template this host fetched from another host (tplxfer.c records fetched_from) is
 * removed when no sandbox or template uses it and either it was not used for
 * --fetched-template-ttl seconds, or the fetched copies together take more than
 * --fetched-template-max-gb on disk (least recently used first).  A later create of it fetches
 * it again (the control plane's existing path).  Templates built here, snapshots taken here and
 * the images are never touched.
 *
 * tplgc_pick is the pure choice (unit-tested); tplgc_start runs the sweep in a thread of its
 * own, every min(60 s, ttl / 2) and after each fetch (tplgc_kick).
 */
#include "daemon/agent.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tplgc_why { TPLGC_KEEP = 0, TPLGC_TTL, TPLGC_BUDGET };

struct tplgc_item {
	const char *name;
	int64_t bytes;	      /* on disk (allocated blocks: memory files are sparse) */
	int64_t last_used_ms; /* last create from it, else when it was fetched */
	bool in_use;	      /* a live sandbox or a template made from it: never removed */
	enum tplgc_why why;   /* out: the choice */
};

/* A copy used this recently is never removed for the size budget: the create that made the
 * control plane fetch it runs just after the fetch (the TTL is its own grace). */
#define TPLGC_BUDGET_GRACE_MS (2 * 60 * 1000)

/* Marks items[i].why and returns how many are to be removed: every idle item unused for
 * ttl_ms (0 = no TTL), then, while all items (in use ones count) take more than budget_bytes
 * (0 = no budget), idle ones past TPLGC_BUDGET_GRACE_MS, least recently used first (ties:
 * larger first, then by name). */
size_t tplgc_pick(struct tplgc_item *items, size_t n, int64_t now_ms, int64_t ttl_ms,
		  int64_t budget_bytes);
const char *tplgc_why_name(enum tplgc_why why);

struct tplgc;
/* Starts the sweeper; a no-op (*ret NULL, 0) when both limits are off. */
int tplgc_start(struct agent *a, struct tplgc **ret, struct wr_err *err);
/* Sweep soon (after a fetch); nothing when no sweeper runs. */
void tplgc_kick(void);
void tplgc_stop(struct tplgc *g);
