/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Cloud Hypervisor REST API client (HTTP/1.1 over its --api-socket, base
 * /api/v1/). One connection per call: CH's micro_http serves them one at a
 * time anyway, and a fresh connection never inherits a half-read response.
 * Field names follow CH's openapi (see shared/reference/vmm.md §1.3).
 *
 * What we send depends on the version vmm.ping reports (CH ignores JSON
 * fields it does not know, so an old VMM would silently drop them):
 *   v51  minimum: explicit disk image_type, qcow2 overlays over a raw
 *        backing file, and backing files opt-in (DiskConfig.backing_files)
 *   v52  vm.restore takes memory_restore_mode and resume; before, a
 *        restored VM stays paused and needs vm.resume
 *   v53  the VMM keeps <socket>.lock beside its API socket (only when it binds
 *        the socket itself: `--api-socket path=`; with `fd=` there is none)
 *
 * The guest NIC is never named in vm.create: CH's VmCreate handler drops any
 * fds sent with it (vmm/src/api/http/http_endpoint.rs, v51-v53: "For the
 * VmCreate call, we do not accept FDs from the socket currently"), and a TAP
 * given by name is opened by CH itself, which a jailed VMM cannot do (see
 * vmm-ch.c).  So the VM is created without "net" and the TAP is handed over
 * as an fd with vm.add-net before vm.boot (on a VM not yet booted CH adds it
 * to the config: Vmm::vm_add_net), and again with vm.restore's "net_fds".
 */
#include "basic/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define CH_MIN_MAJOR 51
#define CH_RESTORE_OPTS_MAJOR 52

struct ch_version {
	int major, minor;
};

struct ch_api {
	const char *socket_path;
	int timeout_ms;	       /* per call; 0 = 10 s */
	struct ch_version ver; /* from ch_api_ping; decides the fields vm.restore gets */
};

/* Token buckets of CH's rate_limiter_config, expressed as rates; 0 = no limit. */
struct ch_rate_limit {
	uint64_t bytes_per_sec;
	uint64_t ops_per_sec;
};

/* What vm.create needs; paths are the stable in-namespace names. */
struct ch_vm_spec {
	const char *kernel;
	const char *cmdline;
	int vcpus;
	uint64_t memory_bytes;
	bool shared_mem;
	const char *disk;
	const char *disk_format; /* "raw" | "qcow2" */
	/* Volumes: raw images after the root disk, each with its serial (vm_config extra disks) */
	const char *const *extra_disks; /* n_extra entries */
	const char *const *extra_serials;
	int n_extra;
	const char *mac;	 /* the guest NIC (vm.add-net, not vm.create) */
	const char *serial_file; /* NULL = serial "Tty" (the VMM's stdout, i.e. its log) */
	/* Guest NIC limit (NetConfig.rate_limiter_config); CH applies the same
	 * buckets to the device's transmit and receive queues. */
	struct ch_rate_limit net_limit;
};

/* The VmConfig JSON for vm.create (new reference), without "net". A qcow2
 * disk gets "backing_files": true (our qcow2 disks are overlays). */
json_t *ch_vm_config_json(const struct ch_vm_spec *s);
/* The id of the one guest NIC: vm.restore's net_fds names it. */
#define CH_NET_ID "wrenn-net0"
/* The NetConfig JSON for vm.add-net with one TAP fd: id CH_NET_ID, the MAC,
 * num_queues 2 (one queue pair per fd, CH's NetConfig::validate), the limit. */
json_t *ch_net_config_json(const struct ch_vm_spec *s);

/* "53.0.0" (vmm.ping "version") or, failing that, "v53.0-12-gabc"
 * ("build_version"). -EINVAL when neither holds MAJOR.MINOR. */
int ch_version_parse(const char *version, const char *build_version, struct ch_version *ret);
/* -ENOTSUP naming the version and the minimum when we cannot drive it. */
int ch_version_check(const struct ch_version *v, struct wr_err *err);

/* method + "vm.boot" etc.; body stolen (NULL = none), on every path; *ret gets a
 * parsed 200 body (NULL for 204), written only on success. Non-2xx: -EIO with CH's error
 * (its JSON array of messages joined with ": "). */
int ch_api_call(const struct ch_api *a, const char *method, const char *endpoint, json_t *body,
		json_t **ret, struct wr_err *err);
/* Same, passing fds with SCM_RIGHTS on the request (vm.add-net, vm.restore). */
int ch_api_call_fds(const struct ch_api *a, const char *method, const char *endpoint, json_t *body,
		    const int *fds, size_t nfds, json_t **ret, struct wr_err *err);

/* vmm.ping; *ret_ver (may be NULL) gets the version it reports. */
int ch_api_ping(const struct ch_api *a, struct ch_version *ret_ver, struct wr_err *err);
int ch_api_create(const struct ch_api *a, const struct ch_vm_spec *s, struct wr_err *err);
int ch_api_put(const struct ch_api *a, const char *endpoint, struct wr_err *err); /* no body */
/* vm.add-net: the guest NIC on the TAP tap_fd (sent with SCM_RIGHTS). */
int ch_api_add_net(const struct ch_api *a, const struct ch_vm_spec *s, int tap_fd,
		   struct wr_err *err);
int ch_api_snapshot(const struct ch_api *a, const char *dir, struct wr_err *err);
struct ch_restore {
	bool resume;
	bool on_demand;	    /* v52+: OnDemand (userfaultfd) memory, else Copy */
	const char *net_id; /* NIC of the snapshot to give tap_fd (net_fds); NULL = none */
	int tap_fd;
};
/* vm.restore on a fresh VMM; from v52 with memory_restore_mode and "resume",
 * before that a copy restore followed by vm.resume when resume is set. */
int ch_api_restore(const struct ch_api *a, const char *dir, const struct ch_restore *o,
		   struct wr_err *err);
/* vm.info "state": Created|Running|Paused|Shutdown|BreakPoint; malloc'd. */
int ch_api_state(const struct ch_api *a, char **ret_state, struct wr_err *err);
