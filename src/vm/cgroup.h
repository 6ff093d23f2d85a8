/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * One cgroup per sandbox, holding its VMM: memory, CPU and pids limits.
 *
 * Where ("parent"):
 *   an absolute directory on cgroup2   <parent>/<name>, controllers enabled on the way;
 *   CGROUP_AUTO                        under the agent's own cgroup, in wrenn.slice:
 *     - cgroup2 with the memory controller (a pure v2 host, or systemd's Delegate=yes):
 *       <own>/wrenn.slice/<name>.  cgroup2 forbids processes in a cgroup whose children
 *       get controllers, so an agent alone in its cgroup moves itself into <own>/agent
 *       first; when others share it (a shell, a CI runner), <root>/wrenn.slice/<name>;
 *     - otherwise, when memory/cpu/pids are bound to cgroup v1 hierarchies (a hybrid
 *       host, like a container host that keeps v1), the same path in each of them:
 *       memory.limit_in_bytes, cpu.cfs_quota_us, pids.max.  The limits are the same;
 *       only the file names differ.
 * Nesting under the agent's own cgroup keeps the sandboxes inside whatever limits the
 * operator put on the agent.
 */
#include "basic/err.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CGROUP_AUTO "auto"
#define CGROUP_SLICE "wrenn.slice"
#define CGROUP_MAX_DIRS 3

struct cgroup_limits {
	uint64_t memory_max; /* bytes; 0 = none */
	int vcpus;	     /* cpu.max = vcpus full CPUs; 0 = none */
	int pids_max;	     /* 0 = none */
	int cpu_weight;	     /* 1..10000 (v2 only); 0 = default */
};

struct cgroup_set {
	size_t n;
	bool v1;
	char *dir[CGROUP_MAX_DIRS];
	int procs_fd[CGROUP_MAX_DIRS]; /* cgroup.procs, open for writing; -1 = closed */
};

/* True when path (or its nearest existing ancestor) is on a cgroup2 filesystem. */
bool cgroup_is_v2(const char *path);
/* Create the cgroup(s), set the limits and open cgroup.procs so a forked child joins
 * with write("0") before exec. ret->n == 0 on failure. */
int cgroup_create(const char *parent, const char *name, const struct cgroup_limits *l,
		  struct cgroup_set *ret, struct wr_err *err);
/* The cgroups of a live process whose last path component is name (re-attach). */
int cgroup_of_pid(pid_t pid, const char *name, struct cgroup_set *ret);
void cgroup_set_close_fds(struct cgroup_set *s);
/* Remove the dirs (retrying while the kernel still counts a reaped process) and free. */
void cgroup_set_remove(struct cgroup_set *s);
/* Free without removing (the VMM lives on after an agent exit). */
void cgroup_set_forget(struct cgroup_set *s);
/* Remove the cgroup(s) named name under parent (a cgroup2 dir or CGROUP_AUTO; NULL =
 * nothing): the startup sweep's cleanup of a sandbox whose VMM died with the previous
 * agent.  By name only, so other agents' cgroups in the same slice stay. */
void cgroup_remove_name(const char *parent, const char *name);
/* Remove the (now empty) cgroup; 0 when it is gone. */
int cgroup_remove(const char *path);
