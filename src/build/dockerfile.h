/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Dockerfile -> E2B v2 build request.
 *
 * FROM names without ':' '/' '@' (base, minimal, debian, my-template) become "fromTemplate";
 * anything else (python:3.12-slim, registry:5000/x, x@sha256:...) becomes "fromImage". The parser
 * cannot know which templates exist: the caller resolves the name.
 */
#include "basic/err.h"

#include <jansson.h>
#include <stddef.h>

/* Parse a Dockerfile into an E2B v2 build-request JSON object exactly as the npm SDK sends it:
 * {"fromImage": ref} or {"fromTemplate": name}, "steps": [{"type": "RUN"|"COPY"|"ENV"|"WORKDIR"|"USER", "args": [...], "force": false}],
 * "startCmd" (CMD/ENTRYPOINT as one shell command), "readyCmd" absent. COPY steps carry the SDK's COPY args (sources, dest, user/chown, mode)
 * and no "filesHash": the caller archives the sources from the context and sets it. ret_notes: array of strings (EXPOSE/LABEL noted).
 * Unknown/unsupported instruction or malformed line: -EINVAL, message "Dockerfile line N: ...". */
int dockerfile_parse(const char *text, size_t len, const json_t *build_args, json_t **ret_build,
		     json_t **ret_notes, struct wr_err *err);
