/* SPDX-License-Identifier: MIT */
#include "cli/table.h"

#include "basic/xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void table_init(struct table *t, int ncols, const char *const *headers)
{
	*t = (struct table){.ncols = ncols};
	table_add(t, headers);
}

void table_add(struct table *t, const char *const *cells)
{
	t->cells = xrealloc(t->cells, (size_t)(t->nrows + 1) * (size_t)t->ncols * sizeof(char *));
	for (int i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = xstrdup(cells[i] ? cells[i] : "-");
	t->nrows++;
}

void table_print(const struct table *t, FILE *f)
{
	size_t *w = xcalloc((size_t)t->ncols, sizeof(*w));
	for (int r = 0; r < t->nrows; r++)
		for (int c = 0; c < t->ncols; c++) {
			size_t n = strlen(t->cells[r * t->ncols + c]);
			if (n > w[c])
				w[c] = n;
		}
	for (int r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			if (c == t->ncols - 1)
				fprintf(f, "%s\n", s);
			else
				fprintf(f, "%-*s  ", (int)w[c], s);
		}
	}
	free(w);
}

void table_done(struct table *t)
{
	for (int i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	*t = (struct table){0};
}

void fmt_duration(int64_t s, char *buf, size_t size)
{
	if (s < 0)
		snprintf(buf, size, "-");
	else if (s < 60)
		snprintf(buf, size, "%llds", (long long)s);
	else if (s < 3600)
		snprintf(buf, size, "%lldm", (long long)(s / 60));
	else if (s < 86400)
		snprintf(buf, size, "%lldh", (long long)(s / 3600));
	else
		snprintf(buf, size, "%lldd", (long long)(s / 86400));
}

int64_t parse_rfc3339(const char *s)
{
	if (!s)
		return -1;
	struct tm tm = {0};
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!p)
		return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	int64_t off = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int h = atoi(p + 1), m = atoi(p + 4);
		off = (int64_t)(h * 3600 + m * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	} else {
		return -1;
	}
	if (*p)
		return -1;
	return (int64_t)timegm(&tm) - off;
}

void fmt_bytes(int64_t n, char *buf, size_t size)
{
	static const char units[] = "BKMGTP";
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%lldB", (long long)n);
	else
		snprintf(buf, size, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
}
