/* SPDX-License-Identifier: MIT */
#include "basic/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int norm(int code)
{
	if (code < 0)
		code = -code;
	return code ? code : EIO;
}

int wr_err_setv(struct wr_err *err, int code, const char *fmt, va_list ap)
{
	code = norm(code);
	if (err) {
		err->code = code;
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	}
	return -code;
}

int wr_err_set(struct wr_err *err, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = wr_err_setv(err, code, fmt, ap);
	va_end(ap);
	return r;
}

int wr_err_errno(struct wr_err *err, int code, const char *fmt, ...)
{
	code = norm(code);
	if (!err)
		return -code;
	va_list ap;
	va_start(ap, fmt);
	wr_err_setv(err, code, fmt, ap);
	va_end(ap);
	size_t n = strlen(err->msg);
	snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(code));
	return -code;
}

int wr_err_prefix(struct wr_err *err, int code, const char *fmt, ...)
{
	code = norm(code);
	if (!err)
		return -code;
	char ctx[WR_ERR_MSG_MAX];
	char old[WR_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx, sizeof(ctx), fmt, ap);
	va_end(ap);
	if (err->msg[0])
		snprintf(old, sizeof(old), "%s", err->msg);
	else
		snprintf(old, sizeof(old), "%s", strerror(code));
	err->code = code;
	/* Truncation is acceptable: keep as much of both parts as fits. */
	size_t n = strnlen(ctx, sizeof(err->msg) - 1);
	memcpy(err->msg, ctx, n);
	size_t room = sizeof(err->msg) - 1 - n;
	const char sep[] = ": ";
	size_t s = room < 2 ? room : 2;
	memcpy(err->msg + n, sep, s);
	n += s;
	room -= s;
	size_t o = strnlen(old, room);
	memcpy(err->msg + n, old, o);
	err->msg[n + o] = '\0';
	return -code;
}

void wr_err_clear(struct wr_err *err)
{
	if (err) {
		err->code = 0;
		err->msg[0] = '\0';
	}
}

const char *wr_err_msg(const struct wr_err *err)
{
	if (!err)
		return "";
	if (err->msg[0])
		return err->msg;
	return err->code ? strerror(err->code) : "";
}
