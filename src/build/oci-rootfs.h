/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Private to src/build/oci.c (and its unit test): reading an OCI layout and preparing an unpacked
 * root filesystem for wrenn. Every path inside the root is resolved with openat2(RESOLVE_IN_ROOT),
 * so an image's symlinks (/etc -> /host/etc, /usr/local/bin -> /) can never reach the host.
 */
#include "basic/err.h"

#include <jansson.h>
#include <stdint.h>

/* The registry a reference is pulled from ("docker.io" when it names none). Caller frees. */
char *oci_ref_registry(const char *ref);
/* 0 when ref is a plain image reference (no scheme, no whitespace/control chars, no leading '-'). */
int oci_ref_check(const char *ref, struct wr_err *err);
/* The image config of tag `tag` in the OCI layout at `layout`, as
 * {"Env":[...],"WorkingDir":s,"User":s,"Cmd":[...],"Entrypoint":[...]} (absent fields empty). */
int oci_layout_config(const char *layout, const char *tag, json_t **ret, struct wr_err *err);
/* Inject wrenn-init and envd from bins_dir (/usr/local/bin), the `user` account (uid/gid 1000,
 * /home/user), passwordless sudo for it when /usr/bin/sudo exists, mount points and the files no
 * template may inherit (resolv.conf, hostname, hosts, machine-id). */
int oci_rootfs_prepare(const char *rootfs, const char *bins_dir, struct wr_err *err);
/* Bytes the tree uses (st_blocks) and its inode count, without following symlinks. */
int oci_tree_usage(const char *dir, uint64_t *ret_bytes, uint64_t *ret_inodes, struct wr_err *err);
