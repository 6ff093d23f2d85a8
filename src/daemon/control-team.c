/* SPDX-License-Identifier: MIT */
/* Tenancy decisions of the control plane (control-team.h). */
#include "daemon/control-team.h"

#include "pg/quota.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

bool control_team_name_ok(const char *team)
{
	size_t n = team ? strlen(team) : 0;
	if (n == 0 || n > 64)
		return false;
	for (const char *p = team; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return false;
	return true;
}

bool control_may_see(const char *caller, const char *owner)
{
	if (!caller || !*caller)
		return true;
	return !strcmp(caller, owner ? owner : "");
}

int control_quota_admit(const char *team, const struct pg_quota *q, int64_t want_memory_mb,
			char *why, size_t why_len)
{
	if (q->max_sandboxes > 0 && q->sandboxes >= q->max_sandboxes) {
		snprintf(why, why_len,
			 "team %s has reached its maximum of %" PRId64
			 " concurrent sandboxes (%" PRId64
			 " running, paused or being created); kill one or ask an operator to raise "
			 "the team's maxSandboxes",
			 team, q->max_sandboxes, q->sandboxes);
		return -EDQUOT;
	}
	if (q->max_memory_mb > 0 && q->memory_mb + want_memory_mb > q->max_memory_mb) {
		snprintf(why, why_len,
			 "team %s would exceed its memory quota: %" PRId64 " MiB in use + %" PRId64
			 " MiB for this sandbox > maxMemoryMB %" PRId64,
			 team, q->memory_mb, want_memory_mb, q->max_memory_mb);
		return -EDQUOT;
	}
	return 0;
}
