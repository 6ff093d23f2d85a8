/* SPDX-License-Identifier: MIT */
#pragma once
/* Internal: the per-request part of the server (request.c). */
#include "http/http.h"
#include "http/msg.h"

/* Serve the request whose head is in m.  Returns true when the connection
 * may carry another request; *ret_taken is set when the handler took the
 * socket (m->fd is no longer ours). */
bool http_serve_one(struct http_server *srv, const struct http_server_config *cfg,
		    struct http_msg *m, const char *peer, http_handler_fn handler, void *userdata,
		    bool *ret_taken);
