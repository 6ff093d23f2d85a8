/* SPDX-License-Identifier: MIT */
#include "daemon/control-sched.h"

#include "pg/pg.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int tier(const struct sched_host *h)
{
	return h->has_template ? (h->warm_vms > 0 ? 2 : 1) : 0;
}

/* load a < load b, as fractions sandboxes / (sandboxes + free_slots), without division */
static int cmp_load(const struct sched_host *a, const struct sched_host *b)
{
	int64_t ca = a->sandboxes + a->free_slots, cb = b->sandboxes + b->free_slots;
	int64_t l = a->sandboxes * cb, r = b->sandboxes * ca;
	return l < r ? -1 : l > r;
}

static bool better(const struct sched_host *a, const struct sched_host *b)
{
	if (tier(a) != tier(b))
		return tier(a) > tier(b);
	int c = cmp_load(a, b);
	if (c)
		return c < 0;
	if (a->memory_available_mb != b->memory_available_mb)
		return a->memory_available_mb > b->memory_available_mb;
	return strcmp(a->id, b->id) < 0;
}

int sched_pick(const struct sched_host *hosts, size_t n, const char *exclude, int64_t memory_mb,
	       char *reason, size_t reason_len)
{
	int best = -1;
	size_t not_ready = 0, full = 0, no_mem = 0, excluded = 0;
	for (size_t i = 0; i < n; i++) {
		const struct sched_host *h = &hosts[i];
		if (exclude && !strcmp(h->id, exclude))
			excluded++;
		else if (!h->ready)
			not_ready++;
		else if (h->free_slots <= 0)
			full++;
		else if (h->memory_available_mb < memory_mb)
			no_mem++;
		else if (best < 0 || better(h, &hosts[best]))
			best = (int)i;
	}
	if (best < 0) {
		snprintf(reason, reason_len,
			 "no eligible host among %zu: %zu not ready, %zu without free slots, %zu "
			 "without %" PRId64 " MB free, %zu excluded after a failed placement",
			 n, not_ready, full, no_mem, memory_mb, excluded);
		return -ENOSPC;
	}
	const struct sched_host *h = &hosts[best];
	static const char *const tiers[] = {"template absent", "template present",
					    "template present with warm VMs"};
	snprintf(reason, reason_len,
		 "%s: %s, %" PRId64 " sandboxes, %" PRId64 " free slots, %" PRId64
		 " MB free (least loaded of %zu eligible)",
		 h->id, tiers[tier(h)], h->sandboxes, h->free_slots, h->memory_available_mb,
		 n - not_ready - full - no_mem - excluded);
	return best;
}

bool sched_cap_has_template(const json_t *cap, const char *tpl)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(cap, "templates"), i, v)
	{
		if (json_is_string(v) && !strcmp(json_string_value(v), tpl))
			return true;
	}
	return false;
}

static int64_t cap_int(const json_t *cap, const char *name)
{
	return (int64_t)json_integer_value(json_object_get(cap, name));
}

void sched_host_of(const struct pg_host *h, const char *tpl, int64_t placement_mb,
		   struct sched_host *ret)
{
	const json_t *cap = h->capacity;
	int64_t res = h->reserved > 0 ? h->reserved : 0;
	int64_t listed = h->reserved_listed < res ? h->reserved_listed : res;
	if (listed < 0)
		listed = 0;
	/* the memory of the reservations the capacity does not count yet, pro rata */
	int64_t res_mb = res ? h->reserved_memory_mb * (res - listed) / res : 0;
	int64_t pending = h->recent_placements + res - listed;
	*ret = (struct sched_host){
		.id = h->id,
		.ready = h->state && !strcmp(h->state, "ready"),
		.sandboxes = cap_int(cap, "sandboxes") + pending,
		.free_slots = cap_int(cap, "freeSlots") - pending,
		.memory_available_mb = cap_int(cap, "memoryAvailableMb") -
				       h->recent_placements * placement_mb - res_mb,
		.has_template = tpl && sched_cap_has_template(cap, tpl),
		.warm_vms = cap_int(cap, "warmVms"),
	};
}
