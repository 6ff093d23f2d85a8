/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Path patterns for the API dispatcher: "/sandboxes/ * /connect" (written without spaces)
 * matches a decoded path segment by segment; each "*" captures one non-empty segment.  A trailing
 * slash on the path is tolerated.  Pure functions, unit-tested.
 */
#include <stdbool.h>
#include <stddef.h>

#define ROUTE_MAX_CAPS 4

struct route_caps {
	char *v[ROUTE_MAX_CAPS]; /* malloc'd captures */
	size_t n;
};
void route_caps_done(struct route_caps *c);

/* true on a match (caps filled; release with route_caps_done), false otherwise (caps empty). */
bool route_match(const char *pattern, const char *path, struct route_caps *caps);
