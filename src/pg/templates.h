/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Templates built through the control plane (daemon/control-templates.c), in PostgreSQL so that
 * every replica routes a template's calls to the host that builds it and knows whose it is.
 *
 * A template row: its id (E2B's templateID, which on wrenn is the template's name; a tag is
 * the alias "name:tag"), the team it was made for ("" = an operator's), its build host, the
 * aliases the control plane saw given to it (the name and each "name:tag"), and its creation
 * time.  A build row: its id, the template, the host it runs on, the cpu/memory it was asked
 * with (0 = the host's defaults) and its status as last seen by the control plane (waiting,
 * building, ready, error: refreshed by every status poll that goes through it).  An upload row:
 * the SHA-256 of a one-time upload token a host minted for a files hash, with the host to relay
 * the upload to; a row is taken (deleted) by its upload and is worth nothing after
 * PG_UPLOAD_TTL_MS (the host's own token lives as long).
 *
 * Names are one namespace across teams (the hosts' template names are): a name made for one
 * team is not available to another.
 */
#include "pg/pg.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define PG_UPLOAD_TTL_MS 3600000 /* the host's upload token lives an hour too */

struct pg_template {
	char *id, *team, *host_id;
	json_t *aliases;    /* array of strings */
	int64_t created_at; /* unix ms */
	/* its newest build ("" when it has none): id, status as last seen, sizes asked for */
	char *build_id, *build_status;
	int64_t build_created_at;
	int cpu_count, memory_mb;
};
void pg_template_done(struct pg_template *t);
void pg_template_list_free(struct pg_template *rows, size_t n);

/* The row of id, creating it for team on host_id when there is none (one statement: two
 * replicas racing for a name agree on one owner).  *ret_created: this call made it.  Whoever
 * owns it, *ret is the row as it is now. */
int pg_template_claim(struct pg *db, const char *id, const char *team, const char *host_id,
		      struct pg_template *ret, bool *ret_created, struct wr_err *err);
/* -ENOENT for an unknown id. */
int pg_template_get(struct pg *db, const char *id, struct pg_template *ret, struct wr_err *err);
/* The build host of the template named name (its id or one of its aliases): the host known to
 * hold it even before a heartbeat lists it (a snapshot taken a moment ago).  -ENOENT when no row
 * names it (built on a host's own API, or a host's own image). */
int pg_template_holder(struct pg *db, const char *name, char **ret_host_id, struct wr_err *err);
/* Every template of team (NULL or "" = every team's), oldest first. */
int pg_template_list(struct pg *db, const char *team, struct pg_template **ret_rows, size_t *ret_n,
		     struct wr_err *err);
/* Give a template whose build host was removed a new one (only while it is still on from_host:
 * a concurrent move wins).  -ESTALE when another move won. */
int pg_template_move(struct pg *db, const char *id, const char *from_host, const char *to_host,
		     struct wr_err *err);
/* Delete the row and its builds and uploads.  only_unbuilt: only when it has no build (the undo
 * of a claim whose request the host refused); 0 either way. */
int pg_template_delete(struct pg *db, const char *id, bool only_unbuilt, struct wr_err *err);
/* Add or remove one alias ("name:tag") of the template; idempotent. */
int pg_template_alias(struct pg *db, const char *id, const char *alias, bool add,
		      struct wr_err *err);

/* A build the host registered (status "waiting"). */
int pg_build_put(struct pg *db, const char *build_id, const char *template_id, const char *host_id,
		 int cpu_count, int memory_mb, struct wr_err *err);
/* The template and host of a build; -ENOENT. */
int pg_build_get(struct pg *db, const char *build_id, char **ret_template_id, char **ret_host_id,
		 struct wr_err *err);
/* The status the control plane last saw (no-op when unchanged or the build is unknown). */
int pg_build_set_status(struct pg *db, const char *build_id, const char *status,
			struct wr_err *err);

/* An upload link the control plane handed out: token_hash = SHA-256 of the host's token. */
int pg_upload_put(struct pg *db, const uint8_t token_hash[32], const char *files_hash,
		  const char *template_id, const char *host_id, struct wr_err *err);
/* Take (delete) the row of token_hash for files_hash, younger than PG_UPLOAD_TTL_MS: the host
 * to relay the upload to.  -EACCES when there is none (unknown, used, expired, other hash). */
int pg_upload_take(struct pg *db, const uint8_t token_hash[32], const char *files_hash,
		   char **ret_host_id, struct wr_err *err);
