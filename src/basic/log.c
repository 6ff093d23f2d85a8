/* SPDX-License-Identifier: MIT */
#include "basic/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static enum log_level g_level = LOG_LVL_INFO;
static int g_fd = -1;
static char g_ident[32] = "wrenn";

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int log_parse_level(const char *s)
{
	if (!s)
		return -1;
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return (int)i;
	return -1;
}

void log_init(const char *ident)
{
	if (ident)
		snprintf(g_ident, sizeof(g_ident), "%s", ident);
	int l = log_parse_level(getenv("WRENN_LOG"));
	if (l >= 0)
		g_level = (enum log_level)l;
}

void log_set_level(enum log_level lvl)
{
	g_level = lvl;
}
enum log_level log_get_level(void)
{
	return g_level;
}
void log_set_fd(int fd)
{
	g_fd = fd;
}
bool log_enabled(enum log_level lvl)
{
	return lvl <= g_level;
}

size_t log_line_finish(char *line, size_t cap, int n, const char *fmt, va_list ap)
{
	int m = vsnprintf(line + n, cap - (size_t)n - 1, fmt, ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > cap - 2)
		len = cap - 2;
	line[len++] = '\n';
	return len;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	if (!log_enabled(lvl))
		return;
	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, level_names[lvl], g_ident);
	va_list ap;
	va_start(ap, fmt);
	size_t len = log_line_finish(line, sizeof(line), n, fmt, ap);
	va_end(ap);
	ssize_t w = write(g_fd >= 0 ? g_fd : STDERR_FILENO, line, len);
	(void)w;
}
