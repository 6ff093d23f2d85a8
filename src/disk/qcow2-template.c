/* SPDX-License-Identifier: MIT */
#include "disk/qcow2-template.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* An empty overlay is 196,616 bytes with 64 KiB clusters (header, refcount table and
 * block, L1 table); anything much larger is not what this cache is for. */
#define QCOW2_TPL_MAX_BYTES (1u << 20)
/* Distinct templates a process clones from; the oldest entry is replaced past it. */
#define QCOW2_TPL_SLOTS 8

struct qcow2_tpl {
	char *backing;
	off_t size;
	void *data;
	size_t len;
};

static pthread_mutex_t tpl_lock = PTHREAD_MUTEX_INITIALIZER;
static struct qcow2_tpl tpl[QCOW2_TPL_SLOTS];
static unsigned tpl_next;

static void *memdup_(const void *p, size_t n)
{
	return memcpy(xmalloc(n), p, n);
}

static void tpl_clear(struct qcow2_tpl *t)
{
	free(t->backing);
	free(t->data);
	*t = (struct qcow2_tpl){0};
}

int qcow2_tpl_get(const char *backing, off_t size, void **ret, size_t *ret_len)
{
	int found = 0;
	pthread_mutex_lock(&tpl_lock);
	for (size_t i = 0; i < QCOW2_TPL_SLOTS; i++) {
		struct qcow2_tpl *t = &tpl[i];
		if (t->backing && t->size == size && !strcmp(t->backing, backing)) {
			*ret = memdup_(t->data, t->len);
			*ret_len = t->len;
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&tpl_lock);
	return found;
}

int qcow2_tpl_put(const char *backing, off_t size, const void *data, size_t len)
{
	/* Only what is recognisably a qcow2 header (magic "QFI\xfb") is kept: a copy of
	 * anything else would hand every later sandbox a broken disk. */
	if (len < 104 || len > QCOW2_TPL_MAX_BYTES || memcmp(data, "QFI\xfb", 4) != 0)
		return -EINVAL;
	struct qcow2_tpl n = {
		.backing = xstrdup(backing),
		.size = size,
		.data = memdup_(data, len),
		.len = len,
	};
	pthread_mutex_lock(&tpl_lock);
	struct qcow2_tpl *slot = NULL;
	for (size_t i = 0; i < QCOW2_TPL_SLOTS && !slot; i++)
		if (tpl[i].backing && tpl[i].size == size && !strcmp(tpl[i].backing, backing))
			slot = &tpl[i]; /* two first clones raced: the later one wins */
	if (!slot)
		slot = &tpl[tpl_next++ % QCOW2_TPL_SLOTS];
	struct qcow2_tpl old = *slot;
	*slot = n;
	pthread_mutex_unlock(&tpl_lock);
	tpl_clear(&old);
	return 0;
}

void qcow2_tpl_flush(void)
{
	pthread_mutex_lock(&tpl_lock);
	for (size_t i = 0; i < QCOW2_TPL_SLOTS; i++)
		tpl_clear(&tpl[i]);
	tpl_next = 0;
	pthread_mutex_unlock(&tpl_lock);
}
