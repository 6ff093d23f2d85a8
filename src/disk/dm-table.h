/* SPDX-License-Identifier: MIT */
#pragma once
/* Pure parts of the dm-snapshot backend (unit-tested). */
#include "basic/err.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* "<maj>:<min> <maj>:<min> P 8": persistent exception store, 8-sector
 * (4 KiB) chunks, as the seed does. */
int dm_snapshot_params(char *buf, size_t n, dev_t origin, dev_t cow, struct wr_err *err);
/* Device-mapper name for a clone at dest: "wrenn-" + name of dest's parent
 * directory (the sandbox id), e.g. /x/sandboxes/cl-1/rootfs.cow -> wrenn-cl-1. */
int dm_name_for(const char *dest, char *buf, size_t n, struct wr_err *err);
/* Size of the sparse CoW file for an origin of origin_bytes: room for every
 * chunk plus the exception-store metadata (sparse, so only written chunks
 * cost space); an undersized store invalidates the snapshot. */
uint64_t dm_cow_size(uint64_t origin_bytes);
