/* SPDX-License-Identifier: MIT */
/* HTTP server, client, Connect envelopes and JSON helpers, over real
 * loopback sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "http/connect.h"
#include "http/http.h"
#include "http/json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void);

struct fixture {
	struct http_server *srv;
	int lfd, port;
	pthread_t thr;
};

/* Echo handler: "<METHOD> <path> q=<x> body=<body>", plus special paths. */
static void handler(struct http_req *req, void *ud)
{
	(void)ud;
	const char *path = http_req_path(req);
	if (!strcmp(path, "/stream")) {
		http_resp_begin(req, 200, "text/plain", HTTP_CHUNKED);
		http_resp_write(req, "hello ", 6);
		http_resp_write(req, "world", 5);
		http_resp_end(req);
		return;
	}
	if (!strcmp(path, "/small")) {
		http_req_set_body_limit(req, 10);
	}
	if (!strcmp(path, "/upgrade")) {
		int fd;
		char *buf;
		size_t len;
		assert_int_equal(http_req_take_socket(req, &fd, &buf, &len), 0);
		char out[128];
		int n = snprintf(out, sizeof(out),
				 "HTTP/1.1 101 Switching Protocols\r\n\r\nraw:%.*s", (int)len,
				 buf ? buf : "");
		write_full(fd, out, (size_t)n);
		free(buf);
		close(fd);
		return;
	}
	if (!strcmp(path, "/sum")) { /* the body read in odd sizes: its length and FNV-1a hash */
		http_req_set_body_limit(req, 0);
		static const size_t sizes[] = {1, 7, 1000, 65536, 3, 200000};
		char *buf = xmalloc(200000);
		uint64_t h = 14695981039346656037ull, n = 0;
		ssize_t k;
		for (size_t i = 0; (k = http_req_read(req, buf, sizes[i % 6])) > 0; i++)
			for (ssize_t j = 0; j < k; j++, n++)
				h = (h ^ (unsigned char)buf[j]) * 1099511628211ull;
		free(buf);
		char out[96];
		snprintf(out, sizeof(out), "%s n=%llu h=%016llx", k < 0 ? "error" : "ok",
			 (unsigned long long)n, (unsigned long long)h);
		http_resp_text(req, 200, "text/plain", out);
		return;
	}
	if (!strcmp(path, "/noanswer"))
		return;
	if (!strcmp(path, "/deny")) { /* answers without reading the body */
		http_resp_text(req, 401, "text/plain", "no\n");
		return;
	}
	char *body = NULL;
	size_t len = 0;
	int r = http_req_read_all(req, 1 << 20, &body, &len);
	if (r == -EFBIG) {
		http_resp_text(req, 413, "text/plain", "too big\n");
		return;
	}
	if (r < 0) {
		http_resp_text(req, 400, "text/plain", "bad body\n");
		return;
	}
	const char *x = http_req_query(req, "x");
	char *out = xasprintf("%s %s q=%s body=%s", http_req_method(req), path, x ? x : "-", body);
	http_resp_text(req, 200, "text/plain", out);
	free(out);
	free(body);
}

static void *run_thread(void *arg)
{
	struct fixture *f = arg;
	http_server_run(f->srv, f->lfd);
	return NULL;
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct http_server_config cfg = {.max_header_bytes = 2048,
					 .max_headers = 20,
					 .max_body_bytes = 100000,
					 .idle_timeout_ms = 5000};
	struct wr_err err = {0};
	assert_int_equal(http_listen_tcp("127.0.0.1:0", &f->lfd, &f->port, &err), 0);
	assert_true(f->port > 0);
	f->srv = http_server_new(&cfg, handler, NULL);
	assert_int_equal(pthread_create(&f->thr, NULL, run_thread, f), 0);
	*state = f;
	return 0;
}

/* Small limits for the slow-client tests. */
static int setup_slow(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	struct http_server_config cfg = {.max_conns = 16,
					 .max_conns_per_client = 8,
					 .head_timeout_ms = 600,
					 .idle_timeout_ms = 5000};
	struct wr_err err = {0};
	assert_int_equal(http_listen_tcp("127.0.0.1:0", &f->lfd, &f->port, &err), 0);
	f->srv = http_server_new(&cfg, handler, NULL);
	assert_int_equal(pthread_create(&f->thr, NULL, run_thread, f), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	http_server_stop(f->srv, 1000);
	pthread_join(f->thr, NULL);
	http_server_free(f->srv);
	close(f->lfd);
	free(f);
	return 0;
}

static int dial(struct fixture *f)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* Send raw bytes, read until the server closes (or timeout). */
static char *exchange(struct fixture *f, const char *raw, size_t rawlen, bool half_close)
{
	int fd = dial(f);
	assert_int_equal(write_full(fd, raw, rawlen), 0);
	if (half_close)
		shutdown(fd, SHUT_WR);
	size_t cap = 65536, len = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		ssize_t r = read(fd, buf + len, cap - len - 1);
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	buf[len] = '\0';
	close(fd);
	return buf;
}

static void test_pipelined(void **state)
{
	const char raw[] = "GET /a%20b?x=1%2B2&y HTTP/1.1\r\nHost: h\r\n\r\n"
			   "POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
			   "POST /c?x=a+b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
			   "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n"
			   "GET /last HTTP/1.1\r\nConnection: close\r\n\r\n";
	char *out = exchange(*state, raw, sizeof(raw) - 1, false);
	const char *p = strstr(out, "GET /a b q=1+2 body=");
	assert_non_null(p);
	p = strstr(p, "POST /p q=- body=hello");
	assert_non_null(p);
	p = strstr(p, "POST /c q=a b body=abcde");
	assert_non_null(p);
	p = strstr(p, "GET /last q=- body=");
	assert_non_null(p);
	assert_non_null(strstr(out, "Connection: close"));
	free(out);
}

/* 40 connections that never finish their heads (more than max_conns and the
 * per-client cap) do not keep a normal request out. */
static void test_slow_clients_evicted(void **state)
{
	struct fixture *f = *state;
	int fds[40];
	for (int i = 0; i < 40; i++) {
		fds[i] = dial(f);
		assert_int_equal(write_full(fds[i], "GET / HT", 8), 0);
	}
	int64_t t0 = now_ms();
	const char req[] = "GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	char *out = exchange(f, req, sizeof(req) - 1, false);
	int64_t took = now_ms() - t0;
	if (!strstr(out, "200 OK"))
		fail_msg("got: %.200s", out);
	assert_true(took < 1000);
	free(out);
	for (int i = 0; i < 40; i++)
		close(fds[i]);
}

/* A head trickled one byte per 100 ms (each read well inside the idle
 * timeout) is cut off by the whole-head deadline. */
static void test_head_deadline(void **state)
{
	struct fixture *f = *state;
	int fd = dial(f);
	const char req[] =
		"GET /ok HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
	int64_t t0 = now_ms();
	bool cut = false;
	for (size_t i = 0; i < sizeof(req) - 1; i++) {
		if (send(fd, req + i, 1, MSG_NOSIGNAL) != 1) {
			cut = true;
			break;
		}
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
		if (now_ms() - t0 > 3000)
			break;
	}
	char buf[512];
	ssize_t n = 0;
	if (!cut)
		n = read(fd, buf, sizeof(buf) - 1);
	/* The server cut the head off: the send failed, or it answered 400 and
	 * closed, or it closed.  Without the deadline the read times out (-1). */
	assert_true(cut || n >= 0);
	if (n > 0) {
		buf[n] = '\0';
		assert_non_null(strstr(buf, " 400 "));
	}
	assert_true(now_ms() - t0 < 3000);
	close(fd);
}

static void test_malformed(void **state)
{
	const char *bad[] = {
		"GARBAGE\r\n\r\n",
		"GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		"GET /%zz HTTP/1.1\r\n\r\n",
		"GET /%00 HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		char *out = exchange(*state, bad[i], strlen(bad[i]), true);
		if (!strstr(out, "HTTP/1.1 400"))
			fail_msg("case %zu: %s", i, out);
		free(out);
	}
}

static void test_limits(void **state)
{
	/* header bytes */
	size_t n = 4096;
	char *big = xmalloc(n + 100);
	int k = snprintf(big, 100, "GET / HTTP/1.1\r\nX-Big: ");
	memset(big + k, 'a', n);
	memcpy(big + k + n, "\r\n\r\n", 5);
	char *out = exchange(*state, big, strlen(big), true);
	assert_non_null(strstr(out, "HTTP/1.1 431"));
	free(out);
	/* header count */
	big[0] = '\0';
	strcpy(big, "GET / HTTP/1.1\r\n");
	for (int i = 0; i < 30; i++)
		strcat(big, "A: b\r\n");
	strcat(big, "\r\n");
	out = exchange(*state, big, strlen(big), true);
	assert_non_null(strstr(out, "HTTP/1.1 431"));
	free(out);
	free(big);
	/* body over the per-request limit */
	const char raw[] = "POST /small HTTP/1.1\r\nContent-Length: 20\r\n\r\n01234567890123456789";
	out = exchange(*state, raw, sizeof(raw) - 1, true);
	assert_non_null(strstr(out, "HTTP/1.1 413"));
	free(out);
	/* chunked body over the limit */
	const char raw2[] = "POST /small HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
			    "8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n";
	out = exchange(*state, raw2, sizeof(raw2) - 1, true);
	assert_non_null(strstr(out, "HTTP/1.1 413"));
	free(out);
}

static void test_no_answer_is_500(void **state)
{
	const char raw[] = "GET /noanswer HTTP/1.1\r\nConnection: close\r\n\r\n";
	char *out = exchange(*state, raw, sizeof(raw) - 1, false);
	assert_non_null(strstr(out, "HTTP/1.1 500"));
	free(out);
}

static void test_client_stream_keepalive(void **state)
{
	struct fixture *f = *state;
	struct http_client *c = http_client_new(dial(f), true);
	struct wr_err err = {0};
	for (int i = 0; i < 3; i++) {
		struct http_creq rq = {.method = "GET", .target = "/stream"};
		int status = 0;
		char *body = NULL;
		size_t len = 0;
		assert_int_equal(http_client_do(c, &rq, 1000, &status, &body, &len, &err), 0);
		assert_int_equal(status, 200);
		assert_string_equal(body, "hello world");
		assert_int_equal(http_client_content_length(c), -1);
		assert_string_equal(http_client_header(c, "transfer-encoding"), "chunked");
		assert_true(http_client_keep_alive(c));
		free(body);
	}
	/* chunked request body streamed by the caller */
	struct http_creq rq = {.method = "POST", .target = "/echo?x=%41", .chunked = true};
	assert_int_equal(http_client_send(c, &rq, &err), 0);
	assert_int_equal(http_client_write(c, "ab", 2, &err), 0);
	assert_int_equal(http_client_write(c, "cd", 2, &err), 0);
	assert_int_equal(http_client_end(c, &err), 0);
	assert_int_equal(http_client_read_head(c, false, &err), 0);
	assert_int_equal(http_client_status(c), 200);
	char *body = NULL;
	assert_int_equal(http_client_read_all(c, 1000, &body, NULL, &err), 0);
	assert_string_equal(body, "POST /echo q=A body=abcd");
	free(body);
	/* HEAD: no body even though a length is announced */
	struct http_creq hq = {.method = "HEAD", .target = "/h"};
	int status;
	assert_int_equal(http_client_do(c, &hq, 1000, &status, NULL, NULL, &err), 0);
	assert_int_equal(status, 200);
	http_client_free(c);
}

/* Body bytes reach the reader in order and whole whatever its buffer sizes against what one
 * parse delivers (http_msg_read_body parses into the reader's buffer and keeps the rest): a
 * chunked body sent in odd pieces and a Content-Length one. */
static void test_body_read_sizes(void **state)
{
	struct fixture *f = *state;
	size_t len = 300000;
	char *data = xmalloc(len);
	uint64_t h = 14695981039346656037ull;
	for (size_t i = 0; i < len; i++) {
		data[i] = (char)(i * 2654435761u >> 11);
		h = (h ^ (unsigned char)data[i]) * 1099511628211ull;
	}
	char want[96];
	snprintf(want, sizeof(want), "ok n=%zu h=%016llx", len, (unsigned long long)h);
	struct wr_err err = {0};
	for (int chunked = 0; chunked < 2; chunked++) {
		struct http_client *c = http_client_new(dial(f), true);
		struct http_creq rq = {.method = "POST", .target = "/sum", .chunked = chunked};
		if (!chunked) {
			rq.body = data;
			rq.body_len = len;
		}
		assert_int_equal(http_client_send(c, &rq, &err), 0);
		static const size_t pieces[] = {1, 70000, 13, 4096, 100000, 5};
		for (size_t o = 0, i = 0; chunked && o < len; i++) {
			size_t k = pieces[i % 6] < len - o ? pieces[i % 6] : len - o;
			assert_int_equal(http_client_write(c, data + o, k, &err), 0);
			o += k;
		}
		if (chunked)
			assert_int_equal(http_client_end(c, &err), 0);
		assert_int_equal(http_client_read_head(c, false, &err), 0);
		assert_int_equal(http_client_status(c), 200);
		char *body = NULL;
		assert_int_equal(http_client_read_all(c, 1000, &body, NULL, &err), 0);
		assert_string_equal(body, want);
		free(body);
		http_client_free(c);
	}
	free(data);
}

static void test_upgrade_take_socket(void **state)
{
	const char raw[] =
		"GET /upgrade HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\nRAWDATA";
	char *out = exchange(*state, raw, sizeof(raw) - 1, false);
	assert_non_null(strstr(out, "101 Switching Protocols\r\n\r\nraw:RAWDATA"));
	free(out);
}

static void test_graceful_stop(void **state)
{
	struct fixture *f = *state;
	int fd = dial(f); /* idle keep-alive connection */
	const char raw[] = "GET /x HTTP/1.1\r\n\r\n";
	assert_int_equal(write_full(fd, raw, sizeof(raw) - 1), 0);
	char buf[512];
	size_t got = 0;
	while (!memmem(buf, got, "body=", 5)) {
		ssize_t n = read(fd, buf + got, sizeof(buf) - got);
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_int_equal(http_server_active(f->srv), 1);
	http_server_stop(f->srv, 2000);
	assert_true(http_server_stopping(f->srv));
	/* the idle connection is closed by the stop */
	assert_int_equal(read(fd, buf, sizeof(buf)), 0);
	close(fd);
}

/* Read from fd until needle shows up (or EOF / the 5 s timeout). */
static size_t read_until(int fd, char *buf, size_t cap, const char *needle)
{
	size_t got = 0;
	buf[0] = '\0';
	while (!strstr(buf, needle) && got < cap - 1) {
		ssize_t n = read(fd, buf + got, cap - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		buf[got] = '\0';
	}
	return got;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_expect_continue(void **state)
{
	struct fixture *f = *state;
	char buf[2048];
	/* The body is held back until the 100 arrives; the connection stays
	 * usable afterwards. */
	int fd = dial(f);
	const char head[] = "POST /p HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\n";
	assert_int_equal(write_full(fd, head, sizeof(head) - 1), 0);
	read_until(fd, buf, sizeof(buf), "\r\n\r\n");
	assert_string_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n");
	assert_int_equal(write_full(fd, "hello", 5), 0);
	read_until(fd, buf, sizeof(buf), "body=hello");
	assert_non_null(strstr(buf, "HTTP/1.1 200"));
	assert_non_null(strstr(buf, "POST /p q=- body=hello"));
	assert_null(strstr(buf, "Connection: close"));
	const char again[] = "GET /again HTTP/1.1\r\n\r\n";
	assert_int_equal(write_full(fd, again, sizeof(again) - 1), 0);
	read_until(fd, buf, sizeof(buf), "body=");
	assert_non_null(strstr(buf, "GET /again q=- body="));
	close(fd);

	/* A handler that answers without reading: no 100, Connection: close,
	 * and the server closes at once instead of waiting for the body. */
	fd = dial(f);
	const char deny[] =
		"POST /deny HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3000000\r\n\r\n";
	long long t0 = now_ms();
	assert_int_equal(write_full(fd, deny, sizeof(deny) - 1), 0);
	size_t got = read_until(fd, buf, sizeof(buf), "\x01never");
	long long took = now_ms() - t0;
	assert_true(got > 0);
	assert_true(!strncmp(buf, "HTTP/1.1 401", 12));
	assert_null(strstr(buf, "100 Continue"));
	assert_non_null(strstr(buf, "Connection: close"));
	if (took > 2000)
		fail_msg("server kept the connection %lld ms waiting for a withheld body", took);
	close(fd);

	/* HTTP/1.0 clients never get a 1xx; nor does a request without a body. */
	const char v10[] =
		"POST /p HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab";
	char *out = exchange(f, v10, sizeof(v10) - 1, false);
	assert_null(strstr(out, "100 Continue"));
	assert_non_null(strstr(out, "POST /p q=- body=ab"));
	free(out);
	const char nobody[] =
		"GET /g HTTP/1.1\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n";
	out = exchange(f, nobody, sizeof(nobody) - 1, false);
	assert_null(strstr(out, "100 Continue"));
	assert_non_null(strstr(out, "GET /g q=- body="));
	free(out);
}

/* Client against a scripted server on a unix socketpair: fds via SCM_RIGHTS,
 * 100 Continue skipped, chunked body with trailers, body until EOF. */
/* A hostile peer: endless 100 Continue is cut at HTTP_MAX_INTERIM, and a
 * response trickled forever ends at the call's deadline. */
static void test_client_hostile_peer(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct http_client *c = http_client_new(sv[0], true);
	struct wr_err err = {0};
	for (int i = 0; i < HTTP_MAX_INTERIM + 2; i++)
		assert_int_equal(write_full(sv[1], "HTTP/1.1 100 Continue\r\n\r\n", 25), 0);
	assert_int_equal(write_full(sv[1], "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38), 0);
	assert_int_equal(http_client_read_head(c, false, &err), -EPROTO);
	assert_non_null(strstr(wr_err_msg(&err), "interim"));
	http_client_free(c);
	close(sv[1]);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	c = http_client_new(sv[0], true);
	http_client_set_timeout(c, 1000); /* each read would be fine alone */
	http_client_set_deadline(c, 400);
	assert_int_equal(write_full(sv[1], "HTTP/1.1 200 OK\r\n", 17), 0);
	long long t0 = now_ms();
	err = (struct wr_err){0};
	assert_int_equal(http_client_read_head(c, false, &err), -ETIMEDOUT);
	assert_true(now_ms() - t0 < 900);
	http_client_free(c);
	close(sv[1]);
}

static void test_client_scripted(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct http_client *c = http_client_new(sv[0], true);
	struct wr_err err = {0};
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	const char *hdrs[] = {"Accept: application/json", NULL};
	struct http_creq rq = {.method = "PUT",
			       .target = "/api/v1/vm.add-net",
			       .headers = hdrs,
			       .content_type = "application/json",
			       .body = "{}",
			       .body_len = 2,
			       .fds = &pfd[1],
			       .nfds = 1};
	assert_int_equal(http_client_send(c, &rq, &err), 0);

	char buf[1024];
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {buf, sizeof(buf) - 1};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cbuf,
			    .msg_controllen = sizeof(cbuf)};
	ssize_t n = recvmsg(sv[1], &mh, 0);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "PUT /api/v1/vm.add-net HTTP/1.1\r\n"));
	assert_non_null(strstr(buf, "Content-Length: 2\r\n"));
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	assert_non_null(cm);
	assert_int_equal(cm->cmsg_type, SCM_RIGHTS);
	int got;
	memcpy(&got, CMSG_DATA(cm), sizeof(int));
	assert_int_equal(write(got, "z", 1), 1);
	char z;
	assert_int_equal(read(pfd[0], &z, 1), 1);
	assert_int_equal(z, 'z');
	close(got);
	close(pfd[0]);
	close(pfd[1]);

	const char resp[] = "HTTP/1.1 100 Continue\r\n\r\n"
			    "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n";
	assert_int_equal(write_full(sv[1], resp, sizeof(resp) - 1), 0);
	assert_int_equal(http_client_read_head(c, false, &err), 0);
	assert_int_equal(http_client_status(c), 204);
	assert_string_equal(http_client_header(c, "x-a"), "1");
	assert_int_equal(http_client_read(c, buf, sizeof(buf)), 0);

	struct http_creq g = {.method = "GET", .target = "/t"};
	assert_int_equal(http_client_send(c, &g, &err), 0);
	n = read(sv[1], buf, sizeof(buf));
	assert_true(n > 0);
	const char resp2[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			     "4\r\nwiki\r\n5\r\npedia\r\n0\r\nTrailer: x\r\n\r\n"
			     "HTTP/1.0 200 OK\r\n\r\nuntil-eof";
	assert_int_equal(write_full(sv[1], resp2, sizeof(resp2) - 1), 0);
	assert_int_equal(http_client_read_head(c, false, &err), 0);
	char *body;
	assert_int_equal(http_client_read_all(c, 100, &body, NULL, &err), 0);
	assert_string_equal(body, "wikipedia");
	free(body);
	shutdown(sv[1], SHUT_WR);
	assert_int_equal(http_client_read_head(c, false, &err), 0);
	assert_int_equal(http_client_status(c), 200);
	assert_int_equal(http_client_read_all(c, 100, &body, NULL, &err), 0);
	assert_string_equal(body, "until-eof");
	free(body);
	assert_false(http_client_keep_alive(c));

	/* garbage response */
	close(sv[1]);
	http_client_free(c);
	c = NULL;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	c = http_client_new(sv[0], true);
	write_full(sv[1], "HTTX/9 nope\r\n\r\n", 15);
	assert_int_equal(http_client_read_head(c, false, &err), -EBADMSG);
	http_client_free(c);
	close(sv[1]);
}

static void test_envelopes(void **state)
{
	(void)state;
	uint8_t b[16];
	connect_env_header(b, CONNECT_FLAG_END, 2);
	assert_memory_equal(b, "\x02\x00\x00\x00\x02", 5);
	memcpy(b + 5, "{}", 2);
	uint8_t fl;
	const uint8_t *pl;
	size_t plen;
	assert_int_equal(connect_env_parse(b, 7, 100, &fl, &pl, &plen), 7);
	assert_int_equal(fl, 2);
	assert_int_equal(plen, 2);
	assert_memory_equal(pl, "{}", 2);
	assert_int_equal(connect_env_parse(b, 6, 100, &fl, &pl, &plen), -EAGAIN);
	assert_int_equal(connect_env_parse(b, 3, 100, &fl, &pl, &plen), -EAGAIN);
	connect_env_header(b, 0, 0x01000000);
	assert_memory_equal(b, "\x00\x01\x00\x00\x00", 5);
	assert_int_equal(connect_env_parse(b, 5, 1000, &fl, &pl, &plen), -EMSGSIZE);

	assert_int_equal(connect_code_http_status(CONNECT_NOT_FOUND), 404);
	assert_int_equal(connect_code_http_status(CONNECT_INVALID_ARGUMENT), 400);
	assert_int_equal(connect_code_http_status(CONNECT_ALREADY_EXISTS), 409);
	assert_int_equal(connect_code_http_status(CONNECT_UNAUTHENTICATED), 401);
	assert_int_equal(connect_code_http_status(CONNECT_DEADLINE_EXCEEDED), 504);
	assert_int_equal(connect_code_http_status(CONNECT_CANCELED), 499);
	assert_string_equal(connect_code_name(CONNECT_FAILED_PRECONDITION), "failed_precondition");
	assert_int_equal(connect_code_parse("resource_exhausted"), CONNECT_RESOURCE_EXHAUSTED);
	assert_int_equal(connect_code_parse("bogus"), CONNECT_UNKNOWN);
	assert_int_equal(connect_code_from_errno(-ENOENT), CONNECT_NOT_FOUND);
	assert_int_equal(connect_code_from_errno(-EEXIST), CONNECT_ALREADY_EXISTS);
}

static void test_json_helpers(void **state)
{
	(void)state;
	char eb[128];
	const char *txt = "{\"modified_time\":\"x\",\"exitCode\":\"-5\",\"pid\":12,\"b\":true,"
			  "\"n\":null,\"big\":4294967296,\"huge\":4.3e87,\"r\":7.0,\"f\":7.5,"
			  "\"edge\":9223372036854775808.0}";
	json_t *j = wj_parse(txt, strlen(txt), eb, sizeof(eb));
	assert_non_null(j);
	const char *s;
	assert_int_equal(wj_str(j, "modifiedTime", &s), 0);
	assert_string_equal(s, "x");
	int64_t v;
	assert_int_equal(wj_i64(j, "exitCode", &v), 0);
	assert_int_equal(v, -5);
	uint32_t u;
	assert_int_equal(wj_u32(j, "pid", &u), 0);
	assert_int_equal(u, 12);
	assert_int_equal(wj_u32(j, "big", &u), -EINVAL);
	assert_int_equal(wj_u32(j, "exitCode", &u), -EINVAL);
	/* Reals: whole values in range only (found by fuzz-connect: converting
	 * an out-of-range double was undefined behaviour). */
	assert_int_equal(wj_i64(j, "huge", &v), -EINVAL);
	assert_int_equal(wj_i64(j, "edge", &v), -EINVAL);
	assert_int_equal(wj_i64(j, "f", &v), -EINVAL);
	assert_int_equal(wj_i64(j, "r", &v), 0);
	assert_int_equal(v, 7);
	bool bo;
	assert_int_equal(wj_bool(j, "b", &bo), 0);
	assert_true(bo);
	assert_int_equal(wj_str(j, "n", &s), -ENOENT);
	assert_int_equal(wj_str(j, "pid", &s), -EINVAL);
	json_decref(j);
	assert_null(wj_parse("{\"a\":", 5, eb, sizeof(eb)));
	assert_non_null(strstr(eb, "1:"));

	const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	const char *exp[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (size_t i = 0; i < ARRAY_SIZE(in); i++) {
		char *e = wj_b64_encode(in[i], strlen(in[i]));
		assert_string_equal(e, exp[i]);
		uint8_t *d;
		size_t dl;
		assert_int_equal(wj_b64_decode(e, &d, &dl), 0);
		assert_int_equal(dl, strlen(in[i]));
		assert_memory_equal(d, in[i], dl);
		free(d);
		free(e);
	}
	uint8_t *d;
	size_t dl;
	assert_int_equal(wj_b64_decode("Zm9vYg", &d, &dl), 0); /* unpadded */
	assert_int_equal(dl, 4);
	free(d);
	assert_int_equal(wj_b64_decode("Zm9v!", &d, &dl), -EINVAL);
	assert_int_equal(wj_b64_decode("Z", &d, &dl), -EINVAL);
}

static void test_escape(void **state)
{
	(void)state;
	char *s;
	assert_int_equal(http_unescape("a%2Fb+c", 7, true, &s), 0);
	assert_string_equal(s, "a/b c");
	free(s);
	assert_int_equal(http_unescape("a%2", 3, false, &s), -EINVAL);
	assert_int_equal(http_unescape("%G0", 3, false, &s), -EINVAL);
	s = http_escape("/a b/ü?", true);
	assert_string_equal(s, "/a%20b/%C3%BC%3F");
	free(s);
	assert_string_equal(http_status_text(507), "Insufficient Storage");
	int fd;
	struct wr_err err = {0};
	assert_true(http_listen_tcp("nohost", &fd, NULL, &err) < 0);
	assert_true(http_listen_tcp("127.0.0.1:99999", &fd, NULL, &err) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pipelined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_clients_evicted, setup_slow, teardown),
		cmocka_unit_test_setup_teardown(test_head_deadline, setup_slow, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_answer_is_500, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_stream_keepalive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_body_read_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_take_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(test_graceful_stop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expect_continue, setup, teardown),
		cmocka_unit_test(test_client_scripted),
		cmocka_unit_test(test_client_hostile_peer),
		cmocka_unit_test(test_envelopes),
		cmocka_unit_test(test_json_helpers),
		cmocka_unit_test(test_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
