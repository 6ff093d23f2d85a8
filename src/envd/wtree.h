/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * A directory, or with `recursive` its whole subtree, watched through one
 * inotify instance, the raw events translated into E2B FilesystemEvent JSON
 * objects {name, type, entry?}:
 *   - name is relative to the root ("f.txt", "sub/f.txt"; "." for the root);
 *   - type is EVENT_TYPE_CREATE | WRITE | REMOVE | RENAME | CHMOD (one raw
 *     event can give several, in that order: create, rename, chmod, write,
 *     remove);
 *   - entry (EntryInfo) only when include_entry and the type is create,
 *     write or chmod and the path can still be stat-ed.
 * A recursive tree adds watches for directories created or moved in before
 * it reports them, and reports what such a directory already holds as
 * CREATE events, since it may have filled up before its watch existed.
 * Symlinked directories below the root are not followed.
 */
#include "basic/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Most directories one tree watches; more gives -ENOSPC. */
#define WTREE_MAX_DIRS 8192

struct wtree;

/* Receives each event (ownership passes to it).  A negative return stops
 * wtree_process(), which then returns that value. */
typedef int (*wtree_emit_fn)(void *ud, json_t *ev);

/* root must be an existing directory (absolute path).  Errors: -ENOENT,
 * -ENOTDIR, -ENOSPC (watch limits), -EMFILE ... with a message. */
int wtree_open(const char *root, bool recursive, bool include_entry, struct wtree **ret,
	       struct wr_err *err);
void wtree_free(struct wtree *t);
/* The inotify fd (non-blocking) to poll for POLLIN. */
int wtree_fd(const struct wtree *t);
/* Directories currently watched. */
size_t wtree_count(const struct wtree *t);
/* Translate everything readable now.  0 when drained; -EOVERFLOW when the
 * kernel queue overflowed (events were lost; the tree keeps working);
 * -ENOSPC when a new directory could not be watched; emit's negative value;
 * another -errno on a read error.  Every event read before an error is
 * still emitted. */
int wtree_process(struct wtree *t, wtree_emit_fn emit, void *ud, struct wr_err *err);
