/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Logging: one line per message, "TIME LEVEL [ident] message", to stderr by
 * default or to a file.  Level from log_set_level() or the WRENN_LOG
 * environment variable (error|warn|info|debug).  Thread-safe: each line is
 * written with a single write(2).
 *
 * Only the outermost layer (a request handler, main) logs a failure; library
 * code returns a struct wr_err instead.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_init(const char *ident); /* reads WRENN_LOG */
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
int log_parse_level(const char *s); /* -1 if unknown */
/* Send log lines to this fd (not owned: caller keeps it open); -1 = stderr. */
void log_set_fd(int fd);
bool log_enabled(enum log_level lvl);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Finish a line whose first n bytes (a prefix, n < cap - 1) are already in line: the message,
 * cut to fit, and '\n'.  Returns the length, for one write(2).  Also used by wrenn-init. */
size_t log_line_finish(char *line, size_t cap, int n, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_enabled(LOG_LVL_DEBUG))                                                    \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                       \
	} while (0)
