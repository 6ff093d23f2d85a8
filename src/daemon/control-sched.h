/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * The control plane's placement choice, a pure function over the hosts' last heartbeats.
 *
 * Eligible: state ready (not pending, draining or lost), at least one free slot, enough
 * available memory for the sandbox, and not the host excluded (the one a failed placement was
 * just tried on).  Among them: template locality first (tier 2: the template is present and
 * warm VMs are ready; tier 1: present; tier 0: absent), then the least loaded (fewest sandboxes
 * per slot), then the most free memory, then the id (stable).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sched_host {
	const char *id;
	bool ready;
	int64_t sandboxes, free_slots, memory_available_mb;
	bool has_template;
	int64_t warm_vms;
};

/* Index of the chosen host, or -ENOSPC when none is eligible; reason (always filled) says why
 * in one line, for the decision log. */
int sched_pick(const struct sched_host *hosts, size_t n, const char *exclude, int64_t memory_mb,
	       char *reason, size_t reason_len);
