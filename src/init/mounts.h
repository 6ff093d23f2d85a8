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

/* Mount the volumes named on the kernel command line (wrenn.vol=, cmdline.h): find each block
 * device by its serial, make the mount point (0755) and mount it ext4 nosuid,nodev.  Failures are
 * logged on the console; returns the number of failures. */
int mounts_volumes(const char *cmdline);
