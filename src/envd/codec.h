/* SPDX-License-Identifier: MIT */
#pragma once
#include "http/http.h"

/* Before dispatching the Connect call svc ("process" or "filesystem") / method: when its
 * Content-Type asks for the protobuf codec, serve it with that codec (connect_use_codec) and
 * return 1; 0 for JSON (or a content type the handler will refuse); -ENOENT when the service
 * has no such method (the caller answers unimplemented).  The caller ends the call with
 * connect_use_codec(req, NULL, NULL, NULL). */
int envd_rpc_codec(struct http_req *req, const char *svc, const char *method);
