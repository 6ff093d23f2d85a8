/* SPDX-License-Identifier: MIT */
#pragma once
/* Hex digits (libc-only, like all of basic). */
#include <stddef.h>

/* Value of one hex digit (upper or lower case), or -1. */
int hex_digit(char c);
/* n bytes as 2n lower-case hex digits plus a NUL into out (room for 2n + 1). */
void hex_encode(const void *in, size_t n, char *out);
