/* SPDX-License-Identifier: MIT */
#include "runtime/warm-policy.h"

void wp_hist_add(struct wp_hist *h, int64_t now_ms)
{
	if (h->n < WP_HIST) {
		h->t[(h->head + h->n++) % WP_HIST] = now_ms;
		return;
	}
	h->t[h->head] = now_ms;
	h->head = (h->head + 1) % WP_HIST;
}

unsigned wp_peak(const struct wp_hist *h, int64_t now_ms, int64_t idle_ms, int64_t burst_ms)
{
	/* Arrivals are in time order: a two-pointer sweep over the recent ones. */
	unsigned best = 0, lo = 0;
	if (burst_ms < 1)
		burst_ms = 1;
	for (unsigned hi = 0; hi < h->n; hi++) {
		int64_t t = h->t[(h->head + hi) % WP_HIST];
		if (t <= now_ms - idle_ms) {
			lo = hi + 1;
			continue;
		}
		while (t - h->t[(h->head + lo) % WP_HIST] >= burst_ms)
			lo++;
		if (hi - lo + 1 > best)
			best = hi - lo + 1;
	}
	return best;
}

unsigned wp_target(const struct wp_cfg *c, const struct wp_hist *h, int64_t now_ms,
		   enum wp_reason *ret_reason)
{
	enum wp_reason why = WP_FLOOR;
	unsigned t = c->floor;
	if (c->floor) {
		unsigned p = wp_peak(h, now_ms, c->idle_ms, c->burst_ms);
		if (p > t) {
			t = p;
			why = WP_BURST;
		} else if (h->n && p == 0) {
			why = WP_IDLE; /* creates were seen, none for idle_ms */
		}
		if (t > c->max_per_key) {
			t = c->max_per_key > c->floor ? c->max_per_key : c->floor;
			why = t > c->floor ? WP_MAX : why;
		}
	}
	if (ret_reason)
		*ret_reason = why;
	return t;
}

uint64_t wp_fit_budget(const struct wp_cfg *c, unsigned *targets, const uint64_t *cost_mb,
		       enum wp_reason *reasons, size_t n)
{
	uint64_t used = 0;
	for (size_t i = 0; i < n; i++)
		used += (uint64_t)targets[i] * cost_mb[i];
	/* Two passes: first above-floor entries, then the floors themselves. */
	for (int pass = 0; pass < 2 && used > c->budget_mb; pass++) {
		while (used > c->budget_mb) {
			size_t k = n;
			for (size_t i = 0; i < n; i++) {
				unsigned min = pass == 0 ? c->floor : 0;
				if (targets[i] > min && cost_mb[i] &&
				    (k == n || targets[i] > targets[k]))
					k = i;
			}
			if (k == n)
				break;
			targets[k]--;
			used -= cost_mb[k];
			if (reasons)
				reasons[k] = WP_BUDGET;
		}
	}
	return used;
}

const char *wp_reason_str(enum wp_reason r)
{
	switch (r) {
	case WP_FLOOR:
		return "floor";
	case WP_IDLE:
		return "idle";
	case WP_BURST:
		return "burst";
	case WP_MAX:
		return "per-template maximum";
	case WP_BUDGET:
		return "memory budget";
	}
	return "?";
}
