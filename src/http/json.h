/* SPDX-License-Identifier: MIT */
#pragma once
/* Small jansson helpers for proto3-JSON style messages: fields are looked up
 * by lowerCamelCase name and also by snake_case; unknown fields are ignored. */
#include "basic/base64.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

/* Parse n bytes; NULL on error with a "line:col: text" message in errbuf. */
json_t *wj_parse(const void *buf, size_t n, char *errbuf, size_t errlen);
/* Field by camelCase name, or its snake_case form ("modifiedTime" also finds
 * "modified_time"); NULL if absent or JSON null. */
json_t *wj_get(const json_t *obj, const char *camel);
/* Typed getters: 0 on success (value stored), -ENOENT if absent,
 * -EINVAL if of the wrong type / out of range.  Integers accept JSON numbers
 * and decimal strings (proto3 int64). */
int wj_str(const json_t *obj, const char *camel, const char **ret);
int wj_bool(const json_t *obj, const char *camel, bool *ret);
int wj_i64(const json_t *obj, const char *camel, int64_t *ret);
int wj_u32(const json_t *obj, const char *camel, uint32_t *ret);
/* Serialize compactly into a malloc'd string (aborts on OOM). */
char *wj_dump(const json_t *v, size_t *ret_len);
/* Answer a JSON error {"code": status, "message": text} (message_first: {"message", "code"},
 * envd's order); text that is not valid UTF-8 is replaced by the status text. */
struct http_req;
void wj_reply_error(struct http_req *req, int status, bool message_first, const char *fmt,
		    va_list ap) __attribute__((format(printf, 4, 0)));
/* Aliases of basic/base64.h (OpenSSL underneath; the caller's program links -lcrypto):
 * encode is standard and padded, decode also takes the URL-safe alphabet and no padding.  New
 * code calls base64_encode / base64_decode. */
static inline char *wj_b64_encode(const void *data, size_t n)
{
	return base64_encode(data, n);
}
static inline int wj_b64_decode(const char *s, uint8_t **ret, size_t *ret_len)
{
	return base64_decode(s, ret, ret_len);
}
