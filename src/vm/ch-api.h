/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Cloud Hypervisor REST API client (HTTP/1.1 over its --api-socket, base
 * /api/v1/). One connection per call: CH's micro_http serves them one at a
 * time anyway, and a fresh connection never inherits a half-read response.
 * Field names follow CH's openapi (see shared/reference/vmm.md §1.3).
 */
#include "basic/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct ch_api {
	const char *socket_path;
	int timeout_ms; /* per call; 0 = 10 s */
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
	const char *tap;
	const char *mac;
	const char *serial_file; /* NULL = serial "Tty" (the VMM's stdout, i.e. its log) */
};

/* The VmConfig JSON for vm.create (new reference). */
json_t *ch_vm_config_json(const struct ch_vm_spec *s);

/* method + "vm.boot" etc.; body stolen (NULL = none); *ret gets a parsed 200
 * body (NULL for 204 or when ret is NULL). Non-2xx: -EIO with CH's text. */
int ch_api_call(const struct ch_api *a, const char *method, const char *endpoint, json_t *body,
		json_t **ret, struct wr_err *err);

int ch_api_ping(const struct ch_api *a, struct wr_err *err);
int ch_api_create(const struct ch_api *a, const struct ch_vm_spec *s, struct wr_err *err);
int ch_api_put(const struct ch_api *a, const char *endpoint, struct wr_err *err); /* no body */
int ch_api_snapshot(const struct ch_api *a, const char *dir, struct wr_err *err);
int ch_api_restore(const struct ch_api *a, const char *dir, bool resume, struct wr_err *err);
/* vm.info "state": Created|Running|Paused|Shutdown|BreakPoint; malloc'd. */
int ch_api_state(const struct ch_api *a, char **ret_state, struct wr_err *err);
