/* SPDX-License-Identifier: MIT */
#include "init/supervise.h"

#include "basic/fdio.h"
#include "init/console.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

unsigned svc_backoff_ms(unsigned failures)
{
	unsigned ms = SVC_BACKOFF_MIN_MS;
	for (unsigned i = 1; i < failures && ms < SVC_BACKOFF_MAX_MS; i++)
		ms *= 2;
	return ms > SVC_BACKOFF_MAX_MS ? SVC_BACKOFF_MAX_MS : ms;
}

static long elapsed_ms(const struct timespec *since)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000L + (now.tv_nsec - since->tv_nsec) / 1000000L;
}

static const char *const child_env[] = {
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"USER=root",
	"LANG=C.UTF-8",
	NULL,
};

int svc_start(struct svc *s, struct wr_err *err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return wr_err_errno(err, errno, "pipe");
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		return wr_err_errno(err, e, "fork %s", s->name);
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setsid();
		if (chdir("/") < 0) {
			/* not fatal: exec below still says whether the binary runs */
		}
		char *const argv[] = {(char *)s->path, NULL};
		execve(s->path, argv, (char *const *)child_env);
		int e = errno;
		(void)write_full(p[1], &e, sizeof(e));
		_exit(127);
	}
	close(p[1]);
	int child_errno = 0;
	int r = read_full(p[0], &child_errno, sizeof(child_errno));
	close(p[0]);
	if (r == 0) {
		/* exec failed; the child is gone or about to be: reap it here so the caller's SIGCHLD
		 * handling never mistakes it for a running service */
		waitpid(pid, NULL, 0);
		const char *hint =
			child_errno == ENOENT	 ? " (file missing from the root filesystem)"
			: child_errno == EACCES	 ? " (not executable)"
			: child_errno == ENOEXEC ? " (not a valid executable for this kernel)"
						 : "";
		return wr_err_set(err, child_errno, "cannot execute %s %s: %s%s", s->name, s->path,
				  strerror(child_errno), hint);
	}
	/* -EPIPE: EOF, the close-on-exec pipe closed because exec succeeded */
	s->pid = pid;
	clock_gettime(CLOCK_MONOTONIC, &s->started);
	return 0;
}

long svc_exited(struct svc *s, pid_t pid, int status)
{
	if (s->pid == 0 || pid != s->pid)
		return -1;
	long ran = elapsed_ms(&s->started);
	s->pid = 0;
	if (ran >= SVC_STABLE_MS)
		s->failures = 0;
	s->failures++;
	unsigned delay = svc_backoff_ms(s->failures);
	if (WIFSIGNALED(status))
		con_log("%s (pid %d) killed by signal %d (%s) after %ld ms; restarting in %u ms",
			s->name, pid, WTERMSIG(status), strsignal(WTERMSIG(status)), ran, delay);
	else
		con_log("%s (pid %d) exited with status %d after %ld ms; restarting in %u ms",
			s->name, pid, WEXITSTATUS(status), ran, delay);
	return delay;
}
