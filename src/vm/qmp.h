/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * QMP client (QEMU Machine Protocol) over a unix socket.
 *
 * QEMU ends each message with CRLF, so messages are framed by lines and each
 * line is parsed with jansson. Asynchronous events ({"event": ...}) are
 * skipped; each command carries an id and only the reply with that id is
 * taken. Every read has a deadline.
 */
#include "basic/err.h"

#include <jansson.h>
#include <stddef.h>

struct qmp {
	int fd;
	char *buf;
	size_t len, cap;
	int timeout_ms; /* per command */
	unsigned long next_id;
};

#define QMP_INIT                                                                                   \
	{                                                                                          \
		.fd = -1, .timeout_ms = 10000                                                      \
	}

/*
 * Connect to path, retrying until connect_timeout_ms while the socket does
 * not exist yet or refuses; alive_fd (a pidfd, or -1) is watched so a VMM
 * that died fails at once with -ESRCH. Then read the greeting and negotiate
 * capabilities.
 */
int qmp_connect(struct qmp *q, const char *path, int connect_timeout_ms, int alive_fd,
		struct wr_err *err);
/* Use an already connected fd (tests): greeting + qmp_capabilities. */
int qmp_attach(struct qmp *q, int fd, struct wr_err *err);
/*
 * Run cmd with args (reference stolen; NULL = none). *ret_return (may be
 * NULL) gets the "return" value (caller json_decref's). A QMP error becomes
 * -EIO with "cmd: desc (class)".
 */
int qmp_execute(struct qmp *q, const char *cmd, json_t *args, json_t **ret_return,
		struct wr_err *err);
/* Same, passing fd (not consumed) by SCM_RIGHTS with the command (getfd). */
int qmp_execute_fd(struct qmp *q, const char *cmd, json_t *args, int fd, json_t **ret_return,
		   struct wr_err *err);
void qmp_close(struct qmp *q);
