/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * The control plane's state in PostgreSQL (libpq, Debian's libpq-dev).  One connection guarded
 * by a mutex, re-established when it breaks; every statement that changes state runs in its
 * own transaction (a single statement) or in an explicit BEGIN/COMMIT.  pg_open applies the
 * migrations below the schema_version table under an advisory lock, so replicas starting at
 * once migrate exactly once.
 *
 * Hosts: id, name, the SHA-256 of the host credential (the request-signing key, basic/hmac.h),
 * drain flag, last heartbeat (database clock), last accepted signature timestamp, advertised
 * URLs and the capacity object of the last heartbeat.  A host's state is derived when read:
 * pending (no heartbeat yet), lost (none for PG_HOST_LOST_MS), draining, ready.
 */
#include "basic/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PG_HOST_LOST_MS 15000

struct pg;

/* Connect (url: postgres://user:pw@host:port/db or a libpq keyword string) and migrate. */
int pg_open(const char *url, struct pg **ret, struct wr_err *err);
void pg_close(struct pg *db);
/* SELECT 1; -ECONNREFUSED with libpq's message when the database is unreachable. */
int pg_ping(struct pg *db, struct wr_err *err);
/* The schema version the database is at. */
int pg_schema_version(struct pg *db, int *ret, struct wr_err *err);

/* Admin keys (SHA-256 of the plaintext).  ensure: insert hash when no admin key exists yet
 * (under a table lock), *ret_created tells whether it did.  check: 0 when known, -EACCES not. */
int pg_admin_key_ensure(struct pg *db, const uint8_t hash[32], bool *ret_created,
			struct wr_err *err);
int pg_admin_key_check(struct pg *db, const uint8_t hash[32], struct wr_err *err);

struct pg_host {
	char *id, *name;
	char *state; /* pending | ready | draining | lost */
	bool draining;
	char *api_url, *proxy_url; /* "" until the first heartbeat */
	json_t *capacity;	   /* object, {} until the first heartbeat */
	int64_t created_at;	   /* unix ms */
	int64_t last_heartbeat;	   /* unix ms, 0 = never */
	/* placements not in its last heartbeat's sandbox list (so not in capacity yet); for a
	 * host that sends no list, those made since its last heartbeat */
	int64_t recent_placements;
	/* creates in flight on it (live reservations, pg/reserve.h) and their memory; of its last
	 * heartbeat's sandboxes, those that may be such creates already (listed without a
	 * placement, or adopted since its oldest live reservation): counted once, see
	 * sched_host_of */
	int64_t reserved, reserved_memory_mb, reserved_listed;
};
void pg_host_done(struct pg_host *h);
void pg_host_list_free(struct pg_host *rows, size_t n);

/* -EEXIST when the id is taken. */
int pg_host_create(struct pg *db, const char *id, const char *name, const uint8_t key[32],
		   struct wr_err *err);
int pg_host_list(struct pg *db, struct pg_host **ret_rows, size_t *ret_n, struct wr_err *err);
int pg_host_get(struct pg *db, const char *id, struct pg_host *ret, struct wr_err *err);
/* The signing key and the newest accepted signature timestamp; -ENOENT. */
int pg_host_key(struct pg *db, const char *id, uint8_t ret_key[32], int64_t *ret_last_ts,
		struct wr_err *err);
/* Record a heartbeat whose signature was checked: atomically only when ts_ms is newer than the
 * last accepted one (-EALREADY otherwise: a replay that raced), -ENOENT for an unknown host.
 * sandbox_ids: the sandboxes it listed (array of strings), NULL when it listed none. */
int pg_host_heartbeat(struct pg *db, const char *id, int64_t ts_ms, const char *api_url,
		      const char *proxy_url, const json_t *capacity, const json_t *sandbox_ids,
		      struct wr_err *err);
int pg_host_drain(struct pg *db, const char *id, struct wr_err *err);
int pg_host_delete(struct pg *db, const char *id, struct wr_err *err);

/* Placements: which host a sandbox was created on (the control plane forwards by it).  put
 * replaces a row a heartbeat adopted while the create was still running. */
/* team: the team the create was made for ("" or NULL = an operator's; a placement a heartbeat
 * adopted has "" until the create's own put replaces it). */
int pg_placement_put(struct pg *db, const char *sandbox_id, const char *host_id,
		     const char *template, const char *team, struct wr_err *err);
/* -ENOENT for an unknown sandbox.  ret_team (optional): its team, "" for an operator's. */
int pg_placement_get(struct pg *db, const char *sandbox_id, char **ret_host_id, char **ret_team,
		     struct wr_err *err);
/* Release a placement; why (the event's detail) says how, e.g. "killed through the control plane". */
int pg_placement_delete(struct pg *db, const char *sandbox_id, const char *why, struct wr_err *err);
/* A host's heartbeat listed the sandboxes it has (ids: array of strings), in one transaction:
 * placements on it of other sandboxes, older than grace_ms (so a create that raced the list is
 * kept), are released, and listed sandboxes without a placement are adopted (a placement whose
 * recording failed, a sandbox made on the host's own API); an id placed on another host keeps
 * that placement. */
int pg_placement_reconcile(struct pg *db, const char *host_id, const json_t *ids, int64_t grace_ms,
			   int *ret_released, int *ret_adopted, struct wr_err *err);

/* Where a sandbox's traffic goes, in one query: its host, the host's state (pending | ready |
 * draining | lost, or "removed" when the host row is gone) and the proxy URL the host
 * advertised ("" when unknown).  -ENOENT for an unknown sandbox. */
int pg_placement_route(struct pg *db, const char *sandbox_id, char **ret_host_id,
		       char **ret_host_state, char **ret_proxy_url, struct wr_err *err);

struct pg_placement {
	char *sandbox_id, *host_id, *template;
	char *host_state;   /* as in pg_placement_route */
	int64_t created_at; /* unix ms */
	char *team;	    /* "" = an operator's */
};
void pg_placement_list_free(struct pg_placement *rows, size_t n);
/* Every placement, newest first, with its host's state. */
int pg_placement_list(struct pg *db, struct pg_placement **ret_rows, size_t *ret_n,
		      struct wr_err *err);

/*
 * Teams and API keys (pg/keys.c), the control plane's counterpart of the SQLite store's
 * (store.h "API keys"): only the SHA-256 of a key is stored, with its display prefix; a key of
 * team "" is an operator key.  The admin keys above are operator keys too.
 */
struct pg_key {
	char *id, *name, *prefix, *team;
	int64_t created_at, last_used; /* unix ms, last_used 0 = never */
};
void pg_key_list_free(struct pg_key *rows, size_t n);
/* Store a minted key (its hash and prefix) for team ("" = operator), creating the team in the
 * same transaction.  -EEXIST when the id or the hash is taken. */
int pg_key_insert(struct pg *db, const char *id, const char *name, const char *prefix,
		  const uint8_t hash[32], const char *team, int64_t *ret_created_at,
		  struct wr_err *err);
/* The key whose SHA-256 is hash: its id ("admin" for an admin key) and team ("" = operator);
 * -EACCES when unknown.  Refreshes last_used at most once a minute. */
int pg_key_lookup(struct pg *db, const uint8_t hash[32], char **ret_id, char **ret_team,
		  struct wr_err *err);
int pg_key_list(struct pg *db, struct pg_key **ret_rows, size_t *ret_n, struct wr_err *err);
/* -ENOENT for an unknown id. */
int pg_key_delete(struct pg *db, const char *id, struct wr_err *err);

struct pg_team {
	char *name;
	int64_t created_at;
	int keys, sandboxes;		      /* sandboxes: placements made for the team */
	int64_t memory_mb;		      /* the memory their creates reserved (pg/quota.h) */
	int64_t max_sandboxes, max_memory_mb; /* the team's quota, 0 = no limit */
};
void pg_team_list_free(struct pg_team *rows, size_t n);
int pg_team_list(struct pg *db, struct pg_team **ret_rows, size_t *ret_n, struct wr_err *err);
