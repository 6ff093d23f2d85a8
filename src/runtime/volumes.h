/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Volumes: persistent sparse ext4 images in <data_dir>/volumes/<id>.ext4, owned by a team,
 * outliving sandboxes.  A create with volume mounts (runtime_create_spec.volumes) attaches each
 * as an extra virtio block device (vm_config extra disks; serial = the volume id) that
 * wrenn-init mounts at its path.  One holder at a time (store/volumes.h): a second sandbox, a
 * delete or a content request while a live sandbox holds it is -EBUSY (409); the holder lets go
 * when its sandbox is destroyed, and the startup sweep releases what a crash left held.
 *
 * Creates with volumes boot the template (the cold path): a restored snapshot or a warm-pool VM
 * has its device set fixed (QEMU microvm has no hotplug).  Pause/resume keep the volume
 * attached (same image, same serial).  A snapshot of a sandbox with volumes is refused for now
 * (its clones would all need the one image).
 */
#include "runtime/runtime.h"
#include "store/volumes.h"

#include <sys/types.h>

#define RUNTIME_VOLUME_ID_PREFIX "vol-"
#define RUNTIME_VOLUME_MIN_BYTES (INT64_C(16) << 20) /* ext4 with a journal needs a few MiB */
#define RUNTIME_VOLUME_NAME_MAX 64

/* [A-Za-z0-9][A-Za-z0-9._-]{0,63}.  Pure. */
bool runtime_volume_name_valid(const char *name);
/* "vol-" + 12 [a-z0-9].  Pure. */
bool runtime_volume_id_valid(const char *id);

/* Make the image (sparse, mkfs.ext4, root directory 0777 so any guest user may write) and its
 * row.  -EINVAL bad name or size, -EEXIST name taken in the team, -EUSERS past max_per_team
 * (0 = no cap). */
int runtime_volume_create(struct runtime *rt, const char *name, const char *team,
			  int64_t size_bytes, unsigned max_per_team, struct store_volume *ret,
			  struct wr_err *err);
/* Delete a free volume and its image: -EBUSY while held, -ENOENT unknown. */
int runtime_volume_delete(struct runtime *rt, const char *id, struct wr_err *err);
/* store_volume_claim, waiting up to 5 s while a content request holds the volume (it answers its
 * client just before letting go). */
int rt_vol_claim_wait(struct store *st, const char *id, const char *holder, struct wr_err *err);
/* The volumes attached to live sandbox id (volume = the volume id); free with
 * runtime_volume_mounts_free.  -ENOENT when the sandbox is not live. */
int runtime_volume_mounts(struct runtime *rt, const char *id, struct runtime_volume_mount **ret,
			  size_t *ret_n, struct wr_err *err);
void runtime_volume_mounts_free(struct runtime_volume_mount *v, size_t n);
/* Who wrenn-volfs (the content helper) runs as: nobody:nogroup. */
void runtime_volume_helper_ids(struct runtime *rt, uid_t *ret_uid, gid_t *ret_gid);
