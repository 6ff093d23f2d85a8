/* SPDX-License-Identifier: MIT */
#pragma once
/* Strict number parsers for header and query values (pure, unit-tested). */
#include <stdbool.h>
#include <stdint.h>

/* s is a positive decimal integer that fits int64_t and nothing else (no sign, blanks, hex or
 * trailing bytes): *ret set, true; otherwise false and *ret untouched.  NULL is false.  The
 * X-Wrenn-Timestamp of heartbeats (daemon/control.c) and signed calls (daemon/host-call.c). */
bool parse_positive_i64(const char *s, int64_t *ret);
