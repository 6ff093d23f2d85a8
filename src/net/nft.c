/* SPDX-License-Identifier: MIT */
#include "net/nft.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "net/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *nft_path(void)
{
	const char *e = getenv("WRENN_NFT");
	if (e && *e)
		return e;
	if (access("/usr/sbin/nft", X_OK) == 0)
		return "/usr/sbin/nft";
	return "nft";
}

static int run_host(const char *script, struct wr_err *err)
{
	int in[2], out[2];
	if (pipe2(in, O_CLOEXEC) < 0)
		return wr_err_errno(err, errno, "pipe");
	if (pipe2(out, O_CLOEXEC) < 0) {
		close(in[0]);
		close(in[1]);
		return wr_err_errno(err, errno, "pipe");
	}
	cleanup_close int win = in[1], rout = out[0];
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, out[1], 2);
	const char *path = nft_path();
	char *argv[] = {(char *)path, "-f", "-", NULL};
	pid_t pid;
	int r = strchr(path, '/') ? posix_spawn(&pid, path, &fa, NULL, argv, environ)
				  : posix_spawnp(&pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(in[0]);
	close(out[1]);
	if (r != 0)
		return wr_err_errno(err, r, "spawn %s", path);
	/* nft reads the whole script before it writes anything, so writing
	 * first and reading after cannot deadlock.  SIGPIPE (nft died early)
	 * is blocked on this thread and consumed, never process-wide. */
	sigset_t pipe_set, old_set;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
	int wr = write_full(win, script, strlen(script));
	if (wr == -EPIPE) {
		struct timespec zero = {0};
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old_set, NULL);
	close(TAKE_FD(win));
	char buf[1024];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(rout, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(buf) - 1) {
			char sink[256];
			while (read(rout, sink, sizeof(sink)) > 0)
				;
			break;
		}
	}
	buf[len] = 0;
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
		buf[--len] = 0;
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return wr_err_errno(err, errno, "waitpid nft");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return wr_err_set(err, EIO, "nft failed (status %d): %s", st,
				  len ? buf : "no output");
	if (wr < 0)
		return wr_err_errno(err, -wr, "write nft script");
	return 0;
}

static int ns_fn(void *arg, struct wr_err *err)
{
	/* posix_spawn from this thread: the child inherits the thread's
	 * network namespace. */
	return run_host(arg, err);
}

int nft_run(int nsfd, const char *script, struct wr_err *err)
{
	if (nsfd < 0)
		return run_host(script, err);
	return netns_run(nsfd, ns_fn, (void *)script, err);
}
