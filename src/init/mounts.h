/* SPDX-License-Identifier: MIT */
#pragma once
#include "basic/err.h"

/*
 * Mount the API filesystems a userland expects (proc, sys, devtmpfs, devpts, /dev/shm, /run,
 * /tmp, cgroup2). Each failure is logged on the console and the rest still mounted; returns the
 * number of failures.
 */
int mounts_setup(void);

/* Warn on the console when the root filesystem has no free space or inodes left. */
void mounts_check_root_space(void);
