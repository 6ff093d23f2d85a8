/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Per-sandbox observability kept in the agent's memory (nothing on disk, nothing in SQLite):
 *
 *   metrics  one point every METRICS_SAMPLE_S seconds while a sandbox runs: CPU from the host
 *            (the VMM process's CPU time over the interval, divided by the vCPUs), cpuCount and
 *            memTotal from the sandbox's configuration, memUsed/memCache/diskUsed/diskTotal
 *            from envd's GET /metrics in the guest (untrusted: every value range-checked; a
 *            missing or bad answer leaves them 0 and the point still records the host side);
 *   logs     the sandbox's console stream (vmm.log: the VMM's output, the guest's serial console
 *            and the runtime's "[wrenn] ..." lifecycle notes), one entry per line, stamped with
 *            the time the agent read it (within METRICS_TICK_MS of it being written).
 *
 * Limits (written here so the memory bound is explicit):
 *   METRICS_RING_POINTS  points per sandbox: 6 h at 5 s; older points drop out (the ring grows
 *                        on demand, so a short-lived sandbox costs little);
 *   METRICS_LOG_ENTRIES  log lines per sandbox, METRICS_LOG_BYTES of text, a line cut at
 *                        METRICS_LOG_LINE_MAX bytes;
 *   METRICS_KEEP_S       a sandbox's data is kept this long after it ended (24 h), and at most
 *                        METRICS_FINISHED_MAX ended sandboxes (the oldest-ended go first).
 * Per sandbox at most 4320 * 56 B of points + 256 KiB of text + 2048 * ~80 B of entry overhead
 * (~660 KiB); with the default 64 live sandboxes and 128 ended ones, ~125 MiB in the worst case
 * (every sandbox flooding its console for hours); typical sandboxes hold a few KiB.
 *
 * The sampler thread (metrics.c, one per runtime) ticks every METRICS_TICK_MS, off every request
 * path.  Its lock is a leaf (runtime-internal.h): taken under nothing, nothing taken under it.
 */
#include "basic/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define METRICS_SAMPLE_S 5
#define METRICS_TICK_MS 1000
#define METRICS_RING_POINTS 4320
#define METRICS_LOG_ENTRIES 2048
#define METRICS_LOG_BYTES (256 * 1024)
#define METRICS_LOG_LINE_MAX 2048
#define METRICS_KEEP_S (24 * 3600)
#define METRICS_FINISHED_MAX 128
/* sandbox_ids of GET /sandboxes/metrics */
#define METRICS_IDS_MAX 100

struct metric_point {
	int64_t ts; /* unix seconds */
	float cpu_pct;
	int32_t cpu_count;
	int64_t mem_used, mem_total, mem_cache, disk_used, disk_total;
};

/* Ring of the newest points, oldest first by index; grows up to max. */
struct metric_ring {
	struct metric_point *v;
	size_t cap, start, n;
};
void metric_ring_push(struct metric_ring *r, const struct metric_point *p, size_t max);
void metric_ring_done(struct metric_ring *r);
/* Points with start <= ts <= end (start/end 0 = open), oldest first, into a malloc'd array
 * (*ret NULL when none).  Pure. */
size_t metric_ring_window(const struct metric_ring *r, int64_t start, int64_t end,
			  struct metric_point **ret);
/* The newest point; false when none. */
bool metric_ring_last(const struct metric_ring *r, struct metric_point *ret);

enum metrics_level { METRICS_DEBUG, METRICS_INFO, METRICS_WARN, METRICS_ERROR };
const char *metrics_level_name(enum metrics_level l);
/* "debug"/"info"/"warn"/"error" -> level; -EINVAL otherwise. */
int metrics_level_parse(const char *s, enum metrics_level *ret);

/* The level of a console line written in log.h's format ("<RFC 3339 time> <level> [ident] ...",
 * as envd and wrenn-init print), else info.  Pure. */
enum metrics_level metrics_line_level(const char *line, size_t len);

struct log_entry {
	int64_t ts_ms; /* unix ms, strictly increasing within one sandbox (the cursor) */
	enum metrics_level level;
	char *source; /* "console" */
	char *msg;
};
struct log_ring {
	struct log_entry *v;
	size_t cap, start, n, bytes;
	int64_t last_ts;
};
/* Append (msg copied, cut at METRICS_LOG_LINE_MAX); the oldest go past the limits. */
void log_ring_push(struct log_ring *r, int64_t ts_ms, enum metrics_level level, const char *source,
		   const char *msg, size_t len);
void log_ring_done(struct log_ring *r);
/* Console bytes into lines ("console" entries stamped ts_ms): a line without its '\n' waits in
 * *partial (malloc'd, *partial_len bytes) for the next call, a line is cut at
 * METRICS_LOG_LINE_MAX (its rest dropped, a longer run without '\n' goes out in pieces of that
 * size), a trailing '\r' goes.  Pure. */
void log_ring_feed(struct log_ring *r, char **partial, size_t *partial_len, const char *data,
		   size_t n, int64_t ts_ms);
/* The i-th entry, oldest first (i < n). */
const struct log_entry *log_ring_at(const struct log_ring *r, size_t i);
/* Select entries for a logs query: forward = ts >= cursor ascending, backward = ts <= cursor
 * descending (cursor < 0: from the oldest / the newest), level >= min_level, message
 * containing search (NULL = any; case-sensitive), at most limit.  Writes indexes (for
 * log_ring_at) into ret (room for limit).  Pure. */
size_t log_ring_select(const struct log_ring *r, int64_t cursor, bool forward,
		       enum metrics_level min_level, const char *search, size_t limit, size_t *ret);

/* Latency histogram (seconds). */
#define METRICS_HIST_BUCKETS 10
extern const double metrics_hist_bounds[METRICS_HIST_BUCKETS]; /* upper bounds, last is +Inf */
struct metrics_hist {
	uint64_t bucket[METRICS_HIST_BUCKETS]; /* non-cumulative counts */
	uint64_t count;
	double sum;
};
void metrics_hist_observe(struct metrics_hist *h, double seconds);

/* Counters the runtime keeps for GET /metrics. */
struct metrics_counters {
	struct metrics_hist create, restore; /* runtime_create ok; runtime_resume ok */
	uint64_t warm_hits, warm_misses;     /* creates from a snapshot template with a warm pool */
	uint64_t create_errors;
};
