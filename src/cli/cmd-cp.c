/* SPDX-License-Identifier: MIT */
/* wrenn cp: one file host -> sandbox (PUT /files) or sandbox -> host (GET /files), streamed. */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "cli/args.h"
#include "cli/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The agent refuses chunked uploads (411: it needs a Content-Length to check the size before
 * writing into the guest), so a pipe or terminal is first spooled into an unlinked temp file. */
static int spool(int in, int *ret_fd, int64_t *ret_size, struct wr_err *err)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	cleanup_close int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return wr_err_errno(err, errno, "temporary file in %s", dir);
	char buf[65536];
	int64_t total = 0;
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return wr_err_errno(err, errno, "read stdin");
		if (n == 0)
			break;
		int r = write_full(fd, buf, (size_t)n);
		if (r < 0)
			return wr_err_errno(err, -r, "write temporary file in %s", dir);
		total += n;
	}
	if (lseek(fd, 0, SEEK_SET) < 0)
		return wr_err_errno(err, errno, "seek temporary file");
	*ret_fd = TAKE_FD(fd);
	*ret_size = total;
	return 0;
}

/* "/v1/sandboxes/<id>/files?path=<escaped rpath>" */
static char *files_path(struct api *a, const char *id, const char *rpath)
{
	cleanup_free char *base = sandbox_path(a, id, "/files");
	cleanup_free char *ep = api_esc(a, rpath);
	return xasprintf("%s?path=%s", base, ep);
}

static int upload(struct cli *c, const char *local, const char *id, const char *rpath,
		  struct wr_err *err)
{
	cleanup_close int fd = -1;
	int64_t size = -1;
	cleanup_free char *target = NULL;
	if (strcmp(local, "-") == 0) {
		fd = dup(STDIN_FILENO);
		if (fd < 0)
			return wr_err_errno(err, errno, "stdin");
	} else {
		fd = open(local, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return wr_err_errno(err, errno, "open %s", local);
		struct stat st;
		if (fstat(fd, &st) < 0)
			return wr_err_errno(err, errno, "stat %s", local);
		if (S_ISDIR(st.st_mode))
			return wr_err_set(err, EISDIR, "%s is a directory (only files are copied)",
					  local);
		if (S_ISREG(st.st_mode))
			size = st.st_size;
	}
	if (size < 0) {
		cleanup_close int src = TAKE_FD(fd);
		int r = spool(src, &fd, &size, err);
		if (r < 0)
			return r;
	}
	size_t rl = strlen(rpath);
	if (rl && rpath[rl - 1] == '/') {
		if (strcmp(local, "-") == 0)
			return wr_err_set(err, EINVAL,
					  "a path ending in / needs a named source file");
		target = args_join_basename(rpath, local);
	} else {
		target = xstrdup(rpath);
	}
	struct api a;
	int r = api_open(&a, c, err);
	if (r < 0)
		return r;
	cleanup_free char *path = files_path(&a, id, target);
	struct api_req rq = API_REQ_INIT;
	rq.method = "PUT";
	rq.path = path;
	rq.content_type = "application/octet-stream";
	rq.upload_fd = fd;
	rq.upload_size = size;
	cli_progress(c, "uploading %s to %s:%s...", local, id, target);
	r = api_do(&a, &rq, NULL, err);
	cli_progress_end(c);
	api_close(&a);
	return r;
}

static int to_fd(const char *data, size_t n, void *ud)
{
	int fd = *(int *)ud;
	int r = write_full(fd, data, n);
	return r < 0 ? r : 0;
}

static int download(struct cli *c, const char *id, const char *rpath, const char *local,
		    struct wr_err *err)
{
	bool to_stdout = strcmp(local, "-") == 0;
	cleanup_free char *dest = NULL;
	struct stat st;
	if (!to_stdout && stat(local, &st) == 0 && S_ISDIR(st.st_mode))
		dest = args_join_basename(local, rpath);
	else
		dest = xstrdup(local);
	/* into a temp file next to the destination, renamed on success: no half-written files */
	cleanup_free char *tmp = to_stdout ? NULL : xasprintf("%s.wrenn-XXXXXX", dest);
	cleanup_close int fd = -1;
	if (to_stdout) {
		fd = dup(STDOUT_FILENO);
	} else {
		fd = mkostemp(tmp, O_CLOEXEC);
		if (fd >= 0) {
			/* mkostemp makes 0600; a copied file gets the usual 0666 & ~umask */
			mode_t um = umask(0);
			umask(um);
			fchmod(fd, 0666 & ~um);
		}
	}
	if (fd < 0)
		return wr_err_errno(err, errno, "create %s", to_stdout ? "stdout" : tmp);
	struct api a;
	cleanup_free char *path = NULL; /* before the goto: its cleanup runs at fail too */
	int r = api_open(&a, c, err);
	if (r < 0)
		goto fail;
	path = files_path(&a, id, rpath);
	struct api_req rq = API_REQ_INIT;
	rq.method = "GET";
	rq.path = path;
	rq.sink = to_fd;
	rq.sink_ud = &fd;
	cli_progress(c, "downloading %s:%s...", id, rpath);
	r = api_do(&a, &rq, NULL, err);
	cli_progress_end(c);
	api_close(&a);
	if (r < 0) {
		if (err->code == 0 || !err->msg[0])
			wr_err_errno(err, -r, "write %s", dest);
		goto fail;
	}
	if (!to_stdout) {
		if (fsync(fd) < 0 || rename(tmp, dest) < 0) {
			r = wr_err_errno(err, errno, "write %s", dest);
			goto fail;
		}
	}
	return 0;
fail:
	if (!to_stdout)
		unlink(tmp);
	return r;
}

int cmd_cp(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	int rc, i = no_opts_parse(cmd, argc, argv, &rc);
	if (i < 0)
		return rc;
	argc -= i - 1; /* "-" (stdin/stdout) is an operand, not an option */
	argv += i - 1;
	if (argc != 3)
		return cli_usage(cmd, "need a source and a destination");
	cleanup_free char *sid = NULL, *spath = NULL, *did = NULL, *dpath = NULL;
	int src_remote = args_parse_remote(argv[1], &sid, &spath);
	int dst_remote = args_parse_remote(argv[2], &did, &dpath);
	if (src_remote == dst_remote)
		return cli_usage(cmd, "exactly one of SRC and DST must be ID:/path");
	signal(SIGPIPE, SIG_IGN);
	struct wr_err err = {0};
	int r = dst_remote ? upload(c, argv[1], did, dpath, &err)
			   : download(c, sid, spath, argv[2], &err);
	return r < 0 ? cli_fail(&err) : CLI_EXIT_OK;
}
