/* SPDX-License-Identifier: MIT */
#include "vm/launch.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "vm/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* What the child reports through the pipe when a step fails. */
struct child_fail {
	int err;
	char step[96];
};

static void __attribute__((noreturn)) child_fail(int fd, int e, const char *step)
{
	struct child_fail f = {.err = e};
	size_t n = strlen(step);
	if (n >= sizeof(f.step))
		n = sizeof(f.step) - 1;
	memcpy(f.step, step, n);
	ssize_t w = write(fd, &f, sizeof(f));
	(void)w;
	_exit(127);
}

/* Everything the child needs, prepared by the parent: after fork in a
 * threaded process only async-signal-safe calls are allowed. */
struct child_ctx {
	int report_fd, netns_fd, log_fd, null_fd, procs_fd;
	const char *dir;
	const char *kernel, *kernel_link;
	const char *rootfs, *rootfs_link;
	const char *exe;
	char *const *argv;
};

static void __attribute__((noreturn)) child(const struct child_ctx *c)
{
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	if (setpgid(0, 0) < 0)
		child_fail(c->report_fd, errno, "setpgid");
	if (c->procs_fd >= 0 && write(c->procs_fd, "0", 1) != 1)
		child_fail(c->report_fd, errno, "join cgroup");
	if (c->netns_fd >= 0 && setns(c->netns_fd, CLONE_NEWNET) < 0)
		child_fail(c->report_fd, errno, "setns network namespace");
	if (unshare(CLONE_NEWNS) < 0)
		child_fail(c->report_fd, errno, "unshare mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		child_fail(c->report_fd, errno, "make / rslave");
	if (mount("tmpfs", c->dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=0700,size=64k") < 0)
		child_fail(c->report_fd, errno, "mount tmpfs on sandbox dir");
	if (c->kernel && symlink(c->kernel, c->kernel_link) < 0)
		child_fail(c->report_fd, errno, "symlink kernel");
	if (c->rootfs && symlink(c->rootfs, c->rootfs_link) < 0)
		child_fail(c->report_fd, errno, "symlink rootfs");
	if (dup2(c->null_fd, STDIN_FILENO) < 0 || dup2(c->log_fd, STDOUT_FILENO) < 0 ||
	    dup2(c->log_fd, STDERR_FILENO) < 0)
		child_fail(c->report_fd, errno, "redirect output");
	execv(c->exe, c->argv);
	child_fail(c->report_fd, errno, "exec");
}

/* PATH lookup in the parent (execvp is not async-signal-safe). */
static char *find_exe(const char *name)
{
	if (strchr(name, '/'))
		return access(name, X_OK) == 0 ? xstrdup(name) : NULL;
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";
	cleanup_free char *copy = xstrdup(path);
	char *save = NULL;
	for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char *p = xasprintf("%s/%s", d, name);
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void reap(struct launched *l)
{
	if (l->reaped || l->pid <= 0)
		return;
	siginfo_t si = {0};
	int r;
	if (l->pidfd >= 0)
		r = waitid((idtype_t)P_PIDFD, (id_t)l->pidfd, &si, WEXITED);
	else
		r = waitid(P_PID, (id_t)l->pid, &si, WEXITED);
	if (r == 0 || errno == ECHILD) {
		l->reaped = true;
		l->exit_status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
	}
}

int launch_vmm(const struct launch_spec *s, struct launched *ret, struct wr_err *err)
{
	*ret = (struct launched)LAUNCHED_INIT;
	if (!s->argv || !s->argv[0] || !s->sandbox_dir || !s->log_path)
		return wr_err_set(err, EINVAL,
				  "launch: argv, sandbox_dir and log_path are required");
	if (s->sandbox_dir[0] != '/')
		return wr_err_set(err, EINVAL, "launch: sandbox dir \"%s\" is not absolute",
				  s->sandbox_dir);
	cleanup_free char *exe = find_exe(s->argv[0]);
	if (!exe)
		return wr_err_set(err, ENOENT, "VMM binary %s not found or not executable",
				  s->argv[0]);
	const char *links[2] = {s->kernel_path, s->rootfs_path};
	for (size_t i = 0; i < 2; i++)
		if (links[i] && access(links[i], R_OK) < 0)
			return wr_err_errno(err, errno, "%s %s", i ? "rootfs" : "kernel", links[i]);

	cleanup_close int netns_fd = -1;
	if (s->netns) {
		if (!*s->netns || strchr(s->netns, '/'))
			return wr_err_set(err, EINVAL, "bad network namespace name \"%s\"",
					  s->netns);
		cleanup_free char *p = xasprintf("/run/netns/%s", s->netns);
		netns_fd = open(p, O_RDONLY | O_CLOEXEC);
		if (netns_fd < 0)
			return wr_err_errno(err, errno, "network namespace %s", p);
	}
	cleanup_close int log_fd =
		open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
	if (log_fd < 0)
		return wr_err_errno(err, errno, "open log %s", s->log_path);
	cleanup_close int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null_fd < 0)
		return wr_err_errno(err, errno, "open /dev/null");

	struct launched l = LAUNCHED_INIT;
	struct stat st;
	if (stat(s->sandbox_dir, &st) < 0) {
		if (errno != ENOENT || mkdir(s->sandbox_dir, 0700) < 0)
			return wr_err_errno(err, errno, "sandbox dir %s", s->sandbox_dir);
		l.made_dir = xstrdup(s->sandbox_dir);
	} else if (!S_ISDIR(st.st_mode)) {
		return wr_err_set(err, ENOTDIR, "sandbox dir %s is not a directory",
				  s->sandbox_dir);
	}

	cleanup_close int procs_fd = -1;
	if (s->cgroup_parent) {
		struct wr_err cerr = {0};
		int r = cgroup_create(s->cgroup_parent, s->cgroup_name ? s->cgroup_name : "vmm",
				      s->memory_max, s->cpu_weight, &l.cgroup_path, &procs_fd,
				      &cerr);
		if (r < 0) {
			l.warning = xasprintf("no cgroup limits: %s", wr_err_msg(&cerr));
			log_warn("launch %s: %s", s->sandbox_dir, l.warning);
		}
	}

	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		int e = errno;
		launched_done(&l);
		return wr_err_errno(err, e, "pipe");
	}
	cleanup_close int rd = pipefd[0];
	cleanup_close int wr = pipefd[1];
	cleanup_free char *klink = xasprintf("%s/" VMM_KERNEL_LINK, s->sandbox_dir);
	cleanup_free char *rlink = xasprintf("%s/" VMM_ROOTFS_LINK, s->sandbox_dir);
	struct child_ctx c = {
		.report_fd = wr,
		.netns_fd = netns_fd,
		.log_fd = log_fd,
		.null_fd = null_fd,
		.procs_fd = procs_fd,
		.dir = s->sandbox_dir,
		.kernel = s->kernel_path,
		.kernel_link = klink,
		.rootfs = s->rootfs_path,
		.rootfs_link = rlink,
		.exe = exe,
		.argv = s->argv,
	};
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		launched_done(&l);
		return wr_err_errno(err, e, "fork");
	}
	if (pid == 0)
		child(&c);
	l.pid = pid;
	l.pidfd = pidfd_open_(pid);
	int pidfd_errno = errno;
	/* The parent's copy of the write end must go, or the read below never sees EOF. */
	close(TAKE_FD(wr));

	struct child_fail f;
	ssize_t n;
	do
		n = read(rd, &f, sizeof(f));
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)sizeof(f)) {
		launched_done(&l);
		f.step[sizeof(f.step) - 1] = '\0';
		return wr_err_errno(err, f.err, "launch %s: %s", s->argv[0], f.step);
	}
	if (l.pidfd < 0) {
		launched_done(&l);
		return wr_err_errno(err, pidfd_errno, "pidfd_open");
	}
	*ret = l;
	return 0;
}

bool launched_alive(struct launched *l)
{
	if (l->pid <= 0 || l->reaped)
		return false;
	if (l->pidfd < 0)
		return true;
	struct pollfd p = {.fd = l->pidfd, .events = POLLIN};
	return poll(&p, 1, 0) == 0;
}

int launched_wait(struct launched *l, int timeout_ms)
{
	if (l->pid <= 0 || l->reaped)
		return 0;
	if (l->pidfd >= 0) {
		struct pollfd p = {.fd = l->pidfd, .events = POLLIN};
		int r;
		do
			r = poll(&p, 1, timeout_ms);
		while (r < 0 && errno == EINTR);
		if (r == 0)
			return -ETIMEDOUT;
	}
	reap(l);
	return 0;
}

static void signal_group(struct launched *l, int sig)
{
	/* The leader is not reaped yet (a zombie still holds its pid), so the
	 * group id cannot have been reused. */
	if (l->pid > 0 && !l->reaped)
		kill(-l->pid, sig);
}

void launched_stop(struct launched *l, int term_ms)
{
	if (l->pid <= 0 || l->reaped)
		return;
	if (launched_alive(l)) {
		signal_group(l, SIGTERM);
		if (launched_wait(l, term_ms) == 0) {
			/* leftovers of the group (none expected for a VMM) */
			return;
		}
		signal_group(l, SIGKILL);
	}
	reap(l);
}

void launched_done(struct launched *l)
{
	launched_stop(l, 2000);
	if (l->pidfd >= 0) {
		close(l->pidfd);
		l->pidfd = -1;
	}
	if (l->cgroup_path) {
		cgroup_remove(l->cgroup_path);
		free(l->cgroup_path);
		l->cgroup_path = NULL;
	}
	if (l->made_dir) {
		/* The tmpfs lived only in the VMM's mount namespace, gone with it. */
		rmdir(l->made_dir);
		free(l->made_dir);
		l->made_dir = NULL;
	}
	free(l->warning);
	l->warning = NULL;
}

void launch_log_tail(const char *path, char *buf, size_t n)
{
	buf[0] = '\0';
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || n < 2)
		return;
	off_t end = lseek(fd, 0, SEEK_END);
	if (end <= 0)
		return;
	off_t start = end > (off_t)(n - 1) ? end - (off_t)(n - 1) : 0;
	ssize_t r = pread(fd, buf, (size_t)(end - start), start);
	if (r <= 0) {
		buf[0] = '\0';
		return;
	}
	buf[r] = '\0';
	while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == '\r'))
		buf[--r] = '\0';
	/* keep the last two lines */
	char *last = strrchr(buf, '\n');
	if (last) {
		*last = '\0';
		char *prev = strrchr(buf, '\n');
		*last = '\n';
		if (prev)
			memmove(buf, prev + 1, strlen(prev + 1) + 1);
	}
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}
