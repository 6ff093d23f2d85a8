/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Tenancy on the control plane (docs/SECURITY.md "Tenancy"), the decisions that need no
 * database: the same rules as one host's (daemon/auth.h).  A team key sees and controls only its
 * team's sandboxes; another team's id answers 404 like an id that does not exist; a key of team
 * "" (or an admin key) is an operator's and sees everything.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pg_quota;

/* 1..64 characters of A-Z a-z 0-9 . _ - (store/keys.c's rule: a team name fits a header and
 * a canonical string line, hmac.h). */
bool control_team_name_ok(const char *team);
/* May a caller of team `caller` (NULL or "" = operator) see what was made for `owner` (NULL or
 * "" = an operator's)? */
bool control_may_see(const char *caller, const char *owner);

/*
 * Team quotas (pg/quota.h): may team, with its limits and use q, create a sandbox of
 * want_memory_mb?  0 when it may; -EDQUOT when the sandbox would be one more than max_sandboxes
 * or its memory would take the team over max_memory_mb (0 = no limit), why then filled with a
 * sentence for the 429 answer.  Runs inside pg_quota_hold's transaction (pg_quota_admit_fn).
 */
int control_quota_admit(const char *team, const struct pg_quota *q, int64_t want_memory_mb,
			char *why, size_t why_len);
