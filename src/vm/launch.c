/* SPDX-License-Identifier: MIT */
#include "vm/launch.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "vm/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/close_range.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

/* QEMU's own TAP flags; Cloud Hypervisor attaches with the same (net_util
 * Tap::open_named / from_tap_fd: IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, plus
 * IFF_MULTI_QUEUE only for more than one queue pair, which we never ask for). */
#define LAUNCH_TAP_FLAGS (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)

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
	int report_fd, netns_fd, log_fd, null_fd, api_fd;
	const int *procs_fd;
	size_t nprocs;
	const char *dir;
	const char *tap;
	const char *kernel, *kernel_link;
	const char *rootfs, *rootfs_link;
	const char *exe;
	char *const *argv;
	char *const *envp;
	const struct jail_plan *jail;
	bool no_thp;
};

/* TUNSETIFF on an open /dev/net/tun, waiting out EBUSY: the slot's previous VMM
 * (destroyed, its slot just handed to this create) may not have closed the TAP
 * yet; it is on its way out, so wait for it, briefly (seen with 20 concurrent
 * creates right after other sandboxes' destroys).  Async-signal-safe: the
 * forked child uses it too. */
static int attach_tap(int fd, const char *name)
{
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = LAUNCH_TAP_FLAGS;
	size_t n = strlen(name);
	memcpy(ifr.ifr_name, name, n < IFNAMSIZ ? n : IFNAMSIZ - 1);
	for (int tries = 0; ioctl(fd, TUNSETIFF, &ifr) < 0;) {
		if (errno != EBUSY || ++tries > 150)
			return -errno;
		struct timespec ts = {0, 20 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* Move fd to a number >= 5 (CLOEXEC), out of the way of the fixed fds 3 and 4. */
static int lift(int fd)
{
	return fd < 0 || fd > LAUNCH_API_FD ? fd : fcntl(fd, F_DUPFD_CLOEXEC, LAUNCH_API_FD + 1);
}

static void __attribute__((noreturn)) child(const struct child_ctx *c)
{
	int report = lift(c->report_fd);
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	if (report < 0)
		_exit(127);
	if (setpgid(0, 0) < 0)
		child_fail(report, errno, "setpgid");
	/* Into the cgroup first: every later step and the VMM are accounted. */
	for (size_t i = 0; i < c->nprocs; i++)
		if (write(c->procs_fd[i], "0", 1) != 1)
			child_fail(report, errno, "join cgroup");
	if (c->no_thp && prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) < 0)
		child_fail(report, errno, "disable transparent huge pages");
	if (c->netns_fd >= 0 && setns(c->netns_fd, CLONE_NEWNET) < 0)
		child_fail(report, errno, "setns network namespace");
	int tap = -1;
	if (c->tap) {
		/* Attach to the slot's persistent TAP while still privileged. */
		tap = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
		if (tap < 0)
			child_fail(report, errno, "open /dev/net/tun");
		int r = attach_tap(tap, c->tap);
		if (r < 0)
			child_fail(report, -r, "attach TAP");
		tap = lift(tap);
	}
	int api = lift(c->api_fd);
	if (unshare(CLONE_NEWNS) < 0)
		child_fail(report, errno, "unshare mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
		child_fail(report, errno, "make / rslave");
	/* Jailed: this tmpfs becomes the root, so the VMM's uid must traverse it. */
	if (mount("tmpfs", c->dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  c->jail ? "mode=0755,size=64k" : "mode=0700,size=64k") < 0)
		child_fail(report, errno, "mount tmpfs on sandbox dir");
	if (!c->jail && c->kernel && symlink(c->kernel, c->kernel_link) < 0)
		child_fail(report, errno, "symlink kernel");
	if (!c->jail && c->rootfs && symlink(c->rootfs, c->rootfs_link) < 0)
		child_fail(report, errno, "symlink rootfs");
	const char *step = NULL;
	if (c->jail && jail_build_root(c->jail, &step) < 0)
		child_fail(report, errno, step);
	if (dup2(c->null_fd, STDIN_FILENO) < 0 || dup2(c->log_fd, STDOUT_FILENO) < 0 ||
	    dup2(c->log_fd, STDERR_FILENO) < 0)
		child_fail(report, errno, "redirect output");
	/* dup2 clears CLOEXEC on the fixed numbers; the lifted copies close at exec. */
	if ((tap >= 0 && dup2(tap, LAUNCH_TAP_FD) < 0) ||
	    (api >= 0 && dup2(api, LAUNCH_API_FD) < 0))
		child_fail(report, errno, "pass TAP/API fds");
	/* Nothing else of the agent's (or its caller's) fds reaches the VMM. */
	if (syscall(SYS_close_range, LAUNCH_API_FD + 1, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		child_fail(report, errno, "close_range");
	if (c->jail && jail_drop(c->jail, &step) < 0)
		child_fail(report, errno, step);
	execve(c->exe, c->argv, c->envp);
	child_fail(report, errno, "exec");
}

struct tap_open {
	int nsfd;
	const char *name;
	int fd, r;
	const char *step;
};

static void *tap_open_thread(void *arg)
{
	struct tap_open *t = arg;
	/* setns(CLONE_NEWNET) changes only this thread, which ends here. */
	if (t->nsfd >= 0 && setns(t->nsfd, CLONE_NEWNET) < 0) {
		t->r = -errno;
		t->step = "setns network namespace";
		return NULL;
	}
	/* /dev/net/tun binds the device to the namespace of the opener. */
	t->fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (t->fd < 0) {
		t->r = -errno;
		t->step = "open /dev/net/tun";
		return NULL;
	}
	if ((t->r = attach_tap(t->fd, t->name)) < 0) {
		close(t->fd);
		t->fd = -1;
		t->step = "attach TAP";
	}
	return NULL;
}

int launch_open_tap(const char *netns, const char *name, int *ret_fd, struct wr_err *err)
{
	if (!name || !*name || strlen(name) >= IFNAMSIZ)
		return wr_err_set(err, EINVAL, "bad TAP name \"%s\"", name ? name : "");
	cleanup_close int nsfd = -1;
	if (netns) {
		if (!*netns || strchr(netns, '/'))
			return wr_err_set(err, EINVAL, "bad network namespace name \"%s\"", netns);
		cleanup_free char *p = xasprintf("/run/netns/%s", netns);
		nsfd = open(p, O_RDONLY | O_CLOEXEC);
		if (nsfd < 0)
			return wr_err_errno(err, errno, "network namespace %s", p);
	}
	struct tap_open t = {.nsfd = nsfd, .name = name, .fd = -1};
	pthread_t th;
	int r = pthread_create(&th, NULL, tap_open_thread, &t);
	if (r != 0)
		return wr_err_errno(err, r, "pthread_create");
	pthread_join(th, NULL);
	if (t.r < 0)
		return wr_err_errno(err, -t.r, "%s %s%s%s", t.step, name, netns ? " in " : "",
				    netns ? netns : "");
	*ret_fd = t.fd;
	return 0;
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

/* The API socket, bound and listening before the VMM exists: 0600 root, so
 * only the agent connects; the VMM (jailed or not) only accepts on it. */
static int bind_api(const char *path, int *ret_fd, struct wr_err *err)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(a.sun_path))
		return wr_err_set(err, ENAMETOOLONG, "API socket path %s is too long", path);
	memcpy(a.sun_path, path, strlen(path) + 1);
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return wr_err_errno(err, errno, "socket");
	if (unlink(path) < 0 && errno != ENOENT)
		return wr_err_errno(err, errno, "remove stale socket %s", path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		return wr_err_errno(err, errno, "bind %s", path);
	if (chmod(path, 0600) < 0 || listen(fd, 8) < 0) {
		int e = errno;
		unlink(path);
		return wr_err_errno(err, e, "listen on %s", path);
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
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

	if (s->cgroup_parent) {
		struct wr_err cerr = {0};
		int r = cgroup_create(s->cgroup_parent, s->cgroup_name ? s->cgroup_name : "vmm",
				      &s->limits, &l.cg, s->cgroup_required ? err : &cerr);
		if (r < 0 && s->cgroup_required) {
			launched_done(&l);
			return wr_err_prefix(err, r, "cgroup for %s", s->sandbox_dir);
		}
		if (r < 0) {
			l.warning = xasprintf("no cgroup limits: %s", wr_err_msg(&cerr));
			log_warn("launch %s: %s", s->sandbox_dir, l.warning);
		}
	}

	cleanup_close int api_fd = -1;
	if (s->api_socket) {
		int r = bind_api(s->api_socket, &api_fd, err);
		if (r < 0) {
			launched_done(&l);
			return r;
		}
	}
	cleanup_free char *klink = xasprintf("%s/" VMM_KERNEL_LINK, s->sandbox_dir);
	cleanup_free char *rlink = xasprintf("%s/" VMM_ROOTFS_LINK, s->sandbox_dir);
	struct jail_plan *jp = NULL;
	if (s->jail) {
		/* The stable names live at the same path inside the jail. */
		const char *jlinks[5] = {0};
		size_t nl = 0;
		if (s->kernel_path) {
			jlinks[nl++] = s->kernel_path;
			jlinks[nl++] = klink;
		}
		if (s->rootfs_path) {
			jlinks[nl++] = s->rootfs_path;
			jlinks[nl++] = rlink;
		}
		struct jail_spec j = *s->jail;
		j.links = jlinks;
		int r = jail_plan_new(&j, s->sandbox_dir, exe, &jp, err);
		if (r < 0) {
			launched_done(&l);
			return wr_err_prefix(err, r, "launch %s", s->argv[0]);
		}
	}
	cleanup_free char *env_api =
		xasprintf(LAUNCH_ENV_API "%s", s->api_socket ? s->api_socket : "");
	char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", env_api, NULL};

	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		int e = errno;
		jail_plan_free(jp);
		launched_done(&l);
		return wr_err_errno(err, e, "pipe");
	}
	cleanup_close int rd = pipefd[0];
	cleanup_close int wr = pipefd[1];
	struct child_ctx c = {
		.report_fd = wr,
		.netns_fd = netns_fd,
		.log_fd = log_fd,
		.null_fd = null_fd,
		.api_fd = api_fd,
		.procs_fd = l.cg.procs_fd,
		.nprocs = l.cg.n,
		.dir = s->sandbox_dir,
		.tap = s->tap_name,
		.kernel = s->kernel_path,
		.kernel_link = klink,
		.rootfs = s->rootfs_path,
		.rootfs_link = rlink,
		.exe = exe,
		.argv = s->argv,
		.envp = envp,
		.jail = jp,
		.no_thp = s->no_thp,
	};
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		jail_plan_free(jp);
		launched_done(&l);
		return wr_err_errno(err, e, "fork");
	}
	if (pid == 0)
		child(&c);
	jail_plan_free(jp);
	/* The child has joined; the agent keeps no handle on cgroup.procs. */
	cgroup_set_close_fds(&l.cg);
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
		if (s->api_socket)
			unlink(s->api_socket);
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
	cgroup_set_remove(&l->cg);
	if (l->made_dir) {
		/* The tmpfs lived only in the VMM's mount namespace, gone with it. */
		rmdir(l->made_dir);
		free(l->made_dir);
		l->made_dir = NULL;
	}
	free(l->warning);
	l->warning = NULL;
}

void launched_forget(struct launched *l)
{
	if (l->pidfd >= 0)
		close(l->pidfd);
	cgroup_set_forget(&l->cg);
	free(l->made_dir);
	free(l->warning);
	*l = (struct launched)LAUNCHED_INIT;
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
