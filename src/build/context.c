/* SPDX-License-Identifier: MIT */
/* Build contexts (the /v1 Dockerfile route): a tar of the context, read with libarchive. */
#include "build/build-internal.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void archive_read_cleanup(struct archive **a)
{
	if (*a)
		archive_read_free(*a);
}
#define cleanup_archive_read __attribute__((cleanup(archive_read_cleanup)))

static int open_ctx(const char *path, struct archive **ret, struct wr_err *err)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_support_format_gnutar(a);
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_none(a);
	if (archive_read_open_filename(a, path, 65536) != ARCHIVE_OK) {
		int r = wr_err_set(err, EINVAL, "the build context is not a tar archive: %s",
				   archive_error_string(a));
		archive_read_free(a);
		return r;
	}
	*ret = a;
	return 0;
}

/* "./a//b/" -> "a/b" (in place); "." and "" become "". */
static char *norm(char *p)
{
	while (p[0] == '.' && p[1] == '/')
		p += 2;
	while (*p == '/')
		p++;
	if (!strcmp(p, "."))
		p[0] = 0;
	size_t n = strlen(p);
	while (n && p[n - 1] == '/')
		p[--n] = 0;
	char *w = p;
	for (char *r = p; *r; r++)
		if (!(r[0] == '/' && r[1] == '/'))
			*w++ = *r;
	*w = 0;
	return p;
}

int build_context_read(const char *ctx_path, const char *member, size_t max, char **ret,
		       size_t *ret_len, struct wr_err *err)
{
	cleanup_archive_read struct archive *a = NULL;
	int r = open_ctx(ctx_path, &a, err);
	if (r < 0)
		return r;
	cleanup_free char *want = xstrdup(member);
	char *w = norm(want);
	struct archive_entry *ent;
	while ((r = archive_read_next_header(a, &ent)) == ARCHIVE_OK) {
		cleanup_free char *name = xstrdup(archive_entry_pathname(ent));
		if (strcmp(norm(name), w) || archive_entry_filetype(ent) != AE_IFREG)
			continue;
		int64_t sz = archive_entry_size(ent);
		if (sz < 0 || (uint64_t)sz > max)
			return wr_err_set(err, EFBIG, "%s is larger than %zu bytes", member, max);
		char *buf = xmalloc((size_t)sz + 1);
		la_ssize_t got = archive_read_data(a, buf, (size_t)sz);
		if (got != sz) {
			free(buf);
			return wr_err_set(err, EINVAL, "reading %s from the context: %s", member,
					  archive_error_string(a));
		}
		buf[sz] = 0;
		*ret = buf;
		*ret_len = (size_t)sz;
		return 0;
	}
	if (r != ARCHIVE_EOF)
		return wr_err_set(err, EINVAL, "reading the build context: %s",
				  archive_error_string(a));
	return wr_err_set(err, ENOENT, "%s is not in the build context", member);
}

/* One COPY source out of the context into a new tar at out_path; -ENOENT when nothing matched. */
static int extract_source(const char *ctx_path, const char *src, const char *out_path,
			  struct wr_err *err)
{
	cleanup_archive_read struct archive *a = NULL;
	int r = open_ctx(ctx_path, &a, err);
	if (r < 0)
		return r;
	struct archive *w = archive_write_new();
	archive_write_set_format_pax_restricted(w);
	if (archive_write_open_filename(w, out_path) != ARCHIVE_OK) {
		r = wr_err_set(err, EIO, "create %s: %s", out_path, archive_error_string(w));
		archive_write_free(w);
		return r;
	}
	cleanup_free char *want = xstrdup(src);
	char *s = norm(want);
	size_t sl = strlen(s);
	size_t matched = 0;
	struct archive_entry *ent;
	char buf[65536];
	while ((r = archive_read_next_header(a, &ent)) == ARCHIVE_OK) {
		cleanup_free char *name = xstrdup(archive_entry_pathname(ent));
		char *n = norm(name);
		/* "." (the whole context) matches everything */
		bool hit = sl == 0 || !strcmp(n, s) || (!strncmp(n, s, sl) && n[sl] == '/');
		if (!hit || !*n)
			continue;
		/* the archive keeps the context-relative path, so "$t/<src>" is the source */
		archive_entry_set_pathname(ent, n);
		if (archive_write_header(w, ent) != ARCHIVE_OK) {
			r = wr_err_set(err, EIO, "archive %s: %s", n, archive_error_string(w));
			goto out;
		}
		la_ssize_t k;
		while ((k = archive_read_data(a, buf, sizeof(buf))) > 0)
			if (archive_write_data(w, buf, (size_t)k) != k) {
				r = wr_err_set(err, EIO, "archive %s: %s", n,
					       archive_error_string(w));
				goto out;
			}
		if (k < 0) {
			r = wr_err_set(err, EINVAL, "reading %s from the context: %s", n,
				       archive_error_string(a));
			goto out;
		}
		matched++;
	}
	if (r != ARCHIVE_EOF) {
		r = wr_err_set(err, EINVAL, "reading the build context: %s",
			       archive_error_string(a));
		goto out;
	}
	r = matched ? 0
		    : wr_err_set(err, ENOENT, "COPY source \"%s\" is not in the build context",
				 src);
out:
	if (archive_write_close(w) != ARCHIVE_OK && r >= 0)
		r = wr_err_set(err, EIO, "write %s: %s", out_path, archive_error_string(w));
	archive_write_free(w);
	return r;
}

int build_context_files(struct build_engine *e, const char *ctx_path, json_t *build,
			struct wr_err *err)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(build, "steps"), i, s)
	{
		if (strcmp(json_string_value(json_object_get(s, "type")) ?: "", "COPY"))
			continue;
		const char *src = json_string_value(json_array_get(json_object_get(s, "args"), 0));
		if (!src)
			return wr_err_set(err, EINVAL, "step %zu: COPY without a source", i + 1);
		if (strpbrk(src, "*?["))
			return wr_err_set(
				err, EINVAL,
				"step %zu: COPY source \"%s\": wildcards are not supported "
				"yet; name files or directories",
				i + 1, src);
		cleanup_free char *tmp = xasprintf("%s/.ctx-%d-%zu.tar", e->files_dir, getpid(), i);
		int r = extract_source(ctx_path, src, tmp, err);
		if (r < 0) {
			unlink(tmp);
			if (r != -ENOENT)
				return r;
			char msg[512];
			snprintf(msg, sizeof(msg), "%s", wr_err_msg(err));
			return wr_err_set(err, EINVAL, "step %zu: %s", i + 1, msg);
		}
		cleanup_free char *hash = NULL;
		r = build_files_add(e, tmp, &hash, err);
		unlink(tmp);
		if (r < 0)
			return r;
		json_object_set_new(s, "filesHash", json_string(hash));
	}
	return 0;
}

char *build_files_dir(struct build_engine *e)
{
	return xstrdup(e->files_dir);
}
