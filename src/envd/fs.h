/* SPDX-License-Identifier: MIT */
#pragma once
#include "envd/envd.h"

/* EntryInfo JSON of path (lstat); NULL with errno set on failure. */
json_t *envd_entry_info(const char *path);
/* WatchDir stream and the polling watcher RPCs (watch.c). */
void envd_watch_rpc(struct envd *e, struct http_req *req, const char *method);
