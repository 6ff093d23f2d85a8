/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Templates across hosts, the host side (`--role host`; docs/ARCHITECTURE.md "Multiple hosts"):
 *
 *   GET  /v1/host/templates/{name}/manifest      a fetch token (tplmanifest.h) for {name} and the
 *   GET  /v1/host/templates/{name}/files/{file}  requesting host: the manifest (signed with the
 *                                                token), one file of it
 *   POST /v1/host/template-fetch                 the control plane's signed call: fetch
 *        {template, source, sourceHost, expires, token}  a template from the host that has it,
 *                                                verify and register it; concurrent calls for
 *                                                the same template share one fetch
 *
 * None of them exists on a host without --host-id (403), and none takes an ordinary API key.
 */
#include "daemon/agent.h"

#include <stdbool.h>

/* true when req was one of these routes (and has been answered). */
bool tplxfer_handle(struct agent *a, struct http_req *req);
