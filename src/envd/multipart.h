/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Streaming multipart/form-data parser.  Part filenames are reported raw
 * (E2B's SDK puts the full target path there; no directory stripping).
 */
#include "basic/err.h"

#include <stddef.h>
#include <sys/types.h>

/* part_data's pieces: at most MP_PIECE bytes each, every one starting at an MP_ALIGN aligned
 * address, and all but a part's last exactly MP_PIECE long. */
#define MP_PIECE (1024 * 1024)
#define MP_ALIGN 4096

struct mp_ops {
	/* name / filename are NULL when absent.  Non-zero return aborts. */
	int (*part_begin)(void *ud, const char *name, const char *filename);
	int (*part_data)(void *ud, const void *data, size_t n);
	int (*part_end)(void *ud);
};

typedef ssize_t (*mp_read_fn)(void *ctx, void *buf, size_t n);

/* The boundary parameter of a multipart/form-data Content-Type (<= 70
 * chars per RFC 2046).  -EINVAL when not multipart or malformed. */
int multipart_boundary(const char *content_type, char *out, size_t n);
/* Parse the whole body.  Errors: -EBADMSG malformed/truncated (message in
 * err), the callback's or reader's negative value otherwise. */
int multipart_parse(const char *boundary, mp_read_fn rd, void *rdctx, const struct mp_ops *ops,
		    void *ud, struct wr_err *err);
