/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Templates across hosts (docs/ARCHITECTURE.md "Multiple hosts"): the manifest of a snapshot
 * template's files, its content digest, the fetch token and the compatibility rule.
 *
 * A manifest lists the regular files of a template's directory (memory, state, rootfs.img,
 * wrenn-vmm.json, ...; dotfiles are the agent's own and left out), sorted by name, each with its
 * size and SHA-256.  The content digest is SHA-256 over one line per file,
 * "<name>\t<size>\t<sha256 hex>\n", in that order: two hosts that hold the same bytes under
 * the same names compute the same digest, and a receiver that checks every file's hash against
 * the manifest and the manifest's lines against the digest has exactly the source's content.
 *
 * The fetch token authorises one host (dest) to read one template from the host that has it
 * until an expiry: hex HMAC-SHA256(source host's signing key, "wrenn template fetch v1\n"
 * TEMPLATE "\n" DEST-HOST-ID "\n" EXPIRES-MS).  The control plane, which knows every host's
 * key, mints it; the source checks it with its own key; the hosts never learn each other's
 * keys.  The source signs the manifest it answers with the token as the key
 * (X-Wrenn-Manifest-Signature), so the receiver knows the manifest, and through it every file,
 * came from a holder of the token.
 */
#include "basic/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TPLM_HEX (64 + 1)
/* how long a fetch token may live at most (the source refuses a later expiry) */
#define TPLM_TOKEN_MAX_MS (15 * 60 * 1000)
#define TPLM_MAX_FILES 32
/* the source's cached manifest, inside the template's directory */
#define TPLM_CACHE_FILE ".wrenn-manifest.json"

/* Streaming SHA-256. */
struct tplm_hash;
struct tplm_hash *tplm_hash_new(void);
void tplm_hash_update(struct tplm_hash *h, const void *data, size_t len);
/* Finish into hex and free h. */
void tplm_hash_final(struct tplm_hash *h, char out[TPLM_HEX]);
void tplm_hash_free(struct tplm_hash *h);

/* A file name a manifest may carry: [A-Za-z0-9_.-], 1..64 characters, no leading dot. */
bool tplm_name_ok(const char *name);

/* SHA-256 of a file as hex, and its size. */
int tplm_file_hash(const char *path, int64_t *ret_size, char out[TPLM_HEX], struct wr_err *err);

/* {"files":[{name,size,sha256}...], "digest": hex} of dir's regular files (not dotfiles). */
int tplm_build(const char *dir, json_t **ret, struct wr_err *err);

/* The content digest of a files array (as in a manifest); -EINVAL when an entry is malformed,
 * out of order or repeated, or there are more than TPLM_MAX_FILES or none. */
int tplm_digest(const json_t *files, char out[TPLM_HEX], struct wr_err *err);

/* A received manifest: files well formed (tplm_digest) and its "digest" theirs. */
int tplm_check(const json_t *manifest, struct wr_err *err);

/* The fetch token (hex). */
void tplm_token(const uint8_t key[32], const char *tpl, const char *dest_host, int64_t expires_ms,
		char out[TPLM_HEX]);
/* 0 when token is the one for (key, tpl, dest, expires) and now < expires <= now +
 * TPLM_TOKEN_MAX_MS; -ETIME when expired or too far out, -EACCES otherwise.  Constant time. */
int tplm_token_verify(const uint8_t key[32], const char *tpl, const char *dest_host,
		      int64_t expires_ms, const char *token, int64_t now_ms);
/* hex HMAC-SHA256(token, body): the manifest's signature. */
void tplm_sign(const char *token, const void *body, size_t len, char out[TPLM_HEX]);
/* Constant-time comparison of two hex strings of TPLM_HEX - 1 characters; false otherwise. */
bool tplm_hex_equal(const char *a, const char *b);

/*
 * Can a snapshot described by `theirs` (the source's "compat": backend, accel, qemuVersion,
 * kernelSha256, and hostCpu under KVM) restore on a host described by `ours`?  Every field must
 * be equal (the QEMU migration stream, the guest kernel in the snapshot's RAM, and under KVM the
 * host CPU's features are what a restore depends on; a TCG CPU model is recorded in the
 * snapshot and emulated anywhere).  -EXDEV naming the first difference.
 */
int tplm_compat_check(const json_t *theirs, const json_t *ours, struct wr_err *err);
