/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Base64 (RFC 4648) for the whole tree, through OpenSSL's EVP_EncodeBlock / EVP_DecodeBlock:
 * a program whose code calls these links -lcrypto.
 */
#include <stddef.h>
#include <stdint.h>

/* Standard alphabet, padded, no line breaks; a malloc'd string. */
char *base64_encode(const void *data, size_t n);
/* Standard or URL-safe alphabet, padding optional (at most two '='); anything else (spaces,
 * line breaks, a stray character, a length of 4k+1) is -EINVAL.  *ret is malloc'd, with a NUL
 * after the *ret_len bytes. */
int base64_decode(const char *s, uint8_t **ret, size_t *ret_len);
