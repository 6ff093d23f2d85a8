/* SPDX-License-Identifier: MIT */
/*
 * POST /prepare: host-only quiesce before a pause or snapshot.  sync() puts
 * dirty pages on the disk (so the disk image captured next to the memory is
 * consistent on its own), then dropping the page cache shrinks the memory
 * image the host has to write and later restore.  Host-only: the daemon's
 * sandbox proxy must refuse it from outside, like /init.
 *
 * Reply: 200 {"synced":true,"droppedCaches":bool}; droppedCaches is false
 * when the kernel refused (not root, read-only /proc): the snapshot is still
 * fine, only larger.
 */
#include "envd/envd.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/log.h"
#include "http/json.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static bool drop_caches(const char *path)
{
	cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
	/* "3": page cache, dentries and inodes; sync() first made them clean. */
	if (fd < 0 || write(fd, "3", 1) != 1) {
		if (errno == EACCES || errno == EPERM || errno == EROFS)
			log_debug("prepare: %s: %s (not root?)", path, strerror(errno));
		else
			log_warn("prepare: %s: %s", path, strerror(errno));
		return false;
	}
	return true;
}

void envd_prepare(struct envd *e, struct http_req *req)
{
	sync();
	bool dropped =
		drop_caches(e->drop_caches_path ? e->drop_caches_path : "/proc/sys/vm/drop_caches");
	cleanup_json json_t *j = json_pack("{s:b, s:b}", "synced", 1, "droppedCaches", dropped);
	size_t len;
	cleanup_free char *s = wj_dump(j, &len);
	http_resp_header(req, "Cache-Control", "no-store");
	http_resp_send(req, 200, "application/json", s, len);
}
