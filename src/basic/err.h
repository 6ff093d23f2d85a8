/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * The one error idiom of the code base.
 *
 * A fallible function returns int: >= 0 on success, a negative errno value on
 * failure.  Functions whose failure must reach a person (API client, CLI user,
 * log) take `struct wr_err *err` as their LAST parameter and fill it with a
 * message.  The struct lives on the caller's stack, so an error never owns
 * memory and can never leak.  `err` may be NULL when the caller only wants the
 * code.
 *
 *     int r = open_thing(path, &err);
 *     if (r < 0)
 *             return wr_err_prefix(&err, r, "create %s", id);
 */
#include <stdarg.h>
#include <stddef.h>

#define WR_ERR_MSG_MAX 512

struct wr_err {
	int code;		  /* positive errno, 0 = no error */
	char msg[WR_ERR_MSG_MAX]; /* human-readable, no trailing newline */
};

/* Set code and message; returns -code (code given positive or negative). */
int wr_err_set(struct wr_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int wr_err_setv(struct wr_err *err, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
/* Like wr_err_set, but appends ": strerror(code)". */
int wr_err_errno(struct wr_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prefix the existing message with context ("ctx: old message"). If err holds
 * no message yet, the message becomes "ctx: strerror(code)". Returns -code. */
int wr_err_prefix(struct wr_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void wr_err_clear(struct wr_err *err);
/* The message, or strerror of the code when no message was set. */
const char *wr_err_msg(const struct wr_err *err);
