/* SPDX-License-Identifier: MIT */
/* Uploaded build files: content-addressed archives under <data>/build-files/<hash>. */
#include "build/build-internal.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "runtime/runtime.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TOKEN_TTL_MS (3600 * 1000)

int64_t build_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool build_hash_valid(const char *hash)
{
	if (!hash || strlen(hash) != 64)
		return false;
	for (const char *p = hash; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

char *build_files_path(struct build_engine *e, const char *hash)
{
	return xasprintf("%s/%s", e->files_dir, hash);
}

bool build_files_present(struct build_engine *e, const char *hash)
{
	if (!build_hash_valid(hash))
		return false;
	cleanup_free char *p = build_files_path(e, hash);
	return access(p, R_OK) == 0;
}

char *build_files_token(struct build_engine *e, const char *hash)
{
	char *tok = runtime_mint_token();
	int64_t now = build_now_ms();
	pthread_mutex_lock(&e->lock);
	/* drop expired ones */
	size_t w = 0;
	for (size_t i = 0; i < e->ntokens; i++)
		if (e->tokens[i].expires > now)
			e->tokens[w++] = e->tokens[i];
	e->ntokens = w;
	e->tokens = xrealloc(e->tokens, (e->ntokens + 1) * sizeof(*e->tokens));
	struct build_upload_token *t = &e->tokens[e->ntokens++];
	snprintf(t->hash, sizeof(t->hash), "%s", hash);
	snprintf(t->token, sizeof(t->token), "%s", tok);
	t->expires = now + TOKEN_TTL_MS;
	pthread_mutex_unlock(&e->lock);
	return tok;
}

static bool token_take(struct build_engine *e, const char *hash, const char *token)
{
	bool ok = false;
	int64_t now = build_now_ms();
	pthread_mutex_lock(&e->lock);
	for (size_t i = 0; i < e->ntokens; i++) {
		struct build_upload_token *t = &e->tokens[i];
		if (t->expires > now && !strcmp(t->hash, hash) && token &&
		    strlen(token) == strlen(t->token) && !strcmp(t->token, token)) {
			e->tokens[i] = e->tokens[--e->ntokens];
			ok = true;
			break;
		}
	}
	pthread_mutex_unlock(&e->lock);
	return ok;
}

int build_files_put(struct build_engine *e, const char *hash, const char *token, int64_t len,
		    ssize_t (*read_fn)(void *ud, void *buf, size_t n), void *ud, struct wr_err *err)
{
	if (!build_hash_valid(hash))
		return wr_err_set(err, EINVAL, "invalid files hash \"%s\"", hash ? hash : "");
	if (len >= 0 && (uint64_t)len > e->max_upload)
		return wr_err_set(err, EFBIG, "upload of %lld bytes is over the limit of %llu",
				  (long long)len, (unsigned long long)e->max_upload);
	if (!token_take(e, hash, token))
		return wr_err_set(err, EACCES, "invalid or expired upload token for %s", hash);
	cleanup_free char *path = build_files_path(e, hash);
	cleanup_free char *tmp = xasprintf("%s.part-%s", path, token);
	cleanup_close int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0)
		return wr_err_errno(err, errno, "create %s", tmp);
	char buf[65536];
	uint64_t total = 0;
	int r = 0;
	for (;;) {
		ssize_t n = read_fn(ud, buf, sizeof(buf));
		if (n < 0) {
			r = wr_err_errno(err, (int)-n, "read the upload");
			break;
		}
		if (n == 0)
			break;
		total += (uint64_t)n;
		if (total > e->max_upload) {
			r = wr_err_set(err, EFBIG, "upload is over the limit of %llu bytes",
				       (unsigned long long)e->max_upload);
			break;
		}
		r = write_full(fd, buf, (size_t)n);
		if (r < 0) {
			r = wr_err_errno(err, -r, "write %s", tmp);
			break;
		}
	}
	if (r == 0 && len >= 0 && total != (uint64_t)len)
		r = wr_err_set(err, EPROTO, "upload ended after %llu of %lld bytes",
			       (unsigned long long)total, (long long)len);
	if (r == 0 && fsync(fd) < 0)
		r = wr_err_errno(err, errno, "fsync %s", tmp);
	if (r == 0 && rename(tmp, path) < 0)
		r = wr_err_errno(err, errno, "rename %s", tmp);
	if (r < 0)
		unlink(tmp);
	return r;
}

int build_files_add(struct build_engine *e, const char *path, char **ret_hash, struct wr_err *err)
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return wr_err_errno(err, errno, "open %s", path);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return wr_err_set(err, ENOMEM, "sha256 init");
	}
	char buf[65536];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			EVP_MD_CTX_free(ctx);
			return wr_err_errno(err, errno, "read %s", path);
		}
		if (n == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
	}
	unsigned char md[32];
	EVP_DigestFinal_ex(ctx, md, NULL);
	EVP_MD_CTX_free(ctx);
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	cleanup_free char *dst = build_files_path(e, hex);
	/* path is a scratch file of the caller on the same filesystem */
	if (access(dst, R_OK) != 0 && rename(path, dst) < 0)
		return wr_err_errno(err, errno, "rename %s -> %s", path, dst);
	*ret_hash = xstrdup(hex);
	return 0;
}
