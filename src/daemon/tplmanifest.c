/* SPDX-License-Identifier: MIT */
/* Template manifests, content digests, fetch tokens, snapshot compatibility (tplmanifest.h). */
#include "daemon/tplmanifest.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/hex.h"
#include "basic/hmac.h"
#include "basic/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct tplm_hash {
	EVP_MD_CTX *ctx;
};

struct tplm_hash *tplm_hash_new(void)
{
	struct tplm_hash *h = xcalloc(1, sizeof(*h));
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || !EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL))
		abort(); /* OOM */
	return h;
}

void tplm_hash_update(struct tplm_hash *h, const void *data, size_t len)
{
	if (len && !EVP_DigestUpdate(h->ctx, data, len))
		abort();
}

void tplm_hash_free(struct tplm_hash *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void tplm_hash_final(struct tplm_hash *h, char out[TPLM_HEX])
{
	uint8_t md[32];
	unsigned n = 0;
	if (!EVP_DigestFinal_ex(h->ctx, md, &n) || n != 32)
		abort();
	hex_encode(md, 32, out);
	out[64] = '\0';
	tplm_hash_free(h);
}

bool tplm_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > 64 || name[0] == '.')
		return false;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") ==
	       n;
}

static bool hex64(const char *s)
{
	return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64;
}

int tplm_file_hash(const char *path, int64_t *ret_size, char out[TPLM_HEX], struct wr_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return wr_err_errno(err, errno, "open %s", path);
	struct tplm_hash *h = tplm_hash_new();
	size_t bufsz = 1 << 20;
	cleanup_free uint8_t *buf = xmalloc(bufsz);
	int64_t total = 0;
	for (;;) {
		ssize_t k = read(fd, buf, bufsz);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			int e = errno;
			tplm_hash_free(h);
			return wr_err_errno(err, e, "read %s", path);
		}
		if (k == 0)
			break;
		tplm_hash_update(h, buf, (size_t)k);
		total += k;
	}
	tplm_hash_final(h, out);
	*ret_size = total;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int tplm_build(const char *dir, json_t **ret, struct wr_err *err)
{
	cleanup_closedir DIR *d = opendir(dir);
	if (!d)
		return wr_err_errno(err, errno, "open %s", dir);
	char *names[TPLM_MAX_FILES] = {0};
	size_t n = 0;
	int r = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		cleanup_free char *p = xasprintf("%s/%s", dir, e->d_name);
		struct stat st;
		if (lstat(p, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (!tplm_name_ok(e->d_name)) {
			r = wr_err_set(err, EINVAL, "%s: file name \"%s\" cannot be transferred",
				       dir, e->d_name);
			break;
		}
		if (n == TPLM_MAX_FILES) {
			r = wr_err_set(err, E2BIG, "%s: more than %d files", dir, TPLM_MAX_FILES);
			break;
		}
		names[n++] = xstrdup(e->d_name);
	}
	qsort(names, n, sizeof(*names), cmp_str);
	cleanup_json json_t *files = json_array();
	for (size_t i = 0; r == 0 && i < n; i++) {
		cleanup_free char *p = xasprintf("%s/%s", dir, names[i]);
		char hx[TPLM_HEX];
		int64_t size = 0;
		r = tplm_file_hash(p, &size, hx, err);
		if (r == 0)
			json_array_append_new(files,
					      json_pack("{s:s,s:I,s:s}", "name", names[i], "size",
							(json_int_t)size, "sha256", hx));
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	char digest[TPLM_HEX];
	if (r == 0)
		r = tplm_digest(files, digest, err);
	if (r < 0)
		return r;
	*ret = json_pack("{s:o,s:s}", "files", TAKE_PTR(files), "digest", digest);
	return 0;
}

int tplm_digest(const json_t *files, char out[TPLM_HEX], struct wr_err *err)
{
	if (!json_is_array(files) || json_array_size(files) == 0 ||
	    json_array_size(files) > TPLM_MAX_FILES)
		return wr_err_set(err, EINVAL, "manifest: files must list 1 to %d files",
				  TPLM_MAX_FILES);
	struct tplm_hash *h = tplm_hash_new();
	const char *prev = NULL;
	size_t i;
	json_t *f;
	json_array_foreach(files, i, f)
	{
		const char *name = json_string_value(json_object_get(f, "name"));
		const char *sha = json_string_value(json_object_get(f, "sha256"));
		json_t *size = json_object_get(f, "size");
		if (!tplm_name_ok(name) || !hex64(sha) || !json_is_integer(size) ||
		    json_integer_value(size) < 0 || (prev && strcmp(prev, name) >= 0)) {
			tplm_hash_free(h);
			return wr_err_set(err, EINVAL,
					  "manifest: file %zu malformed, out of order or repeated",
					  i);
		}
		char line[160];
		int k = snprintf(line, sizeof(line), "%s\t%" PRId64 "\t%s\n", name,
				 (int64_t)json_integer_value(size), sha);
		tplm_hash_update(h, line, (size_t)k);
		prev = name;
	}
	tplm_hash_final(h, out);
	return 0;
}

int tplm_check(const json_t *manifest, struct wr_err *err)
{
	char d[TPLM_HEX];
	int r = tplm_digest(json_object_get(manifest, "files"), d, err);
	if (r < 0)
		return r;
	const char *theirs = json_string_value(json_object_get(manifest, "digest"));
	if (!hex64(theirs) || !tplm_hex_equal(theirs, d))
		return wr_err_set(err, EBADMSG,
				  "manifest: content digest %s does not match its files (%s)",
				  theirs ? theirs : "(none)", d);
	return 0;
}

void tplm_token(const uint8_t key[32], const char *tpl, const char *dest_host, int64_t expires_ms,
		char out[TPLM_HEX])
{
	cleanup_free char *msg =
		xasprintf("wrenn template fetch v1\n%s\n%s\n%" PRId64, tpl, dest_host, expires_ms);
	uint8_t mac[32];
	hmac_sha256(key, 32, msg, strlen(msg), mac);
	hex_encode(mac, 32, out);
	out[64] = '\0';
	explicit_bzero(mac, sizeof(mac));
}

bool tplm_hex_equal(const char *a, const char *b)
{
	return hex64(a) && hex64(b) && CRYPTO_memcmp(a, b, 64) == 0;
}

int tplm_token_verify(const uint8_t key[32], const char *tpl, const char *dest_host,
		      int64_t expires_ms, const char *token, int64_t now_ms)
{
	if (expires_ms <= now_ms || expires_ms > now_ms + TPLM_TOKEN_MAX_MS)
		return -ETIME;
	char want[TPLM_HEX];
	tplm_token(key, tpl, dest_host, expires_ms, want);
	bool ok = tplm_hex_equal(token, want);
	explicit_bzero(want, sizeof(want));
	return ok ? 0 : -EACCES;
}

void tplm_sign(const char *token, const void *body, size_t len, char out[TPLM_HEX])
{
	uint8_t mac[32];
	hmac_sha256(token, strlen(token), body, len, mac);
	hex_encode(mac, 32, out);
	out[64] = '\0';
}

int tplm_compat_check(const json_t *theirs, const json_t *ours, struct wr_err *err)
{
	static const char *const fields[] = {"backend", "accel", "qemuVersion", "kernelSha256",
					     "hostCpu"};
	const char *accel = json_string_value(json_object_get(ours, "accel"));
	for (size_t i = 0; i < sizeof(fields) / sizeof(*fields); i++) {
		/* under TCG the CPU is emulated: the host's own model does not matter */
		if (!strcmp(fields[i], "hostCpu") && (!accel || strcmp(accel, "kvm") != 0))
			continue;
		const char *a = json_string_value(json_object_get(theirs, fields[i]));
		const char *b = json_string_value(json_object_get(ours, fields[i]));
		if (!a || !b || strcmp(a, b) != 0)
			return wr_err_set(err, EXDEV,
					  "snapshot not compatible with this host: %s is \"%s\" "
					  "there, \"%s\" here",
					  fields[i], a ? a : "?", b ? b : "?");
	}
	return 0;
}
