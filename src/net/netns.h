/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Named network namespaces, compatible with `ip netns`: the namespace file is
 * bind-mounted at /run/netns/<name> (a shared mount point, so private mount
 * namespaces of VMM launchers see mounts and unmounts).  The daemon itself
 * never leaves the host namespace: work inside a namespace runs on a
 * short-lived thread that setns()es; sockets created there stay there.
 */
#include "basic/err.h"

#include <stdbool.h>
#include <stdint.h>

#define NETNS_RUN_DIR "/run/netns"
#define NETNS_NAME_MAX 64

/* Valid name: [A-Za-z0-9._-], 1..NETNS_NAME_MAX-1 chars, not "." or "..". */
bool netns_name_valid(const char *name);
/* Create /run/netns/<name> holding a fresh namespace; -EEXIST if present. */
int netns_create(const char *name, struct wr_err *err);
/* Unmount and unlink /run/netns/<name>; -ENOENT if absent. */
int netns_delete(const char *name, struct wr_err *err);
bool netns_exists(const char *name);
/* Open the namespace file (O_RDONLY|O_CLOEXEC); caller owns *ret_fd. */
int netns_open(const char *name, int *ret_fd, struct wr_err *err);
/* Names in /run/netns starting with prefix; malloc'd NULL-terminated array,
 * free with netns_list_free. */
int netns_list(const char *prefix, char ***ret_names, struct wr_err *err);
void netns_list_free(char **names);

/* Run fn(arg) on a new thread that has joined the namespace nsfd; returns
 * fn's return value (or -errno if the thread/setns failed, with err set). */
typedef int (*netns_fn)(void *arg, struct wr_err *err);
int netns_run(int nsfd, netns_fn fn, void *arg, struct wr_err *err);

/* A socket(domain, type|SOCK_CLOEXEC) created inside the namespace. */
int net_socket_in_ns(int nsfd, int domain, int type, int *ret_fd, struct wr_err *err);
/* Same, by namespace name. */
int net_socket_in_named_ns(const char *ns, int domain, int type, int *ret_fd, struct wr_err *err);
/* TCP connect to ipv4:port inside the namespace within timeout_ms; the
 * returned socket is blocking.  -ETIMEDOUT, -ECONNREFUSED, ... */
int net_connect_in_ns(const char *ns, const char *ipv4, uint16_t port, int timeout_ms, int *ret_fd,
		      struct wr_err *err);
