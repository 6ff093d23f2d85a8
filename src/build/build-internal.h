/* SPDX-License-Identifier: MIT */
#pragma once
/* Shared by src/build's files; not part of its API. */
#include "build/build.h"

#include <pthread.h>
#include <stdatomic.h>

/* One command in a build VM through envd's process service. */
struct build_exec {
	const char *cmd;  /* run as /bin/bash -l -c cmd (/bin/sh -c without bash) */
	const char *user; /* envd user (Basic auth); NULL = root */
	const char *cwd;  /* NULL = the user's home */
	json_t *envs;	  /* borrowed object of strings; NULL = none */
	int timeout_ms;	  /* whole command; 0 = none */
	/* Each output line (without newline); err = from stderr. */
	void (*line)(void *ud, const char *line, bool is_err);
	void *ud;
	bool background;	 /* return once started (the process keeps running) */
	const atomic_bool *stop; /* set: give up (within a keepalive interval), -ECANCELED */
};
/* 0 with *ret_exit = the exit code (signals 128+N), or -errno when envd could not run it. */
int build_exec_run(struct runtime *rt, const char *sandbox_id, const struct build_exec *x,
		   int *ret_exit, struct wr_err *err);
/* POST a local file to envd /files?path=guest_path as user (owner of the new file). */
int build_exec_upload(struct runtime *rt, const char *sandbox_id, const char *local_path,
		      const char *guest_path, const char *user, struct wr_err *err);
/* POST /init with envVars, defaultUser, defaultWorkdir (each optional). */
int build_exec_init(struct runtime *rt, const char *sandbox_id, json_t *envs, const char *user,
		    const char *workdir, struct wr_err *err);

/* Single-quote s for a POSIX shell (malloc'd).  Pure. */
char *build_shell_quote(const char *s);

struct build_upload_token {
	char hash[65];
	char token[33];
	int64_t expires; /* unix ms */
};

struct build_run; /* engine.c */

struct build_engine {
	struct runtime *rt;
	struct store *st;
	char *data_dir;
	char *files_dir;      /* <data>/build-files */
	char *guest_bins_dir; /* static envd + wrenn-init for OCI images; NULL = fromImage refused */
	bool internet;
	uint64_t max_upload;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct build_upload_token *tokens; /* under lock */
	size_t ntokens;
	struct build_run **runs; /* builds of this process (under lock) */
	size_t nruns;
	unsigned active;	    /* running threads */
	atomic_bool closing;	    /* build_engine_close: running builds give up */
	pthread_mutex_t cache_lock; /* step cache: lookup-until-VM vs eviction (stepcache.c) */
	int cache_max;		    /* step cache entries kept; 0 = step cache off */
};

int64_t build_now_ms(void);

/* --- the per-step cache (stepcache.c) ---------------------------------------------------------- */

/* Key of the state before the first step: the base's identity and the VM size. */
char *build_cache_base_key(struct build_engine *e, const char *from, int vcpus, int memory_mb);
/* Key after a step: sha256(parent key, type, args, filesHash).  Pure. */
char *build_cache_step_key(const char *parent, const json_t *step);
/* 1 with the entry's template name and its meta ({env, user, workdir, key}), 0 when none. */
int build_cache_lookup(struct build_engine *e, const char *key, json_t **ret_meta,
		       char **ret_template);
/* Checkpoint the running build VM as the entry `key` with the engine state `state`. */
int build_cache_store(struct build_engine *e, const char *sandbox_id, const char *key,
		      const json_t *state, struct wr_err *err);
/* Evict least recently used entries beyond cache_max. */
void build_cache_gc(struct build_engine *e);
/* At open: remove half-written entries (a crash), then evict. */
void build_cache_sweep(struct build_engine *e);
