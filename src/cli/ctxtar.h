/* SPDX-License-Identifier: MIT */
#pragma once
/* The build context of `wrenn templates build`: a tar archive (libarchive) of a directory, minus
 * what its .dockerignore excludes, with the Dockerfile inside it. */
#include "basic/err.h"

#include <stdbool.h>
#include <stddef.h>

/* Parsed .dockerignore: one pattern a line, '#' comments, blank lines skipped, leading "/" and
 * "./" and trailing "/" dropped, "!" re-includes; the last matching line decides.  Patterns are
 * fnmatch(3) globs against the slash-separated path relative to the context; "**" matches any
 * number of directories; a pattern matching a directory excludes everything below it. */
struct ctx_ignore {
	char **pats;
	bool *neg;
	size_t n;
};
void ctx_ignore_parse(struct ctx_ignore *ig, const char *text);
bool ctx_ignore_match(const struct ctx_ignore *ig, const char *relpath);
void ctx_ignore_done(struct ctx_ignore *ig);

/* Where the Dockerfile goes in the archive: its path relative to the context when it lies inside
 * it, else CTX_OUTSIDE_DOCKERFILE (added to the archive under that name).  Returns a malloc'd
 * path, or -errno (missing file or directory) with err set. */
#define CTX_OUTSIDE_DOCKERFILE ".wrenn/Dockerfile"
int ctx_dockerfile_path(const char *context_dir, const char *dockerfile, char **ret,
			struct wr_err *err);

/* Write the archive of context_dir to out_fd (uncompressed pax tar, entries sorted by name):
 * regular files, directories and symlinks (others are skipped), minus ignored ones; the
 * Dockerfile is always included, at `in_archive` (from ctx_dockerfile_path).  *ret_count is the
 * number of entries written. */
int ctx_tar_write(const char *context_dir, const char *dockerfile, const char *in_archive,
		  int out_fd, size_t *ret_count, struct wr_err *err);
