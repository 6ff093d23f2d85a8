/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Copy-on-write root disks: one interface, three backends.
 *   reflink  FICLONE on xfs/btrfs; the clone is a raw file.
 *   qcow2    `qemu-img create -f qcow2 -F raw -b <template>`; the VMM reads
 *            the template through the overlay.  Only a template's first clone
 *            runs qemu-img; later ones copy its bytes (qcow2-template.h).
 *   dm       the seed's dm-snapshot: read-only loop on the template, rw loop
 *            on a sparse CoW file, `snapshot <origin> <cow> P 8`.
 * Auto-detection order: dm (only when enabled and /dev/mapper/control
 * exists) > reflink (probed on the data dir's filesystem) > qcow2.  A full
 * copy is never made behind the caller's back.
 */
#include "basic/err.h"

#include <limits.h>
#include <stdbool.h>

#define DISK_DATA_DIR_DEFAULT "/var/lib/wrenn"

enum disk_format { DISK_FORMAT_RAW, DISK_FORMAT_QCOW2 };

struct disk_result {
	char path[PATH_MAX];	 /* what the VMM opens */
	enum disk_format format; /* how the VMM must open it */
	char cow[PATH_MAX];	 /* dm: CoW file; else empty */
	char dm_name[128];	 /* dm: device-mapper name; else empty */
};

struct disk_ops {
	const char *name;
	/* 1 usable for data_dir, 0 not (reason in err), < 0 error */
	int (*probe)(const char *data_dir, struct wr_err *err);
	/* dest must not exist; on failure nothing is left behind */
	int (*clone)(const char *template_path, const char *dest_path, struct disk_result *ret,
		     struct wr_err *err);
	int (*remove)(const struct disk_result *d, struct wr_err *err);
};

extern const struct disk_ops disk_reflink_ops;
extern const struct disk_ops disk_qcow2_ops;
extern const struct disk_ops disk_dm_ops;

const char *disk_format_name(enum disk_format f);
const struct disk_ops *disk_ops_by_name(const char *name);

struct disk_probe_result {
	bool dm_enabled; /* configured by the operator */
	bool dm_ok, reflink_ok, qcow2_ok;
};
/* The pure decision: backend name, or NULL when none fits. */
const char *disk_choose(const struct disk_probe_result *p);
/* Probe data_dir and pick a backend.  want: NULL/"auto", "auto+dm" (dm
 * allowed), or a backend name (must be usable). */
int disk_detect(const char *data_dir, const char *want, const struct disk_ops **ret,
		struct wr_err *err);
