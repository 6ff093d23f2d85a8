/* SPDX-License-Identifier: MIT */
#include "runtime/undo.h"

#include "basic/xalloc.h"

#include <stdlib.h>

void undo_push(struct undo_stack *u, const char *what, undo_fn fn, void *arg)
{
	if (u->n == u->cap) {
		u->cap = u->cap ? u->cap * 2 : 8;
		u->v = xrealloc(u->v, u->cap * sizeof(*u->v));
	}
	u->v[u->n++] = (struct undo_entry){.what = what, .fn = fn, .arg = arg};
}

size_t undo_run(struct undo_stack *u, void *ctx)
{
	size_t ran = 0;
	while (u->n > 0) {
		struct undo_entry e = u->v[--u->n];
		e.fn(ctx, e.arg);
		ran++;
	}
	return ran;
}

void undo_discard(struct undo_stack *u)
{
	u->n = 0;
}

void undo_done(struct undo_stack *u)
{
	free(u->v);
	u->v = NULL;
	u->n = u->cap = 0;
}
