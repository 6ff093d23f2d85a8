/* SPDX-License-Identifier: MIT */
#pragma once
/* OCI images as a template base: pull, unpack, inject the guest agent, turn into ext4. */
#include "basic/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct oci_source {
	const char *ref;
	const char *username;
	const char *password;
	bool insecure;
};

struct oci_image {
	char *rootfs_path;
	char *digest;
	json_t *config; /* {"Env":[...],"WorkingDir":s,"User":s,"Cmd":[...],"Entrypoint":[...]} */
};

/* Pull (skopeo) + unpack (umoci) + ext4 with wrenn-init, envd and a `user` account (uid 1000)
 * injected; cached by digest under cache_dir. Returns 0 after a pull, 1 on a cache hit (no pull:
 * one registry round trip for the digest); img is released with oci_image_done. A registry that
 * cannot be reached or refuses the pull: -EIO, "pull REF from registry HOST: <skopeo's words>". */
int oci_image_prepare(const struct oci_source *src, const char *cache_dir,
		      const char *guest_bins_dir, uint64_t size_mb, struct oci_image *ret,
		      struct wr_err *err);
void oci_image_done(struct oci_image *img);
