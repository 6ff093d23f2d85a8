/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Connect protocol (connectrpc.com) pieces shared by envd and the daemon:
 * error codes and their HTTP statuses, the 5-byte envelope of streaming
 * calls, and writers for unary / streamed answers with the JSON codec.
 *
 * Envelope: 1 flag byte, 4-byte big-endian payload length, payload.
 * Flag 0x02 marks the end-of-stream message ({} or {"error":{...}}).
 *
 * Codecs: handlers read and write JSON messages.  A call made with another codec
 * (application/proto, application/connect+proto) is served by the same handlers once the
 * router named its codec and message types with connect_use_codec(): the readers decode
 * into JSON, the writers encode from JSON and answer in the caller's content type.  Unary
 * errors and the end-of-stream message stay JSON, as the Connect protocol has them.
 */
#include "http/http.h"

#include <jansson.h>
#include <stdint.h>

#define CONNECT_ENV_HDR 5
#define CONNECT_FLAG_COMPRESSED 0x01
#define CONNECT_FLAG_END 0x02

enum connect_code {
	CONNECT_OK = 0,
	CONNECT_CANCELED,
	CONNECT_UNKNOWN,
	CONNECT_INVALID_ARGUMENT,
	CONNECT_DEADLINE_EXCEEDED,
	CONNECT_NOT_FOUND,
	CONNECT_ALREADY_EXISTS,
	CONNECT_PERMISSION_DENIED,
	CONNECT_RESOURCE_EXHAUSTED,
	CONNECT_FAILED_PRECONDITION,
	CONNECT_ABORTED,
	CONNECT_OUT_OF_RANGE,
	CONNECT_UNIMPLEMENTED,
	CONNECT_INTERNAL,
	CONNECT_UNAVAILABLE,
	CONNECT_DATA_LOSS,
	CONNECT_UNAUTHENTICATED,
};

/* A binary codec: in and out are its descriptions of the call's request and answer types. */
struct connect_codec {
	const char *name; /* "proto": application/proto and application/connect+proto */
	int (*decode)(const void *type, const uint8_t *buf, size_t len, json_t **ret,
		      struct wr_err *err);
	int (*encode)(const void *type, const json_t *msg, uint8_t **ret, size_t *ret_len,
		      struct wr_err *err);
};
/* The call req, served on this thread until connect_use_codec(req, NULL, ...), speaks codec
 * (NULL: JSON) with request messages of type in and answers of type out. */
void connect_use_codec(struct http_req *req, const struct connect_codec *codec, const void *in,
		       const void *out);
/* Content-Type of req: its codec name ("json", "proto", ... NULL when neither
 * application/<name> nor application/connect+<name>), and whether it is the streaming form. */
const char *connect_content_codec(const struct http_req *req, char *buf, size_t n,
				  bool *ret_stream);
/* Does req's Content-Type match the codec it is served with (JSON unless
 * connect_use_codec said otherwise), in the unary or the streaming form? */
bool connect_content_type_ok(const struct http_req *req, bool stream);

/* "not_found" etc.; "unknown" for out-of-range values. */
const char *connect_code_name(enum connect_code code);
/* Parse a code name; CONNECT_UNKNOWN when unrecognised. */
enum connect_code connect_code_parse(const char *name);
/* HTTP status of a unary error (Connect spec table). */
int connect_code_http_status(enum connect_code code);
/* Best code for a negative errno (ENOENT -> not_found, EEXIST ->
 * already_exists, EACCES/EPERM -> permission_denied, EINVAL/ENOTDIR/EISDIR ->
 * invalid_argument, ENOSPC -> resource_exhausted, else internal). */
enum connect_code connect_code_from_errno(int err);

/* Encode an envelope header into out[5]. */
void connect_env_header(uint8_t out[CONNECT_ENV_HDR], uint8_t flags, uint32_t len);
/* Parse one envelope at buf[0..len).  On success stores flags, payload
 * pointer/length (into buf) and returns the total bytes consumed.  -EAGAIN
 * when more bytes are needed (truncated), -EMSGSIZE when the declared length
 * exceeds max_payload. */
int connect_env_parse(const void *buf, size_t len, size_t max_payload, uint8_t *ret_flags,
		      const uint8_t **ret_payload, size_t *ret_plen);

/* Read one enveloped JSON request message from a streaming call's body
 * (application/connect+json).  Errors carry a Connect code in *ret_code:
 * invalid_argument for truncation / bad JSON / compressed flag,
 * resource_exhausted when larger than max; -ENODATA when the body ended
 * cleanly before another envelope (the end of a client stream). */
int connect_read_env_json(struct http_req *req, size_t max, json_t **ret,
			  enum connect_code *ret_code, struct wr_err *err);
/* Read a unary request body (application/json) as a JSON object.  An empty
 * body is {}. */
int connect_read_json(struct http_req *req, size_t max, json_t **ret, enum connect_code *ret_code,
		      struct wr_err *err);

/* Unary answers. */
int connect_reply_json(struct http_req *req, json_t *msg); /* 200, does not steal msg */
int connect_reply_error(struct http_req *req, enum connect_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Streaming answers: begin (200, application/connect+json, chunked), any
 * number of messages, then exactly one end (code CONNECT_OK = {}). */
int connect_stream_begin(struct http_req *req);
int connect_stream_send(struct http_req *req, json_t *msg); /* does not steal msg */
int connect_stream_end(struct http_req *req, enum connect_code code, const char *message);

/* Connect-Timeout-Ms header in ms; 0 when absent, -EINVAL when malformed. */
int64_t connect_timeout_ms(const struct http_req *req);
