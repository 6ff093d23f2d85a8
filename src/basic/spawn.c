/* SPDX-License-Identifier: MIT */
#include "basic/spawn.h"

#include "basic/cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void append(char *out, size_t outsz, size_t *len, const char *buf, size_t n)
{
	for (size_t i = 0; i < n && *len + 1 < outsz; i++)
		out[(*len)++] = buf[i] == '\n' ? ' ' : buf[i];
}

int spawn_capture(char *const argv[], const char *input, char *out, size_t outsz, int *ret_status,
		  struct wr_err *err)
{
	int in[2] = {-1, -1}, o[2];
	if (input && pipe2(in, O_CLOEXEC) < 0)
		return wr_err_errno(err, errno, "pipe");
	if (pipe2(o, O_CLOEXEC) < 0) {
		int e = errno;
		if (input) {
			close(in[0]);
			close(in[1]);
		}
		return wr_err_errno(err, e, "pipe");
	}
	cleanup_close int win = in[1], rout = o[0];
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	if (input)
		posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, o[1], 1);
	posix_spawn_file_actions_adddup2(&fa, o[1], 2);
	pid_t pid;
	int r = strchr(argv[0], '/') ? posix_spawn(&pid, argv[0], &fa, NULL, argv, environ)
				     : posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (input)
		close(in[0]);
	close(o[1]);
	if (r != 0)
		return wr_err_errno(err, r, "spawn %s", argv[0]);

	/* Write input and read output together, so neither pipe can fill up
	 * and deadlock.  A child that exits early gives EPIPE, not SIGPIPE:
	 * the signal is blocked on this thread and consumed. */
	sigset_t pipe_set, old_set;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
	size_t in_left = input ? strlen(input) : 0, len = 0;
	const char *ip = input;
	if (input && in_left == 0)
		close(TAKE_FD(win));
	if (input)
		fcntl(win, F_SETFL, O_NONBLOCK);
	while (rout >= 0) {
		struct pollfd p[2] = {{rout, POLLIN, 0}, {win, POLLOUT, 0}};
		if (poll(p, win >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (win >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = write(win, ip, in_left);
			if (n > 0) {
				ip += n;
				in_left -= (size_t)n;
			}
			if ((n < 0 && errno != EAGAIN && errno != EINTR) || in_left == 0)
				close(TAKE_FD(win));
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			char buf[512];
			ssize_t n = read(rout, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				close(TAKE_FD(rout));
			else
				append(out, outsz, &len, buf, (size_t)n);
		}
	}
	struct timespec zero = {0};
	while (sigtimedwait(&pipe_set, NULL, &zero) > 0)
		;
	pthread_sigmask(SIG_SETMASK, &old_set, NULL);
	while (len && out[len - 1] == ' ')
		len--;
	if (outsz)
		out[len] = '\0';
	while (waitpid(pid, ret_status, 0) < 0)
		if (errno != EINTR)
			return wr_err_errno(err, errno, "waitpid %s", argv[0]);
	return 0;
}
