/* SPDX-License-Identifier: MIT */
/*
 * dockerfile_parse on arbitrary text (build args {"V": "x y", "EMPTY": ""}): it either returns a
 * request with steps and exactly one of fromImage/fromTemplate, or -EINVAL with a message that
 * names the Dockerfile; never anything else, never a leak or an out-of-bounds read.
 */
#include "build/dockerfile.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 16)
		return 0;
	/* Not NUL-terminated on purpose: the parser must honour len. */
	char *copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	json_t *ba = json_pack("{s:s, s:s}", "V", "x y", "EMPTY", "");
	json_t *build = NULL, *notes = NULL;
	struct wr_err err = {0};
	int r = dockerfile_parse(copy, size, ba, &build, &notes, &err);
	if (r == 0) {
		if (!json_is_array(json_object_get(build, "steps")) || !json_is_array(notes) ||
		    !json_object_get(build, "fromImage") == !json_object_get(build, "fromTemplate"))
			abort();
	} else if (r != -EINVAL || strncmp(wr_err_msg(&err), "Dockerfile", 10) != 0) {
		if (strncmp(wr_err_msg(&err), "build arg", 9) != 0)
			abort();
	}
	json_decref(build);
	json_decref(notes);
	json_decref(ba);
	free(copy);
	return 0;
}
