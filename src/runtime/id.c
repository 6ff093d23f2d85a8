/* SPDX-License-Identifier: MIT */
/* Sandbox ids and envd access tokens, from getrandom. */
#include "runtime/runtime.h"

#include "basic/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static int fill_random(void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = getrandom((char *)buf + got, n - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	return 0;
}

int runtime_mint_id(char buf[RUNTIME_ID_MAX])
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[RUNTIME_ID_RANDOM_LEN * 2];
	int r = fill_random(rnd, sizeof(rnd));
	if (r < 0)
		return r;
	memcpy(buf, RUNTIME_ID_PREFIX, strlen(RUNTIME_ID_PREFIX));
	char *p = buf + strlen(RUNTIME_ID_PREFIX);
	size_t out = 0;
	/* Rejection sampling: 36 does not divide 256, plain modulo would bias. */
	for (size_t i = 0; out < RUNTIME_ID_RANDOM_LEN; i++) {
		if (i == sizeof(rnd)) {
			if ((r = fill_random(rnd, sizeof(rnd))) < 0)
				return r;
			i = 0;
		}
		if (rnd[i] >= 252)
			continue;
		p[out++] = alphabet[rnd[i] % 36];
	}
	p[out] = '\0';
	return 0;
}

bool runtime_id_valid(const char *id)
{
	size_t pl = strlen(RUNTIME_ID_PREFIX);
	if (!id || strncmp(id, RUNTIME_ID_PREFIX, pl))
		return false;
	size_t n = strlen(id + pl);
	if (n < 1 || n > 40)
		return false;
	for (const char *c = id + pl; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9')))
			return false;
	return true;
}

char *runtime_mint_token(void)
{
	unsigned char rnd[16];
	if (fill_random(rnd, sizeof(rnd)) < 0)
		abort(); /* getrandom without GRND_NONBLOCK only fails on bad args */
	char *s = xmalloc(sizeof(rnd) * 2 + 1);
	for (size_t i = 0; i < sizeof(rnd); i++) {
		static const char hex[] = "0123456789abcdef";
		s[2 * i] = hex[rnd[i] >> 4];
		s[2 * i + 1] = hex[rnd[i] & 15];
	}
	s[sizeof(rnd) * 2] = '\0';
	return s;
}
