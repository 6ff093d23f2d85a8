/* SPDX-License-Identifier: MIT */
/* The relay both sandbox-traffic proxies share (src/daemon/proxy-relay.c), over real loopback
 * sockets: an HTTP server whose handler is proxy_relay() with a test hop, a client, and an
 * upstream this test plays by hand (accept, read what the relay sent, answer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "daemon/proxy-relay.h"
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct fixture {
	struct http_server *srv;
	pthread_t thr;
	int lfd, port;	      /* the proxy */
	int ulfd, uport;      /* the upstream's listening socket */
	volatile int stopped; /* the "sandbox" stopped: the hop's idle says cut */
};

static int tcp_dial(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int hop_connect(const struct proxy_hop *hop, struct http_req *req, int *ret_fd)
{
	const struct fixture *f = hop->userdata;
	int fd = tcp_dial(f->uport);
	if (fd < 0) {
		proxy_reply_gone(req, hop->t, hop->t->port, "no upstream");
		return -ECONNREFUSED;
	}
	*ret_fd = fd;
	return 0;
}

static char *hop_head(const struct proxy_hop *hop, struct http_req *req, bool upgrade, int64_t clen)
{
	(void)hop;
	return proxy_relay_head(req, upgrade, clen, NULL, "X-Routed: yes\r\n");
}

static enum proxy_idle hop_idle(const struct proxy_hop *hop, struct http_req *req)
{
	const struct fixture *f = hop->userdata;
	return http_server_stopping(http_req_server(req)) || f->stopped ? PROXY_IDLE_CUT
									: PROXY_IDLE_WAIT;
}

static const struct proxy_hop_ops test_hop = {
	.connect = hop_connect,
	.head = hop_head,
	.idle = hop_idle,
};

static void handler(struct http_req *req, void *userdata)
{
	struct proxy_target t = {.id = "sb-1", .port = 8080};
	struct proxy_hop hop = {
		.ops = &test_hop, .userdata = userdata, .t = &t, .name = "port 8080 of sb-1"};
	proxy_relay(req, &hop);
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
	struct wr_err err = {0};
	assert_int_equal(http_listen_tcp("127.0.0.1:0", &f->lfd, &f->port, &err), 0);
	assert_int_equal(http_listen_tcp("127.0.0.1:0", &f->ulfd, &f->uport, &err), 0);
	struct http_server_config cfg = {.idle_timeout_ms = 5000};
	f->srv = http_server_new(&cfg, handler, f);
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
	close(f->ulfd);
	free(f);
	return 0;
}

/* Reads from fd into buf until it holds `until` (NULL: until EOF) or 10 s pass; NUL-terminated. */
static size_t read_until(int fd, char *buf, size_t cap, const char *until)
{
	size_t n = 0;
	buf[0] = 0;
	while (n + 1 < cap && !(until && strstr(buf, until))) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		if (poll(&pf, 1, 10000) <= 0)
			break;
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		buf[n] = 0;
	}
	return n;
}

/* The upstream's side of the next connection the relay makes. */
static int upstream_accept(struct fixture *f)
{
	struct pollfd pf = {.fd = f->ulfd, .events = POLLIN};
	assert_int_equal(poll(&pf, 1, 10000), 1);
	int fd = accept4(f->ulfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void send_str(int fd, const char *s)
{
	assert_int_equal(write_full(fd, s, strlen(s)), 0);
}

/* A client sends request to the proxy; the upstream's side of the connection the relay makes in
 * *ret_u, what it received up to `until` in buf.  Returns the client's socket. */
static int exchange(struct fixture *f, const char *request, const char *until, int *ret_u,
		    char *buf, size_t cap)
{
	int c = tcp_dial(f->port);
	assert_true(c >= 0);
	send_str(c, request);
	*ret_u = upstream_accept(f);
	read_until(*ret_u, buf, cap, until);
	return c;
}

/* The upstream answers response (NULL: nothing) and closes; what the client then gets, up to
 * its EOF, in buf. */
static void answer(int u, const char *response, int c, char *buf, size_t cap)
{
	if (response)
		send_str(u, response);
	close(u);
	read_until(c, buf, cap, NULL);
}

static void test_forward_length(void **state)
{
	struct fixture *f = *state;
	char buf[4096];
	int u, c = exchange(f,
			    "POST /x?y=1 HTTP/1.1\r\nHost: h.example\r\nConnection: close\r\n"
			    "E2b-Sandbox-Id: forged\r\nX-Keep: 1\r\nContent-Length: 5\r\n\r\nhello",
			    "hello", &u, buf, sizeof(buf));
	/* routing and hop-by-hop headers gone, the hop's own after the Host, framing redone */
	assert_string_equal(buf,
			    "POST /x?y=1 HTTP/1.1\r\nHost: h.example\r\nX-Keep: 1\r\n"
			    "X-Routed: yes\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
	answer(u,
	       "HTTP/1.1 201 Created\r\nServer: up\r\nDate: x\r\nX-Up: 1\r\n"
	       "Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
	       c, buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 201 "));
	assert_non_null(strstr(buf, "\r\nX-Up: 1\r\n"));
	assert_non_null(strstr(buf, "\r\nContent-Type: text/plain\r\n"));
	assert_null(strstr(buf, "Server: up"));
	assert_null(strstr(buf, "Date: x"));
	assert_non_null(strstr(buf, "\r\n\r\nok"));
	close(c);
}

static void test_forward_chunked(void **state)
{
	struct fixture *f = *state;
	char buf[4096];
	int u, c = exchange(
		       f,
		       "PUT /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
		       "5\r\nhello\r\n0\r\n\r\n",
		       "0\r\n\r\n", &u, buf, sizeof(buf));
	/* no Host from the client: localhost */
	assert_string_equal(buf, "PUT /up HTTP/1.1\r\nHost: localhost\r\nX-Routed: yes\r\n"
				 "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
				 "5\r\nhello\r\n0\r\n\r\n");
	/* an answer without a length is relayed chunked */
	answer(u, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nstreamed", c, buf, sizeof(buf));
	assert_non_null(strstr(buf, "Transfer-Encoding: chunked\r\n"));
	assert_non_null(strstr(buf, "\r\n8\r\nstreamed\r\n0\r\n\r\n"));
	close(c);
}

static void test_upstream_silent_502(void **state)
{
	struct fixture *f = *state;
	char buf[4096];
	int u, c = exchange(f, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", "\r\n\r\n",
			    &u, buf, sizeof(buf));
	answer(u, NULL, c, buf, sizeof(buf));
	assert_non_null(strstr(buf, "HTTP/1.1 502 "));
	assert_non_null(strstr(buf, "port 8080 of sb-1: "));
	close(c);
}

/* An upstream that got the request and then neither answers nor closes (a guest killed under
 * it): the wait for the answer asks the hop each second, and its cut is a 502 within seconds. */
static void test_upstream_stopped_before_answer(void **state)
{
	struct fixture *f = *state;
	char buf[4096];
	int u, c = exchange(f, "GET /health HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
			    "\r\n\r\n", &u, buf, sizeof(buf));
	struct pollfd pf = {.fd = c, .events = POLLIN};
	assert_int_equal(poll(&pf, 1, 1500), 0); /* still waiting while the hop says wait */
	f->stopped = 1;
	read_until(c, buf, sizeof(buf), NULL);
	assert_non_null(strstr(buf, "HTTP/1.1 502 "));
	assert_non_null(strstr(buf, "stopped before it answered"));
	close(u);
	close(c);
}

/* The client's pipelined bytes reach the upstream only after its 101; then bytes flow both ways
 * and each side's end reaches the other. */
static void test_upgrade(void **state)
{
	struct fixture *f = *state;
	char buf[4096];
	int u, c = exchange(
		       f,
		       "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		       "Content-Length: 0\r\n\r\nPIPELINED",
		       "\r\n\r\n", &u, buf, sizeof(buf));
	/* the handshake headers stay, no framing added */
	assert_string_equal(buf,
			    "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
			    "Connection: Upgrade\r\nContent-Length: 0\r\nX-Routed: yes\r\n\r\n");
	struct pollfd pf = {.fd = u, .events = POLLIN};
	assert_int_equal(poll(&pf, 1, 200), 0); /* nothing behind the head before the 101 */
	send_str(u, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
		    "Connection: Upgrade\r\n\r\nEARLY");
	read_until(u, buf, sizeof(buf), "PIPELINED");
	assert_string_equal(buf, "PIPELINED");
	read_until(c, buf, sizeof(buf), "EARLY");
	assert_string_equal(buf, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
				 "Connection: Upgrade\r\n\r\nEARLY");
	send_str(c, "ping");
	read_until(u, buf, sizeof(buf), "ping");
	assert_string_equal(buf, "ping");
	send_str(u, "pong");
	shutdown(u, SHUT_WR);
	read_until(c, buf, sizeof(buf), NULL); /* up to the EOF the relay passes on */
	assert_string_equal(buf, "pong");
	shutdown(c, SHUT_WR);
	assert_int_equal(read_until(u, buf, sizeof(buf), NULL), 0);
	close(u);
	close(c);
}

/* An upgrade the upstream refuses is an ordinary answer, and the connection ends after it. */
static void test_upgrade_refused(void **state)
{
	struct fixture *f = *state;
	char buf[4096];
	int u, c = exchange(
		       f,
		       "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		       "\r\nGET /init HTTP/1.1\r\n\r\n",
		       "\r\n\r\n", &u, buf, sizeof(buf));
	answer(u, "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno", c, buf,
	       sizeof(buf)); /* EOF: the pipelined request is never served */
	assert_non_null(strstr(buf, "HTTP/1.1 403 "));
	assert_non_null(strstr(buf, "Connection: close\r\n"));
	assert_non_null(strstr(buf, "\r\n\r\nno"));
	assert_null(strstr(buf + 20, "HTTP/1.1"));
	close(c);
}

static void test_pieces(void **state)
{
	(void)state;
	assert_true(proxy_resp_header_dropped("transfer-encoding"));
	assert_true(proxy_resp_header_dropped("Server"));
	assert_true(proxy_resp_header_dropped("Date"));
	assert_false(proxy_resp_header_dropped("Content-Type"));
	assert_false(proxy_resp_header_dropped("Set-Cookie"));
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(proxy_send_chunk(p[1], "0123456789abcdefg", 17), 0);
	close(p[1]);
	char buf[64];
	read_until(p[0], buf, sizeof(buf), NULL);
	assert_string_equal(buf, "11\r\n0123456789abcdefg\r\n");
	close(p[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pieces),
		cmocka_unit_test_setup_teardown(test_forward_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forward_chunked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upstream_silent_502, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upstream_stopped_before_answer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_upgrade_refused, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
