/* SPDX-License-Identifier: MIT */
#pragma once
/* Pure argument helpers (unit-tested): no I/O, no network. */
#include "basic/err.h"

#include <jansson.h>
#include <stdbool.h>

/* "KEY=VALUE" into obj[KEY] = VALUE; KEY must be non-empty. */
int args_kv_into(json_t *obj, const char *kv, const char *what, struct wr_err *err);
/* "ID:/path" -> id, path (malloc'd).  Returns 1 for a remote spec, 0 for a local path (nothing
 * set).  Remote means: a ':' comes before any '/', with a non-empty id before it. */
int args_parse_remote(const char *spec, char **ret_id, char **ret_path);
/* Positive integer in [min, max]; -EINVAL with message naming `what` otherwise. */
int args_int(const char *s, long min, long max, const char *what, long *ret, struct wr_err *err);
/* Remaining arguments after the options: "ID [--] CMD...".  want_id: first word is an id. */
int args_split_cmd(int argc, char **argv, bool want_id, const char **ret_id, char ***ret_cmd,
		   int *ret_ncmd, struct wr_err *err);
/* Join a path prefix with the basename of another path ("dir/" + "/a/b" -> "dir/b"). */
char *args_join_basename(const char *dir, const char *path);
/* Exit code of `run`/`exec` when the remote command could not be started, from the server's
 * message (docker's convention): 127 not found, 126 not executable, else 125 (wrenn failed). */
int exec_failure_exit(const char *msg);
