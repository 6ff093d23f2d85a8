/* SPDX-License-Identifier: MIT */
#include "vm/qmp.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define QMP_LINE_MAX (1024 * 1024)

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Next complete line as parsed JSON, waiting until deadline. */
static int read_msg(struct qmp *q, long long deadline, json_t **ret, struct wr_err *err)
{
	for (;;) {
		char *nl = q->buf ? memchr(q->buf, '\n', q->len) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - q->buf) + 1;
			json_error_t je;
			json_t *j = json_loadb(q->buf, n, JSON_DISABLE_EOF_CHECK, &je);
			memmove(q->buf, q->buf + n, q->len - n);
			q->len -= n;
			if (!j)
				return wr_err_set(err, EPROTO, "qmp: bad JSON from QEMU: %s",
						  je.text);
			*ret = j;
			return 0;
		}
		if (q->len >= QMP_LINE_MAX)
			return wr_err_set(err, EPROTO, "qmp: message longer than %d bytes",
					  QMP_LINE_MAX);
		long long left = deadline - now_ms();
		if (left <= 0)
			return wr_err_set(err, ETIMEDOUT, "qmp: no reply from QEMU in time");
		struct pollfd p = {.fd = q->fd, .events = POLLIN};
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return wr_err_errno(err, errno, "qmp: poll");
		if (r == 0)
			continue;
		if (q->cap - q->len < 4096) {
			q->cap = q->cap ? q->cap * 2 : 8192;
			q->buf = xrealloc(q->buf, q->cap);
		}
		ssize_t n = read(q->fd, q->buf + q->len, q->cap - q->len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return wr_err_errno(err, errno, "qmp: read");
		if (n == 0)
			return wr_err_set(err, ECONNRESET, "qmp: QEMU closed the connection");
		q->len += (size_t)n;
	}
}

/* send(2) with MSG_NOSIGNAL: a VMM that died must not SIGPIPE the daemon. */
static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* With fd >= 0 the descriptor travels as SCM_RIGHTS on the same sendmsg. */
static int send_json(struct qmp *q, json_t *msg, int fd, struct wr_err *err)
{
	cleanup_free char *s = json_dumps(msg, JSON_COMPACT);
	if (!s)
		return wr_err_set(err, ENOMEM, "qmp: cannot encode command");
	size_t n = strlen(s);
	s = xrealloc(s, n + 2);
	s[n] = '\n';
	if (fd < 0) {
		int r = send_all(q->fd, s, n + 1);
		if (r < 0)
			return wr_err_errno(err, r, "qmp: write");
		return 0;
	}
	struct iovec iov = {.iov_base = s, .iov_len = n + 1};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u = {0};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.buf,
			    .msg_controllen = sizeof(u.buf)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	ssize_t w;
	do
		w = sendmsg(q->fd, &mh, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return wr_err_errno(err, errno, "qmp: sendmsg");
	/* The fd went with the first byte; the rest is plain data. */
	if ((size_t)w < n + 1) {
		int r = send_all(q->fd, s + w, n + 1 - (size_t)w);
		if (r < 0)
			return wr_err_errno(err, r, "qmp: write");
	}
	return 0;
}

int qmp_execute_fd(struct qmp *q, const char *cmd, json_t *args, int fd, json_t **ret_return,
		   struct wr_err *err)
{
	cleanup_json json_t *owned_args = args; /* ours from here on, whatever happens */
	if (q->fd < 0)
		return wr_err_set(err, ENOTCONN, "qmp %s: not connected", cmd);
	unsigned long id = ++q->next_id;
	cleanup_json json_t *msg = json_pack("{s:s, s:I}", "execute", cmd, "id", (json_int_t)id);
	if (owned_args)
		json_object_set_new(msg, "arguments", TAKE_PTR(owned_args));
	int r = send_json(q, msg, fd, err);
	if (r < 0)
		return wr_err_prefix(err, r, "qmp %s", cmd);
	long long deadline = now_ms() + q->timeout_ms;
	for (;;) {
		cleanup_json json_t *reply = NULL;
		r = read_msg(q, deadline, &reply, err);
		if (r < 0)
			return wr_err_prefix(err, r, "qmp %s", cmd);
		json_t *rid = json_object_get(reply, "id");
		if (json_object_get(reply, "event") || !json_is_integer(rid) ||
		    (unsigned long)json_integer_value(rid) != id)
			continue; /* an event or another answer: the next message */
		json_t *e = json_object_get(reply, "error");
		if (e)
			return wr_err_set(err, EIO, "qmp %s: %s (%s)", cmd,
					  json_string_value(json_object_get(e, "desc"))
						  ?: "unknown error",
					  json_string_value(json_object_get(e, "class")) ?: "?");
		if (ret_return) {
			json_t *ret = json_object_get(reply, "return");
			*ret_return = ret ? json_incref(ret) : json_object();
		}
		return 0;
	}
}

int qmp_execute(struct qmp *q, const char *cmd, json_t *args, json_t **ret_return,
		struct wr_err *err)
{
	return qmp_execute_fd(q, cmd, args, -1, ret_return, err);
}

int qmp_attach(struct qmp *q, int fd, struct wr_err *err)
{
	q->fd = fd;
	cleanup_json json_t *greeting = NULL;
	int r = read_msg(q, now_ms() + q->timeout_ms, &greeting, err);
	if (r < 0)
		return wr_err_prefix(err, r, "qmp greeting");
	bool ok = json_object_get(greeting, "QMP") != NULL;
	if (!ok)
		return wr_err_set(err, EPROTO, "qmp: peer did not greet with a QMP object");
	return qmp_execute(q, "qmp_capabilities", NULL, NULL, err);
}

int qmp_connect(struct qmp *q, const char *path, int connect_timeout_ms, int alive_fd,
		struct wr_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return wr_err_set(err, ENAMETOOLONG, "qmp socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	long long deadline = now_ms() + connect_timeout_ms;
	for (;;) {
		cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return wr_err_errno(err, errno, "socket");
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return qmp_attach(q, TAKE_FD(fd), err);
		if (errno != ENOENT && errno != ECONNREFUSED && errno != EINTR)
			return wr_err_errno(err, errno, "qmp connect %s", path);
		if (alive_fd >= 0) {
			struct pollfd p = {.fd = alive_fd, .events = POLLIN};
			if (poll(&p, 1, 0) > 0)
				return wr_err_set(err, ESRCH,
						  "VMM exited before its QMP socket %s appeared",
						  path);
		}
		if (now_ms() >= deadline)
			return wr_err_set(err, ETIMEDOUT, "QMP socket %s did not appear in %d ms",
					  path, connect_timeout_ms);
		nanosleep(&(struct timespec){.tv_nsec = 2 * 1000 * 1000}, NULL);
	}
}

void qmp_close(struct qmp *q)
{
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	free(q->buf);
	q->buf = NULL;
	q->len = q->cap = 0;
}
