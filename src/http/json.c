/* SPDX-License-Identifier: MIT */
#include "http/json.h"
#include "http/http.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *wj_parse(const void *buf, size_t n, char *errbuf, size_t errlen)
{
	json_error_t e;
	json_t *j = json_loadb(buf, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
	if (!j && errbuf)
		snprintf(errbuf, errlen, "%d:%d: %s", e.line, e.column, e.text);
	return j;
}

json_t *wj_get(const json_t *obj, const char *camel)
{
	if (!json_is_object(obj))
		return NULL;
	json_t *v = json_object_get(obj, camel);
	if (!v) {
		char snake[128];
		size_t o = 0;
		for (const char *p = camel; *p && o + 2 < sizeof(snake); p++) {
			if (isupper((unsigned char)*p)) {
				snake[o++] = '_';
				snake[o++] = (char)tolower((unsigned char)*p);
			} else {
				snake[o++] = *p;
			}
		}
		snake[o] = '\0';
		v = json_object_get(obj, snake);
	}
	return json_is_null(v) ? NULL : v;
}

int wj_str(const json_t *obj, const char *camel, const char **ret)
{
	json_t *v = wj_get(obj, camel);
	if (!v)
		return -ENOENT;
	if (!json_is_string(v))
		return -EINVAL;
	*ret = json_string_value(v);
	return 0;
}

int wj_bool(const json_t *obj, const char *camel, bool *ret)
{
	json_t *v = wj_get(obj, camel);
	if (!v)
		return -ENOENT;
	if (!json_is_boolean(v))
		return -EINVAL;
	*ret = json_is_true(v);
	return 0;
}

int wj_i64(const json_t *obj, const char *camel, int64_t *ret)
{
	json_t *v = wj_get(obj, camel);
	if (!v)
		return -ENOENT;
	if (json_is_integer(v)) {
		*ret = json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		/* Range first: converting an out-of-range double is undefined. */
		if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) ||
		    d != (double)(int64_t)d)
			return -EINVAL;
		*ret = (int64_t)d;
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;
		errno = 0;
		long long n = strtoll(s, &end, 10);
		if (errno || end == s || *end)
			return -EINVAL;
		*ret = n;
		return 0;
	}
	return -EINVAL;
}

int wj_u32(const json_t *obj, const char *camel, uint32_t *ret)
{
	int64_t v;
	int r = wj_i64(obj, camel, &v);
	if (r < 0)
		return r;
	if (v < 0 || v > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

char *wj_dump(const json_t *v, size_t *ret_len)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!s)
		abort();
	if (ret_len)
		*ret_len = strlen(s);
	return s;
}

void wj_reply_error(struct http_req *req, int status, bool message_first, const char *fmt,
		    va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	json_t *m = json_string(msg);
	if (!m) /* invalid UTF-8 in the message */
		m = json_string(http_status_text(status));
	cleanup_json json_t *o = json_object();
	if (message_first)
		json_object_set_new(o, "message", m);
	json_object_set_new(o, "code", json_integer(status));
	if (!message_first)
		json_object_set_new(o, "message", m);
	size_t len = 0;
	cleanup_free char *s = wj_dump(o, &len);
	http_resp_send(req, status, "application/json", s, len);
}
