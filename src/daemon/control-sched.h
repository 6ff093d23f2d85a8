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
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pg_host;

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

/* Is tpl among the templates a heartbeat's capacity object lists? */
bool sched_cap_has_template(const json_t *cap, const char *tpl);

/*
 * A host as the scheduler counts it: its last heartbeat's capacity plus what that heartbeat did
 * not count yet: its placements the heartbeat did not list (placement_mb each: E2B creates name
 * no size) and the creates in flight on it (h->reserved, with their memory).  A heartbeat taken
 * while such a create was already running on the host lists it and counts it in its capacity:
 * h->reserved_listed of the reservations (at most) are then not counted again, so a host is
 * neither under- nor over-counted whatever the order of creates, heartbeats and placements.
 * tpl: the create's template (NULL: none, no locality).  *ret->id points into h.
 */
void sched_host_of(const struct pg_host *h, const char *tpl, int64_t placement_mb,
		   struct sched_host *ret);
