/* SPDX-License-Identifier: MIT */
/*
 * filesystem.Filesystem WatchDir (server stream) and the polling watchers
 * (CreateWatcher / GetWatcherEvents / RemoveWatcher) that the Python sync SDK
 * uses.  Both sit on a struct wtree (wtree.c).
 *
 * Memory stays bounded: a stream writes each event straight to the socket
 * (a slow client makes the kernel queue overflow, which ends the stream with
 * resource_exhausted); a polling watcher queues at most WATCH_QUEUE_MAX
 * events, counts what it drops, and reports that once as
 * resource_exhausted from GetWatcherEvents (the kept events follow on the
 * next call).  At most MAX_WATCHERS polling watchers exist at a time.
 */
#include "envd/fs.h"
#include "envd/wtree.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/hex.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "http/connect.h"
#include "http/json.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define MAX_MSG (1024 * 1024)
#define MAX_WATCHERS 256
#define WATCH_QUEUE_MAX 4096

struct watcher {
	char id[24];
	struct wtree *tree;
	int stop_fd; /* eventfd: wakes the thread to exit */
	pthread_t thread;
	pthread_mutex_t lock; /* q, dropped, fatal */
	json_t *q;	      /* array of FilesystemEvent */
	uint64_t dropped;
	bool kernel_overflow;
	enum connect_code fatal; /* != OK: terminal error, given on every poll */
	char fatal_msg[WR_ERR_MSG_MAX];
	struct watcher *next;
};

struct watchers {
	pthread_mutex_t lock;
	struct watcher *list;
	size_t n;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* NFS, CIFS, SMB, SMB2, FUSE: inotify sees only local changes there. */
static bool on_network_mount(const char *path)
{
	struct statfs s;
	if (statfs(path, &s) < 0)
		return false;
	switch ((unsigned long)s.f_type) {
	case 0x6969UL:
	case 0xFF534D42UL:
	case 0x517BUL:
	case 0xFE534D42UL:
	case 0x65735546UL:
		return true;
	default:
		return false;
	}
}

/* Shared by WatchDir and CreateWatcher: request -> open tree. */
static int open_tree(struct envd *e, struct http_req *req, const json_t *msg, struct wtree **ret,
		     enum connect_code *ret_code, struct wr_err *err)
{
	struct envd_user u;
	if (envd_request_user(e, req, &u, err) < 0) {
		*ret_code = CONNECT_UNAUTHENTICATED;
		return -EACCES;
	}
	const char *p = NULL;
	bool recursive = false, include_entry = false, network = false;
	if (wj_str(msg, "path", &p) == -EINVAL ||
	    wj_bool(msg, "recursive", &recursive) == -EINVAL ||
	    wj_bool(msg, "includeEntry", &include_entry) == -EINVAL ||
	    wj_bool(msg, "allowNetworkMounts", &network) == -EINVAL) {
		*ret_code = CONNECT_INVALID_ARGUMENT;
		return wr_err_set(err, EINVAL, "malformed watch request");
	}
	cleanup_free char *path = envd_resolve_path(p, &u);
	if (!network && on_network_mount(path)) {
		*ret_code = CONNECT_INVALID_ARGUMENT;
		return wr_err_set(err, EINVAL, "cannot watch path on network filesystem: %s", path);
	}
	int r = wtree_open(path, recursive, include_entry, ret, err);
	if (r < 0)
		*ret_code = r == -ENOENT ? CONNECT_NOT_FOUND : connect_code_from_errno(r);
	return r;
}

/* ---------------------------------------------------------------- WatchDir */

struct stream_ctx {
	struct http_req *req;
	bool write_failed;
};

static int stream_emit(void *ud, json_t *ev)
{
	struct stream_ctx *c = ud;
	cleanup_json json_t *m = json_pack("{s:o}", "filesystem", ev);
	int r = connect_stream_send(c->req, m);
	if (r < 0)
		c->write_failed = true;
	return r;
}

/* The peer's FIN is either a close or a half-close (it still reads).  A
 * keepalive tells them apart: a closed TCP peer answers it with a reset. */
static bool client_gone(struct http_req *req, int sock)
{
	/* No events asked: poll still reports POLLHUP / POLLERR, and the
	 * level-triggered POLLRDHUP does not cut the wait short. */
	struct pollfd pf = {.fd = sock};
	if (poll(&pf, 1, 0) == 1)
		return true;
	cleanup_json json_t *k = json_pack("{s:{}}", "keepalive");
	int r = connect_stream_send(req, k);
	return r < 0 || poll(&pf, 1, 200) == 1;
}

static void watch_dir(struct envd *e, struct http_req *req)
{
	struct wr_err err = {0};
	enum connect_code code = CONNECT_INTERNAL;
	cleanup_json json_t *msg = NULL;
	struct wtree *t = NULL;
	if (connect_read_env_json(req, MAX_MSG, &msg, &code, &err) < 0 ||
	    open_tree(e, req, msg, &t, &code, &err) < 0) {
		if (connect_stream_begin(req) == 0)
			connect_stream_end(req, code, wr_err_msg(&err));
		return;
	}
	int64_t timeout = connect_timeout_ms(req);
	int64_t deadline = timeout > 0 ? now_ms() + timeout : 0;
	unsigned ka = envd_keepalive_ms(req);
	int64_t next_ka = now_ms() + ka;
	int sock = http_req_socket(req);
	cleanup_json json_t *start = json_pack("{s:{}}", "start");
	int r = connect_stream_begin(req);
	if (r == 0)
		r = connect_stream_send(req, start);
	code = CONNECT_OK;
	const char *why = NULL;
	while (r == 0) {
		int64_t now = now_ms();
		if (deadline && now >= deadline) {
			code = CONNECT_DEADLINE_EXCEEDED;
			why = "watch timeout (Connect-Timeout-Ms) expired";
			break;
		}
		if (http_server_stopping(http_req_server(req))) {
			code = CONNECT_UNAVAILABLE;
			why = "envd is stopping";
			break;
		}
		if (now >= next_ka) {
			cleanup_json json_t *k = json_pack("{s:{}}", "keepalive");
			r = connect_stream_send(req, k);
			next_ka = now + ka;
			continue;
		}
		/* Wake at least every second to notice a stopping server. */
		int64_t wait = next_ka - now;
		if (deadline && deadline - now < wait)
			wait = deadline - now;
		if (wait > 1000)
			wait = 1000;
		struct pollfd pf[2] = {{.fd = wtree_fd(t), .events = POLLIN},
				       {.fd = sock, .events = POLLRDHUP}};
		int n = poll(pf, sock >= 0 ? 2 : 1, (int)wait);
		if (n < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (n <= 0)
			continue;
		if (pf[1].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
			if (client_gone(req, sock)) {
				r = -ECONNRESET; /* nobody to tell */
				break;
			}
			sock = -1; /* only half-closed: rely on write errors */
			next_ka = now_ms() + ka;
		}
		if (pf[0].revents) {
			struct stream_ctx c = {.req = req};
			r = wtree_process(t, stream_emit, &c, &err);
			if (r == 0 || c.write_failed) {
				next_ka = now_ms() + ka;
				continue; /* a failed write ends the loop: r < 0 */
			}
			code = r == -EOVERFLOW || r == -ENOSPC ? CONNECT_RESOURCE_EXHAUSTED
							       : CONNECT_INTERNAL;
			why = wr_err_msg(&err);
			r = 0;
			break;
		}
	}
	if (r == 0)
		connect_stream_end(req, code, why);
	else
		http_resp_close_after(req);
	wtree_free(t);
}

/* ------------------------------------------------------- polling watchers */

static int queue_emit(void *ud, json_t *ev)
{
	struct watcher *w = ud;
	pthread_mutex_lock(&w->lock);
	if (json_array_size(w->q) >= WATCH_QUEUE_MAX) {
		w->dropped++;
		json_decref(ev);
	} else {
		json_array_append_new(w->q, ev);
	}
	pthread_mutex_unlock(&w->lock);
	return 0;
}

static void *watcher_main(void *arg)
{
	struct watcher *w = arg;
	bool live = true;
	for (;;) {
		struct pollfd pf[2] = {{.fd = w->stop_fd, .events = POLLIN},
				       {.fd = wtree_fd(w->tree), .events = POLLIN}};
		/* After a terminal error only the stop request matters. */
		int n = poll(pf, live ? 2 : 1, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || pf[0].revents)
			break;
		if (!live || !pf[1].revents)
			continue;
		struct wr_err err = {0};
		int r = wtree_process(w->tree, queue_emit, w, &err);
		if (r == 0)
			continue;
		pthread_mutex_lock(&w->lock);
		if (r == -EOVERFLOW) {
			w->kernel_overflow = true;
		} else {
			w->fatal = r == -ENOSPC ? CONNECT_RESOURCE_EXHAUSTED : CONNECT_INTERNAL;
			snprintf(w->fatal_msg, sizeof(w->fatal_msg), "%s", wr_err_msg(&err));
			live = false;
		}
		pthread_mutex_unlock(&w->lock);
	}
	return NULL;
}

static void watcher_free(struct watcher *w)
{
	if (!w)
		return;
	uint64_t one = 1;
	if (write(w->stop_fd, &one, sizeof(one)) < 0)
		log_warn("watcher %s: cannot wake thread: %s", w->id, strerror(errno));
	pthread_join(w->thread, NULL);
	close(w->stop_fd);
	wtree_free(w->tree);
	json_decref(w->q);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

struct watchers *watchers_new(void)
{
	struct watchers *ws = xcalloc(1, sizeof(*ws));
	pthread_mutex_init(&ws->lock, NULL);
	return ws;
}

void watchers_free(struct watchers *ws)
{
	if (!ws)
		return;
	while (ws->list) {
		struct watcher *w = ws->list;
		ws->list = w->next;
		watcher_free(w);
	}
	pthread_mutex_destroy(&ws->lock);
	free(ws);
}

static size_t watchers_count(struct watchers *ws)
{
	pthread_mutex_lock(&ws->lock);
	size_t n = ws->n;
	pthread_mutex_unlock(&ws->lock);
	return n;
}

static void create_watcher(struct envd *e, struct http_req *req, const json_t *msg)
{
	struct wr_err err = {0};
	enum connect_code code = CONNECT_INTERNAL;
	if (watchers_count(e->watchers) >= MAX_WATCHERS) {
		connect_reply_error(req, CONNECT_RESOURCE_EXHAUSTED,
				    "too many watchers (%d): remove some first", MAX_WATCHERS);
		return;
	}
	struct wtree *t = NULL;
	if (open_tree(e, req, msg, &t, &code, &err) < 0) {
		connect_reply_error(req, code, "%s", wr_err_msg(&err));
		return;
	}
	struct watcher *w = xcalloc(1, sizeof(*w));
	uint8_t rnd[8];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		uint64_t x = (uint64_t)now_ms() ^ (uint64_t)(uintptr_t)w;
		memcpy(rnd, &x, sizeof(rnd));
	}
	w->id[0] = 'w';
	hex_encode(rnd, sizeof(rnd), w->id + 1);
	w->tree = t;
	w->q = json_array();
	pthread_mutex_init(&w->lock, NULL);
	w->stop_fd = eventfd(0, EFD_CLOEXEC);
	int pe = w->stop_fd < 0 ? errno : 0;
	if (!pe) {
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, 128 * 1024);
		pe = pthread_create(&w->thread, &a, watcher_main, w);
		pthread_attr_destroy(&a);
	}
	if (pe) {
		if (w->stop_fd >= 0)
			close(w->stop_fd);
		wtree_free(t);
		json_decref(w->q);
		pthread_mutex_destroy(&w->lock);
		free(w);
		connect_reply_error(req, CONNECT_RESOURCE_EXHAUSTED, "cannot start watcher: %s",
				    strerror(pe));
		return;
	}
	pthread_mutex_lock(&e->watchers->lock);
	w->next = e->watchers->list;
	e->watchers->list = w;
	e->watchers->n++;
	pthread_mutex_unlock(&e->watchers->lock);
	cleanup_json json_t *resp = json_pack("{s:s}", "watcherId", w->id);
	connect_reply_json(req, resp);
}

static int watcher_id(struct http_req *req, const json_t *msg, const char **ret)
{
	if (wj_str(msg, "watcherId", ret) < 0 || !**ret) {
		connect_reply_error(req, CONNECT_INVALID_ARGUMENT, "watcherId is required");
		return -EINVAL;
	}
	return 0;
}

static void get_events(struct envd *e, struct http_req *req, const json_t *msg)
{
	const char *id;
	if (watcher_id(req, msg, &id) < 0)
		return;
	json_t *events = NULL;
	enum connect_code code = CONNECT_OK;
	char why[WR_ERR_MSG_MAX + 64] = "";
	pthread_mutex_lock(&e->watchers->lock);
	struct watcher *w = e->watchers->list;
	while (w && strcmp(w->id, id))
		w = w->next;
	if (!w) {
		code = CONNECT_NOT_FOUND;
		snprintf(why, sizeof(why), "watcher with id %s not found", id);
	} else {
		pthread_mutex_lock(&w->lock);
		if (w->fatal != CONNECT_OK) {
			code = w->fatal;
			snprintf(why, sizeof(why), "%s", w->fatal_msg);
		} else if (w->dropped || w->kernel_overflow) {
			/* Said once; the events that were kept come next time. */
			code = CONNECT_RESOURCE_EXHAUSTED;
			if (w->dropped)
				snprintf(why, sizeof(why),
					 "%llu events dropped (more than %d queued); the %zu "
					 "kept are returned by the next call",
					 (unsigned long long)w->dropped, WATCH_QUEUE_MAX,
					 json_array_size(w->q));
			else
				snprintf(why, sizeof(why),
					 "inotify queue overflowed: events were lost");
			w->dropped = 0;
			w->kernel_overflow = false;
		} else {
			events = w->q;
			w->q = json_array();
		}
		pthread_mutex_unlock(&w->lock);
	}
	pthread_mutex_unlock(&e->watchers->lock);
	if (code != CONNECT_OK) {
		connect_reply_error(req, code, "%s", why);
		return;
	}
	cleanup_json json_t *resp = json_pack("{s:o}", "events", events);
	connect_reply_json(req, resp);
}

static void remove_watcher(struct envd *e, struct http_req *req, const json_t *msg)
{
	const char *id;
	if (watcher_id(req, msg, &id) < 0)
		return;
	pthread_mutex_lock(&e->watchers->lock);
	struct watcher **pp = &e->watchers->list;
	while (*pp && strcmp((*pp)->id, id))
		pp = &(*pp)->next;
	struct watcher *w = *pp;
	if (w) {
		*pp = w->next;
		e->watchers->n--;
	}
	pthread_mutex_unlock(&e->watchers->lock);
	if (!w) {
		connect_reply_error(req, CONNECT_NOT_FOUND, "watcher with id %s not found", id);
		return;
	}
	watcher_free(w);
	cleanup_json json_t *resp = json_object();
	connect_reply_json(req, resp);
}

void envd_watch_rpc(struct envd *e, struct http_req *req, const char *method)
{
	if (!strcmp(method, "WatchDir"))
		return watch_dir(e, req);
	struct wr_err err = {0};
	enum connect_code code;
	cleanup_json json_t *msg = NULL;
	if (connect_read_json(req, MAX_MSG, &msg, &code, &err) < 0) {
		connect_reply_error(req, code, "%s", wr_err_msg(&err));
		return;
	}
	if (!strcmp(method, "CreateWatcher"))
		create_watcher(e, req, msg);
	else if (!strcmp(method, "GetWatcherEvents"))
		get_events(e, req, msg);
	else
		remove_watcher(e, req, msg);
}
