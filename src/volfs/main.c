/* SPDX-License-Identifier: MIT */
/*
 * wrenn-volfs: one volume content operation (src/disk/ext2vol.h) in a process of its own, so
 * that libext2fs never parses a guest-written file system inside wrenn-agent.  A guest controls
 * every byte of its volume, and libext2fs is not written for hostile input (a superblock with a
 * bad s_first_data_block overflows a heap buffer while reading the bitmaps: tests/fuzz/
 * fuzz-ext2vol.c finds such inputs); here a crash costs one request, and the process has
 * nothing to take: it starts from exec (none of the agent's memory or fds), gets the image as
 * fd 3 and nothing else, leaves the network (a namespace of its own), drops to an unprivileged
 * uid/gid with no supplementary groups and no_new_privs, and is CPU-time limited.
 *
 *   wrenn-volfs UID GID OP [ARG...]      (run by the agent as root; image on fd 3)
 *     stat PATH | list PATH DEPTH | read PATH | write PATH MAX UID GID MODE (body on stdin)
 *     mkdir PATH PARENTS UID GID MODE | remove PATH | setattr PATH UID GID MODE
 *   ids -1 = unchanged/default.
 *
 * Answer on stdout: "OK\n" + JSON (a stat or an array of them), or for read "OK <size>\n" + the
 * bytes; "ERR <errno> <message>\n" on failure.  Exit 0 after OK, 1 after ERR.
 */
#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "disk/ext2vol.h"

#include <errno.h>
#include <grp.h>
#include <jansson.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#define IMAGE_FD 3

static int fail(int e, const char *msg)
{
	printf("ERR %d ", e);
	for (const char *p = msg; *p; p++)
		putchar((unsigned char)*p < ' ' ? ' ' : *p);
	putchar('\n');
	fflush(stdout);
	return 1;
}

static int fail_err(int r, const struct wr_err *err)
{
	return fail(-r, wr_err_msg(err));
}

static long long num(const char *s, long long lo, long long hi, bool *ok)
{
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || !*s || *end || v < lo || v > hi)
		*ok = false;
	return v;
}

static json_t *stat_json(const struct ext2vol_stat *st)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "name",
			      st->name, "path", st->path, "type", ext2vol_type_name(st->type),
			      "mode", (json_int_t)(st->mode & 07777), "uid", (json_int_t)st->uid,
			      "gid", (json_int_t)st->gid, "size", (json_int_t)st->size, "atime",
			      (json_int_t)st->atime, "mtime", (json_int_t)st->mtime, "ctime",
			      (json_int_t)st->ctime);
	if (o && st->target)
		json_object_set_new(o, "target", json_string(st->target));
	return o;
}

static int ok_json(const json_t *j)
{
	if (!j)
		return fail(EUCLEAN, "cannot encode the answer (a name is not valid UTF-8?)");
	char *s = json_dumps(j, JSON_COMPACT);
	if (!s)
		return fail(EUCLEAN, "cannot encode the answer (a name is not valid UTF-8?)");
	printf("OK\n%s", s);
	free(s);
	fflush(stdout);
	return 0;
}

static int ok_stat(struct ext2vol *v, const char *path)
{
	struct ext2vol_stat st = {0};
	struct wr_err err = {0};
	int r = ext2vol_stat(v, path, &st, &err);
	if (r < 0)
		return fail_err(r, &err);
	cleanup_json json_t *j = stat_json(&st);
	ext2vol_stat_done(&st);
	return ok_json(j);
}

static ssize_t stdin_read(void *ud, void *buf, size_t n)
{
	(void)ud;
	for (;;) {
		ssize_t k = read(STDIN_FILENO, buf, n);
		if (k >= 0 || errno != EINTR)
			return k < 0 ? -errno : k;
	}
}

static int stdout_write(void *ud, const void *buf, size_t n)
{
	(void)ud;
	return write_full(STDOUT_FILENO, buf, n);
}

/* Leave the network and root before touching the image. */
static int confine(uid_t uid, gid_t gid)
{
	if (getuid() == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			return -errno;
		if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
		    setresuid(uid, uid, uid) < 0)
			return -errno;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	/* open(/proc/self/fd/3) checks the owner of /proc/self, which setuid made root */
	if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		return -errno;
	struct rlimit cpu = {60, 61}, files = {16, 16};
	if (setrlimit(RLIMIT_CPU, &cpu) < 0 || setrlimit(RLIMIT_NOFILE, &files) < 0)
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc < 5)
		return fail(EINVAL, "usage: wrenn-volfs UID GID OP PATH [ARG...] (image on fd 3)");
	bool ok = true;
	uid_t uid = (uid_t)num(argv[1], 1, 0x7fffffff, &ok);
	gid_t gid = (gid_t)num(argv[2], 1, 0x7fffffff, &ok);
	if (!ok)
		return fail(EINVAL, "bad uid or gid");
	int r = confine(uid, gid);
	if (r < 0)
		return fail(-r, "cannot confine the volume reader");
	const char *op = argv[3], *path = argv[4];
	bool rw = strcmp(op, "stat") && strcmp(op, "list") && strcmp(op, "read");
	struct ext2vol *v = NULL;
	struct wr_err err = {0};
	char image[32];
	snprintf(image, sizeof(image), "/proc/self/fd/%d", IMAGE_FD);
	if ((r = ext2vol_open(image, rw, &v, &err)) < 0)
		return fail_err(r, &err);
	int rc;
	if (!strcmp(op, "stat") && argc == 5) {
		rc = ok_stat(v, path);
	} else if (!strcmp(op, "list") && argc == 6) {
		int depth = (int)num(argv[5], 1, EXT2VOL_DEPTH_MAX, &ok);
		struct ext2vol_stat *rows = NULL;
		size_t n = 0;
		if (!ok)
			rc = fail(EINVAL, "bad depth");
		else if ((r = ext2vol_list(v, path, depth, &rows, &n, &err)) < 0)
			rc = fail_err(r, &err);
		else {
			cleanup_json json_t *a = json_array();
			bool bad = false; /* a row jansson refused (a name not valid UTF-8) */
			for (size_t i = 0; i < n && !bad; i++)
				bad = json_array_append_new(a, stat_json(&rows[i])) < 0;
			ext2vol_stat_list_free(rows, n);
			rc = ok_json(bad ? NULL : a);
		}
	} else if (!strcmp(op, "read") && argc == 5) {
		int64_t size = 0;
		if ((r = ext2vol_file_size(v, path, &size, &err)) < 0)
			rc = fail_err(r, &err);
		else {
			printf("OK %lld\n", (long long)size);
			fflush(stdout);
			rc = ext2vol_read(v, path, stdout_write, NULL, &err) < 0 ? 1 : 0;
		}
	} else if (!strcmp(op, "write") && argc == 9) {
		long long max = num(argv[5], 0, INT64_MAX, &ok);
		long long u = num(argv[6], -1, UINT32_MAX - 1, &ok);
		long long g = num(argv[7], -1, UINT32_MAX - 1, &ok);
		long long m = num(argv[8], -1, 07777, &ok);
		if (!ok)
			rc = fail(EINVAL, "bad write arguments");
		else if ((r = ext2vol_write(v, path, stdin_read, NULL, max, u, g, m, &err)) < 0)
			rc = fail_err(r, &err);
		else
			rc = ok_stat(v, path);
	} else if (!strcmp(op, "mkdir") && argc == 9) {
		bool parents = num(argv[5], 0, 1, &ok) == 1;
		long long u = num(argv[6], -1, UINT32_MAX - 1, &ok);
		long long g = num(argv[7], -1, UINT32_MAX - 1, &ok);
		long long m = num(argv[8], -1, 07777, &ok);
		if (!ok)
			rc = fail(EINVAL, "bad mkdir arguments");
		else if ((r = ext2vol_mkdir(v, path, parents, u, g, m, &err)) < 0)
			rc = fail_err(r, &err);
		else
			rc = ok_stat(v, path);
	} else if (!strcmp(op, "remove") && argc == 5) {
		if ((r = ext2vol_remove(v, path, &err)) < 0)
			rc = fail_err(r, &err);
		else {
			cleanup_json json_t *done = json_object();
			rc = ok_json(done);
		}
	} else if (!strcmp(op, "setattr") && argc == 8) {
		long long u = num(argv[5], -1, UINT32_MAX - 1, &ok);
		long long g = num(argv[6], -1, UINT32_MAX - 1, &ok);
		long long m = num(argv[7], -1, 07777, &ok);
		if (!ok)
			rc = fail(EINVAL, "bad setattr arguments");
		else if ((r = ext2vol_setattr(v, path, u, g, m, &err)) < 0)
			rc = fail_err(r, &err);
		else
			rc = ok_stat(v, path);
	} else {
		rc = fail(EINVAL, "unknown operation or wrong number of arguments");
	}
	struct wr_err ce = {0};
	if (ext2vol_close(v, &ce) < 0 && rc == 0 && rw) {
		/* the answer is out already; the agent sees the exit status */
		fprintf(stderr, "wrenn-volfs: %s\n", wr_err_msg(&ce));
		rc = 1;
	}
	return rc;
}
