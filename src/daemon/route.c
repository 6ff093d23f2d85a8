/* SPDX-License-Identifier: MIT */
#include "daemon/route.h"

#include "basic/xalloc.h"

#include <stdlib.h>
#include <string.h>

void route_caps_done(struct route_caps *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i]);
	c->n = 0;
}

bool route_match(const char *pattern, const char *path, struct route_caps *caps)
{
	caps->n = 0;
	if (*pattern != '/' || *path != '/')
		return false;
	const char *p = pattern + 1, *s = path + 1;
	for (;;) {
		size_t pl = strcspn(p, "/"), sl = strcspn(s, "/");
		if (pl == 1 && *p == '*') {
			if (sl == 0 || caps->n == ROUTE_MAX_CAPS)
				goto nomatch;
			caps->v[caps->n++] = xstrndup(s, sl);
		} else if (pl != sl || strncmp(p, s, pl) != 0) {
			goto nomatch;
		}
		p += pl;
		s += sl;
		if (!*p) {
			/* pattern done: the path may only have one trailing slash left */
			if (!*s || (s[0] == '/' && !s[1]))
				return true;
			goto nomatch;
		}
		if (!*s)
			goto nomatch;
		p++;
		s++;
	}
nomatch:
	route_caps_done(caps);
	return false;
}
