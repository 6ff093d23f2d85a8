/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Run one volume content operation in wrenn-volfs (src/volfs/main.c): a confined process that
 * holds the image as fd 3 and answers on stdout.  Its answer is treated as untrusted input (it
 * parsed a guest-written file system): the first line is bounded, errno values outside the set
 * ext2vol uses become -EUCLEAN, messages are cut and cleaned, JSON is size-capped; a helper
 * that crashes or says nothing is -EUCLEAN "... crashed", never a crash of the caller.
 */
#include "basic/err.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ext2vol_run {
	const char *helper; /* path of wrenn-volfs */
	const char *image;  /* opened read-write here and passed as fd 3 */
	uid_t uid;	    /* the helper drops to uid/gid (the image is chowned to them) */
	gid_t gid;
	const char *const *args; /* OP PATH [ARG...], NULL-terminated */
	/* stdin of the helper (write): bytes until 0 / < 0 error; NULL = empty */
	ssize_t (*src)(void *ud, void *buf, size_t n);
	void *src_ud;
};

/* An operation answering JSON (stat, list, mkdir, write, remove, setattr): *ret (malloc'd,
 * NUL-terminated, at most max bytes) on success. */
int ext2vol_run_json(const struct ext2vol_run *r, size_t max, char **ret, struct wr_err *err);
/* read: head(ud, size) once the file is found (a < 0 return stops), then sink(ud, bytes...);
 * -EPIPE-style sink errors stop it.  A helper that fails after head is -EUCLEAN (the caller
 * has started its answer and must cut it short). */
int ext2vol_run_read(const struct ext2vol_run *r, int (*head)(void *ud, int64_t size),
		     int (*sink)(void *ud, const void *buf, size_t n), void *ud,
		     struct wr_err *err);
