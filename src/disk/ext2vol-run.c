/* SPDX-License-Identifier: MIT */
#include "disk/ext2vol-run.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define LINE_MAX_ 512

struct child {
	pid_t pid;
	int in, out; /* our ends: its stdin, its stdout */
};

static int start(const struct ext2vol_run *r, struct child *c, struct wr_err *err)
{
	cleanup_close int img = open(r->image, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (img < 0)
		return wr_err_errno(err, errno, "open volume image %s", r->image);
	struct stat st;
	if (fstat(img, &st) < 0 || !S_ISREG(st.st_mode))
		return wr_err_set(err, EINVAL, "volume image %s is not a regular file", r->image);
	/* the helper is this uid: the image is its own for the operation (an attach gives it to
	 * the VMM's jail uid again) */
	if ((st.st_uid != r->uid || st.st_gid != r->gid) && fchown(img, r->uid, r->gid) < 0)
		return wr_err_errno(err, errno, "chown volume image %s", r->image);
	if ((st.st_mode & 0777) != 0600 && fchmod(img, 0600) < 0)
		return wr_err_errno(err, errno, "chmod volume image %s", r->image);
	int pin[2], pout[2];
	if (pipe2(pin, O_CLOEXEC) < 0)
		return wr_err_errno(err, errno, "pipe");
	if (pipe2(pout, O_CLOEXEC) < 0) {
		int e = errno;
		close(pin[0]);
		close(pin[1]);
		return wr_err_errno(err, e, "pipe");
	}
	char su[16], sg[16];
	snprintf(su, sizeof(su), "%u", (unsigned)r->uid);
	snprintf(sg, sizeof(sg), "%u", (unsigned)r->gid);
	size_t na = 0;
	while (r->args[na])
		na++;
	char **argv = xcalloc(na + 4, sizeof(*argv));
	argv[0] = (char *)r->helper;
	argv[1] = su;
	argv[2] = sg;
	for (size_t i = 0; i < na; i++)
		argv[3 + i] = (char *)r->args[i];
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, pout[1], STDOUT_FILENO);
	posix_spawn_file_actions_adddup2(&fa, img, 3);
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	char *envp[] = {"PATH=/usr/bin:/bin", NULL};
	pid_t pid = 0;
	int e = posix_spawn(&pid, r->helper, &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	free(argv);
	close(pin[0]);
	close(pout[1]);
	if (e) {
		close(pin[1]);
		close(pout[0]);
		return wr_err_errno(err, e, "start %s", r->helper);
	}
	*c = (struct child){.pid = pid, .in = pin[1], .out = pout[0]};
	return 0;
}

/* Reap; 0 when it exited 0, -EUCLEAN naming a crash. */
static int finish(struct child *c, struct wr_err *err)
{
	if (c->pid <= 0)
		return 0;
	if (c->in >= 0)
		close(c->in);
	if (c->out >= 0)
		close(c->out);
	c->in = c->out = -1;
	int st = 0;
	while (waitpid(c->pid, &st, 0) < 0)
		if (errno != EINTR)
			return wr_err_errno(err, errno, "wait for the volume reader");
	c->pid = 0;
	if (WIFSIGNALED(st))
		return wr_err_set(err, EUCLEAN,
				  "the volume's file system crashed the reader (signal %d): it is "
				  "damaged",
				  WTERMSIG(st));
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return wr_err_set(err, EUCLEAN, "the volume reader failed (exit %d)",
				  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return 0;
}

/* Feed src to the helper's stdin, then close it.  A helper that stopped reading (EPIPE) has
 * an answer for us: not an error here. */
static int feed(const struct ext2vol_run *r, struct child *c, struct wr_err *err)
{
	int rc = 0;
	if (r->src) {
		cleanup_free char *buf = xmalloc(65536);
		for (;;) {
			ssize_t n = r->src(r->src_ud, buf, 65536);
			if (n < 0) {
				rc = wr_err_set(err, (int)-n, "read the upload");
				break;
			}
			if (n == 0)
				break;
			sigset_t pipe_set, old;
			sigemptyset(&pipe_set);
			sigaddset(&pipe_set, SIGPIPE);
			pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
			int w = write_full(c->in, buf, (size_t)n);
			struct timespec zero = {0, 0};
			if (w == -EPIPE)
				sigtimedwait(&pipe_set, NULL, &zero); /* drop our pending SIGPIPE */
			pthread_sigmask(SIG_SETMASK, &old, NULL);
			if (w < 0)
				break;
		}
	}
	close(c->in);
	c->in = -1;
	return rc;
}

/* The first line: 0 and *ret_arg (text after "OK ", may be empty) for OK; < 0 for ERR (errno
 * checked against what ext2vol reports) or garbage. */
static int status_line(struct child *c, char *line, size_t max, char **ret_arg, struct wr_err *err)
{
	size_t n = 0;
	while (n < max - 1) {
		ssize_t k = read(c->out, line + n, 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	if (!strncmp(line, "OK", 2) && (line[2] == '\0' || line[2] == ' ')) {
		*ret_arg = line[2] ? line + 3 : line + 2;
		return 0;
	}
	if (strncmp(line, "ERR ", 4) != 0) {
		/* no answer: how it ended says more (a crash) */
		int r = finish(c, err);
		return r < 0 ? r : wr_err_set(err, EUCLEAN, "the volume reader gave no answer");
	}
	char *end = NULL;
	long e = strtol(line + 4, &end, 10);
	static const int known[] = {ENOENT, EINVAL,	  EEXIST, ENOTDIR, EISDIR,
				    ELOOP,  ENOSPC,	  EFBIG,  E2BIG,   ENOTSUP,
				    EROFS,  ENAMETOOLONG, EIO,	  EUCLEAN, ENOMEM};
	int code = EUCLEAN;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (e == known[i])
			code = known[i];
	const char *msg = end && *end == ' ' ? end + 1 : "";
	char clean[301];
	size_t k = 0;
	for (; k < sizeof(clean) - 1 && msg[k]; k++)
		clean[k] = (unsigned char)msg[k] < ' ' || msg[k] == 0x7f ? '?' : msg[k];
	clean[k] = '\0';
	return wr_err_set(err, code, "%s", clean);
}

int ext2vol_run_json(const struct ext2vol_run *r, size_t max, char **ret, struct wr_err *err)
{
	struct child c;
	int rc = start(r, &c, err);
	if (rc < 0)
		return rc;
	rc = feed(r, &c, err);
	char line[LINE_MAX_];
	char *arg = NULL;
	cleanup_free char *body = NULL;
	if (rc >= 0)
		rc = status_line(&c, line, sizeof(line), &arg, err);
	if (rc >= 0) {
		size_t len = 0, cap = 4096;
		body = xmalloc(cap + 1);
		for (;;) {
			if (len == cap) {
				if (cap >= max) {
					rc = wr_err_set(err, E2BIG, "the answer is over %zu bytes",
							max);
					break;
				}
				cap = cap * 2 > max ? max : cap * 2;
				body = xrealloc(body, cap + 1);
			}
			ssize_t k = read(c.out, body + len, cap - len);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				break;
			len += (size_t)k;
		}
		body[len] = '\0';
	}
	if (rc < 0) {
		/* an ERR answer is the error; the exit status adds nothing */
		if (c.pid > 0)
			kill(c.pid, SIGKILL);
		struct wr_err ignore = {0};
		finish(&c, &ignore);
		return rc;
	}
	if ((rc = finish(&c, err)) < 0)
		return rc;
	*ret = TAKE_PTR(body);
	return 0;
}

int ext2vol_run_read(const struct ext2vol_run *r, int (*head)(void *ud, int64_t size),
		     int (*sink)(void *ud, const void *buf, size_t n), void *ud, struct wr_err *err)
{
	struct child c;
	int rc = start(r, &c, err);
	if (rc < 0)
		return rc;
	close(c.in);
	c.in = -1;
	char line[LINE_MAX_];
	char *arg = NULL;
	rc = status_line(&c, line, sizeof(line), &arg, err);
	char *end = NULL;
	long long size = rc >= 0 ? strtoll(arg, &end, 10) : 0;
	if (rc >= 0 && (!end || *end || size < 0))
		rc = wr_err_set(err, EUCLEAN, "the volume reader sent a bad size");
	if (rc >= 0 && (rc = head(ud, size)) < 0)
		wr_err_set(err, -rc, "answer");
	int64_t got = 0;
	if (rc >= 0) {
		cleanup_free char *buf = xmalloc(65536);
		while (got < size) {
			size_t want = size - got < 65536 ? (size_t)(size - got) : 65536;
			ssize_t k = read(c.out, buf, want);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				break;
			got += k;
			if ((rc = sink(ud, buf, (size_t)k)) < 0) {
				wr_err_set(err, -rc, "send");
				break;
			}
		}
		if (rc >= 0 && got != size)
			rc = wr_err_set(err, EUCLEAN,
					"the volume reader stopped after %lld of %lld bytes",
					(long long)got, size);
	}
	if (rc < 0) {
		if (c.pid > 0)
			kill(c.pid, SIGKILL);
		struct wr_err ignore = {0};
		finish(&c, &ignore);
		return rc;
	}
	return finish(&c, err);
}
