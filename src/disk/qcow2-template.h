/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Empty qcow2 overlays kept in memory, one per (absolute backing path, backing size).
 * What `qemu-img create -f qcow2 -F raw -b <abs>` writes depends only on those two (no
 * UUID, no timestamp; the virtual size is the backing file's), so the bytes qemu-img
 * made for the first clone are what it would make for every later one: a copy replaces
 * the fork/exec (8-12 ms) and is the same file, byte for byte.
 */
#include <stddef.h>
#include <sys/types.h>

/* A copy of the cached overlay for (backing, size) in *ret (malloc'd), its length in
 * *ret_len: 1 found, 0 not cached. */
int qcow2_tpl_get(const char *backing, off_t size, void **ret, size_t *ret_len);
/* Remember what qemu-img made for (backing, size): 0 kept, -EINVAL when it does not
 * look like a qcow2 file small enough to keep (not cached then). */
int qcow2_tpl_put(const char *backing, off_t size, const void *data, size_t len);
/* Forget every entry (tests). */
void qcow2_tpl_flush(void);
