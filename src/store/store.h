/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Persistent state of wrenn-agent in one SQLite file (WAL).
 *
 * Threading: one `struct store` holds ONE sqlite connection guarded by a mutex; every function
 * below takes it for its whole duration, so a store may be shared by all request threads.  The
 * daemon's writes are tiny (a row per lifecycle step), so serialising them costs nothing
 * measurable, and one connection means one place where busy/locking errors can arise.
 *
 * Times are unix milliseconds (int64); 0 means "unset".  Functions return 0 / -errno and fill
 * `err`:  -ENOENT no such row, -EEXIST unique name taken, -EBUSY still in use, -EINVAL bad
 * argument, -EIO database failure (message carries SQLite's text).
 *
 * Rows come back as structs whose strings the caller owns: release with *_done() (one row) or
 * *_list_free() (an array from a list call).
 */
#include "basic/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

#define STORE_SCHEMA_VERSION 7
#define STORE_KEY_LEN 44 /* "e2b_" + 40 hex */
#define STORE_KEY_PREFIX_LEN 8
#define STORE_PAGE_MAX 100

/* Open (creating if absent) and migrate.  A file that is not a wrenn database, or whose schema is
 * newer than this binary, is refused with a clear message. */
int store_open(const char *path, struct store **ret, struct wr_err *err);
void store_close(struct store *s);
/* PRAGMA user_version of the open database. */
int store_schema_version(struct store *s);

/* --- sandboxes ------------------------------------------------------------------------------ */

enum store_sb_state {
	STORE_SB_CREATING = 0,
	STORE_SB_RUNNING,
	STORE_SB_PAUSED,
	STORE_SB_KILLED,
	STORE_SB_ERROR,
	_STORE_SB_STATE_MAX,
};
const char *store_sb_state_name(enum store_sb_state st);
/* -1 if unknown */
int store_sb_state_parse(const char *name);

struct store_sandbox {
	char *id;
	char *template;
	enum store_sb_state state;
	int vcpus;
	int memory_mb;
	char *disk_path;   /* may be NULL */
	char *disk_format; /* "raw", "qcow2", "dm"...; may be NULL */
	int slot;	   /* network slot, -1 = none */
	char *vmm_kind;	   /* "qemu", "ch"; may be NULL */
	int pid;	   /* VMM pid, 0 = none */
	int64_t created_at;
	int64_t started_at;
	int64_t end_at;	     /* TTL deadline, 0 = none */
	char *metadata_json; /* JSON object text; NULL = {} */
	char *env_json;	     /* JSON object text; NULL = {} */
	char *envd_token;    /* may be NULL */
	bool allow_internet;
	char *error; /* may be NULL */
	int64_t updated_at;
	char *team; /* owning team; NULL/"" = the operator's.  Set on insert only (immutable). */
	unsigned lifecycle; /* STORE_SB_LC_* bits; read only: store_sandbox_put leaves it alone */
};
/* Lifecycle policy bits (E2B's lifecycle.onTimeout / autoResume). */
#define STORE_SB_LC_PAUSE_ON_TIMEOUT 1u /* the reaper pauses instead of destroying */
#define STORE_SB_LC_AUTO_RESUME 2u	/* proxy traffic resumes it when paused */
void store_sandbox_done(struct store_sandbox *sb);
void store_sandbox_list_free(struct store_sandbox *rows, size_t n);

/* Insert, or replace every field of the row with this id.  created_at is set on first insert
 * (from sb->created_at, or now when 0); updated_at is always now. */
int store_sandbox_put(struct store *s, const struct store_sandbox *sb, struct wr_err *err);
int store_sandbox_get(struct store *s, const char *id, struct store_sandbox *ret,
		      struct wr_err *err);
/* error_text is stored for STORE_SB_ERROR and cleared otherwise. */
int store_sandbox_set_state(struct store *s, const char *id, enum store_sb_state st,
			    const char *error_text, struct wr_err *err);
/* Lifecycle policy (STORE_SB_LC_* bits). */
int store_sandbox_set_lifecycle(struct store *s, const char *id, unsigned lifecycle,
				struct wr_err *err);
int store_sandbox_set_end_at(struct store *s, const char *id, int64_t end_at, struct wr_err *err);
/* VMM pid (0 = none); written on every (re)start so a restarted daemon can find the process. */
int store_sandbox_set_pid(struct store *s, const char *id, int pid, struct wr_err *err);
int store_sandbox_delete(struct store *s, const char *id, struct wr_err *err);

struct store_sandbox_filter {
	unsigned states;	 /* bit (1u << state); 0 = any */
	const char *template;	 /* NULL = any */
	const char *const *meta; /* key, value, key, value, ... NULL-terminated; all must match */
	int64_t end_before;	 /* only rows with 0 < end_at <= this; 0 = no condition */
	const char *team;	 /* only this team's rows; NULL = any team */
};
/* Newest first.  cursor: NULL or a previous *ret_next; limit 1..STORE_PAGE_MAX (0 = max).
 * *ret_next is NULL on the last page, else an opaque string to pass back (caller frees). */
int store_sandbox_list(struct store *s, const struct store_sandbox_filter *f, const char *cursor,
		       int limit, struct store_sandbox **ret_rows, size_t *ret_n, char **ret_next,
		       struct wr_err *err);

/* --- templates ------------------------------------------------------------------------------ */

enum store_tpl_kind { STORE_TPL_ROOTFS = 0, STORE_TPL_SNAPSHOT };

struct store_template {
	char *name;
	enum store_tpl_kind kind;
	char *rootfs_path;  /* disk image (snapshot kind: the snapshot-time disk) */
	char *kernel_path;  /* may be NULL = default kernel */
	char *snapshot_dir; /* memory + device state; NULL for rootfs */
	char *parent;	    /* template it was built from; may be NULL */
	int vcpus;
	int memory_mb;
	int64_t size_bytes;
	int64_t created_at;
	char *fetched_from;   /* the host it was fetched from (tplxfer); NULL = made here */
	int64_t last_used_at; /* ms: the last create from it (0 = never) */
};
void store_template_done(struct store_template *t);
void store_template_list_free(struct store_template *rows, size_t n);
/* Insert or replace by name. */
int store_template_put(struct store *s, const struct store_template *t, struct wr_err *err);
int store_template_get(struct store *s, const char *name, struct store_template *ret,
		       struct wr_err *err);
/* All templates, by name. */
int store_template_list(struct store *s, struct store_template **ret_rows, size_t *ret_n,
			struct wr_err *err);
/* -EBUSY while a creating/running/paused sandbox or another template was made from it. */
int store_template_delete(struct store *s, const char *name, struct wr_err *err);
/* Record a use of template name at time ms (never moves it back); no such row is not an
 * error. */
int store_template_touch(struct store *s, const char *name, int64_t ms, struct wr_err *err);
/* Whether a creating/running/paused sandbox or another template (its parent) uses name. */
int store_template_in_use(struct store *s, const char *name, bool *ret, struct wr_err *err);

/* --- snapshots ------------------------------------------------------------------------------ */

struct store_snapshot {
	char *id;
	char *name; /* may be NULL; unique when set */
	char *sandbox_id;
	char *template; /* template of the source sandbox */
	char *dir;	/* where memory + state + disk live */
	int64_t size_bytes;
	int64_t created_at;
	char *team; /* the source sandbox's team (set by store_snapshot_add) */
};
void store_snapshot_done(struct store_snapshot *sn);
void store_snapshot_list_free(struct store_snapshot *rows, size_t n);
/* Insert (created_at = now when 0).  -EEXIST if the id or name is taken. */
int store_snapshot_add(struct store *s, const struct store_snapshot *sn, struct wr_err *err);
/* By id, or by name when no id matches. */
int store_snapshot_get(struct store *s, const char *id_or_name, struct store_snapshot *ret,
		       struct wr_err *err);
/* Newest first; sandbox_id NULL = all.  Paging as store_sandbox_list. */
int store_snapshot_list(struct store *s, const char *sandbox_id, const char *cursor, int limit,
			struct store_snapshot **ret_rows, size_t *ret_n, char **ret_next,
			struct wr_err *err);
/* -EBUSY while a creating/running/paused sandbox uses it (by id or name) as its template. */
int store_snapshot_delete(struct store *s, const char *id, struct wr_err *err);

/* --- API keys ------------------------------------------------------------------------------- */

struct store_key {
	char *id;
	char *name;
	char *prefix; /* first STORE_KEY_PREFIX_LEN chars of the key, for display */
	int64_t created_at;
	int64_t last_used; /* 0 = never */
	char *team;	   /* "" = an operator (admin) key: sees and manages everything */
};
void store_key_done(struct store_key *k);
void store_key_list_free(struct store_key *rows, size_t n);
/* Mint `e2b_` + 40 hex from getrandom; only its SHA-256 is stored.  ret_plain receives the key
 * (caller frees; it cannot be recovered later); ret_key (optional) the row. */
int store_key_create(struct store *s, const char *name, char **ret_plain, struct store_key *ret_key,
		     struct wr_err *err);
/* The same for a team's key; the team is created if it does not exist (name: 1..64 of
 * [A-Za-z0-9._-]; -EINVAL otherwise).  team NULL or "" = an operator key. */
int store_key_create_team(struct store *s, const char *name, const char *team, char **ret_plain,
			  struct store_key *ret_key, struct wr_err *err);
/* Team of key `id` (caller frees; "" for operator keys).  -ENOENT if the key is gone. */
int store_key_team(struct store *s, const char *id, char **ret_team, struct wr_err *err);

struct store_team {
	char *name;
	int64_t created_at;
	int keys, sandboxes; /* keys; sandboxes not killed */
};
void store_team_list_free(struct store_team *rows, size_t n);
int store_team_list(struct store *s, struct store_team **ret_rows, size_t *ret_n,
		    struct wr_err *err);
/* A fresh `e2b_` + 40 hex key, not stored (write it somewhere, then store_key_import). */
int store_key_mint(char ret_plain[STORE_KEY_LEN + 1], struct wr_err *err);
/* Import a known key (first-run admin key from config); -EINVAL if not `e2b_<40 hex>`. */
int store_key_import(struct store *s, const char *name, const char *plain, struct wr_err *err);
/* 0 and (optional) the key's id when the key is valid; -EACCES otherwise.  Hashes are compared
 * in constant time; last_used is refreshed (at most once a minute). */
int store_key_verify(struct store *s, const char *plain, char **ret_id, struct wr_err *err);
int store_key_list(struct store *s, struct store_key **ret_rows, size_t *ret_n, struct wr_err *err);
int store_key_delete(struct store *s, const char *id, struct wr_err *err);
/* Number of keys (first run: 0 means "create the admin key"). */
int store_key_count(struct store *s, struct wr_err *err);

/* --- events --------------------------------------------------------------------------------- */

/* The store keeps the newest STORE_EVENTS_MAX events: each insert deletes those beyond (one
 * range delete on the primary key). */
#define STORE_EVENTS_MAX 100000

struct store_event {
	int64_t seq;
	char *sandbox_id; /* may be NULL for agent-wide events */
	int64_t time;
	char *kind;
	char *detail; /* may be NULL */
	char *team;   /* the sandbox's team when the event was recorded; NULL without a sandbox */
};
void store_event_list_free(struct store_event *rows, size_t n);
/* The event's team is its sandbox's (read from the sandboxes row in the same statement). */
int store_event_add(struct store *s, const char *sandbox_id, const char *kind, const char *detail,
		    struct wr_err *err);
struct store_event_filter {
	const char *sandbox_id, *kind; /* NULL = any */
	/* NULL = every event; else only events of this team's sandboxes (agent-wide events,
	 * which have no sandbox, are an operator's) */
	const char *team;
	int64_t before; /* only seq < before; 0 = from the newest */
	int limit;	/* 1.. */
};
/* Newest first. */
int store_event_list(struct store *s, const struct store_event_filter *f,
		     struct store_event **ret_rows, size_t *ret_n, struct wr_err *err);

/* --- helpers -------------------------------------------------------------------------------- */

int64_t store_now_ms(void);
/* SHA-256 (FIPS 180-4), used for API key hashes. */
void store_sha256(const void *data, size_t len, uint8_t out[32]);

/* --- template builds (builds.c) ------------------------------------------------------------ */

/* One template build: status waiting|building|ready|error. */
struct store_build {
	char *id;
	char *template_id; /* the name it publishes */
	char *status;
	char *reason;	  /* error message; NULL unless error */
	char *step;	  /* failing step ("1".., "base", "finalize"); may be NULL */
	char *target;	  /* snapshot template it made (ready) or is making */
	char *sandbox_id; /* build VM while building, so a restart can remove it */
	char *cache_key;  /* hash of base + steps + sizes; NULL = not cacheable */
	int vcpus, memory_mb;
	int64_t created_at, finished_at;
};
void store_build_done(struct store_build *b);
void store_build_list_free(struct store_build *rows, size_t n);
/* Insert or replace by id. */
int store_build_put(struct store *s, const struct store_build *b, struct wr_err *err);
int store_build_get(struct store *s, const char *id, struct store_build *ret, struct wr_err *err);
/* Newest first; template_id NULL = all; status NULL = any. */
int store_build_list(struct store *s, const char *template_id, const char *status,
		     struct store_build **ret_rows, size_t *ret_n, struct wr_err *err);
/* The newest ready build with this cache key, -ENOENT if none. */
int store_build_find_cached(struct store *s, const char *cache_key, struct store_build *ret,
			    struct wr_err *err);
int store_build_delete_template(struct store *s, const char *template_id, struct wr_err *err);

/* Published names (and name:tag) of built templates: alias -> snapshot template. */
struct store_alias {
	char *alias;
	char *target;
	char *build_id;
	int64_t created_at;
};
void store_alias_done(struct store_alias *a);
void store_alias_list_free(struct store_alias *rows, size_t n);
int store_alias_put(struct store *s, const char *alias, const char *target, const char *build_id,
		    struct wr_err *err);
int store_alias_get(struct store *s, const char *alias, struct store_alias *ret,
		    struct wr_err *err);
/* By alias; target NULL = all. */
int store_alias_list(struct store *s, const char *target, struct store_alias **ret_rows,
		     size_t *ret_n, struct wr_err *err);
int store_alias_delete(struct store *s, const char *alias, struct wr_err *err);
