/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Client of envd (the guest agent) for the native API: Connect JSON calls, unary and
 * server-streaming, and the plain /files routes.  Every call works on a socket the runtime
 * connected inside the sandbox's network namespace; the call takes ownership of it.
 *
 * Connect errors come back as -errno (not_found -> ENOENT, already_exists -> EEXIST,
 * invalid_argument/failed_precondition -> EINVAL, permission_denied/unauthenticated -> EACCES,
 * resource_exhausted -> ENOSPC, deadline_exceeded -> ETIMEDOUT, else EPROTO) with envd's message.
 */
#include "basic/err.h"
#include "http/http.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct envdc_auth {
	const char *token; /* X-Access-Token, NULL = none */
	const char *user;  /* Basic auth user, NULL = envd's default */
};

/* Connect error code name -> -errno.  Pure. */
int envdc_errno_for_code(const char *code);

/* Unary call "/process.Process/List" etc.  *ret is the response object. */
int envdc_unary(int fd, const struct envdc_auth *a, const char *rpc, const json_t *msg,
		json_t **ret, struct wr_err *err);

/* A server stream (Start, Connect).  timeout_ms: Connect-Timeout-Ms (0 = none). */
struct envdc_stream;
int envdc_stream_open(int fd, const struct envdc_auth *a, const char *rpc, const json_t *msg,
		      uint64_t timeout_ms, struct envdc_stream **ret, struct wr_err *err);
/* Next message: 1 with *ret set, 0 at a clean end of stream, -errno on an error (an end frame
 * carrying an error, a broken connection, a malformed frame). */
int envdc_stream_next(struct envdc_stream *s, json_t **ret, struct wr_err *err);
/* The socket, to poll it together with something else. */
int envdc_stream_fd(const struct envdc_stream *s);
void envdc_stream_free(struct envdc_stream *s);

/* GET /files?path=: on success the response head is read and *ret_client holds the body to
 * stream (http_client_read), *ret_len its length (-1 unknown).  Errors carry envd's message;
 * 404 -> -ENOENT, 400 -> -EINVAL, 401/403 -> -EACCES. */
int envdc_files_get(int fd, const struct envdc_auth *a, const char *path,
		    struct http_client **ret_client, int64_t *ret_len, struct wr_err *err);
/* POST /files?path= with an application/octet-stream body of `len` bytes pulled from `read_fn`
 * (returns > 0 bytes, 0 at the end, -errno).  Answers envd's JSON array. */
int envdc_files_put(int fd, const struct envdc_auth *a, const char *path, int64_t len,
		    ssize_t (*read_fn)(void *ud, void *buf, size_t n), void *ud, json_t **ret,
		    struct wr_err *err);
