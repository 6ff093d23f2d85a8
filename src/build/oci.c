/* SPDX-License-Identifier: MIT */
/*
 * OCI image -> ext4 root image for a template base.
 *
 *   skopeo inspect docker://REF              the registry's manifest digest: the cache key
 *   <cache>/<hex>-<key>/.complete            hit: nothing else runs
 *   skopeo copy docker://REF oci:<tmp>/layout:img
 *   umoci raw unpack --image <tmp>/layout:img <tmp>/rootfs
 *   oci_rootfs_prepare (wrenn-init, envd, `user`, sudo, scrubbed /etc files)
 *   mkfs.ext4 -d <tmp>/rootfs <tmp>/entry/image.ext4, config.json, .complete
 *   rename(<tmp>/entry, <cache>/<hex>-<key>)  atomic; a concurrent winner's entry is used
 *
 * The entry name adds a hash of the size and of the guest binaries' identity (size, mtime), so a
 * new envd or wrenn-init never reuses an image carrying the old ones. Temp dirs live in the cache
 * dir (same filesystem for the rename) and are removed on every path. Helpers run without a shell;
 * registry credentials reach skopeo through a 0600 auth file in the temp dir, never argv.
 */
#include "build/oci.h"
#include "build/oci-rootfs.h"
#include "basic/base64.h"
#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/spawn.h"
#include "basic/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OUT_MAX 4096

/* Temp dirs of prepares that died (crash, kill -9): nobody holds their lock any more. */
static void sweep_stale(const char *cache_dir)
{
	cleanup_closedir DIR *d = opendir(cache_dir);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, ".tmp-", 5) != 0)
			continue;
		cleanup_free char *dir = xasprintf("%s/%s", cache_dir, de->d_name);
		cleanup_free char *lock = xasprintf("%s/.lock", dir);
		cleanup_close int fd = open(lock, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			/* No lock yet: its creator may be between mkdtemp and open; give it a minute. */
			struct stat st;
			if (stat(dir, &st) == 0 && time(NULL) - st.st_mtime > 60)
				(void)rm_rf(dir);
			continue;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			(void)rm_rf(dir);
	}
}

static void rm_tree_fn(char **dir)
{
	if (*dir) {
		(void)rm_rf(*dir);
		free(*dir);
	}
}
#define cleanup_rm_tree cleanup_(rm_tree_fn)

void oci_image_done(struct oci_image *img)
{
	if (!img)
		return;
	free(img->rootfs_path);
	free(img->digest);
	json_decref(img->config);
	*img = (struct oci_image){0};
}

/* Run argv; 0 when it exited 0, else -EIO with its output in `out`. */
static int run(char *const argv[], char *out, struct wr_err *err)
{
	int status = 0;
	int r = spawn_capture(argv, NULL, out, OUT_MAX, &status, err);
	if (r < 0)
		return r;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (out[0] == '\0')
		snprintf(out, OUT_MAX, "%s %s %d", argv[0],
			 WIFEXITED(status) ? "exited with status" : "killed by signal",
			 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return -EIO;
}

/* skopeo's fatal line is logrus-formatted (time=... level=fatal msg="..."): keep the message,
 * without the "Error parsing image name \"docker://REF\": " preamble it puts before registry errors. */
static void skopeo_msg(char *out)
{
	char *m = strstr(out, "msg=\"");
	if (!m)
		return;
	m += 5;
	char *w = out;
	for (char *c = m; *c; c++) {
		if (*c == '\\' && c[1]) {
			*w++ = *++c;
			continue;
		}
		if (*c == '"' && (c[1] == '\0' || c[1] == ' '))
			break;
		*w++ = *c;
	}
	*w = '\0';
	static const char pre[] = "Error parsing image name \"";
	if (strncmp(out, pre, sizeof(pre) - 1) == 0) {
		char *e = strstr(out + sizeof(pre) - 1, "\": ");
		if (e)
			memmove(out, e + 3, strlen(e + 3) + 1);
	}
}

/* Run skopeo; its failure is reported as "pull REF from registry HOST: <skopeo's message>". */
static int run_skopeo(char *const argv[], const char *ref, const char *registry, char *out,
		      struct wr_err *err)
{
	int r = run(argv, out, err);
	if (r == -EIO) {
		skopeo_msg(out);
		return wr_err_set(err, EIO, "pull %s from registry %s: %s", ref, registry, out);
	}
	if (r < 0)
		return wr_err_prefix(err, r, "pull %s", ref);
	return 0;
}

static uint64_t fnv1a(uint64_t h, const char *s)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Identity of what goes into an image besides the pulled one: size and guest binaries. */
static int entry_key(const char *bins_dir, uint64_t size_mb, uint32_t *ret, struct wr_err *err)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	static const char *const bins[] = {"wrenn-init", "envd"};
	cleanup_free char *sz = xasprintf("size=%" PRIu64, size_mb);
	h = fnv1a(h, sz);
	for (size_t i = 0; i < ARRAY_SIZE(bins); i++) {
		cleanup_free char *p = xasprintf("%s/%s", bins_dir, bins[i]);
		struct stat st;
		if (stat(p, &st) < 0)
			return wr_err_errno(err, errno, "guest binary %s", p);
		if (!S_ISREG(st.st_mode))
			return wr_err_set(err, EINVAL, "guest binary %s is not a regular file", p);
		cleanup_free char *id =
			xasprintf("%s:%lld:%lld.%ld", bins[i], (long long)st.st_size,
				  (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
		h = fnv1a(h, id);
	}
	*ret = (uint32_t)(h ^ (h >> 32));
	return 0;
}

static int load_entry(const char *entry, const char *digest, struct oci_image *ret,
		      struct wr_err *err)
{
	cleanup_free char *cfg_path = xasprintf("%s/config.json", entry);
	json_error_t jerr;
	cleanup_json json_t *cfg = json_load_file(cfg_path, 0, &jerr);
	if (!cfg)
		return wr_err_set(err, EIO, "image cache %s: %s", cfg_path, jerr.text);
	*ret = (struct oci_image){
		.rootfs_path = xasprintf("%s/image.ext4", entry),
		.digest = xstrdup(digest),
		.config = TAKE_PTR(cfg),
	};
	return 0;
}

/* ext4 size for a tree: 25 % and 256 MiB over what it uses, whole MiB. */
static int auto_size(const char *rootfs, uint64_t *ret_mb, uint64_t *ret_inodes, struct wr_err *err)
{
	uint64_t bytes, inodes;
	int r = oci_tree_usage(rootfs, &bytes, &inodes, err);
	if (r < 0)
		return r;
	uint64_t want = bytes + bytes / 4 + inodes * 256 + (256ULL << 20);
	*ret_mb = (want + (1ULL << 20) - 1) >> 20;
	*ret_inodes = inodes + inodes / 2 + 8192;
	return 0;
}

static int make_ext4(const char *rootfs, const char *image, uint64_t size_mb, uint64_t inodes,
		     struct wr_err *err)
{
	char out[OUT_MAX];
	cleanup_close int fd = open(image, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return wr_err_errno(err, errno, "create %s", image);
	if (ftruncate(fd, (off_t)(size_mb << 20)) < 0)
		return wr_err_errno(err, errno, "size %s to %" PRIu64 " MiB", image, size_mb);
	cleanup_free char *n = xasprintf("%" PRIu64, inodes);
	char *argv[16];
	size_t a = 0;
	argv[a++] = "mkfs.ext4";
	argv[a++] = "-q";
	argv[a++] = "-F";
	argv[a++] = "-L";
	argv[a++] = "wrenn-root";
	argv[a++] = "-m";
	argv[a++] = "0";
	argv[a++] = "-E";
	argv[a++] = "root_owner=0:0";
	if (inodes) {
		argv[a++] = "-N";
		argv[a++] = n;
	}
	argv[a++] = "-d";
	argv[a++] = (char *)rootfs;
	argv[a++] = (char *)image;
	argv[a] = NULL;
	int r = run(argv, out, err);
	if (r == -EIO)
		return wr_err_set(err, EIO, "make ext4 image (%" PRIu64 " MiB): %s", size_mb, out);
	return r;
}

int oci_image_prepare(const struct oci_source *src, const char *cache_dir,
		      const char *guest_bins_dir, uint64_t size_mb, struct oci_image *ret,
		      struct wr_err *err)
{
	char out[OUT_MAX];
	uint32_t key = 0;
	int r;

	r = oci_ref_check(src->ref, err);
	if (r < 0)
		return r;
	if (src->username && (!*src->username || strchr(src->username, ':') || !src->password))
		return wr_err_set(
			err, EINVAL,
			"registry credentials need a username without ':' and a password");
	r = entry_key(guest_bins_dir, size_mb, &key, err);
	if (r < 0)
		return r;
	r = mkdir_p(cache_dir, 0700);
	if (r < 0)
		return wr_err_errno(err, -r, "mkdir %s", cache_dir);
	sweep_stale(cache_dir);

	cleanup_free char *registry = oci_ref_registry(src->ref);
	cleanup_free char *docker_ref = xasprintf("docker://%s", src->ref);
	/* Everything temporary lives in one dir of the cache (same filesystem as the entries). */
	cleanup_rm_tree char *work = xasprintf("%s/.tmp-XXXXXX", cache_dir);
	if (!mkdtemp(work)) {
		int e = errno;
		free(work);
		work = NULL;
		return wr_err_errno(err, e, "mkdtemp in %s", cache_dir);
	}
	/* Held until the dir is gone: sweep_stale of another prepare leaves it alone. */
	cleanup_free char *lock = xasprintf("%s/.lock", work);
	cleanup_close int lockfd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (lockfd < 0 || flock(lockfd, LOCK_EX) < 0)
		return wr_err_errno(err, errno, "lock %s", lock);
	/* Credentials go to skopeo in an auth file (0600, removed with the dir), never on argv
	 * where every local user could read them in /proc. */
	cleanup_free char *authfile = NULL;
	if (src->username) {
		cleanup_free char *pair = xasprintf("%s:%s", src->username, src->password);
		cleanup_free char *b64 = base64_encode(pair, strlen(pair));
		cleanup_json json_t *auth =
			json_pack("{s:{s:{s:s}}}", "auths", registry, "auth", b64);
		cleanup_free char *text = json_dumps(auth, JSON_COMPACT);
		authfile = xasprintf("%s/auth.json", work);
		r = write_file_atomic(authfile, text, strlen(text), 0600);
		explicit_bzero(pair, strlen(pair));
		explicit_bzero(text, strlen(text));
		if (r < 0)
			return wr_err_errno(err, -r, "write %s", authfile);
	}

	/* 1. The digest the registry has for the reference. */
	{
		char *argv[10];
		size_t a = 0;
		argv[a++] = "skopeo";
		argv[a++] = "--command-timeout=120s";
		argv[a++] = "inspect";
		argv[a++] = "--format={{.Digest}}";
		if (src->insecure)
			argv[a++] = "--tls-verify=false";
		if (authfile) {
			argv[a++] = "--authfile";
			argv[a++] = authfile;
		} else {
			argv[a++] = "--no-creds";
		}
		argv[a++] = docker_ref;
		argv[a] = NULL;
		r = run_skopeo(argv, src->ref, registry, out, err);
		if (r < 0)
			return r;
	}
	size_t dl = strlen(out);
	while (dl > 0 && isspace((unsigned char)out[dl - 1]))
		out[--dl] = '\0';
	if (strncmp(out, "sha256:", 7) != 0 || dl != 7 + 64 ||
	    strspn(out + 7, "0123456789abcdef") != 64)
		return wr_err_set(err, EIO, "pull %s from registry %s: unexpected digest \"%.80s\"",
				  src->ref, registry, out);
	cleanup_free char *digest = xstrdup(out);
	cleanup_free char *entry = xasprintf("%s/%s-%08x", cache_dir, digest + 7, key);
	cleanup_free char *complete = xasprintf("%s/.complete", entry);

	/* 2. Cache hit: nothing else to do. */
	if (access(complete, F_OK) == 0) {
		r = load_entry(entry, digest, ret, err);
		return r < 0 ? r : 1;
	}

	/* 3. Pull, unpack, prepare, mkfs in the temp dir. */
	cleanup_free char *layout = xasprintf("%s/layout", work);
	cleanup_free char *oci_ref = xasprintf("oci:%s:img", layout);
	cleanup_free char *umoci_ref = xasprintf("%s:img", layout);
	cleanup_free char *rootfs = xasprintf("%s/rootfs", work);
	cleanup_free char *staged = xasprintf("%s/entry", work);
	{
		char *argv[12];
		size_t a = 0;
		argv[a++] = "skopeo";
		/* The host's policy.json may demand signatures for other registries; wrenn trusts the
		 * reference it was given (digest-pinned references are verified by skopeo anyway). */
		argv[a++] = "--insecure-policy";
		argv[a++] = "--command-timeout=3600s";
		argv[a++] = "copy";
		argv[a++] = "--quiet";
		if (src->insecure)
			argv[a++] = "--src-tls-verify=false";
		if (authfile) {
			argv[a++] = "--src-authfile";
			argv[a++] = authfile;
		} else {
			argv[a++] = "--src-no-creds";
		}
		argv[a++] = docker_ref;
		argv[a++] = oci_ref;
		argv[a] = NULL;
		r = run_skopeo(argv, src->ref, registry, out, err);
		if (r < 0)
			return r;
	}
	cleanup_json json_t *config = NULL;
	r = oci_layout_config(layout, "img", &config, err);
	if (r < 0)
		return wr_err_prefix(err, r, "image %s", src->ref);
	{
		char *argv[] = {"umoci", "raw", "unpack", "--image", umoci_ref, rootfs, NULL};
		r = run(argv, out, err);
		if (r == -EIO)
			return wr_err_set(err, EIO, "unpack %s: %s", src->ref, out);
		if (r < 0)
			return wr_err_prefix(err, r, "unpack %s", src->ref);
	}
	(void)rm_rf(layout);
	r = oci_rootfs_prepare(rootfs, guest_bins_dir, err);
	if (r < 0)
		return wr_err_prefix(err, r, "image %s", src->ref);

	uint64_t inodes = 0, mb = size_mb;
	if (mb == 0) {
		r = auto_size(rootfs, &mb, &inodes, err);
		if (r < 0)
			return r;
	}
	if (mkdir(staged, 0755) < 0)
		return wr_err_errno(err, errno, "mkdir %s", staged);
	cleanup_free char *image = xasprintf("%s/image.ext4", staged);
	r = make_ext4(rootfs, image, mb, inodes, err);
	if (r < 0)
		return wr_err_prefix(err, r, "image %s", src->ref);
	(void)rm_rf(rootfs);

	cleanup_free char *cfg_path = xasprintf("%s/config.json", staged);
	cleanup_free char *digest_path = xasprintf("%s/digest", staged);
	cleanup_free char *ref_line = xasprintf("%s\n%s\n", digest, src->ref);
	cleanup_free char *done = xasprintf("%s/.complete", staged);
	if (json_dump_file(config, cfg_path, JSON_INDENT(2)) < 0)
		return wr_err_set(err, EIO, "write %s", cfg_path);
	r = write_file_atomic(digest_path, ref_line, strlen(ref_line), 0644);
	if (r >= 0)
		r = write_file_atomic(done, "", 0, 0644);
	if (r < 0)
		return wr_err_errno(err, -r, "write %s", staged);

	if (rename(staged, entry) < 0) {
		/* Another prepare of the same image won the race: its entry is as good as ours. */
		if ((errno == EEXIST || errno == ENOTEMPTY) && access(complete, F_OK) == 0)
			return load_entry(entry, digest, ret, err) < 0 ? -EIO : 1;
		return wr_err_errno(err, errno, "rename %s to %s", staged, entry);
	}
	*ret = (struct oci_image){
		.rootfs_path = xasprintf("%s/image.ext4", entry),
		.digest = TAKE_PTR(digest),
		.config = TAKE_PTR(config),
	};
	return 0;
}
