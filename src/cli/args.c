/* SPDX-License-Identifier: MIT */
#include "cli/args.h"

#include "basic/xalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

int args_kv_into(json_t *obj, const char *kv, const char *what, struct wr_err *err)
{
	const char *eq = kv ? strchr(kv, '=') : NULL;
	if (!eq || eq == kv)
		return wr_err_set(err, EINVAL, "%s '%s' must look like KEY=VALUE", what,
				  kv ? kv : "");
	char *key = xstrndup(kv, (size_t)(eq - kv));
	json_object_set_new(obj, key, json_string(eq + 1));
	free(key);
	return 0;
}

int args_parse_remote(const char *spec, char **ret_id, char **ret_path)
{
	if (!spec)
		return 0;
	const char *colon = strchr(spec, ':');
	const char *slash = strchr(spec, '/');
	if (!colon || colon == spec || (slash && slash < colon))
		return 0;
	*ret_id = xstrndup(spec, (size_t)(colon - spec));
	*ret_path = xstrdup(colon[1] ? colon + 1 : ".");
	return 1;
}

int args_int(const char *s, long min, long max, const char *what, long *ret, struct wr_err *err)
{
	char *end = NULL;
	errno = 0;
	long v = s ? strtol(s, &end, 10) : 0;
	if (!s || !*s || errno || *end || v < min || v > max)
		return wr_err_set(err, EINVAL, "%s must be an integer in %ld..%ld (got '%s')", what,
				  min, max, s ? s : "");
	*ret = v;
	return 0;
}

int args_split_cmd(int argc, char **argv, bool want_id, const char **ret_id, char ***ret_cmd,
		   int *ret_ncmd, struct wr_err *err)
{
	int i = 0;
	const char *id = NULL;
	if (want_id) {
		if (i >= argc || strcmp(argv[i], "--") == 0)
			return wr_err_set(err, EINVAL, "missing sandbox ID");
		id = argv[i++];
	}
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i >= argc)
		return wr_err_set(err, EINVAL, "missing command");
	if (ret_id)
		*ret_id = id;
	*ret_cmd = argv + i;
	*ret_ncmd = argc - i;
	return 0;
}

char *args_join_basename(const char *dir, const char *path)
{
	size_t plen = strlen(path);
	while (plen > 1 && path[plen - 1] == '/')
		plen--;
	const char *b = path + plen;
	while (b > path && b[-1] != '/')
		b--;
	size_t dlen = strlen(dir);
	bool slash = dlen > 0 && dir[dlen - 1] == '/';
	return xasprintf("%s%s%.*s", dir, slash ? "" : "/", (int)(path + plen - b), b);
}

int exec_failure_exit(const char *msg)
{
	/* envd's words: "executable file not found in $PATH" (no such command in PATH), "start
	 * PATH: No such file or directory", "start PATH: Permission denied" (not executable, or
	 * a directory), "Exec format error" (not a program) */
	static const char *const not_found[] = {"executable file not found",
						"No such file or directory"};
	static const char *const cannot[] = {"Permission denied", "Exec format error"};
	for (size_t i = 0; msg && i < sizeof(not_found) / sizeof(*not_found); i++)
		if (strstr(msg, not_found[i]))
			return 127;
	for (size_t i = 0; msg && i < sizeof(cannot) / sizeof(*cannot); i++)
		if (strstr(msg, cannot[i]))
			return 126;
	return 125;
}
