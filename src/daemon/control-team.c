/* SPDX-License-Identifier: MIT */
/* Tenancy decisions of the control plane (control-team.h). */
#include "daemon/control-team.h"

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
