/* SPDX-License-Identifier: MIT */
#pragma once
/* One supervised child (envd): started, watched, restarted with exponential backoff. */
#include "basic/err.h"

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#define SVC_BACKOFF_MIN_MS 100
#define SVC_BACKOFF_MAX_MS 10000
/* a child that ran this long counts as healthy: its next crash restarts it quickly again */
#define SVC_STABLE_MS 10000

struct svc {
	const char *name;
	const char *path;
	pid_t pid;	   /* 0 = not running */
	unsigned failures; /* consecutive failed starts or short runs */
	struct timespec started;
};

/* Delay before restart number `failures` (1-based): 100 ms doubling to 10 s. Pure. */
unsigned svc_backoff_ms(unsigned failures);

/*
 * Fork and exec the service with the given signal mask restored to empty. Returns 0 when
 * exec succeeded (reported through a close-on-exec pipe, so "exec failed" is known here and not
 * only as a mysterious exit status 127), or -errno with a message.
 */
int svc_start(struct svc *s, struct wr_err *err);

/* The child `pid` exited with `status`: if it was ours, log it, clear s->pid and return the
 * restart delay in ms; return -1 if pid is not the service. */
long svc_exited(struct svc *s, pid_t pid, int status);
