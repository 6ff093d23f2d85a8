/* SPDX-License-Identifier: MIT */
#include "basic/base64.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

/* EVP_*Block take an int length: work in chunks of whole groups. */
#define CHUNK_GROUPS (1u << 20) /* 3 MiB of data, 4 MiB of text */

char *base64_encode(const void *data, size_t n)
{
	const unsigned char *in = data;
	char *out = xmalloc((n + 2) / 3 * 4 + 1);
	size_t o = 0;
	out[0] = '\0';
	while (n > 0) {
		size_t k = n < 3 * CHUNK_GROUPS ? n : 3 * CHUNK_GROUPS;
		o += (size_t)EVP_EncodeBlock((unsigned char *)out + o, in, (int)k);
		in += k;
		n -= k;
	}
	out[o] = '\0';
	return out;
}

static int b64_char(char c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '+' || c == '/')
		return c;
	if (c == '-')
		return '+';
	if (c == '_')
		return '/';
	return -1;
}

int base64_decode(const char *s, uint8_t **ret, size_t *ret_len)
{
	size_t n = strlen(s), pad = 0;
	while (n > 0 && s[n - 1] == '=') {
		n--;
		pad++;
	}
	if (pad > 2 || n % 4 == 1)
		return -EINVAL;
	/* EVP_DecodeBlock wants whole groups in the standard alphabet and would skip
	 * whitespace: translate and check here, pad to a multiple of 4. */
	size_t full = (n + 3) / 4 * 4;
	cleanup_free unsigned char *in = xmalloc(full + 1);
	for (size_t i = 0; i < n; i++) {
		int c = b64_char(s[i]);
		if (c < 0)
			return -EINVAL;
		in[i] = (unsigned char)c;
	}
	memset(in + n, '=', full - n);
	cleanup_free uint8_t *out = xmalloc(full / 4 * 3 + 1);
	size_t o = 0;
	for (size_t i = 0; i < full;) {
		size_t k = full - i < 4 * CHUNK_GROUPS ? full - i : 4 * CHUNK_GROUPS;
		int r = EVP_DecodeBlock(out + o, in + i, (int)k);
		if (r < 0)
			return -EINVAL;
		o += (size_t)r;
		i += k;
	}
	/* EVP_DecodeBlock counts the bytes of the padding as zeros */
	size_t len = full / 4 * 3 - (full - n);
	out[len] = '\0';
	*ret = TAKE_PTR(out);
	*ret_len = len;
	return 0;
}
