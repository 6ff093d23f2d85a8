/* SPDX-License-Identifier: MIT */
#pragma once
/* One cgroup v2 directory per sandbox, with memory.max and cpu.weight. */
#include "basic/err.h"

#include <stdbool.h>
#include <stdint.h>

#define CGROUP_DEFAULT_PARENT "/sys/fs/cgroup/wrenn"

/* True when path (or its nearest existing ancestor) is on a cgroup2 filesystem. */
bool cgroup_is_v2(const char *path);
/*
 * Create parent/name, enable the memory and cpu controllers on the way down
 * (best effort), set the limits (0 = leave the default) and open its
 * cgroup.procs for writing, so a forked child can join with write("0").
 */
int cgroup_create(const char *parent, const char *name, uint64_t memory_max, int cpu_weight,
		  char **ret_path, int *ret_procs_fd, struct wr_err *err);
/* Remove the (now empty) cgroup; retries briefly while the kernel still
 * counts a just-reaped process. 0 when it is gone. */
int cgroup_remove(const char *path);
