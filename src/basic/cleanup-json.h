/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * cleanup_json: a json_t local released (json_decref) when it goes out of scope; ownership
 * leaves with TAKE_PTR.  Header-only so that libbasic itself does not link jansson.
 *
 *     cleanup_json json_t *j = json_loads(s, 0, NULL);
 *     ...
 *     return TAKE_PTR(j);
 */
#include "basic/cleanup.h"

#include <jansson.h>

static inline void cleanup_json_fn(json_t **j)
{
	json_decref(*j);
}
#define cleanup_json cleanup_(cleanup_json_fn)
