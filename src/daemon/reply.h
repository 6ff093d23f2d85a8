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

/* HTTP status for a negative errno from the runtime/store: ENOENT 404, EEXIST/EBUSY/EALREADY
 * 409, EINVAL 400, ENOSPC 507, EAGAIN/EMFILE/ENFILE/ENOBUFS 503, EACCES/EPERM 403, E2BIG/EFBIG
 * 413, ETIMEDOUT 504, else 500.  Pure. */
int reply_status_for_errno(int negerr);

/* Read the body as a JSON object.  An empty body is {} unless required.  On failure the error
 * response is already sent and a negative errno returned. */
int reply_read_json(struct http_req *req, size_t max, bool required, json_t **ret);
