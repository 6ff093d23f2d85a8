/* SPDX-License-Identifier: MIT */
#include "http/http.h"
#include "http/msg.h"
#include "http/server-internal.h"

#include "basic/cleanup.h"
#include "basic/deadline.h"
#include "basic/log.h"
#include "basic/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct conn {
	struct http_server *srv;
	int fd;
	bool busy; /* a request is being handled (not idle between requests) */
	bool evicted;
	int64_t since; /* monotonic ms when it last became idle (or was accepted) */
	char peer[64];
	char addr[INET6_ADDRSTRLEN]; /* peer address without port ("unix" for AF_UNIX) */
	struct conn *prev, *next;
};

struct http_server {
	struct http_server_config cfg;
	http_handler_fn handler;
	void *userdata;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct conn *conns;
	unsigned active;
	unsigned evicting; /* evicted connections whose threads have not ended yet */
	bool stopping;
	int listen_fd;
};

struct http_server *http_server_new(const struct http_server_config *cfg, http_handler_fn handler,
				    void *userdata)
{
	struct http_server *s = xcalloc(1, sizeof(*s));
	if (cfg)
		s->cfg = *cfg;
	if (!s->cfg.max_conns)
		s->cfg.max_conns = 256;
	if (!s->cfg.max_header_bytes)
		s->cfg.max_header_bytes = 64 * 1024;
	if (!s->cfg.max_headers)
		s->cfg.max_headers = 100;
	if (!s->cfg.max_body_bytes)
		s->cfg.max_body_bytes = 16 * 1024 * 1024;
	if (!s->cfg.idle_timeout_ms)
		s->cfg.idle_timeout_ms = 5 * 60 * 1000;
	if (!s->cfg.head_timeout_ms)
		s->cfg.head_timeout_ms = 10 * 1000;
	if (!s->cfg.max_conns_per_client)
		s->cfg.max_conns_per_client = 64;
	s->handler = handler;
	s->userdata = userdata;
	s->listen_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	return s;
}

bool http_server_stopping(const struct http_server *srv)
{
	return __atomic_load_n(&srv->stopping, __ATOMIC_ACQUIRE);
}

unsigned http_server_active(const struct http_server *srv)
{
	struct http_server *s = (struct http_server *)srv;
	pthread_mutex_lock(&s->lock);
	unsigned n = s->active;
	pthread_mutex_unlock(&s->lock);
	return n;
}

static void set_busy(struct conn *c, bool busy)
{
	pthread_mutex_lock(&c->srv->lock);
	c->busy = busy;
	if (!busy)
		c->since = http_mono_ms();
	/* A connection that goes idle during a stop is closed right away. */
	if (!busy && c->srv->stopping)
		shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&c->srv->lock);
}

/*
 * Lingering close.  A request refused before its body was read (401, 413, a bad head) is
 * answered and the connection closed while the client may still be sending the body; closing
 * with unread bytes makes the kernel send a reset, and the client then sees EPIPE/ECONNRESET
 * instead of our answer.  So: stop sending, discard what still arrives, bounded (1 s, 4 MiB),
 * then close.
 */
static void linger_close(int fd)
{
	shutdown(fd, SHUT_WR);
	char buf[16384];
	size_t left = 4u << 20;
	int64_t until = http_mono_ms() + 1000;
	while (left > 0) {
		int64_t w = until - http_mono_ms();
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (w <= 0 || poll(&p, 1, (int)w) <= 0)
			break;
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			break;
		left -= (size_t)n < left ? (size_t)n : left;
	}
	close(fd);
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct http_server *s = c->srv;
	struct http_msg m;
	http_msg_init(&m, c->fd, HTTP_REQUEST);
	m.timeout_ms = s->cfg.idle_timeout_ms;
	m.head_timeout_ms = s->cfg.head_timeout_ms;
	m.max_head = s->cfg.max_header_bytes;
	m.max_headers = s->cfg.max_headers;
	bool taken = false;

	while (!http_server_stopping(s)) {
		int r = http_msg_read_head(&m);
		if (r == -ENODATA || r == -ETIMEDOUT || r == -ECONNRESET)
			break;
		set_busy(c, true);
		if (r < 0) {
			/* Answer what we can about a broken head, then close. */
			int st = r == -E2BIG ? 431 : 400;
			char buf[160];
			int n = snprintf(buf, sizeof(buf),
					 "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
					 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
					 st, http_status_text(st), strlen(http_status_text(st)) + 1,
					 http_status_text(st));
			http_send_all(c->fd, buf, (size_t)n);
			break;
		}
		int keep = http_serve_one(s, &s->cfg, &m, c->peer, s->handler, s->userdata, &taken);
		if (taken) {
			pthread_mutex_lock(&s->lock);
			c->fd = -1;
			pthread_mutex_unlock(&s->lock);
			break;
		}
		http_msg_reset_head(&m);
		set_busy(c, false);
		if (!keep)
			break;
	}

	http_msg_done(&m);
	pthread_mutex_lock(&s->lock);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->active--;
	if (c->evicted)
		s->evicting--;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (c->fd >= 0)
		linger_close(c->fd);
	free(c);
	return NULL;
}

static void peer_name(struct conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	snprintf(c->peer, sizeof(c->peer), "unix");
	snprintf(c->addr, sizeof(c->addr), "unix");
	if (getpeername(c->fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &a->sin_addr, c->addr, sizeof(c->addr));
		snprintf(c->peer, sizeof(c->peer), "%s:%u", c->addr, ntohs(a->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &a->sin6_addr, c->addr, sizeof(c->addr));
		snprintf(c->peer, sizeof(c->peer), "[%s]:%u", c->addr, ntohs(a->sin6_port));
	}
}

/*
 * Slow clients.  Every connection is a thread, so a peer that opens many
 * connections and trickles their heads could otherwise occupy all of them.
 * Three controls, none of which can starve a well-behaved client:
 *   - a head must be complete head_timeout_ms after its first byte
 *     (http_msg.head_timeout_ms), and an idle keep-alive ends after
 *     idle_timeout_ms;
 *   - when the server is full, the oldest connection that is not inside a
 *     request (still sending its head, or idle between requests) is closed to
 *     make room for the newcomer, so a new client is served at once;
 *   - a peer address holds at most max_conns_per_client connections: beyond
 *     that its own oldest non-busy connection is closed, or, when all of its
 *     connections are inside requests, the newcomer gets 503.
 * Called with s->lock held.  addr NULL = any peer.  Returns true if one was
 * closed (its thread notices, unlinks it and signals s->cond).
 */
static bool evict_oldest_idle(struct http_server *s, const char *addr)
{
	struct conn *victim = NULL;
	for (struct conn *c = s->conns; c; c = c->next) {
		if (c->busy || c->evicted || c->fd < 0)
			continue;
		if (addr && strcmp(c->addr, addr) != 0)
			continue;
		if (!victim || c->since < victim->since)
			victim = c;
	}
	if (!victim)
		return false;
	victim->evicted = true;
	s->evicting++;
	shutdown(victim->fd, SHUT_RDWR);
	return true;
}

static unsigned conns_from(const struct http_server *s, const char *addr)
{
	unsigned n = 0;
	for (const struct conn *c = s->conns; c; c = c->next)
		if (!c->evicted && !strcmp(c->addr, addr))
			n++;
	return n;
}

static void refuse(int fd, const char *why)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf),
			 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
			 strlen(why) + 1, why);
	http_send_all(fd, buf, (size_t)n);
	close(fd);
}

int http_server_run(struct http_server *s, int listen_fd)
{
	pthread_mutex_lock(&s->lock);
	s->listen_fd = listen_fd;
	pthread_mutex_unlock(&s->lock);
	int ret = 0;
	while (!http_server_stopping(s)) {
		pthread_mutex_lock(&s->lock);
		while (s->active >= s->cfg.max_conns && !s->stopping) {
			/* Full: make room by closing the oldest idle or head-sending
			 * connection (one at a time: while an evicted one is still
			 * on its way out, just wait for it). */
			if (!s->evicting)
				evict_oldest_idle(s, NULL);
			pthread_cond_wait(&s->cond, &s->lock);
		}
		pthread_mutex_unlock(&s->lock);
		if (http_server_stopping(s))
			break;
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (http_server_stopping(s))
				break;
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
			    errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				if (errno != EINTR && errno != ECONNABORTED)
					usleep(10000); /* out of fds: let connections finish */
				continue;
			}
			ret = -errno;
			break;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
			   sizeof(one)); /* fails on unix: fine */
		struct conn *c = xcalloc(1, sizeof(*c));
		c->srv = s;
		c->fd = fd;
		c->since = http_mono_ms();
		peer_name(c);
		pthread_mutex_lock(&s->lock);
		if (conns_from(s, c->addr) >= s->cfg.max_conns_per_client &&
		    !evict_oldest_idle(s, c->addr)) {
			pthread_mutex_unlock(&s->lock);
			log_warn("http: %s: refused, all of its %u connections are busy", c->peer,
				 s->cfg.max_conns_per_client);
			refuse(fd, "too many connections from this client");
			free(c);
			continue;
		}
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->active++;
		pthread_mutex_unlock(&s->lock);

		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		pthread_t t;
		int e = pthread_create(&t, &attr, conn_main, c);
		pthread_attr_destroy(&attr);
		if (e) {
			log_warn("http: cannot start connection thread: %s", strerror(e));
			pthread_mutex_lock(&s->lock);
			if (c->next)
				c->next->prev = NULL;
			s->conns = c->next;
			s->active--;
			pthread_mutex_unlock(&s->lock);
			close(fd);
			free(c);
		}
	}
	pthread_mutex_lock(&s->lock);
	s->listen_fd = -1;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

static void wait_idle(struct http_server *s, unsigned ms)
{
	struct timespec until = deadline_after_ms(CLOCK_REALTIME, ms);
	while (s->active > 0)
		if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT)
			break;
}

void http_server_stop(struct http_server *s, unsigned grace_ms)
{
	pthread_mutex_lock(&s->lock);
	__atomic_store_n(&s->stopping, true, __ATOMIC_RELEASE);
	if (s->listen_fd >= 0)
		shutdown(s->listen_fd, SHUT_RDWR); /* wakes accept() */
	for (struct conn *c = s->conns; c; c = c->next)
		if (!c->busy)
			shutdown(c->fd, SHUT_RDWR);
	pthread_cond_broadcast(&s->cond);
	wait_idle(s, grace_ms);
	for (struct conn *c = s->conns; c; c = c->next)
		shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&s->lock);
}

void http_server_free(struct http_server *s)
{
	if (!s)
		return;
	http_server_stop(s, 0);
	pthread_mutex_lock(&s->lock);
	while (s->active > 0 || s->listen_fd >= 0)
		pthread_cond_wait(&s->cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
