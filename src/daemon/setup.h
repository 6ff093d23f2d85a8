/* SPDX-License-Identifier: MIT */
#pragma once
/* Start-up chores of wrenn-agent: the first-run admin key and finding the guest images. */
#include "basic/err.h"
#include "daemon/config.h"

#include <stdio.h>

struct store;

/* When the store has no API key: mint one named "admin", write it to cfg->admin_key_file
 * (default <data_dir>/admin-key, mode 0600) and print it once to `out`.  1 when a key was made,
 * 0 when keys already existed. */
int setup_admin_key(const struct agent_config *cfg, struct store *st, FILE *out,
		    struct wr_err *err);

/* The images directory: cfg->images_dir if set; else <data_dir>/images if it holds a kernel;
 * else build/guest next to the binary (<exe>/../../guest) or under the working directory.
 * Returns a malloc'd path (possibly one without images: the caller warns), never NULL. */
char *setup_images_dir(const struct agent_config *cfg, const char *exe);
/* True when dir holds vmlinux and at least one *.ext4 template image. */
int setup_images_present(const char *dir);
