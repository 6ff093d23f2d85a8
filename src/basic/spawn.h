/* SPDX-License-Identifier: MIT */
#pragma once
/* Run a helper program (nft, qemu-img, ...) to completion. */
#include "basic/err.h"

#include <stddef.h>

/*
 * Spawn argv (argv[0] absolute, or looked up in PATH), feed it `input` on
 * stdin (NULL = /dev/null), collect stdout+stderr into `out` (NUL-terminated,
 * newlines folded to spaces, trailing space trimmed, cut to outsz-1 bytes;
 * the rest is drained and dropped) and wait for it.  Returns 0 and the wait
 * status in *ret_status when the program ran, -errno (with a message) when it
 * could not be started or waited for.  Safe from any thread: SIGPIPE is
 * blocked on the calling thread while writing.
 */
int spawn_capture(char *const argv[], const char *input, char *out, size_t outsz, int *ret_status,
		  struct wr_err *err);
