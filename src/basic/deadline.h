/* SPDX-License-Identifier: MIT */
#pragma once
/* Absolute deadlines for the timed waits (pthread_cond_timedwait and friends). */
#include <time.h>

/* Now on `clock` plus ms milliseconds, normalised (tv_nsec < 1e9). */
struct timespec deadline_after_ms(clockid_t clock, unsigned ms);
