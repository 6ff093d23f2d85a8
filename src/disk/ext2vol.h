/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * File access inside a volume image (an ext4 file system a guest wrote) without mounting it:
 * libext2fs from e2fsprogs, in this process.  The image is hostile: every path is looked up
 * component by component from the root directory, "." and ".." components are refused and no
 * symbolic link is followed (a link is an entry like any other: stat shows it, remove removes
 * it, read/write/list through it are -ELOOP); listings, depths, file sizes and link targets are
 * bounded; a file system that needs journal recovery, or that libext2fs finds damaged, is an
 * error (-EUCLEAN), never a crash or a guess.
 *
 * Not thread-safe per image: the caller holds the volume (store/volumes.h) for one operation.
 */
#include "basic/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define EXT2VOL_PATH_MAX 4096
#define EXT2VOL_LIST_MAX 10000	  /* entries in one listing */
#define EXT2VOL_DEPTH_MAX 16	  /* list depth, recursive remove depth */
#define EXT2VOL_LINK_MAX 4095	  /* symlink target bytes reported */
#define EXT2VOL_REMOVE_MAX 100000 /* entries one recursive remove visits */

enum ext2vol_type { EXT2VOL_UNKNOWN, EXT2VOL_FILE, EXT2VOL_DIR, EXT2VOL_SYMLINK };

struct ext2vol_stat {
	char *name; /* last component ("" for the root) */
	char *path; /* normalised absolute path */
	enum ext2vol_type type;
	uint32_t mode; /* permission bits and type bits, as st_mode */
	uint32_t uid, gid;
	int64_t size;
	int64_t atime, mtime, ctime; /* unix seconds */
	char *target;		     /* symlink text (not resolved), else NULL */
};
void ext2vol_stat_done(struct ext2vol_stat *st);
void ext2vol_stat_list_free(struct ext2vol_stat *v, size_t n);
const char *ext2vol_type_name(enum ext2vol_type t); /* E2B's "file", "directory", ... */

/* Split a path into its normalised absolute form: "/" + components joined by '/'; empty
 * components (a//b, trailing /) dropped; "." and ".." refused (-EINVAL), as are paths over
 * EXT2VOL_PATH_MAX, components over 255 bytes and NUL-free control characters.  Pure. */
int ext2vol_path_norm(const char *path, char **ret, struct wr_err *err);

struct ext2vol;
/* Open an image (read-write when rw).  -EUCLEAN for a damaged file system or one that needs
 * journal recovery; -ENOTSUP for features libext2fs cannot write safely. */
int ext2vol_open(const char *image, bool rw, struct ext2vol **ret, struct wr_err *err);
/* Flush (rw) and close; < 0 when the flush failed.  NULL-safe. */
int ext2vol_close(struct ext2vol *v, struct wr_err *err);

int ext2vol_stat(struct ext2vol *v, const char *path, struct ext2vol_stat *ret, struct wr_err *err);
/* Entries under directory path down to depth (1 = its children), sorted by path. */
int ext2vol_list(struct ext2vol *v, const char *path, int depth, struct ext2vol_stat **ret,
		 size_t *ret_n, struct wr_err *err);
/* Stream a regular file to sink (chunks; a sink < 0 stops with that error).  *ret_size
 * (optional) gets the size before the first chunk through size_cb (optional). */
int ext2vol_read(struct ext2vol *v, const char *path,
		 int (*sink)(void *ud, const void *buf, size_t n), void *ud, struct wr_err *err);
int ext2vol_file_size(struct ext2vol *v, const char *path, int64_t *ret, struct wr_err *err);
/* Create or overwrite a regular file with what src yields (src returns bytes read, 0 at the
 * end, < 0 on error), at most max bytes (-EFBIG past it); missing parent directories are
 * made (0755, uid/gid below).  uid/gid/mode < 0 = 0/0/0644 for a new file, unchanged for an
 * existing one. */
int ext2vol_write(struct ext2vol *v, const char *path,
		  ssize_t (*src)(void *ud, void *buf, size_t n), void *ud, int64_t max, int64_t uid,
		  int64_t gid, int64_t mode, struct wr_err *err);
/* mkdir; parents: make missing parents and accept an existing directory (else -ENOENT /
 * -EEXIST). uid/gid/mode < 0 = 0/0/0755. */
int ext2vol_mkdir(struct ext2vol *v, const char *path, bool parents, int64_t uid, int64_t gid,
		  int64_t mode, struct wr_err *err);
/* Remove a file, link or directory (recursively, at most EXT2VOL_DEPTH_MAX deep). */
int ext2vol_remove(struct ext2vol *v, const char *path, struct wr_err *err);
/* chown/chmod (permission bits only); < 0 = unchanged. */
int ext2vol_setattr(struct ext2vol *v, const char *path, int64_t uid, int64_t gid, int64_t mode,
		    struct wr_err *err);

/* Set the mode bits of the root directory of image (a fresh volume). */
int ext2vol_chmod_root(const char *image, unsigned mode, struct wr_err *err);
