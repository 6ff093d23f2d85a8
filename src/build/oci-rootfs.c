/* SPDX-License-Identifier: MIT */
/* OCI layout reading and root filesystem preparation (see oci-rootfs.h). */
#include "build/oci-rootfs.h"
#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define E2B_UID 1000
#define E2B_GID 1000
#define LAYOUT_JSON_MAX (4u << 20)

char *oci_ref_registry(const char *ref)
{
	const char *slash = strchr(ref, '/');
	if (!slash)
		return xstrdup("docker.io");
	size_t n = (size_t)(slash - ref);
	/* Docker's rule: the first component is a registry when it has '.' or ':' or is localhost. */
	if (memchr(ref, '.', n) || memchr(ref, ':', n) ||
	    (n == 9 && strncmp(ref, "localhost", 9) == 0))
		return xstrndup(ref, n);
	return xstrdup("docker.io");
}

int oci_ref_check(const char *ref, struct wr_err *err)
{
	if (!ref || *ref == '\0')
		return wr_err_set(err, EINVAL, "image reference is empty");
	if (ref[0] == '-' || strstr(ref, "://"))
		return wr_err_set(err, EINVAL,
				  "image reference \"%s\" is not a plain name[:tag][@digest]", ref);
	for (const char *c = ref; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return wr_err_set(
				err, EINVAL,
				"image reference \"%s\" contains whitespace or control characters",
				ref);
	if (strlen(ref) > 1024)
		return wr_err_set(err, EINVAL, "image reference is longer than 1024 bytes");
	return 0;
}

static int load_json(const char *path, json_t **ret, struct wr_err *err)
{
	cleanup_free char *buf = NULL;
	size_t len;
	json_error_t jerr;
	int r = read_file(path, LAYOUT_JSON_MAX, &buf, &len);
	if (r < 0)
		return wr_err_errno(err, -r, "read %s", path);
	cleanup_json json_t *v = json_loadb(buf, len, 0, &jerr);
	if (!v)
		return wr_err_set(err, EINVAL, "%s: %s", path, jerr.text);
	*ret = TAKE_PTR(v);
	return 0;
}

/* layout/blobs/<alg>/<hex> of a descriptor, refusing digests that are not plain names. */
static int blob_json(const char *layout, const json_t *desc, json_t **ret, struct wr_err *err)
{
	const char *dg = json_string_value(json_object_get(desc, "digest"));
	if (!dg || !strchr(dg, ':'))
		return wr_err_set(err, EINVAL, "OCI layout: descriptor without digest");
	for (const char *c = dg; *c; c++)
		if (!isalnum((unsigned char)*c) && *c != ':' && *c != '+' && *c != '-' &&
		    *c != '_' && *c != '.')
			return wr_err_set(err, EINVAL, "OCI layout: bad digest \"%s\"", dg);
	const char *colon = strchr(dg, ':');
	cleanup_free char *path =
		xasprintf("%s/blobs/%.*s/%s", layout, (int)(colon - dg), dg, colon + 1);
	return load_json(path, ret, err);
}

static json_t *string_array_or_empty(json_t *v)
{
	return json_is_array(v) ? json_incref(v) : json_array();
}

int oci_layout_config(const char *layout, const char *tag, json_t **ret, struct wr_err *err)
{
	cleanup_json json_t *index = NULL, *manifest = NULL, *config = NULL;
	cleanup_free char *index_path = xasprintf("%s/index.json", layout);
	json_t *desc = NULL, *m;
	size_t i;
	int r;

	r = load_json(index_path, &index, err);
	if (r < 0)
		return r;
	json_array_foreach(json_object_get(index, "manifests"), i, m)
	{
		const char *name = json_string_value(json_object_get(
			json_object_get(m, "annotations"), "org.opencontainers.image.ref.name"));
		if (name && strcmp(name, tag) == 0)
			desc = m;
	}
	if (!desc)
		return wr_err_set(err, ENOENT, "OCI layout %s has no image tagged \"%s\"", layout,
				  tag);
	r = blob_json(layout, desc, &manifest, err);
	if (r < 0)
		return r;
	if (json_object_get(manifest, "manifests"))
		return wr_err_set(err, EINVAL,
				  "OCI layout %s: \"%s\" is an image index, not an image", layout,
				  tag);
	r = blob_json(layout, json_object_get(manifest, "config"), &config, err);
	if (r < 0)
		return r;
	const char *arch = json_string_value(json_object_get(config, "architecture"));
	if (arch && strcmp(arch, "amd64") != 0)
		return wr_err_set(err, EINVAL, "image architecture is %s, wrenn runs amd64", arch);
	json_t *c = json_object_get(config, "config");
	const char *wd = json_string_value(json_object_get(c, "WorkingDir"));
	const char *user = json_string_value(json_object_get(c, "User"));
	*ret = json_pack("{s:o, s:s, s:s, s:o, s:o}", "Env",
			 string_array_or_empty(json_object_get(c, "Env")), "WorkingDir",
			 wd ? wd : "", "User", user ? user : "", "Cmd",
			 string_array_or_empty(json_object_get(c, "Cmd")), "Entrypoint",
			 string_array_or_empty(json_object_get(c, "Entrypoint")));
	return 0;
}

/* openat2 with every symlink resolved inside the root (absolute ones and ".." included). */
static int root_open(int rootfd, const char *path, int flags, mode_t mode)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC),
		.mode = (flags & O_CREAT) ? mode : 0,
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
	};
	while (*path == '/')
		path++;
	long fd = syscall(SYS_openat2, rootfd, *path ? path : ".", &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

/* mkdir -p of `dir` (absolute, clean) inside the root; returns an O_PATH fd of it. */
static int root_mkdir_p(int rootfd, const char *dir, mode_t mode, struct wr_err *err)
{
	cleanup_free char *buf = xstrdup(dir);
	size_t n = strlen(buf);
	for (size_t i = 1; i <= n; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		char save = buf[i];
		buf[i] = '\0';
		char *slash = strrchr(buf, '/');
		*slash = '\0';
		cleanup_close int pfd = root_open(rootfd, buf, O_PATH | O_DIRECTORY, 0);
		*slash = '/';
		if (pfd < 0)
			return wr_err_errno(err, -pfd, "rootfs: open parent of %s", buf);
		if (mkdirat(pfd, slash + 1, mode) < 0 && errno != EEXIST)
			return wr_err_errno(err, errno, "rootfs: mkdir %s", buf);
		buf[i] = save;
	}
	int fd = root_open(rootfd, buf, O_PATH | O_DIRECTORY, 0);
	if (fd < 0)
		return wr_err_errno(err, -fd, "rootfs: open %s", buf);
	return fd;
}

/* Replace dir/name with a regular file holding data (whatever was there: file or symlink). */
static int root_write(int rootfd, const char *dir, const char *name, const void *data, size_t len,
		      mode_t mode, uid_t uid, gid_t gid, struct wr_err *err)
{
	cleanup_close int dfd = root_mkdir_p(rootfd, dir, 0755, err);
	if (dfd < 0)
		return dfd;
	if (unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		return wr_err_errno(err, errno, "rootfs: remove %s/%s", dir, name);
	cleanup_close int fd =
		openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return wr_err_errno(err, errno, "rootfs: create %s/%s", dir, name);
	int r = write_full(fd, data, len);
	if (r < 0)
		return wr_err_errno(err, -r, "rootfs: write %s/%s", dir, name);
	if (fchmod(fd, mode) < 0 || fchown(fd, uid, gid) < 0)
		return wr_err_errno(err, errno, "rootfs: chmod/chown %s/%s", dir, name);
	return 0;
}

/* The whole content of a file inside the root ("" when absent); -errno otherwise. */
static int root_read(int rootfd, const char *path, char **ret, bool *ret_exists, struct wr_err *err)
{
	cleanup_close int fd = root_open(rootfd, path, O_RDONLY | O_NONBLOCK, 0);
	struct stat st;
	if (fd == -ENOENT) {
		*ret = xstrdup("");
		*ret_exists = false;
		return 0;
	}
	if (fd < 0)
		return wr_err_errno(err, -fd, "rootfs: open %s", path);
	if (fstat(fd, &st) < 0)
		return wr_err_errno(err, errno, "rootfs: stat %s", path);
	if (!S_ISREG(st.st_mode))
		return wr_err_set(err, EINVAL, "rootfs: %s is not a regular file", path);
	struct sbuf_ {
		char *s;
		size_t len, cap;
	} b = {xmalloc(4096), 0, 4096};
	for (;;) {
		if (b.len + 1 >= b.cap) {
			if (b.cap >= (16u << 20)) {
				free(b.s);
				return wr_err_set(err, EFBIG, "rootfs: %s is larger than 16 MiB",
						  path);
			}
			b.cap *= 2;
			b.s = xrealloc(b.s, b.cap);
		}
		ssize_t k = read(fd, b.s + b.len, b.cap - b.len - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int e = errno;
			free(b.s);
			return wr_err_errno(err, e, "rootfs: read %s", path);
		}
		if (k == 0)
			break;
		b.len += (size_t)k;
	}
	b.s[b.len] = '\0';
	*ret = b.s;
	*ret_exists = true;
	return 0;
}

static bool has_entry(const char *db, const char *name)
{
	size_t n = strlen(name);
	for (const char *l = db; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (strncmp(l, name, n) == 0 && l[n] == ':')
			return true;
	return false;
}

/* Append `line` to the passwd-style file at path unless it has an entry for `name`. */
static int add_entry(int rootfd, const char *path, const char *name, const char *line, mode_t mode,
		     gid_t gid, bool only_if_exists, struct wr_err *err)
{
	cleanup_free char *cur = NULL, *next = NULL;
	bool exists;
	int r = root_read(rootfd, path, &cur, &exists, err);
	if (r < 0)
		return r;
	if ((only_if_exists && !exists) || has_entry(cur, name))
		return 0;
	size_t n = strlen(cur);
	next = xasprintf("%s%s%s\n", cur, n && cur[n - 1] != '\n' ? "\n" : "", line);
	char *slash = strrchr(path, '/');
	cleanup_free char *dir = xstrndup(path, (size_t)(slash - path));
	return root_write(rootfd, dir, slash + 1, next, strlen(next), mode, 0, gid, err);
}

static int copy_bin(int rootfd, const char *bins_dir, const char *name, struct wr_err *err)
{
	cleanup_free char *src = xasprintf("%s/%s", bins_dir, name), *data = NULL;
	size_t len;
	int r = read_file(src, 256u << 20, &data, &len);
	if (r < 0)
		return wr_err_errno(err, -r, "read %s", src);
	return root_write(rootfd, "/usr/local/bin", name, data, len, 0755, 0, 0, err);
}

static bool root_exists(int rootfd, const char *path)
{
	int fd = root_open(rootfd, path, O_PATH, 0);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

int oci_rootfs_prepare(const char *rootfs, const char *bins_dir, struct wr_err *err)
{
	cleanup_close int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (rootfd < 0)
		return wr_err_errno(err, errno, "open %s", rootfs);
	r = copy_bin(rootfd, bins_dir, "wrenn-init", err);
	if (r >= 0)
		r = copy_bin(rootfd, bins_dir, "envd", err);
	if (r < 0)
		return r;

	/* Mount points wrenn-init uses (it creates them too, but / may be read-only by then). */
	static const char *const dirs[] = {"/proc", "/sys",  "/dev", "/run",
					   "/tmp",  "/root", "/home"};
	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
		cleanup_close int fd = root_mkdir_p(rootfd, dirs[i], 0755, err);
		if (fd < 0)
			return fd;
	}
	cleanup_close int tmp = root_open(rootfd, "/tmp", O_RDONLY | O_DIRECTORY, 0);
	if (tmp < 0 || fchmod(tmp, 01777) < 0)
		return wr_err_errno(err, tmp < 0 ? -tmp : errno, "rootfs: chmod /tmp");

	/* E2B's `user`: uid/gid 1000, /home/user; kept as it is when the image has one. */
	const char *shell = root_exists(rootfd, "/bin/bash") ? "/bin/bash" : "/bin/sh";
	cleanup_free char *pw =
		xasprintf("user:x:%d:%d:user:/home/user:%s", E2B_UID, E2B_GID, shell);
	cleanup_free char *gr = xasprintf("user:x:%d:", E2B_GID);
	cleanup_free char *rootpw = xasprintf("root:x:0:0:root:/root:%s", shell);
	/* Images without any account (static, distroless) get root too: envd runs as it. */
	r = add_entry(rootfd, "/etc/passwd", "root", rootpw, 0644, 0, false, err);
	if (r >= 0)
		r = add_entry(rootfd, "/etc/group", "root", "root:x:0:", 0644, 0, false, err);
	if (r >= 0)
		r = add_entry(rootfd, "/etc/passwd", "user", pw, 0644, 0, false, err);
	if (r >= 0)
		r = add_entry(rootfd, "/etc/group", "user", gr, 0644, 0, false, err);
	if (r >= 0) {
		/* /etc/shadow stays root:shadow 0640 (or whatever the image uses) when present. */
		struct stat st = {.st_mode = 0640};
		cleanup_close int fd = root_open(rootfd, "/etc/shadow", O_PATH, 0);
		if (fd >= 0 && fstat(fd, &st) < 0)
			return wr_err_errno(err, errno, "rootfs: stat /etc/shadow");
		r = add_entry(rootfd, "/etc/shadow", "user",
			      "user:*:19000:0:99999:7:::", st.st_mode & 07777,
			      fd >= 0 ? st.st_gid : 0, true, err);
	}
	if (r < 0)
		return r;
	{
		cleanup_close int home = root_mkdir_p(rootfd, "/home/user", 0755, err);
		if (home < 0)
			return home;
		cleanup_close int h = root_open(rootfd, "/home/user", O_RDONLY | O_DIRECTORY, 0);
		if (h < 0)
			return wr_err_errno(err, -h, "rootfs: open /home/user");
		struct stat st;
		if (fstat(h, &st) < 0)
			return wr_err_errno(err, errno, "rootfs: stat /home/user");
		/* A fresh home (ours) becomes the user's; an image's own is left alone. */
		if (st.st_uid == 0 && fchown(h, E2B_UID, E2B_GID) < 0)
			return wr_err_errno(err, errno, "rootfs: chown /home/user");
	}
	if (root_exists(rootfd, "/usr/bin/sudo")) {
		static const char rule[] = "user ALL=(ALL:ALL) NOPASSWD: ALL\n";
		cleanup_close int d = root_mkdir_p(rootfd, "/etc/sudoers.d", 0750, err);
		if (d < 0)
			return d;
		r = root_write(rootfd, "/etc/sudoers.d", "user", rule, sizeof(rule) - 1, 0440, 0, 0,
			       err);
		if (r < 0)
			return r;
	}

	/* What no template may inherit from where the image was built (as guest/rootfs/lib.sh). */
	static const char hosts[] =
		"127.0.0.1\tlocalhost\n127.0.1.1\tcapsule\n::1\t\tlocalhost ip6-localhost ip6-loopback\n";
	r = root_write(rootfd, "/etc", "resolv.conf", "", 0, 0644, 0, 0, err);
	if (r >= 0)
		r = root_write(rootfd, "/etc", "hostname", "capsule\n", 8, 0644, 0, 0, err);
	if (r >= 0)
		r = root_write(rootfd, "/etc", "hosts", hosts, sizeof(hosts) - 1, 0644, 0, 0, err);
	if (r >= 0)
		r = root_write(rootfd, "/etc", "machine-id", "", 0, 0444, 0, 0, err);
	return r < 0 ? r : 0;
}

static uint64_t usage_bytes, usage_inodes;

static int usage_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)flag;
	(void)ftw;
	usage_bytes += (uint64_t)st->st_blocks * 512;
	usage_inodes++;
	return 0;
}

int oci_tree_usage(const char *dir, uint64_t *ret_bytes, uint64_t *ret_inodes, struct wr_err *err)
{
	/* nftw has no user pointer: the counters are process-wide, so serialize. */
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&lock);
	usage_bytes = usage_inodes = 0;
	int r = nftw(dir, usage_cb, 64, FTW_PHYS | FTW_MOUNT);
	uint64_t b = usage_bytes, n = usage_inodes;
	pthread_mutex_unlock(&lock);
	if (r < 0)
		return wr_err_errno(err, errno, "walk %s", dir);
	*ret_bytes = b;
	*ret_inodes = n;
	return 0;
}
