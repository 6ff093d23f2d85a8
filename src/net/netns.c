/* SPDX-License-Identifier: MIT */
#include "net/netns.h"
#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

bool netns_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n >= NETNS_NAME_MAX || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

/* iproute2 makes /run/netns a shared mount point (bind-mounting it onto itself
 * first if needed) so namespace mounts propagate to and from mount namespaces
 * created later; we do the same. */
static int run_dir_prepare(struct wr_err *err)
{
	if (mkdir(NETNS_RUN_DIR, 0755) < 0 && errno != EEXIST)
		return wr_err_errno(err, errno, "mkdir %s", NETNS_RUN_DIR);
	if (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) == 0)
		return 0;
	if (errno != EINVAL)
		return wr_err_errno(err, errno, "make %s shared", NETNS_RUN_DIR);
	if (mount(NETNS_RUN_DIR, NETNS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) < 0)
		return wr_err_errno(err, errno, "bind %s", NETNS_RUN_DIR);
	if (mount("", NETNS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) < 0)
		return wr_err_errno(err, errno, "make %s shared", NETNS_RUN_DIR);
	return 0;
}

struct create_ctx {
	const char *path;
	int r;
	struct wr_err err;
};

/* unshare(CLONE_NEWNET) affects only the calling thread, so a throw-away
 * thread creates the namespace and pins it with the bind mount. */
static void *create_thread(void *p)
{
	struct create_ctx *c = p;
	if (unshare(CLONE_NEWNET) < 0) {
		c->r = wr_err_errno(&c->err, errno, "unshare(CLONE_NEWNET)");
		return NULL;
	}
	if (mount("/proc/thread-self/ns/net", c->path, "none", MS_BIND, NULL) < 0) {
		c->r = wr_err_errno(&c->err, errno, "bind-mount namespace on %s", c->path);
		return NULL;
	}
	c->r = 0;
	return NULL;
}

int netns_create(const char *name, struct wr_err *err)
{
	if (!netns_name_valid(name))
		return wr_err_set(err, EINVAL, "invalid namespace name '%s'", name ? name : "");
	int r = run_dir_prepare(err);
	if (r < 0)
		return r;
	cleanup_free char *path = xasprintf("%s/%s", NETNS_RUN_DIR, name);
	int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0) {
		if (errno == EEXIST)
			return wr_err_set(err, EEXIST, "network namespace %s already exists", name);
		return wr_err_errno(err, errno, "create %s", path);
	}
	close(fd);

	struct create_ctx c = {.path = path, .r = -EIO};
	pthread_t t;
	r = pthread_create(&t, NULL, create_thread, &c);
	if (r != 0) {
		unlink(path);
		return wr_err_errno(err, r, "pthread_create");
	}
	pthread_join(t, NULL);
	if (c.r < 0) {
		unlink(path);
		if (err)
			*err = c.err;
		return c.r;
	}
	return 0;
}

int netns_delete(const char *name, struct wr_err *err)
{
	if (!netns_name_valid(name))
		return wr_err_set(err, EINVAL, "invalid namespace name '%s'", name ? name : "");
	cleanup_free char *path = xasprintf("%s/%s", NETNS_RUN_DIR, name);
	struct stat st;
	if (lstat(path, &st) < 0)
		return wr_err_errno(err, errno, "network namespace %s", name);
	/* A half-created entry may not be a mount; unlink it all the same. */
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL)
		return wr_err_errno(err, errno, "umount %s", path);
	if (unlink(path) < 0)
		return wr_err_errno(err, errno, "unlink %s", path);
	return 0;
}

bool netns_exists(const char *name)
{
	if (!netns_name_valid(name))
		return false;
	char path[sizeof(NETNS_RUN_DIR) + NETNS_NAME_MAX + 1];
	snprintf(path, sizeof(path), "%s/%s", NETNS_RUN_DIR, name);
	return access(path, F_OK) == 0;
}

int netns_open(const char *name, int *ret_fd, struct wr_err *err)
{
	if (!netns_name_valid(name))
		return wr_err_set(err, EINVAL, "invalid namespace name '%s'", name ? name : "");
	cleanup_free char *path = xasprintf("%s/%s", NETNS_RUN_DIR, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return wr_err_errno(err, errno, "open network namespace %s", name);
	*ret_fd = fd;
	return 0;
}

void netns_list_free(char **names)
{
	if (!names)
		return;
	for (char **p = names; *p; p++)
		free(*p);
	free(names);
}

int netns_list(const char *prefix, char ***ret_names, struct wr_err *err)
{
	size_t n = 0, cap = 8;
	char **v = xcalloc(cap, sizeof(*v));
	cleanup_closedir DIR *d = opendir(NETNS_RUN_DIR);
	if (!d) {
		if (errno == ENOENT) {
			*ret_names = v;
			return 0;
		}
		free(v);
		return wr_err_errno(err, errno, "opendir %s", NETNS_RUN_DIR);
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		if (n + 1 >= cap) {
			cap *= 2;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = xstrdup(de->d_name);
		v[n] = NULL;
	}
	*ret_names = v;
	return 0;
}

struct run_ctx {
	int nsfd;
	netns_fn fn;
	void *arg;
	int r;
	struct wr_err err;
};

static void *run_thread(void *p)
{
	struct run_ctx *c = p;
	/* setns(CLONE_NEWNET) is per thread; the thread dies afterwards, so
	 * the daemon's other threads never see the namespace. */
	if (setns(c->nsfd, CLONE_NEWNET) < 0) {
		c->r = wr_err_errno(&c->err, errno, "setns(CLONE_NEWNET)");
		return NULL;
	}
	c->r = c->fn(c->arg, &c->err);
	return NULL;
}

int netns_run(int nsfd, netns_fn fn, void *arg, struct wr_err *err)
{
	struct run_ctx c = {.nsfd = nsfd, .fn = fn, .arg = arg, .r = -EIO};
	pthread_t t;
	int r = pthread_create(&t, NULL, run_thread, &c);
	if (r != 0)
		return wr_err_errno(err, r, "pthread_create");
	pthread_join(t, NULL);
	if (c.r < 0 && err)
		*err = c.err;
	return c.r;
}

struct sock_args {
	int domain, type, fd;
};

static int sock_fn(void *p, struct wr_err *err)
{
	struct sock_args *a = p;
	a->fd = socket(a->domain, a->type | SOCK_CLOEXEC, 0);
	if (a->fd < 0)
		return wr_err_errno(err, errno, "socket");
	return 0;
}

int net_socket_in_ns(int nsfd, int domain, int type, int *ret_fd, struct wr_err *err)
{
	struct sock_args a = {.domain = domain, .type = type, .fd = -1};
	int r = netns_run(nsfd, sock_fn, &a, err);
	if (r < 0)
		return r;
	*ret_fd = a.fd;
	return 0;
}

int net_socket_in_named_ns(const char *ns, int domain, int type, int *ret_fd, struct wr_err *err)
{
	cleanup_close int nsfd = -1;
	int r = netns_open(ns, &nsfd, err);
	if (r < 0)
		return r;
	return net_socket_in_ns(nsfd, domain, type, ret_fd, err);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int net_connect_in_ns(const char *ns, const char *ipv4, uint16_t port, int timeout_ms, int *ret_fd,
		      struct wr_err *err)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	if (!ipv4 || inet_pton(AF_INET, ipv4, &sa.sin_addr) != 1)
		return wr_err_set(err, EINVAL, "invalid IPv4 address '%s'", ipv4 ? ipv4 : "");
	cleanup_close int fd = -1;
	int r = net_socket_in_named_ns(ns, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, &fd, err);
	if (r < 0)
		return r;
	/*
	 * A random source port, not the kernel's choice.  A guest restored from a snapshot
	 * (fork, createSnapshot clones, warm pool) still holds the TCP connections its source
	 * had open to the host at snapshot time.  Every namespace derives its ephemeral port
	 * sequence for a given address pair from the same global secret, so the clone's fresh
	 * namespace picks exactly the ports the source's namespace picked, and the guest
	 * answers our SYN as part of an old connection (challenge ACK, then RST): "Broken pipe"
	 * on the first request to a fork.  A random port makes such a collision ~1 in 28000.
	 */
	for (int tries = 0; tries < 16; tries++) {
		uint16_t rnd = 0;
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			break; /* fall back to the kernel's choice */
		struct sockaddr_in src = {.sin_family = AF_INET,
					  .sin_port = htons((uint16_t)(32768 + rnd % 28232))};
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0)
			break;
		if (errno != EADDRINUSE)
			return wr_err_errno(err, errno, "bind a source port in %s", ns);
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EINPROGRESS)
			return wr_err_errno(err, errno, "connect %s:%u in %s", ipv4, port, ns);
		int64_t deadline = now_ms() + (timeout_ms < 0 ? 0 : timeout_ms);
		for (;;) {
			int64_t left = deadline - now_ms();
			if (left <= 0)
				return wr_err_set(err, ETIMEDOUT, "connect %s:%u in %s: timed out",
						  ipv4, port, ns);
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};
			int n = poll(&pfd, 1, (int)left);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return wr_err_errno(err, errno, "poll");
			if (n > 0)
				break;
		}
		int soerr = 0;
		socklen_t len = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			return wr_err_errno(err, errno, "getsockopt");
		if (soerr)
			return wr_err_errno(err, soerr, "connect %s:%u in %s", ipv4, port, ns);
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return wr_err_errno(err, errno, "fcntl");
	/* Request/response traffic: a small write must not wait for the
	 * guest's delayed ACK of the previous one (Nagle). */
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
		return wr_err_errno(err, errno, "setsockopt TCP_NODELAY");
	/* A guest that goes away (destroyed, crashed) sends no FIN or RST: probe an
	 * idle connection after 10 s, 4 times 5 s apart, so a stream relayed to it
	 * ends within ~30 s instead of hanging until a read timeout.  Not shorter: an
	 * emulated (TCG) guest busy on a loaded host can go 10 s without running its
	 * network stack (`npm --version` in the base template cut at 11 s), and a
	 * killed sandbox's streams are cut by its owner anyway (proxy.c). */
	int idle = 10, intvl = 5, cnt = 4;
	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) < 0)
		return wr_err_errno(err, errno, "setsockopt keepalive");
	*ret_fd = TAKE_FD(fd);
	return 0;
}
