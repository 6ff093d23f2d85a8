/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Undo stack of a multi-step operation: each step that made something pushes
 * the function that takes it back; a failure runs them newest first, success
 * discards them.  Undo functions cannot fail the rollback: they do their best
 * and the stack keeps going.
 */
#include <stddef.h>

typedef void (*undo_fn)(void *ctx, void *arg);

struct undo_entry {
	const char *what;
	undo_fn fn;
	void *arg;
};

struct undo_stack {
	struct undo_entry *v;
	size_t n, cap;
};

void undo_push(struct undo_stack *u, const char *what, undo_fn fn, void *arg);
/* Run every entry newest first with ctx, then empty the stack; returns how many ran. */
size_t undo_run(struct undo_stack *u, void *ctx);
/* Success: forget the entries. */
void undo_discard(struct undo_stack *u);
void undo_done(struct undo_stack *u);
