/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Slot claim files <dir>/<n>.  A claim is an exclusive link() of a file that
 * the claimer already holds flock(LOCK_EX) on, so a claim is never visible
 * unlocked while its owner lives.  When the owner dies the kernel drops the
 * lock: a claim file nobody holds locked is stale and may be taken over.
 * flock conflicts between open file descriptions, so two pools in one
 * process exclude each other like two agents do.
 */
#include "basic/err.h"

#include <stdbool.h>

enum claim_state { CLAIM_FREE, CLAIM_LIVE, CLAIM_STALE };

/* Claim slot n. Returns 0 and the lock fd (keep it open while owning), or
 * -EBUSY when a live owner holds it.  A stale claim is taken over. */
int claim_take(const char *dir, unsigned int n, int *ret_fd, struct wr_err *err);
/* Give up an owned claim: unlink while still locked, then close. */
void claim_release(const char *dir, unsigned int n, int fd);
/* Inspect slot n without keeping it (a stale claim is left in place). */
enum claim_state claim_probe(const char *dir, unsigned int n);
/* Remove a stale claim (locks it first); -EBUSY if live, 0 if gone/absent. */
int claim_remove_stale(const char *dir, unsigned int n);
