/* SPDX-License-Identifier: MIT */
/* Accept-Encoding negotiation for GET /files (RFC 9110 §12.5.3). */
#include "envd/envd.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* q of one "coding;q=x" element; 1 when absent, clamped to [0, 1]. */
static double quality(const char *params, size_t n)
{
	double q = 1;
	const char *p = params, *end = params + n;
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *stop = semi ? semi : end;
		while (p < stop && (*p == ' ' || *p == '\t'))
			p++;
		if (stop - p > 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
			char buf[16];
			size_t l = (size_t)(stop - p - 2);
			if (l >= sizeof(buf))
				l = sizeof(buf) - 1;
			memcpy(buf, p + 2, l);
			buf[l] = '\0';
			char *e;
			double v = strtod(buf, &e);
			if (e != buf)
				q = v < 0 ? 0 : v > 1 ? 1 : v;
		}
		p = semi ? semi + 1 : end;
	}
	return q;
}

struct accept {
	double gzip, identity, star; /* q values; -1 when not mentioned */
};

static struct accept parse(const char *h)
{
	struct accept a = {-1, -1, -1};
	const char *p = h;
	while (p && *p) {
		size_t n = strcspn(p, ",");
		const char *t = p, *end = p + n;
		while (t < end && (*t == ' ' || *t == '\t'))
			t++;
		size_t nl = strcspn(t, ";, \t");
		if (t + nl > end)
			nl = (size_t)(end - t);
		const char *semi = memchr(t, ';', (size_t)(end - t));
		double q = semi ? quality(semi + 1, (size_t)(end - semi - 1)) : 1;
		if ((nl == 4 && !strncasecmp(t, "gzip", 4)) ||
		    (nl == 6 && !strncasecmp(t, "x-gzip", 6)))
			a.gzip = q > a.gzip ? q : a.gzip;
		else if (nl == 8 && !strncasecmp(t, "identity", 8))
			a.identity = q;
		else if (nl == 1 && *t == '*')
			a.star = q;
		p = *end ? end + 1 : end;
	}
	return a;
}

/* Identity is fine unless "identity;q=0", or "*;q=0" without identity. */
static bool identity_ok(const struct accept *a)
{
	return a->identity >= 0 ? a->identity > 0 : a->star >= 0 ? a->star > 0 : true;
}

enum envd_coding envd_pick_coding(const char *h, bool ranged)
{
	struct accept a = parse(h);
	/* Ranges and the empty-file check (Content-Length: 0) need identity. */
	if (ranged)
		return identity_ok(&a) ? ENVD_CODING_IDENTITY : ENVD_CODING_NONE;
	bool gzip_ok = a.gzip >= 0 ? a.gzip > 0 : a.star > 0;
	if (gzip_ok)
		return ENVD_CODING_GZIP;
	return identity_ok(&a) ? ENVD_CODING_IDENTITY : ENVD_CODING_NONE;
}
