/* SPDX-License-Identifier: MIT */
#include "envd/proc.h"

#include "basic/cleanup.h"
#include "basic/deadline.h"
#include "basic/log.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RING 256 /* events kept per process (data chunks <= 32 KiB) */
#define CHUNK (32 * 1024)
#define KEEP_ENDED 64 /* ended processes remembered for late Connect */
#define MAX_SUBS 64

struct proc {
	struct procs *t;
	int refs;
	pid_t pid;
	char *tag;
	json_t *config;
	bool pty;
	int in_fd;  /* stdin pipe or pty master; -1 when closed */
	int out_fd; /* stdout pipe or pty master */
	int err_fd; /* stderr pipe; -1 with a pty */
	int pidfd;
	int64_t deadline; /* CLOCK_MONOTONIC ms; 0 = none */
	struct pev ring[RING];
	uint64_t next; /* sequence of the next event */
	bool ended;
	uint64_t *subs[MAX_SUBS];
	pthread_cond_t cond;
	pthread_mutex_t in_lock; /* serialises writes to stdin */
};

struct procs {
	pthread_mutex_t lock;
	struct proc **v;
	size_t n;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct procs *procs_new(void)
{
	struct procs *t = xcalloc(1, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	return t;
}

static void proc_free(struct proc *p)
{
	for (size_t i = 0; i < RING; i++)
		free(p->ring[i].data);
	if (p->in_fd >= 0 && p->in_fd != p->out_fd)
		close(p->in_fd);
	free(p->tag);
	json_decref(p->config);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->in_lock);
	free(p);
}

void procs_free(struct procs *t)
{
	if (!t)
		return;
	/* Reader threads keep references; only drop processes nobody holds. */
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n; i++)
		if (--t->v[i]->refs == 0)
			proc_free(t->v[i]);
	free(t->v);
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

void proc_spec_done(struct proc_spec *s)
{
	for (char **a = s->argv; a && *a; a++)
		free(*a);
	free(s->argv);
	envd_env_free(s->envp);
	free(s->path);
	free(s->cwd);
	free(s->tag);
	json_decref(s->config);
	memset(s, 0, sizeof(*s));
}

pid_t proc_pid(const struct proc *p)
{
	return p->pid;
}

static uint64_t min_cursor(struct proc *p)
{
	uint64_t m = p->next;
	for (int i = 0; i < MAX_SUBS; i++)
		if (p->subs[i] && *p->subs[i] < m)
			m = *p->subs[i];
	return m;
}

/* Append an event; waits while a subscriber still needs the slot we would
 * overwrite, so a slow stream slows the reader (and the pipe the process
 * writes to) instead of losing output. Called with t->lock held. */
static void push_event(struct proc *p, struct pev *ev)
{
	while (p->next - min_cursor(p) >= RING && !p->ended)
		pthread_cond_wait(&p->cond, &p->t->lock);
	struct pev *slot = &p->ring[p->next % RING];
	free(slot->data);
	*slot = *ev;
	p->next++;
	pthread_cond_broadcast(&p->cond);
}

void proc_status_text(int st, struct pev *ev)
{
	if (WIFEXITED(st)) {
		ev->exited = true;
		ev->exit_code = WEXITSTATUS(st);
		snprintf(ev->status, sizeof(ev->status), "exit status %d", ev->exit_code);
		return;
	}
	ev->exited = false;
	ev->exit_code = -1;
	int sig = WTERMSIG(st);
	/* Go's signal names (ProcessState.String()). */
	static const char *const names[] = {
		[SIGHUP] = "hangup",
		[SIGINT] = "interrupt",
		[SIGQUIT] = "quit",
		[SIGILL] = "illegal instruction",
		[SIGTRAP] = "trace/breakpoint trap",
		[SIGABRT] = "aborted",
		[SIGBUS] = "bus error",
		[SIGFPE] = "floating point exception",
		[SIGKILL] = "killed",
		[SIGUSR1] = "user defined signal 1",
		[SIGSEGV] = "segmentation fault",
		[SIGUSR2] = "user defined signal 2",
		[SIGPIPE] = "broken pipe",
		[SIGALRM] = "alarm clock",
		[SIGTERM] = "terminated",
	};
	const char *n = sig > 0 && sig < (int)ARRAY_SIZE(names) && names[sig] ? names[sig] : NULL;
	if (n)
		snprintf(ev->status, sizeof(ev->status), "signal: %s%s", n,
			 WCOREDUMP(st) ? " (core dumped)" : "");
	else
		snprintf(ev->status, sizeof(ev->status), "signal: signal %d", sig);
}

static void prune_locked(struct procs *t)
{
	size_t ended = 0;
	for (size_t i = t->n; i-- > 0;) {
		struct proc *p = t->v[i];
		if (!p->ended)
			continue;
		if (++ended <= KEEP_ENDED)
			continue;
		memmove(&t->v[i], &t->v[i + 1], (t->n - i - 1) * sizeof(*t->v));
		t->n--;
		if (--p->refs == 0)
			proc_free(p);
	}
}

/* Read what is available on fd; 0 on EOF/EIO, >0 bytes pushed, -EAGAIN. */
static int pump(struct proc *p, int fd, enum pev_kind kind)
{
	char *buf = xmalloc(CHUNK);
	ssize_t n = read(fd, buf, CHUNK);
	if (n <= 0) {
		int e = n < 0 ? errno : 0;
		free(buf);
		if (n < 0 && (e == EAGAIN || e == EINTR))
			return -EAGAIN;
		return 0;
	}
	struct pev ev = {.kind = kind, .data = buf, .len = (size_t)n};
	pthread_mutex_lock(&p->t->lock);
	push_event(p, &ev);
	pthread_mutex_unlock(&p->t->lock);
	return (int)n;
}

static void *reader_main(void *arg)
{
	struct proc *p = arg;
	int fds[2] = {p->out_fd, p->err_fd};
	enum pev_kind kinds[2] = {p->pty ? PEV_PTY : PEV_STDOUT, PEV_STDERR};
	bool exited = false, killed = false;
	for (;;) {
		struct pollfd pf[3];
		int np = 0, map[3];
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0) {
				pf[np] = (struct pollfd){.fd = fds[i], .events = POLLIN};
				map[np++] = i;
			}
		if (np == 0)
			break;
		if (p->pidfd >= 0 && !exited) {
			pf[np] = (struct pollfd){.fd = p->pidfd, .events = POLLIN};
			map[np++] = 2;
		}
		int timeout = -1;
		if (p->deadline && !killed) {
			int64_t left = p->deadline - now_ms();
			timeout = left < 0 ? 0 : (int)left;
		}
		int r = poll(pf, (nfds_t)np, exited ? 0 : timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0 && exited)
			break; /* exited and nothing left to read: children may hold the pipes */
		if (r == 0) {
			kill(-p->pid, SIGKILL);
			kill(p->pid, SIGKILL);
			killed = true;
			continue;
		}
		for (int i = 0; i < np; i++) {
			if (!pf[i].revents)
				continue;
			if (map[i] == 2) {
				exited = true;
				for (int k = 0; k < 2; k++)
					if (fds[k] >= 0)
						fcntl(fds[k], F_SETFL,
						      fcntl(fds[k], F_GETFL) | O_NONBLOCK);
				continue;
			}
			int k = map[i];
			int q = pump(p, fds[k], kinds[k]);
			if (q == 0) {
				if (fds[k] != p->in_fd)
					close(fds[k]);
				fds[k] = -1;
			}
		}
	}
	int st = 0;
	while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
		;
	for (int k = 0; k < 2; k++)
		if (fds[k] >= 0 && fds[k] != p->in_fd)
			close(fds[k]);
	if (p->pidfd >= 0)
		close(p->pidfd);
	struct pev ev = {.kind = PEV_END};
	proc_status_text(st, &ev);
	log_info("process %d ended: %s", (int)p->pid, ev.status);
	pthread_mutex_lock(&p->t->lock);
	push_event(p, &ev);
	p->ended = true;
	if (p->pty && p->in_fd >= 0) {
		close(p->in_fd);
		p->in_fd = -1;
	}
	pthread_cond_broadcast(&p->cond);
	prune_locked(p->t);
	if (--p->refs == 0)
		proc_free(p);
	pthread_mutex_unlock(&p->t->lock);
	return NULL;
}

/* Child side of fork: only async-signal-safe calls. */
static void child(const struct proc_spec *s, int in, int out, int errfd, int slave, int report)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	setsid();
	if (slave >= 0)
		ioctl(slave, TIOCSCTTY, 0);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
		goto fail;
	if (geteuid() == 0 && s->user.uid != 0) {
		if (setgroups((size_t)s->user.ngroups, s->user.groups) < 0 ||
		    setgid(s->user.gid) < 0 || setuid(s->user.uid) < 0)
			goto fail;
	} else if (geteuid() == 0) {
		if (setgroups((size_t)s->user.ngroups, s->user.groups) < 0 ||
		    setgid(s->user.gid) < 0)
			goto fail;
	}
	if (chdir(s->cwd) < 0)
		goto fail;
	execve(s->path, s->argv, s->envp);
fail:;
	int e = errno;
	ssize_t w = write(report, &e, sizeof(e));
	(void)w;
	_exit(127);
}

/* A pty pair with both ends close-on-exec from the start: envd forks from several threads at
 * once, and openpty() + FD_CLOEXEC afterwards leaves a window in which a concurrently forked
 * child inherits another process's slave (its reader then never sees a hang-up). */
static int pty_open(const struct winsize *ws, int *ret_master, int *ret_slave, struct wr_err *err)
{
	cleanup_close int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (m < 0)
		return wr_err_errno(err, errno, "posix_openpt");
	char name[64];
	if (grantpt(m) < 0 || unlockpt(m) < 0)
		return wr_err_errno(err, errno, "unlock pty");
	int e = ptsname_r(m, name, sizeof(name));
	if (e)
		return wr_err_errno(err, e, "ptsname");
	cleanup_close int sl = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (sl < 0)
		return wr_err_errno(err, errno, "open %s", name);
	if (ioctl(m, TIOCSWINSZ, ws) < 0)
		return wr_err_errno(err, errno, "set window size of %s", name);
	*ret_master = TAKE_FD(m);
	*ret_slave = TAKE_FD(sl);
	return 0;
}

int procs_spawn(struct procs *t, struct proc_spec *s, struct proc **ret, uint64_t **ret_cursor,
		struct wr_err *err)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1}, rep[2] = {-1, -1};
	int master = -1, slave = -1, nullfd = -1;
	int r = 0;
	if (pipe2(rep, O_CLOEXEC) < 0)
		return wr_err_errno(err, errno, "pipe");
	if (s->pty) {
		struct winsize ws = {.ws_row = (unsigned short)(s->rows ? s->rows : 24),
				     .ws_col = (unsigned short)(s->cols ? s->cols : 80)};
		r = pty_open(&ws, &master, &slave, err);
		if (r < 0)
			goto out;
	} else {
		if (pipe2(out, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC) < 0) {
			r = wr_err_errno(err, errno, "pipe");
			goto out;
		}
		if (s->stdin_open) {
			if (pipe2(in, O_CLOEXEC) < 0) {
				r = wr_err_errno(err, errno, "pipe");
				goto out;
			}
		} else {
			nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			if (nullfd < 0) {
				r = wr_err_errno(err, errno, "open /dev/null");
				goto out;
			}
		}
	}
	pid_t pid = fork();
	if (pid < 0) {
		r = wr_err_errno(err, errno, "fork");
		goto out;
	}
	if (pid == 0) {
		if (s->pty)
			child(s, slave, slave, slave, slave, rep[1]);
		else
			child(s, s->stdin_open ? in[0] : nullfd, out[1], er[1], -1, rep[1]);
	}
	close(rep[1]);
	rep[1] = -1;
	int cerr = 0;
	ssize_t n;
	while ((n = read(rep[0], &cerr, sizeof(cerr))) < 0 && errno == EINTR)
		;
	if (n == sizeof(cerr)) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		r = wr_err_errno(err, cerr, "start %s", s->argv[0]);
		goto out;
	}

	struct proc *p = xcalloc(1, sizeof(*p));
	p->t = t;
	p->pid = pid;
	p->tag = s->tag ? xstrdup(s->tag) : NULL;
	p->config = json_incref(s->config);
	p->pty = s->pty;
	/* pidfd_open(2) always returns a close-on-exec fd. */
	p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (s->pty) {
		p->in_fd = p->out_fd = master;
		p->err_fd = -1;
		master = -1;
	} else {
		p->in_fd = in[1];
		in[1] = -1;
		p->out_fd = out[0];
		out[0] = -1;
		p->err_fd = er[0];
		er[0] = -1;
	}
	if (s->timeout_ms > 0)
		p->deadline = now_ms() + s->timeout_ms;
	pthread_cond_init(&p->cond, NULL);
	pthread_mutex_init(&p->in_lock, NULL);
	p->refs = 3; /* table, reader thread, caller */
	uint64_t *cur = xcalloc(1, sizeof(*cur));
	p->subs[0] = cur;

	pthread_mutex_lock(&t->lock);
	t->v = xrealloc(t->v, sizeof(*t->v) * (t->n + 1));
	t->v[t->n++] = p;
	pthread_mutex_unlock(&t->lock);

	pthread_t th;
	pthread_attr_t a;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, 128 * 1024);
	int e = pthread_create(&th, &a, reader_main, p);
	pthread_attr_destroy(&a);
	if (e) {
		/* Cannot watch it: kill it and reap here. */
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pthread_mutex_lock(&t->lock);
		p->ended = true;
		p->refs--;
		pthread_mutex_unlock(&t->lock);
		proc_unref(p, cur);
		r = wr_err_set(err, e, "cannot start reader thread");
		goto out;
	}
	*ret = p;
	*ret_cursor = cur;
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (er[i] >= 0)
			close(er[i]);
		if (rep[i] >= 0)
			close(rep[i]);
	}
	if (master >= 0)
		close(master);
	if (slave >= 0)
		close(slave);
	if (nullfd >= 0)
		close(nullfd);
	return r;
}

struct proc *procs_find(struct procs *t, uint32_t pid, const char *tag, bool subscribe,
			uint64_t **ret_cursor)
{
	struct proc *found = NULL;
	pthread_mutex_lock(&t->lock);
	/* Newest first: a pid can be reused after a process ended. */
	for (size_t i = t->n; i-- > 0;) {
		struct proc *p = t->v[i];
		if ((pid && (uint32_t)p->pid == pid) ||
		    (!pid && tag && p->tag && !strcmp(p->tag, tag))) {
			found = p;
			break;
		}
	}
	if (found) {
		found->refs++;
		if (subscribe) {
			uint64_t *cur = xcalloc(1, sizeof(*cur));
			*cur = found->ended && found->next > 0 ? found->next - 1 : found->next;
			int i = 0;
			while (i < MAX_SUBS && found->subs[i])
				i++;
			if (i < MAX_SUBS)
				found->subs[i] = cur;
			*ret_cursor = cur;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return found;
}

void proc_unref(struct proc *p, uint64_t *cursor)
{
	if (!p)
		return;
	struct procs *t = p->t;
	pthread_mutex_lock(&t->lock);
	if (cursor) {
		for (int i = 0; i < MAX_SUBS; i++)
			if (p->subs[i] == cursor)
				p->subs[i] = NULL;
		free(cursor);
		pthread_cond_broadcast(&p->cond); /* the reader may wait on us */
	}
	bool last = --p->refs == 0;
	pthread_mutex_unlock(&t->lock);
	if (last)
		proc_free(p);
}

int proc_next_event(struct proc *p, uint64_t *cursor, unsigned timeout_ms, struct pev *ret)
{
	struct procs *t = p->t;
	struct timespec until = deadline_after_ms(CLOCK_REALTIME, timeout_ms);
	pthread_mutex_lock(&t->lock);
	int r = 0;
	while (*cursor >= p->next) {
		if (timeout_ms == 0 ||
		    pthread_cond_timedwait(&p->cond, &t->lock, &until) == ETIMEDOUT)
			break;
	}
	if (*cursor < p->next) {
		if (p->next - *cursor > RING) {
			*cursor = p->next - RING;
			r = -EPIPE;
		} else {
			struct pev *ev = &p->ring[*cursor % RING];
			*ret = *ev;
			if (ev->data) {
				ret->data = xmalloc(ev->len ? ev->len : 1);
				memcpy(ret->data, ev->data, ev->len);
			}
			(*cursor)++;
			pthread_cond_broadcast(&p->cond);
			r = 1;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return r;
}

json_t *procs_list(struct procs *t)
{
	json_t *a = json_array();
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n; i++) {
		struct proc *p = t->v[i];
		if (p->ended)
			continue;
		json_t *o = json_pack("{s:O, s:i}", "config", p->config, "pid", (json_int_t)p->pid);
		if (p->tag)
			json_object_set_new(o, "tag", json_string(p->tag));
		json_array_append_new(a, o);
	}
	pthread_mutex_unlock(&t->lock);
	return a;
}

int proc_write_input(struct proc *p, bool pty, const void *data, size_t n, struct wr_err *err)
{
	if (pty != p->pty)
		return wr_err_set(err, EINVAL,
				  pty ? "process %d has no pty"
				      : "process %d uses a pty: send pty input",
				  p->pid);
	pthread_mutex_lock(&p->in_lock);
	pthread_mutex_lock(&p->t->lock);
	int fd = p->in_fd >= 0 ? fcntl(p->in_fd, F_DUPFD_CLOEXEC, 3) : -1;
	bool ended = p->ended;
	pthread_mutex_unlock(&p->t->lock);
	int r = 0;
	if (ended)
		r = wr_err_set(err, ESRCH, "process %d has ended", p->pid);
	else if (fd < 0)
		r = wr_err_set(err, EPIPE, "stdin of process %d is closed", p->pid);
	else {
		const char *d = data;
		while (n > 0) {
			ssize_t w = write(fd, d, n);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				r = wr_err_errno(err, errno, "write to process %d", p->pid);
				break;
			}
			d += w;
			n -= (size_t)w;
		}
	}
	if (fd >= 0)
		close(fd);
	pthread_mutex_unlock(&p->in_lock);
	return r;
}

int proc_signal(struct proc *p, int sig, struct wr_err *err)
{
	pthread_mutex_lock(&p->t->lock);
	bool ended = p->ended;
	pthread_mutex_unlock(&p->t->lock);
	if (ended)
		return wr_err_set(err, ESRCH, "process %d not found", p->pid);
	/* The whole process group: `bash -c` children go too. */
	if (kill(-p->pid, sig) < 0 && kill(p->pid, sig) < 0)
		return wr_err_errno(err, errno, "signal process %d", p->pid);
	return 0;
}

int proc_resize(struct proc *p, unsigned cols, unsigned rows, struct wr_err *err)
{
	if (!p->pty)
		return wr_err_set(err, EINVAL, "process %d has no pty", p->pid);
	if (!cols || !rows || cols > 65535 || rows > 65535)
		return wr_err_set(err, EINVAL, "invalid pty size %ux%u", cols, rows);
	struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
	pthread_mutex_lock(&p->t->lock);
	int r = 0;
	if (p->ended || p->in_fd < 0)
		r = wr_err_set(err, ESRCH, "process %d has ended", p->pid);
	else if (ioctl(p->in_fd, TIOCSWINSZ, &ws) < 0)
		r = wr_err_errno(err, errno, "resize pty of %d", p->pid);
	pthread_mutex_unlock(&p->t->lock);
	return r;
}

int proc_close_stdin(struct proc *p, struct wr_err *err)
{
	if (p->pty)
		return wr_err_set(err, EINVAL, "process %d uses a pty: send ^D instead", p->pid);
	pthread_mutex_lock(&p->in_lock);
	pthread_mutex_lock(&p->t->lock);
	if (p->in_fd >= 0) {
		close(p->in_fd);
		p->in_fd = -1;
	}
	pthread_mutex_unlock(&p->t->lock);
	pthread_mutex_unlock(&p->in_lock);
	return 0;
}
