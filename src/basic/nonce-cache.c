/* SPDX-License-Identifier: MIT */
#include "basic/nonce-cache.h"

#include "basic/xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NONCE_MAX 64

struct entry {
	char nonce[NONCE_MAX + 1];
	int64_t ts_ms;
};

/*
 * A flat array scanned whole on every add: expired entries are dropped (swapped with the last)
 * on the way, so the scan is over live nonces only.  A few thousand live nonces cost
 * microseconds; signed calls come at most a few hundred a second.
 */
struct nonce_cache {
	pthread_mutex_t lock;
	struct entry *v;
	size_t n, max;
	int64_t window_ms;
};

struct nonce_cache *nonce_cache_new(size_t max, int64_t window_ms)
{
	struct nonce_cache *nc = xcalloc(1, sizeof(*nc));
	pthread_mutex_init(&nc->lock, NULL);
	nc->v = xcalloc(max ? max : 1, sizeof(*nc->v));
	nc->max = max;
	nc->window_ms = window_ms;
	return nc;
}

void nonce_cache_free(struct nonce_cache *nc)
{
	if (!nc)
		return;
	pthread_mutex_destroy(&nc->lock);
	free(nc->v);
	free(nc);
}

int nonce_cache_add(struct nonce_cache *nc, const char *nonce, int64_t ts_ms, int64_t now_ms)
{
	size_t len = nonce ? strlen(nonce) : 0;
	if (len == 0 || len > NONCE_MAX)
		return -EINVAL;
	int r = 0;
	pthread_mutex_lock(&nc->lock);
	for (size_t i = 0; i < nc->n;) {
		if (nc->v[i].ts_ms < now_ms - nc->window_ms) { /* fails the clock check anyway */
			nc->v[i] = nc->v[--nc->n];
			continue;
		}
		if (!strcmp(nc->v[i].nonce, nonce))
			r = -EALREADY;
		i++;
	}
	if (r == 0 && nc->n >= nc->max)
		r = -ENOBUFS;
	if (r == 0) {
		memcpy(nc->v[nc->n].nonce, nonce, len + 1);
		nc->v[nc->n].ts_ms = ts_ms;
		nc->n++;
	}
	pthread_mutex_unlock(&nc->lock);
	return r;
}

size_t nonce_cache_size(struct nonce_cache *nc)
{
	pthread_mutex_lock(&nc->lock);
	size_t n = nc->n;
	pthread_mutex_unlock(&nc->lock);
	return n;
}
