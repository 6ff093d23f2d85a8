/* SPDX-License-Identifier: MIT */
/* SHA-256 of API keys through OpenSSL's libcrypto (the same library envd uses
 * for access-token signatures); the store keeps only this digest. */
#include "store/store.h"

#include <openssl/sha.h>

void store_sha256(const void *data, size_t len, uint8_t out[32])
{
	SHA256(data, len, out);
}
