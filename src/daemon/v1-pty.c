/* SPDX-License-Identifier: MIT */
/*
 * POST /v1/sandboxes/{id}/pty with `Upgrade: wrenn-pty` (docs/openapi.yaml): a PTY process via
 * envd's Start stream, relayed over the taken-over connection as type+length frames.
 * One thread relays terminal output (envd -> client), this one relays client frames
 * (input, resize, signal) as unary envd calls.
 */
#include "daemon/agent.h"
#include "daemon/envdc.h"
#include "daemon/pty-ws.h"
#include "daemon/reply.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "http/connect.h"
#include "http/json.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define PTY_IN 0x00
#define PTY_RESIZE 0x01
#define PTY_SIGNAL 0x02
#define PTY_OUT 0x00
#define PTY_EXIT 0x03
#define PTY_ERROR 0x04
#define PTY_MAX_FRAME (1u << 20)

struct pty_sess {
	struct agent *a;
	const char *id;
	struct envdc_auth auth;
	struct envdc_stream *s;
	int fd; /* the client's socket */
	int64_t pid;
	atomic_bool ended;
	struct http_server *srv;
};

static int send_frame(int fd, uint8_t type, const void *p, size_t n)
{
	uint8_t h[CONNECT_ENV_HDR];
	connect_env_header(h, type, (uint32_t)n);
	int r = write_full(fd, h, sizeof(h));
	return r < 0 || !n ? r : write_full(fd, p, n);
}

static void *output_thread(void *arg)
{
	struct pty_sess *p = arg;
	struct wr_err err = {0};
	int code = -1;
	bool have_code = false;
	for (;;) {
		cleanup_json json_t *ev = NULL;
		int r = envdc_stream_next(p->s, &ev, &err);
		if (r <= 0) {
			if (r < 0 && !have_code) {
				const char *m = wr_err_msg(&err);
				send_frame(p->fd, PTY_ERROR, m, strlen(m));
			}
			break;
		}
		json_t *e = json_object_get(ev, "event");
		json_t *d = json_object_get(json_object_get(e, "data"), "pty");
		json_t *end = json_object_get(e, "end");
		if (json_is_string(d)) {
			cleanup_free uint8_t *bytes = NULL;
			size_t n = 0;
			if (wj_b64_decode(json_string_value(d), &bytes, &n) == 0 &&
			    send_frame(p->fd, PTY_OUT, bytes, n) < 0)
				break;
		} else if (end) {
			code = agent_exit_code(end);
			have_code = true;
		}
		if (http_server_stopping(p->srv))
			break;
	}
	if (have_code) {
		uint8_t c[4] = {(uint8_t)((uint32_t)code >> 24), (uint8_t)((uint32_t)code >> 16),
				(uint8_t)((uint32_t)code >> 8), (uint8_t)code};
		send_frame(p->fd, PTY_EXIT, c, 4);
	}
	atomic_store(&p->ended, true);
	/* wake the input side */
	shutdown(p->fd, SHUT_RDWR);
	return NULL;
}

static int call(struct pty_sess *p, const char *rpc, json_t *msg_owned)
{
	cleanup_json json_t *msg = msg_owned, *resp = NULL;
	struct wr_err err = {0};
	int fd = -1;
	int r = runtime_connect(p->a->rt, p->id, RUNTIME_ENVD_PORT, 5000, &fd, &err);
	if (r >= 0)
		r = envdc_unary(fd, &p->auth, rpc, msg, &resp, &err);
	if (r < 0)
		log_debug("pty %s %s: %s", p->id, rpc, wr_err_msg(&err));
	return r;
}

static void send_input(struct pty_sess *p, const uint8_t *d, size_t n)
{
	if (!n)
		return;
	cleanup_free char *b64 = wj_b64_encode(d, n);
	call(p, "/process.Process/SendInput",
	     json_pack("{s:{s:I},s:{s:s}}", "process", "pid", (json_int_t)p->pid, "input", "pty",
		       b64));
}

static void kill_proc(struct pty_sess *p, const char *sig)
{
	call(p, "/process.Process/SendSignal",
	     json_pack("{s:{s:I},s:s}", "process", "pid", (json_int_t)p->pid, "signal", sig));
}

/* Relay client frames until the client closes or the process ends. */
static void input_loop(struct pty_sess *p, char *pre, size_t pre_len)
{
	size_t cap = 65536 + CONNECT_ENV_HDR, len = 0;
	cleanup_free uint8_t *buf = xmalloc(cap);
	if (pre_len) {
		if (pre_len > cap) {
			cap = pre_len;
			buf = xrealloc(buf, cap);
		}
		memcpy(buf, pre, pre_len);
		len = pre_len;
	}
	for (;;) {
		/* parse every complete frame; consecutive INPUT frames become one call */
		size_t off = 0;
		cleanup_free uint8_t *in = NULL;
		size_t in_len = 0;
		for (;;) {
			uint8_t type;
			const uint8_t *pl;
			size_t n;
			int c = connect_env_parse(buf + off, len - off, PTY_MAX_FRAME, &type, &pl,
						  &n);
			if (c == -EMSGSIZE) {
				const char *m = "frame too large";
				send_frame(p->fd, PTY_ERROR, m, strlen(m));
				return;
			}
			if (c < 0)
				break;
			off += (size_t)c;
			if (type == PTY_IN) {
				in = xrealloc(in, in_len + n + 1);
				memcpy(in + in_len, pl, n);
				in_len += n;
				continue;
			}
			send_input(p, in, in_len);
			in_len = 0;
			if (type == PTY_RESIZE && n >= 4) {
				unsigned cols = (unsigned)pl[0] << 8 | pl[1];
				unsigned rows = (unsigned)pl[2] << 8 | pl[3];
				if (cols && rows)
					call(p, "/process.Process/Update",
					     json_pack("{s:{s:I},s:{s:{s:i,s:i}}}", "process",
						       "pid", (json_int_t)p->pid, "pty", "size",
						       "cols", (int)cols, "rows", (int)rows));
			} else if (type == PTY_SIGNAL && n >= 1) {
				if (pl[0] == 2) /* a terminal interrupt is ^C on the line */
					send_input(p, (const uint8_t *)"\x03", 1);
				else
					kill_proc(p,
						  pl[0] == 9 ? "SIGNAL_SIGKILL" : "SIGNAL_SIGTERM");
			}
		}
		send_input(p, in, in_len);
		memmove(buf, buf + off, len - off);
		len -= off;
		if (cap - len < 4096) {
			cap = len + 65536 + CONNECT_ENV_HDR;
			buf = xrealloc(buf, cap);
		}
		struct pollfd pf = {.fd = p->fd, .events = POLLIN};
		int pr = poll(&pf, 1, 500);
		if (atomic_load(&p->ended) || http_server_stopping(p->srv))
			return;
		if (pr <= 0)
			continue;
		ssize_t r = read(p->fd, buf + len, cap - len);
		if (r <= 0)
			return;
		len += (size_t)r;
	}
}

static unsigned query_u16(struct http_req *req, const char *name, unsigned def, bool *bad)
{
	const char *v = http_req_query(req, name);
	if (!v)
		return def;
	char *end = NULL;
	long n = strtol(v, &end, 10);
	if (*end || n < 1 || n > 65535) {
		*bad = true;
		return def;
	}
	return (unsigned)n;
}

void v1_pty(struct agent *a, struct http_req *req, char **caps)
{
	const char *id = caps[0];
	const char *up = http_req_header(req, "Upgrade");
	bool ws = pty_ws_requested(req); /* a browser: the same frames over a WebSocket */
	if (!ws && (!up || strcasecmp(up, "wrenn-pty") != 0)) {
		reply_error(req, 400,
			    "this endpoint needs Connection: Upgrade and Upgrade: wrenn-pty (or "
			    "websocket)");
		return;
	}
	cleanup_free char *ws_accept = NULL;
	if (ws && pty_ws_check(req, &ws_accept) < 0)
		return;
	bool bad = false;
	unsigned cols = query_u16(req, "cols", 80, &bad), rows = query_u16(req, "rows", 24, &bad);
	if (bad) {
		reply_error(req, 400, "cols and rows must be integers from 1 to 65535");
		return;
	}
	const char *cmd = http_req_query(req, "cmd");
	const char *user = http_req_query(req, "user");
	const char *cwd = http_req_query(req, "cwd");
	struct runtime_info info = {0};
	if (agent_get_or_reply(a, req, id, &info) < 0)
		return;
	cleanup_free char *token = info.envd_token ? xstrdup(info.envd_token) : NULL;
	enum store_sb_state st = info.state;
	runtime_info_done(&info);
	if (st != STORE_SB_RUNNING) {
		reply_error(req, 409, "sandbox %s is %s, not running", id, store_sb_state_name(st));
		return;
	}
	struct pty_sess p = {.a = a, .id = id, .fd = -1, .srv = http_req_server(req)};
	p.auth.token = token;
	p.auth.user = user && *user ? user : NULL;
	/* LANG only: a template without locale data (minimal) falls back to C
	 * quietly, while a forced LC_ALL makes bash warn on every start. */
	cleanup_json json_t *proc =
		json_pack("{s:s,s:[s,s],s:{s:s,s:s}}", "cmd", cmd && *cmd ? cmd : "/bin/bash",
			  "args", "-i", "-l", "envs", "TERM", "xterm-256color", "LANG", "C.UTF-8");
	if (cwd && *cwd)
		json_object_set_new(proc, "cwd", json_string(cwd));
	const char *envq = http_req_query(req, "env"); /* {"K":"V",...} (wrenn shell -e) */
	if (envq) {
		cleanup_json json_t *e = json_loads(envq, 0, NULL);
		const char *k;
		json_t *v;
		bool ok = json_is_object(e);
		json_object_foreach(e, k, v)
		{
			ok = ok && json_is_string(v);
		}
		if (!ok) {
			reply_error(req, 400, "env must be a JSON object of strings");
			return;
		}
		json_object_update(json_object_get(proc, "envs"), e);
	}
	cleanup_json json_t *msg = json_pack("{s:o,s:{s:{s:i,s:i}}}", "process", TAKE_PTR(proc),
					     "pty", "size", "cols", (int)cols, "rows", (int)rows);
	int fd = -1;
	if (agent_envd_connect(a, req, id, &fd) < 0)
		return;
	struct wr_err err = {0};
	int r = envdc_stream_open(fd, &p.auth, "/process.Process/Start", msg, 0, &p.s, &err);
	cleanup_json json_t *ev = NULL;
	if (r >= 0) {
		r = envdc_stream_next(p.s, &ev, &err);
		if (r == 0)
			r = wr_err_set(&err, EPROTO, "envd ended the stream before starting");
		if (r > 0) {
			json_t *s = json_object_get(json_object_get(ev, "event"), "start");
			int g = agent_guest_int(s, "pid", 1, AGENT_GUEST_PID_MAX, &p.pid, &err);
			if (g == -ENOENT)
				r = wr_err_set(&err, EPROTO, "envd did not start the process");
			else if (g < 0)
				r = g;
		}
	}
	if (r < 0) {
		envdc_stream_free(p.s);
		reply_error(req, reply_status_for_errno(r), "pty: %s", wr_err_msg(&err));
		return;
	}
	cleanup_free char *pre = NULL;
	size_t pre_len = 0;
	if (http_req_take_socket(req, &p.fd, &pre, &pre_len) < 0) {
		envdc_stream_free(p.s);
		kill_proc(&p, "SIGNAL_SIGKILL");
		reply_error(req, 500, "cannot take over the connection");
		return;
	}
	static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
				 "Upgrade: wrenn-pty\r\n\r\n";
	struct pty_ws *bridge = NULL;
	if (ws) { /* from here on p.fd is our end of the bridge to the WebSocket */
		int sock = p.fd;
		p.fd = -1;
		if (pty_ws_start(ws_accept, sock, pre, pre_len, &bridge, &p.fd) < 0) {
			envdc_stream_free(p.s);
			kill_proc(&p, "SIGNAL_SIGKILL");
			return;
		}
		pre_len = 0;
	}
	log_info("pty %s: pid %lld for %s%s", id, (long long)p.pid, http_req_peer(req),
		 ws ? " (websocket)" : "");
	pthread_t th;
	bool started = false;
	if (ws || write_full(p.fd, ok, sizeof(ok) - 1) == 0)
		started = pthread_create(&th, NULL, output_thread, &p) == 0;
	if (started)
		input_loop(&p, pre, pre_len);
	if (!atomic_load(&p.ended))
		kill_proc(&p, "SIGNAL_SIGKILL");
	/* the output thread ends once envd reports the exit (or the stream breaks) */
	if (started) {
		shutdown(p.fd, SHUT_RDWR);
		pthread_join(th, NULL);
	}
	envdc_stream_free(p.s);
	close(p.fd);
	pty_ws_finish(bridge);
	log_info("pty %s: pid %lld closed", id, (long long)p.pid);
}
