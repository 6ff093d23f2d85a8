/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Template builds (E2B's v2 build request: a base, steps RUN/COPY/ENV/WORKDIR/USER, a start and
 * a ready command), ending in a snapshot template published under a name.
 *
 * A build runs in a background thread: the runtime boots a build VM from the base
 * (runtime_template_build_with), each step runs through envd as the step's user, in its workdir,
 * with the accumulated environment, and its output lines become log entries; then the start
 * command is started, the ready command polled, the guest trimmed and the VM snapshotted into an
 * internal snapshot template "<name>.b<build>".  The name is an alias (store template_aliases)
 * pointing at it, so a rebuild replaces it atomically and Sandbox.create(name) restores it.
 *
 * Cache: a build whose key (base, steps with their files hashes, start/ready command, sizes) equals
 * a ready build's whose snapshot still exists republishes that snapshot without running anything,
 * unless force is set.  Otherwise the step cache (stepcache.c) restores the build VM from the
 * checkpoint after the longest unchanged prefix of steps and runs only the rest; a step's force
 * (or the build's) bypasses it from that step on.  The start and ready command always run.
 *
 * Builds and their status are rows in the store; log entries live in memory (the status of a build
 * from before a restart has its status and reason, no log lines).  build_engine_open marks builds
 * a crash interrupted as failed and removes their build VM and half-made snapshot.
 *
 * Errors: -ENOENT unknown template/build, -EINVAL bad request (400), -EBUSY a build of that name is
 * running (409), -EEXIST, -EFBIG upload over the limit (413), -ENOTSUP not implemented (501).
 */
#include "basic/err.h"
#include "runtime/runtime.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define BUILD_ID_LEN 36 /* uuid text */

struct build_engine;

struct build_config {
	const char *data_dir;	   /* <data>/build-files lives here */
	bool internet;		   /* build VMs get egress */
	uint64_t max_upload_bytes; /* one uploaded archive; 0 = 1 GiB */
	/* Static envd and wrenn-init injected into OCI images (fromImage); NULL = look next to the
	 * running program (build/<mode>/bin -> build/static/bin), else fromImage answers 501. */
	const char *guest_bins_dir;
	/* Step cache entries kept (least recently used evicted); 0 = $WRENN_BUILD_CACHE_ENTRIES
	 * or 16; < 0 = no step cache. */
	int cache_entries;
};

int build_engine_open(struct runtime *rt, const struct build_config *cfg, struct build_engine **ret,
		      struct wr_err *err);
/* Waits for running builds to end (they are not cancelled). NULL-safe. */
void build_engine_close(struct build_engine *e);

/* Register a build of `name` (name or name:tag): a row in state waiting.  *ret_template_id is
 * the name without tag, *ret_build_id a new id (both malloc'd).  vcpus/memory_mb 0 = defaults.
 * -EBUSY while another build of the name is waiting or building. */
int build_request(struct build_engine *e, const char *name, int vcpus, int memory_mb,
		  char **ret_template_id, char **ret_build_id, struct wr_err *err);
/* Extra tags (array of strings) the build publishes besides its name. */
void build_set_tags(struct build_engine *e, const char *build_id, const json_t *tags);
/* Start a requested build with an E2B TemplateBuildStartV2 body (validated here: every field the
 * engine does not implement is refused naming it).  Returns once the thread is started. */
int build_start(struct build_engine *e, const char *template_id, const char *build_id,
		const json_t *body, struct wr_err *err);
/* A requested build that will not be started (its start was refused): error, frees the name. */
void build_abandon(struct build_engine *e, const char *build_id);
/* E2B TemplateBuildInfo of a build: {templateID, buildID, status, logEntries[from logs_offset],
 * logs, reason?}. level: NULL or the minimum level (debug|info|warn|error). */
int build_status(struct build_engine *e, const char *template_id, const char *build_id,
		 size_t logs_offset, const char *level, json_t **ret, struct wr_err *err);
/* Wait until a build is ready or error (tests, CLI); timeout_ms 0 = forever. */
int build_wait(struct build_engine *e, const char *build_id, int timeout_ms, struct wr_err *err);

/* Published templates: E2B Template objects [{templateID, buildID, names, aliases, ...}]. */
int build_template_list(struct build_engine *e, json_t **ret, struct wr_err *err);
/* Delete a published name, its tags, builds and snapshot; -EBUSY (409) while a sandbox, snapshot
 * or a running build uses it. -ENOENT when the name is no built template. */
int build_template_delete(struct build_engine *e, const char *name, struct wr_err *err);
/* Tags: name:tag aliases of the build `target` ("name" or "name:tag") points at. */
int build_tags_assign(struct build_engine *e, const char *target, const json_t *tags, json_t **ret,
		      struct wr_err *err);
int build_tags_remove(struct build_engine *e, const char *name, const json_t *tags,
		      struct wr_err *err);
int build_tags_list(struct build_engine *e, const char *template_id, json_t **ret,
		    struct wr_err *err);

/* --- uploaded files (files.c): content-addressed archives under <data>/build-files ------------ */

/* A hash is 64 lowercase hex chars.  Pure. */
bool build_hash_valid(const char *hash);
/* true when <data>/build-files/<hash> exists. */
bool build_files_present(struct build_engine *e, const char *hash);
/* A one-time upload token for hash (malloc'd), valid for an hour. */
char *build_files_token(struct build_engine *e, const char *hash);
/* Store an upload: body of `len` bytes (-1 = unknown) pulled from read_fn; the token must be the
 * one build_files_token gave for this hash.  -EACCES bad token, -EFBIG over the limit. */
int build_files_put(struct build_engine *e, const char *hash, const char *token, int64_t len,
		    ssize_t (*read_fn)(void *ud, void *buf, size_t n), void *ud,
		    struct wr_err *err);
/* Store a local file (the /v1 Dockerfile route's archives) under its sha256; *ret_hash malloc'd. */
int build_files_add(struct build_engine *e, const char *path, char **ret_hash, struct wr_err *err);
/* The files store's directory (malloc'd); scratch files there can be renamed into it. */
char *build_files_dir(struct build_engine *e);

/* --- build contexts (context.c): a tar of a Dockerfile's context ------------------------------ */

/* A regular file of the context (the Dockerfile), at most max bytes, NUL-terminated. */
int build_context_read(const char *ctx_path, const char *member, size_t max, char **ret,
		       size_t *ret_len, struct wr_err *err);
/* Archive each COPY step's source out of the context into the files store and set the step's
 * filesHash.  A source not in the context: -EINVAL naming the step. */
int build_context_files(struct build_engine *e, const char *ctx_path, json_t *build,
			struct wr_err *err);

/* Path of a stored archive (malloc'd). */
char *build_files_path(struct build_engine *e, const char *hash);
