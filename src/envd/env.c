/* SPDX-License-Identifier: MIT */
/* The environment of a started process (layered like E2B's envd). */
#include "envd/envd.h"

#include "basic/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Later sets win; a key keeps the position of its first appearance. */
static void env_set(char ***envp, size_t *n, const char *k, const char *v)
{
	size_t kl = strlen(k);
	for (size_t i = 0; i < *n; i++)
		if (!strncmp((*envp)[i], k, kl) && (*envp)[i][kl] == '=') {
			free((*envp)[i]);
			(*envp)[i] = xasprintf("%s=%s", k, v);
			return;
		}
	*envp = xrealloc(*envp, sizeof(char *) * (*n + 2));
	(*envp)[(*n)++] = xasprintf("%s=%s", k, v);
	(*envp)[*n] = NULL;
}

static bool valid_entry(const char *k, const json_t *v)
{
	return json_is_string(v) && *k && !strchr(k, '=');
}

int envd_build_env(const struct envd_user *u, const char *path, const json_t *defaults,
		   const json_t *request, char ***ret_envp, struct wr_err *err)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)request, k, v) if (!valid_entry(k, v)) return wr_err_set(
		err, EINVAL,
		"invalid env entry '%.100s': want a non-empty name without '=' and a string value",
		k);
	char **envp = NULL;
	size_t n = 0;
	env_set(&envp, &n, "PATH", path && *path ? path : ENVD_DEFAULT_PATH);
	env_set(&envp, &n, "HOME", u->home);
	env_set(&envp, &n, "USER", u->name);
	env_set(&envp, &n, "LOGNAME", u->name);
	json_object_foreach((json_t *)defaults, k, v) if (valid_entry(k, v))
		env_set(&envp, &n, k, json_string_value(v));
	json_object_foreach((json_t *)request, k, v) env_set(&envp, &n, k, json_string_value(v));
	*ret_envp = envp;
	return 0;
}

const char *envd_env_get(char *const *envp, const char *k)
{
	size_t kl = strlen(k);
	for (; envp && *envp; envp++)
		if (!strncmp(*envp, k, kl) && (*envp)[kl] == '=')
			return *envp + kl + 1;
	return NULL;
}

void envd_env_free(char **envp)
{
	for (char **p = envp; p && *p; p++)
		free(*p);
	free(envp);
}
