/* SPDX-License-Identifier: MIT */
#include "runtime/volumes.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/spawn.h"
#include "basic/xalloc.h"
#include "runtime/runtime-internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

bool runtime_volume_name_valid(const char *name)
{
	if (!name || !isalnum((unsigned char)name[0]))
		return false;
	size_t n = strlen(name);
	if (n > RUNTIME_VOLUME_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-", *p))
			return false;
	return true;
}

bool runtime_volume_id_valid(const char *id)
{
	if (!id || strncmp(id, RUNTIME_VOLUME_ID_PREFIX, 4) || strlen(id) != 16)
		return false;
	for (const char *p = id + 4; *p; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p))
			return false;
	return true;
}

static void mint_id(char buf[32])
{
	char sb[RUNTIME_ID_MAX];
	/* the sandbox id minter's alphabet, 12 characters of it */
	char *tail = buf + snprintf(buf, 32, RUNTIME_VOLUME_ID_PREFIX);
	size_t n = 0;
	while (n < 12) {
		if (runtime_mint_id(sb) < 0)
			abort();
		for (const char *p = sb + strlen(RUNTIME_ID_PREFIX); *p && n < 12; p++)
			tail[n++] = *p;
	}
	tail[n] = '\0';
}

static int make_image(const char *path, int64_t size, struct wr_err *err)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return wr_err_errno(err, errno, "create %s", path);
	if (ftruncate(fd, size) < 0)
		return wr_err_errno(err, errno, "size %s", path);
	/* lazy init keeps the image sparse; no discard on a file we just made.  No journal: the
	 * host reads the image with libext2fs, which does not replay one, and a guest's writes
	 * reach their place with a sync (the runtime syncs the guest before it stops) */
	char *argv[] = {"mkfs.ext4",
			"-q",
			"-F",
			"-m",
			"0",
			"-O",
			"^has_journal",
			"-E",
			"lazy_itable_init=1,lazy_journal_init=1,nodiscard,root_owner=0:0",
			(char *)path,
			NULL};
	char out[1024];
	int st = 0;
	int r = spawn_capture(argv, NULL, out, sizeof(out), &st, err);
	if (r < 0)
		return wr_err_prefix(err, r, "mkfs.ext4");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return wr_err_set(err, EIO, "mkfs.ext4 %s failed: %s", path, out);
	/* every guest user may write the volume's top directory (debugfs on the image we just
	 * made: nothing guest-written is parsed here) */
	char *dargv[] = {"debugfs", "-w", "-R", "sif <2> mode 040777", (char *)path, NULL};
	if ((r = spawn_capture(dargv, NULL, out, sizeof(out), &st, err)) < 0)
		return wr_err_prefix(err, r, "debugfs");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return wr_err_set(err, EIO, "debugfs %s failed: %s", path, out);
	return 0;
}

int runtime_volume_create(struct runtime *rt, const char *name, const char *team,
			  int64_t size_bytes, unsigned max_per_team, struct store_volume *ret,
			  struct wr_err *err)
{
	if (!runtime_volume_name_valid(name))
		return wr_err_set(err, EINVAL,
				  "volume name must be 1-%d characters from [A-Za-z0-9._-], "
				  "starting with a letter or digit",
				  RUNTIME_VOLUME_NAME_MAX);
	if (size_bytes < RUNTIME_VOLUME_MIN_BYTES)
		return wr_err_set(err, EINVAL, "volume size must be at least %lld MiB",
				  (long long)(RUNTIME_VOLUME_MIN_BYTES >> 20));
	cleanup_free char *dir = xasprintf("%s/volumes", rt->data_dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return wr_err_errno(err, errno, "mkdir %s", dir);
	char id[32];
	mint_id(id);
	cleanup_free char *path = xasprintf("%s/%s.ext4", dir, id);
	cleanup_free char *token = runtime_mint_token();
	struct store_volume v = {.id = id,
				 .name = (char *)name,
				 .team = (char *)(team ? team : ""),
				 .size_bytes = size_bytes,
				 .path = path,
				 .token = token};
	/* the row first: the name and the team's cap are checked before any disk work */
	int r = store_volume_add(rt->store, &v, max_per_team, err);
	if (r < 0)
		return r;
	/* held while the image is made: no sandbox or content request sees it half-made */
	if ((r = store_volume_claim(rt->store, id, STORE_VOL_CONTENT_HOLDER, err)) < 0 ||
	    (r = make_image(path, size_bytes, err)) < 0) {
		unlink(path);
		store_volume_release(rt->store, id, STORE_VOL_CONTENT_HOLDER, NULL);
		store_volume_delete(rt->store, id, NULL);
		return wr_err_prefix(err, r, "volume %s", name);
	}
	store_volume_release(rt->store, id, STORE_VOL_CONTENT_HOLDER, NULL);
	store_event_add(rt->store, NULL, "volume_created", id, NULL);
	if (ret)
		return store_volume_get(rt->store, id, NULL, ret, err);
	return 0;
}

int runtime_volume_delete(struct runtime *rt, const char *id, struct wr_err *err)
{
	struct store_volume v = {0};
	int r = store_volume_get(rt->store, id, NULL, &v, err);
	if (r < 0)
		return r;
	cleanup_free char *path = TAKE_PTR(v.path);
	store_volume_done(&v);
	/* held for the delete: a content request that just answered lets go first */
	if ((r = rt_vol_claim_wait(rt->store, id, STORE_VOL_CONTENT_HOLDER, err)) < 0)
		return r;
	store_volume_release(rt->store, id, STORE_VOL_CONTENT_HOLDER, NULL);
	if ((r = store_volume_delete(rt->store, id, err)) < 0)
		return r;
	if (path && unlink(path) < 0 && errno != ENOENT)
		log_warn("volume %s: remove %s: %s", id, path, strerror(errno));
	store_event_add(rt->store, NULL, "volume_deleted", id, NULL);
	return 0;
}

void runtime_volume_helper_ids(struct runtime *rt, uid_t *ret_uid, gid_t *ret_gid)
{
	(void)rt;
	/* no file of the host belongs to them, and none of the VMM jail's ids */
	*ret_uid = 65534;
	*ret_gid = 65534;
}
