/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * The control plane's events (pg/events.h): GET /v1/events from PostgreSQL, and the periodic
 * work every replica runs: record host_lost once per loss (pg_host_lost_sweep, every
 * CONTROL_LOST_CHECK_MS) and keep the table bounded (pg_event_trim, every CONTROL_TRIM_MS).
 */
#include "http/http.h"

#include <stdbool.h>

struct control;
struct control_sweeper;

/* Every 2 s: a loss is recorded at most 2 s after the host turned lost (15 s without a
 * heartbeat); the check is one UPDATE that finds nothing in the common case. */
#define CONTROL_LOST_CHECK_MS 2000
#define CONTROL_TRIM_MS (5 * 60 * 1000)

/* GET /v1/events: true when path was it (answered).  An operator key sees every event; a team
 * key the events recorded for its team (its sandboxes', its refused creates), never a host's. */
bool control_events_handle(struct control *c, struct http_req *req);

/* Start the thread; < 0 when it cannot be started (the control plane runs without it). */
int control_sweeper_start(struct control *c, struct control_sweeper **ret);
/* Stop it and free; NULL-safe. */
void control_sweeper_stop(struct control_sweeper *s);
