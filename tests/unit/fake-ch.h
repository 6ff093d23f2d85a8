/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * A stand-in Cloud Hypervisor API server for the unit tests, written from
 * CH's documented and implemented behaviour (its openapi, vmm/src/api/http,
 * vmm/src/lib.rs, vm.rs, vm_config.rs; v51-v53 release notes), not from
 * our client:
 *
 * - HTTP/1.1 on a unix socket under /api/v1; every reply carries
 *   "Server: Cloud Hypervisor API" and Content-Type application/json.
 * - Status codes as CH's handlers give them: vmm.ping 200 + body,
 *   vmm.shutdown 200 without body, vm.info 200 + body, vm.* actions 204;
 *   wrong method 400; unknown path 404; undecodable body 400; VmNotCreated /
 *   VmMissingConfig 404; everything else the VMM refuses 500. Error bodies
 *   are CH's: a JSON array of the error chain's messages, outermost first.
 * - The VM state machine: vm.create only once (no VM config yet); vm.boot
 *   only with a config and no VM (-> Running); vm.pause only when Running;
 *   vm.resume only when Paused; vm.snapshot only when Paused; vm.shutdown
 *   needs a VM (after it vm.info says Created again); vm.restore only on a
 *   fresh VMM (no config, no VM), rebuilding the config from the snapshot's
 *   config.json; vm.info without a config 404.
 * - vm.boot opens the kernel and the disks: a missing file fails with 500;
 *   a qcow2 image whose header names a backing file fails with 500 unless
 *   its DiskConfig has "backing_files": true (from v51; older versions have
 *   no such field and open backing files unconditionally).
 * - Unknown JSON fields are ignored (serde's default in VmConfig, DiskConfig,
 *   NetConfig, RestoreConfig), except inside rate_limiter_config, which
 *   denies them (400). Fields newer than the server's version are unknown
 *   to it, hence ignored: backing_files and image_type before v51,
 *   memory_restore_mode and resume before v52. Typed fields with the wrong
 *   JSON type, or an enum value it does not know, are a 400.
 * - From v53 it holds <socket>.lock beside the socket (and leaves it there
 *   when it exits, as CH does).
 * - vmm.shutdown answers, then the server stops accepting connections.
 * - fds arrive with a request by SCM_RIGHTS (micro_http's recvmsg).  vm.create
 *   takes none (its handler drops them and resets "fds" in the body);
 *   vm.add-net takes them as the NIC's queues (NetConfig::validate:
 *   num_queues == 2 * fds); vm.restore gives them to the snapshot's fd-backed
 *   NICs by id (net_fds, num_fds each; RestoreConfig::validate refuses a
 *   snapshot NIC with fds but no net_fds entry).  A NIC's fd must be a TAP at
 *   boot/restore (TUNGETIFF, as Tap::from_tap_fd); a NIC by tap name needs
 *   /dev/net/tun; a NIC with neither needs CAP_NET_ADMIN (refused).
 * - vm.restore reads config.json, state.json and memory-ranges.
 */
#include <jansson.h>
#include <stdbool.h>

struct fake_ch;

struct fake_ch_req {
	char method[8];
	char path[64];
	char *body; /* "" when none */
	int status; /* what the fake answered */
	int nfds;   /* fds that came with it (SCM_RIGHTS) */
};

/* Serve socket_path in a thread. version: the crate version ("53.0.0"),
 * build_version: e.g. "v53.0" (NULL = "v" + version). NULL on failure. */
struct fake_ch *fake_ch_start(const char *socket_path, const char *version,
			      const char *build_version);
/* Stop serving (if vmm.shutdown has not already), join, free. NULL-safe. */
void fake_ch_free(struct fake_ch *f);
/* Serve in this process until vmm.shutdown (for a forked child). */
void fake_ch_serve(struct fake_ch *f);
/* Serve an already listening socket lfd (`--api-socket fd=N`): no path, no lock. */
struct fake_ch *fake_ch_new_fd(int lfd, const char *version, const char *build_version);
/* Write each request to stderr ("fake-ch: PUT /api/v1/... nfds=N status=S body=..."). */
void fake_ch_set_log(struct fake_ch *f);
/* fds that came with request i. */
int fake_ch_req_nfds(struct fake_ch *f, int i);
/* The TAP name TUNGETIFF gave for the NIC fd at boot/restore ("" = none). */
const char *fake_ch_tap(struct fake_ch *f);
/* Like fake_ch_start without the thread (then fake_ch_serve). */
struct fake_ch *fake_ch_new(const char *socket_path, const char *version,
			    const char *build_version);

int fake_ch_nreq(struct fake_ch *f);
/* Copy of request i (body malloc'd: free it). */
struct fake_ch_req fake_ch_req(struct fake_ch *f, int i);
/* "none" (no VM config), "Created", "Running", "Paused". */
const char *fake_ch_state(struct fake_ch *f);
/* The VmConfig the VM was created or restored with (new ref), or NULL. */
json_t *fake_ch_config(struct fake_ch *f);
bool fake_ch_exited(struct fake_ch *f);
