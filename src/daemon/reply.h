/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Answers of the API server: JSON bodies and JSON errors `{"code": <status>, "message": "..."}`
 * (the shape both the native API and E2B's control plane use), and reading a JSON request body
 * with the statuses a client expects (400 bad JSON, 413 too large).
 */
#include "http/http.h"

#include <jansson.h>
#include <stdbool.h>

/* Default cap on JSON request bodies of the API. */
#define REPLY_MAX_JSON_BODY (1024 * 1024)

void reply_error(struct http_req *req, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Does not steal v. */
void reply_json(struct http_req *req, int status, const json_t *v);
/* Steals v (convenience for builders). */
void reply_json_new(struct http_req *req, int status, json_t *v);
void reply_empty(struct http_req *req, int status);

/*
 * The one errno -> HTTP status mapping of the daemon (runtime, store, envd calls alike; no
 * handler keeps a table of its own).  Pure.
 *
 *   ENOENT ESRCH                                   404  no such sandbox/template/file/process
 *   EINVAL ENOTDIR EISDIR                          400  bad argument
 *   EACCES EPERM                                   403
 *   EEXIST EBUSY EALREADY ECANCELED                409  taken, wrong state, cancelled by a destroy
 *   E2BIG EFBIG EMSGSIZE                           413
 *   ENOSPC EDQUOT                                  507  no room: disk, network slot, sandbox limit
 *   EAGAIN EMFILE ENFILE ENOBUFS ENOMEM ESHUTDOWN  503  try again later / agent stopping
 *   ETIMEDOUT                                      504  the guest did not answer in time
 *   ENOTSUP (EOPNOTSUPP) ENOSYS                    501  not supported by this host/backend
 *   EPROTO EBADMSG ECONNREFUSED ECONNRESET         502  the guest (envd) failed or answered badly
 *   ECONNABORTED EPIPE EHOSTUNREACH ENETUNREACH
 *   anything else                                  500  host failure (VMM, disk, netlink)
 *
 * envdc maps envd's answers onto these (unknown envd failures are -EPROTO, i.e. 502).
 */
int reply_status_for_errno(int negerr);

/*
 * Handler convention: a helper that may answer the request itself (validation, lookups)
 * returns >= 0 when it did not answer and a negative errno when the response has been sent
 * (never a bare -1); the caller then just returns.  Helpers named *_or_reply, reply_read_json
 * and the body_* readers follow it.
 */

/* Read the body as a JSON object.  An empty body is {} unless required.  On failure the error
 * response is already sent and a negative errno returned. */
int reply_read_json(struct http_req *req, size_t max, bool required, json_t **ret);
