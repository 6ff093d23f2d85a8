/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * E2B's template build API on the control plane (control-templates.c): the routes of one host's
 * e2b-templates.c, each sent to the template's build host as a signed call for the caller's team,
 * with the template rows in PostgreSQL (pg/templates.h) deciding where and whose.
 */
#include "http/http.h"

#include <stdbool.h>

struct control;

/* true when the request was a template route (/v3/templates, /v2/templates, /templates...,
 * /build-files/...) and is answered, 501 naming it for those not served. */
bool control_templates_handle(struct control *c, struct http_req *req);
