/* SPDX-License-Identifier: MIT */
#pragma once
/* GET /metrics on the API port: the Prometheus text exposition format (version 0.0.4),
 * written by hand (prom.c). */
#include "runtime/metrics.h"
#include "runtime/runtime.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

#define PROM_BUILD_STATUSES 4 /* waiting, building, ready, error */
extern const char *const prom_build_status[PROM_BUILD_STATUSES];

struct prom_data {
	uint64_t by_state[_STORE_SB_STATE_MAX]; /* killed is not counted (rows are kept) */
	bool host_wide;				/* an operator key: the host's series too */
	struct metrics_counters c;
	unsigned warm_ready;
	const struct runtime_warm_stat *warm; /* per template: target and ready gauges */
	size_t nwarm;
	uint64_t builds[PROM_BUILD_STATUSES];
};

/* The exposition text (malloc'd).  Pure. */
char *prom_render(const struct prom_data *d);
