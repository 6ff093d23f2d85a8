/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Fuzz harness piece: serve raw bytes as one HTTP/1.1 connection through the
 * real server request path (llhttp head/body parsing, target decoding,
 * handler, response writer, drain), over a socketpair whose write side is
 * shut after the input, so every read ends in data or EOF, never a wait.
 */
#include "http/http.h"

#include <stddef.h>
#include <stdint.h>

/* Inputs larger than this are ignored (they must fit the socket buffer). */
#define FUZZ_SERVE_MAX (60 * 1024)

/* Serve data to handler, at most max_requests requests (pipelined input
 * keeps the responses small enough for the socket buffer). */
void fuzz_serve(const uint8_t *data, size_t size, http_handler_fn handler, unsigned max_requests);
