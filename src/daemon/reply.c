/* SPDX-License-Identifier: MIT */
#include "daemon/reply.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "http/json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void reply_error(struct http_req *req, int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	wj_reply_error(req, status, false, fmt, ap);
	va_end(ap);
}

void reply_json(struct http_req *req, int status, const json_t *v)
{
	size_t len = 0;
	cleanup_free char *s = wj_dump(v, &len);
	http_resp_send(req, status, "application/json", s, len);
}

void reply_json_new(struct http_req *req, int status, json_t *v)
{
	reply_json(req, status, v);
	json_decref(v);
}

void reply_empty(struct http_req *req, int status)
{
	http_resp_send(req, status, NULL, NULL, 0);
}

int reply_status_for_errno(int negerr)
{
	switch (-negerr) {
	case ENOENT:
	case ESRCH:
		return 404;
	case EEXIST:
	case EBUSY:
	case EALREADY:
	case ECANCELED:
		return 409;
	case EINVAL:
	case ENOTDIR:
	case EISDIR:
		return 400;
	case ENOSPC:
	case EDQUOT:
		return 507;
	case EUSERS: /* a per-team cap (runtime max_sandboxes_per_team) */
		return 429;
	case EAGAIN:
	case EMFILE:
	case ENFILE:
	case ENOBUFS:
	case ENOMEM:
	case ESHUTDOWN:
		return 503;
	case EACCES:
	case EPERM:
		return 403;
	case E2BIG:
	case EFBIG:
	case EMSGSIZE:
		return 413;
	case ETIMEDOUT:
		return 504;
	case ENOTSUP: /* = EOPNOTSUPP */
	case ENOSYS:
		return 501;
	case EPROTO:
	case EBADMSG:
	case ECONNREFUSED:
	case ECONNRESET:
	case ECONNABORTED:
	case EPIPE:
	case EHOSTUNREACH:
	case ENETUNREACH:
		return 502;
	default:
		return 500;
	}
}

int reply_read_json(struct http_req *req, size_t max, bool required, json_t **ret)
{
	int64_t cl = http_req_content_length(req);
	if (cl > (int64_t)max) {
		http_resp_close_after(req);
		reply_error(req, 413, "request body too large (%lld bytes, limit %zu)",
			    (long long)cl, max);
		return -EFBIG;
	}
	cleanup_free char *buf = NULL;
	size_t len = 0;
	int r = http_req_read_all(req, max, &buf, &len);
	if (r == -EFBIG) {
		http_resp_close_after(req);
		reply_error(req, 413, "request body too large (limit %zu bytes)", max);
		return r;
	}
	if (r < 0) {
		http_resp_close_after(req);
		reply_error(req, 400, "cannot read request body: %s", strerror(-r));
		return r;
	}
	size_t i = 0;
	while (i < len && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t'))
		i++;
	if (i == len) {
		if (required) {
			reply_error(req, 400, "a JSON body is required");
			return -EINVAL;
		}
		*ret = json_object();
		return 0;
	}
	char ebuf[200];
	cleanup_json json_t *v = wj_parse(buf, len, ebuf, sizeof(ebuf));
	if (!v) {
		reply_error(req, 400, "invalid JSON: %s", ebuf);
		return -EINVAL;
	}
	if (!json_is_object(v)) {
		reply_error(req, 400, "the JSON body must be an object");
		return -EINVAL;
	}
	*ret = TAKE_PTR(v);
	return 0;
}
