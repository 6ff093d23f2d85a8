/* SPDX-License-Identifier: MIT */
#pragma once
/* What the files of src/pg share: the connection, its lock and the statement runner (pg.c). */
#include "pg/pg.h"

#include <libpq-fe.h>
#include <pthread.h>

struct pg {
	PGconn *conn;
	pthread_mutex_t lock;
};

void pq_clear(PGresult **r);
#define cleanup_pq __attribute__((cleanup(pq_clear)))

/* The body runs with the connection's lock held; `continue` leaves it (and unlocks). */
#define LOCKED(db)                                                                                 \
	for (int _once = (pthread_mutex_lock(&(db)->lock), 1); _once;                              \
	     _once = (pthread_mutex_unlock(&(db)->lock), 0))

/* Run one statement with text parameters (n = 0: the simple protocol); *ret (optional) holds
 * the result.  A unique violation is -EEXIST, a broken connection -ECONNREFUSED, anything
 * else -EIO.  Called with the lock held. */
int pg_run(struct pg *db, const char *sql, int n, const char *const *params, PGresult **ret,
	   struct wr_err *err);
int pg_run_simple(struct pg *db, const char *sql, struct wr_err *err);
void pg_rollback(struct pg *db);
/* pg_host_list with the lock held (inside the caller's transaction, pg/reserve.c). */
int pg_host_list_locked(struct pg *db, struct pg_host **ret_rows, size_t *ret_n,
			struct wr_err *err);
/* 64 lower-case hex digits and a NUL */
void pg_hex32(const uint8_t h[32], char out[65]);
/* One event (pg/events.h) inside the caller's statement sequence, lock held: in its
 * transaction when one is open.  NULL or "" = none. */
int pg_event_insert(struct pg *db, const char *kind, const char *sandbox_id, const char *host_id,
		    const char *team, const char *detail, struct wr_err *err);
