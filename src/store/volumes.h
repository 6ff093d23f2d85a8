/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Volumes in the store: one row per persistent ext4 image (src/runtime/volumes.h).  A volume
 * belongs to a team and is held by at most one holder at a time: a live sandbox (its id) or a
 * content access of the agent (STORE_VOL_CONTENT_HOLDER).  Claims are single UPDATEs, so two
 * sandboxes (or a sandbox and a content request) can never both hold one volume.
 */
#include "store/store.h"

/* The holder name of a /volumecontent request (never a sandbox id: those start "cl-"). */
#define STORE_VOL_CONTENT_HOLDER "-content"

struct store_volume {
	char *id;   /* "vol-" + 12 [a-z0-9] */
	char *name; /* unique within its team */
	char *team; /* "" = the operator's */
	int64_t size_bytes;
	char *path;   /* the image file */
	char *token;  /* E2B's volume content token */
	char *holder; /* sandbox id or STORE_VOL_CONTENT_HOLDER; NULL = free */
	int64_t created_at;
};
void store_volume_done(struct store_volume *v);
void store_volume_list_free(struct store_volume *rows, size_t n);

/* Insert.  -EEXIST when the team has a volume of that name; -EUSERS when the team already has
 * max_per_team volumes (0 = no cap; checked in the same transaction). */
int store_volume_add(struct store *s, const struct store_volume *v, unsigned max_per_team,
		     struct wr_err *err);
/* By id, or by name within `team` (NULL = any team, ids only then match across teams). */
int store_volume_get(struct store *s, const char *id_or_name, const char *team,
		     struct store_volume *ret, struct wr_err *err);
/* A team's volumes (NULL = all), oldest first. */
int store_volume_list(struct store *s, const char *team, struct store_volume **ret_rows,
		      size_t *ret_n, struct wr_err *err);
/* Delete a free volume: -EBUSY naming the holder while held, -ENOENT when unknown. */
int store_volume_delete(struct store *s, const char *id, struct wr_err *err);
/* Make `holder` the holder of volume id: 0 when it was free, -EBUSY naming the current holder
 * otherwise (also when that is `holder` itself), -ENOENT when unknown. */
int store_volume_claim(struct store *s, const char *id, const char *holder, struct wr_err *err);
/* Release what `holder` holds: volume id, or every volume of the holder when id is NULL. */
int store_volume_release(struct store *s, const char *id, const char *holder, struct wr_err *err);
/* Release every volume whose holder is neither a creating/running/paused sandbox nor in
 * `keep` (NULL-terminated holder names, may be NULL): what a crash left held.  *ret_n (optional)
 * = how many were released. */
int store_volume_release_orphans(struct store *s, const char *const *keep, int *ret_n,
				 struct wr_err *err);
