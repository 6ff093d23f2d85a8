/* SPDX-License-Identifier: MIT */
/* QMP client against a scripted fake QEMU on a socketpair: greeting,
 * capabilities, ids, skipped events, errors, fd passing, timeouts. */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "vm/qmp.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct fake {
	int fd;
	int got_fd;	  /* fd received with getfd, or -1 */
	char cmds[8][48]; /* commands seen, in order */
	int ncmds;
	bool silent; /* never answer "stop" (timeout test) */
};

/* Read one line-framed command from the client. */
static json_t *read_cmd(struct fake *f)
{
	char line[4096];
	size_t n = 0;
	for (;;) {
		char c = 0;
		struct iovec iov = {.iov_base = &c, .iov_len = 1};
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr a;
		} u;
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = u.buf,
				    .msg_controllen = sizeof(u.buf)};
		ssize_t r = recvmsg(f->fd, &mh, 0);
		if (r <= 0)
			return NULL;
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		if (cm && cm->cmsg_type == SCM_RIGHTS)
			memcpy(&f->got_fd, CMSG_DATA(cm), sizeof(int));
		if (c == '\n')
			break;
		if (n < sizeof(line) - 1)
			line[n++] = c;
	}
	line[n] = '\0';
	return json_loads(line, 0, NULL);
}

static void say(struct fake *f, const char *s)
{
	write_full(f->fd, s, strlen(s));
}

static void *qemu(void *arg)
{
	struct fake *f = arg;
	say(f, "{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7}}, \"capabilities\": []}}\r\n");
	json_t *c;
	while ((c = read_cmd(f))) {
		const char *cmd = json_string_value(json_object_get(c, "execute"));
		json_int_t id = json_integer_value(json_object_get(c, "id"));
		snprintf(f->cmds[f->ncmds++ % 8], 48, "%s", cmd ? cmd : "?");
		char buf[512];
		if (!strcmp(cmd, "stop") && f->silent) {
			json_decref(c);
			continue;
		}
		/* an event and a stale reply before the real one */
		say(f,
		    "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"STOP\"}\r\n");
		snprintf(buf, sizeof(buf), "{\"return\": {}, \"id\": %lld}\r\n",
			 (long long)id + 1000);
		say(f, buf);
		if (!strcmp(cmd, "query-status"))
			snprintf(
				buf, sizeof(buf),
				"{\"return\": {\"status\": \"paused\", \"running\": false}, \"id\": "
				"%lld}\r\n",
				(long long)id);
		else if (!strcmp(cmd, "bogus"))
			snprintf(
				buf, sizeof(buf),
				"{\"id\": %lld, \"error\": {\"class\": \"CommandNotFound\", \"desc\": "
				"\"The command bogus has not been found\"}}\r\n",
				(long long)id);
		else
			snprintf(buf, sizeof(buf), "{\"return\": {}, \"id\": %lld}\r\n",
				 (long long)id);
		say(f, buf);
		json_decref(c);
	}
	return NULL;
}

static void test_session(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct fake f = {.fd = sv[1], .got_fd = -1};
	pthread_t th;
	pthread_create(&th, NULL, qemu, &f);
	struct qmp q = QMP_INIT;
	struct wr_err err = {0};
	assert_int_equal(qmp_attach(&q, sv[0], &err), 0);
	json_t *ret = NULL;
	assert_int_equal(qmp_execute(&q, "query-status", NULL, &ret, &err), 0);
	assert_string_equal(json_string_value(json_object_get(ret, "status")), "paused");
	json_decref(ret);
	assert_int_equal(qmp_execute(&q, "bogus", NULL, NULL, &err), -EIO);
	assert_non_null(strstr(wr_err_msg(&err), "The command bogus has not been found"));
	assert_non_null(strstr(wr_err_msg(&err), "CommandNotFound"));
	int pfd[2];
	assert_int_equal(pipe(pfd), 0);
	assert_int_equal(
		qmp_execute_fd(&q, "getfd", json_pack("{s:s}", "fdname", "x"), pfd[1], NULL, &err),
		0);
	qmp_close(&q); /* EOF ends the fake */
	pthread_join(th, NULL);
	close(sv[1]);
	assert_string_equal(f.cmds[0], "qmp_capabilities");
	assert_string_equal(f.cmds[1], "query-status");
	assert_string_equal(f.cmds[3], "getfd");
	/* the received descriptor is the write end of our pipe */
	assert_true(f.got_fd >= 0);
	assert_int_equal(write(f.got_fd, "k", 1), 1);
	char c = 0;
	assert_int_equal(read(pfd[0], &c, 1), 1);
	assert_int_equal(c, 'k');
	close(f.got_fd);
	close(pfd[0]);
	close(pfd[1]);
}

static void test_timeout_and_closed(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct fake f = {.fd = sv[1], .got_fd = -1, .silent = true};
	pthread_t th;
	pthread_create(&th, NULL, qemu, &f);
	struct qmp q = QMP_INIT;
	q.timeout_ms = 200;
	struct wr_err err = {0};
	assert_int_equal(qmp_attach(&q, sv[0], &err), 0);
	assert_int_equal(qmp_execute(&q, "stop", NULL, NULL, &err), -ETIMEDOUT);
	shutdown(sv[1], SHUT_RDWR);
	pthread_join(th, NULL);
	assert_true(qmp_execute(&q, "cont", NULL, NULL, &err) < 0);
	qmp_close(&q);
	close(sv[1]);
	assert_int_equal(qmp_execute(&q, "cont", NULL, NULL, &err), -ENOTCONN);
}

static void test_bad_greeting_and_no_socket(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	write_full(sv[1], "{\"hello\": 1}\r\n", 14);
	struct qmp q = QMP_INIT;
	struct wr_err err = {0};
	assert_int_equal(qmp_attach(&q, sv[0], &err), -EPROTO);
	qmp_close(&q);
	close(sv[1]);
	struct qmp q2 = QMP_INIT;
	assert_int_equal(qmp_connect(&q2, "/nonexistent/qmp.sock", 50, -1, &err), -ETIMEDOUT);
	qmp_close(&q2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_session),
		cmocka_unit_test(test_timeout_and_closed),
		cmocka_unit_test(test_bad_greeting_and_no_socket),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
