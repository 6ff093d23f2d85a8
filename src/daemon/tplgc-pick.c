/* SPDX-License-Identifier: MIT */
/* The pure choice of the fetched-template garbage collection (tplgc.h). */
#include "daemon/tplgc.h"

#include <stdlib.h>
#include <string.h>

const char *tplgc_why_name(enum tplgc_why why)
{
	switch (why) {
	case TPLGC_TTL:
		return "unused for longer than --fetched-template-ttl";
	case TPLGC_BUDGET:
		return "fetched templates over --fetched-template-max-gb, least recently used";
	default:
		return "kept";
	}
}

/* Least recently used first; ties: the larger first (frees more), then by name (stable). */
static int lru_cmp(const void *x, const void *y)
{
	const struct tplgc_item *a = *(const struct tplgc_item *const *)x;
	const struct tplgc_item *b = *(const struct tplgc_item *const *)y;
	if (a->last_used_ms != b->last_used_ms)
		return a->last_used_ms < b->last_used_ms ? -1 : 1;
	if (a->bytes != b->bytes)
		return a->bytes > b->bytes ? -1 : 1;
	return strcmp(a->name ? a->name : "", b->name ? b->name : "");
}

size_t tplgc_pick(struct tplgc_item *items, size_t n, int64_t now_ms, int64_t ttl_ms,
		  int64_t budget_bytes)
{
	size_t picked = 0;
	int64_t total = 0;
	for (size_t i = 0; i < n; i++) {
		items[i].why = TPLGC_KEEP;
		if (!items[i].in_use && ttl_ms > 0 && now_ms - items[i].last_used_ms >= ttl_ms) {
			items[i].why = TPLGC_TTL;
			picked++;
		} else {
			total += items[i].bytes > 0 ? items[i].bytes : 0;
		}
	}
	if (budget_bytes <= 0 || total <= budget_bytes)
		return picked;
	struct tplgc_item **order = calloc(n, sizeof(*order));
	if (!order)
		return picked; /* the TTL's choice stands; the budget waits for the next sweep */
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (items[i].why == TPLGC_KEEP && !items[i].in_use &&
		    now_ms - items[i].last_used_ms >= TPLGC_BUDGET_GRACE_MS)
			order[m++] = &items[i];
	qsort(order, m, sizeof(*order), lru_cmp);
	for (size_t i = 0; i < m && total > budget_bytes; i++) {
		order[i]->why = TPLGC_BUDGET;
		total -= order[i]->bytes > 0 ? order[i]->bytes : 0;
		picked++;
	}
	free(order);
	return picked;
}
