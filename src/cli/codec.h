/* SPDX-License-Identifier: MIT */
#pragma once
/* Pure encoders/decoders of the CLI's wire formats (unit-tested): base64, the NDJSON exec
 * stream, the wrenn-pty frames (docs/openapi.yaml). */
#include "basic/err.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* basic/base64.h under the CLI's names.  Standard alphabet, padded; encode returns a malloc'd
 * string. */
char *b64_encode(const void *data, size_t len);
/* Decode into a malloc'd buffer; -EINVAL on bad input.  Padding is optional. */
int b64_decode(const char *s, uint8_t **ret, size_t *ret_len);

/* NDJSON: feed arbitrary chunks; each complete line (a JSON object) goes to the callback.
 * A callback returning < 0 stops decoding with that value. */
#define NDJSON_MAX_LINE (8u << 20)
struct ndjson {
	char *buf;
	size_t len, cap;
};
typedef int (*ndjson_cb)(json_t *obj, void *ud, struct wr_err *err);
int ndjson_feed(struct ndjson *nd, const char *data, size_t len, ndjson_cb cb, void *ud,
		struct wr_err *err);
/* End of stream: a trailing line without '\n' is still delivered. */
int ndjson_finish(struct ndjson *nd, ndjson_cb cb, void *ud, struct wr_err *err);
void ndjson_done(struct ndjson *nd);

/* The exec stream's events, decoded. */
struct exec_sink {
	int out_fd, err_fd; /* where stdout / stderr data go */
	int exit_code;	    /* -1 until the exit event */
	char *error;	    /* message of an error event */
};
/* ndjson_cb for exec events: writes data to the sink's fds, records exit / error. */
int exec_event(json_t *obj, void *ud, struct wr_err *err);

/* wrenn-pty frames: type (1 byte), length (u32 BE), payload. */
enum pty_frame_type {
	PTY_INPUT = 0x00, /* client -> server; server -> client it is OUTPUT */
	PTY_RESIZE = 0x01,
	PTY_SIGNAL = 0x02,
	PTY_EXIT = 0x03,
	PTY_ERROR = 0x04,
};
#define PTY_OUTPUT PTY_INPUT
#define PTY_FRAME_HDR 5
#define PTY_FRAME_MAX (1u << 20)
/* Write header + payload into out (size PTY_FRAME_HDR + len). */
void pty_frame_put(uint8_t *out, uint8_t type, const void *payload, uint32_t len);
void pty_resize_payload(uint8_t out[4], unsigned cols, unsigned rows);
struct pty_decoder {
	uint8_t *buf;
	size_t len, cap;
};
typedef int (*pty_frame_cb)(uint8_t type, const uint8_t *payload, uint32_t len, void *ud);
/* Feed received bytes; every complete frame goes to cb.  -EPROTO for an oversized frame. */
int pty_decoder_feed(struct pty_decoder *d, const void *data, size_t len, pty_frame_cb cb,
		     void *ud);
void pty_decoder_done(struct pty_decoder *d);
