/* SPDX-License-Identifier: MIT */
/*
 * Templates across hosts, the host side (tplxfer.h): serving a snapshot template's manifest and
 * files to another host that holds a fetch token, and fetching one on the control plane's word.
 *
 * Security: the serving routes take no API key, only a fetch token, which names this template
 * and the requesting host, expires within TPLM_TOKEN_MAX_MS, and only a holder of this host's
 * signing key (this host and the control plane) can make.  They serve only a template's own
 * regular files, by names its manifest lists.  The fetch route takes only the control plane's
 * signed call (host-call.h: an operator's or team's key cannot make a host download anything).  What arrives is trusted only after the manifest's signature (made
 * with the token), every file's SHA-256 and the content digest check out; until then it lives
 * in a dot-directory under <data_dir>/templates, removed on any failure, and the template
 * appears by one rename() plus one store row.  Transport is plain HTTP like the rest of the
 * control channel: integrity is checked, confidentiality is not given (a private network).
 */
#include "daemon/tplxfer.h"

#include "daemon/auth.h"
#include "daemon/control.h"
#include "daemon/reply.h"
#include "daemon/route.h"
#include "daemon/tplgc.h"
#include "daemon/tplmanifest.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/hmac.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MANIFEST_MAX (256 * 1024)
#define XFER_TIMEOUT_MS 60000 /* per read: a stalled source fails the fetch */
#define CHUNK (1 << 20)

static int64_t real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* This host's signing key: SHA-256 of its credential (what the control plane stores). */
static int host_key(const struct agent *a, uint8_t key[32], struct wr_err *err)
{
	if (!a->cfg.host_id || !a->cfg.host_credential_file)
		return wr_err_set(err, EPERM, "this agent is not a host of a control plane");
	cleanup_free char *cred = NULL;
	int r = read_file(a->cfg.host_credential_file, 4096, &cred, NULL);
	if (r < 0)
		return wr_err_errno(err, -r, "host credential file");
	size_t n = strcspn(cred, " \t\r\n");
	sha256_digest(cred, n, key);
	explicit_bzero(cred, strlen(cred));
	return 0;
}

/* --- serving: the source host ------------------------------------------------------------- */

/* The snapshot template a name means here (itself, a built template's alias, a snapshot's name). */
static int resolve(struct agent *a, const char *name, struct store_template *ret,
		   struct wr_err *err)
{
	int r = store_template_get(a->st, name, ret, NULL);
	if (r == -ENOENT) {
		struct store_alias al = {0};
		if (store_alias_get(a->st, name, &al, NULL) == 0) {
			r = store_template_get(a->st, al.target, ret, NULL);
			store_alias_done(&al);
		}
	}
	if (r == -ENOENT) {
		struct store_snapshot sn = {0};
		if (store_snapshot_get(a->st, name, &sn, NULL) == 0) {
			r = store_template_get(a->st, sn.id, ret, NULL);
			store_snapshot_done(&sn);
		}
	}
	if (r < 0)
		return wr_err_set(err, ENOENT, "template \"%s\" not found on this host", name);
	cleanup_free char *img =
		ret->snapshot_dir ? xasprintf("%s/rootfs.img", ret->snapshot_dir) : NULL;
	if (ret->kind != STORE_TPL_SNAPSHOT || !img || !ret->rootfs_path ||
	    strcmp(img, ret->rootfs_path) != 0) {
		store_template_done(ret);
		return wr_err_set(err, EINVAL,
				  "template \"%s\" is not a snapshot template in one directory: "
				  "only those travel between hosts",
				  name);
	}
	return 0;
}

static pthread_mutex_t manifest_lock = PTHREAD_MUTEX_INITIALIZER;

/* The files part of t's manifest: computed once (hashing GBs takes seconds), then kept in the
 * template's directory (templates never change after they are made). */
static int files_manifest(const struct store_template *t, json_t **ret, struct wr_err *err)
{
	cleanup_free char *cache = xasprintf("%s/" TPLM_CACHE_FILE, t->snapshot_dir);
	pthread_mutex_lock(&manifest_lock);
	cleanup_json json_t *m = json_load_file(cache, 0, NULL);
	int r = 0;
	if (!m || tplm_check(m, NULL) < 0) {
		json_decref(TAKE_PTR(m));
		double t0 = mono_ms();
		r = tplm_build(t->snapshot_dir, &m, err);
		if (r == 0) {
			cleanup_free char *s = json_dumps(m, JSON_COMPACT);
			if (write_file_atomic(cache, s, strlen(s), 0640) < 0)
				log_warn("template %s: manifest not cached", t->name);
			log_info("template %s: manifest computed in %.0f ms, digest %s", t->name,
				 mono_ms() - t0, json_string_value(json_object_get(m, "digest")));
		}
	}
	pthread_mutex_unlock(&manifest_lock);
	if (r == 0)
		*ret = TAKE_PTR(m);
	return r;
}

/* Check the request's fetch token for `name`; answers 401/403 itself (< 0). */
static int token_or_reply(struct agent *a, struct http_req *req, const char *name,
			  const char **ret_token)
{
	const char *dest = http_req_header(req, "X-Wrenn-Fetch-Host");
	const char *exps = http_req_header(req, "X-Wrenn-Fetch-Expires");
	const char *tok = http_req_header(req, "X-Wrenn-Fetch-Token");
	if (!dest || !exps || !tok) {
		reply_error(
			req, 401,
			"template fetch needs X-Wrenn-Fetch-Host, -Expires and -Token (from the "
			"control plane)");
		return -EACCES;
	}
	char *end = NULL;
	long long exp = strtoll(exps, &end, 10);
	uint8_t key[32];
	struct wr_err err = {0};
	if (host_key(a, key, &err) < 0) {
		reply_error(req, 403, "%s", wr_err_msg(&err));
		return -EPERM;
	}
	int r = *end || exp <= 0 ? -EACCES
				 : tplm_token_verify(key, name, dest, exp, tok, real_ms());
	explicit_bzero(key, sizeof(key));
	if (r < 0) {
		log_warn("template %s: fetch by %s (%s) refused: %s", name, dest,
			 http_req_peer(req), r == -ETIME ? "token expired" : "bad token");
		reply_error(req, 401, "template fetch refused: %s",
			    r == -ETIME ? "token expired" : "bad token");
		return r;
	}
	*ret_token = tok;
	return 0;
}

static json_t *aliases_of(struct agent *a, const char *tpl)
{
	json_t *arr = json_array();
	struct store_alias *al = NULL;
	size_t n = 0;
	if (store_alias_list(a->st, tpl, &al, &n, NULL) >= 0)
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, json_string(al[i].alias));
	store_alias_list_free(al, n);
	return arr;
}

static void serve_manifest(struct agent *a, struct http_req *req, const char *name)
{
	const char *tok = NULL;
	if (token_or_reply(a, req, name, &tok) < 0)
		return;
	struct store_template t = {0};
	struct wr_err err = {0};
	if (resolve(a, name, &t, &err) < 0) {
		reply_error(req, 404, "%s", wr_err_msg(&err));
		return;
	}
	cleanup_json json_t *m = NULL;
	if (files_manifest(&t, &m, &err) < 0) {
		reply_error(req, 500, "template %s: %s", t.name, wr_err_msg(&err));
		store_template_done(&t);
		return;
	}
	cleanup_json json_t *meta = NULL;
	cleanup_free char *mp = xasprintf("%s/wrenn-vmm.json", t.snapshot_dir);
	meta = json_load_file(mp, 0, NULL);
	json_t *compat = runtime_host_compat(a->rt, t.kernel_path);
	/* the snapshot's own record of its VMM and accelerator wins over this host's present one */
	const char *backend = json_string_value(json_object_get(meta, "backend"));
	const char *accel = json_string_value(json_object_get(meta, "accel"));
	if (backend)
		json_object_set_new(
			compat, "backend",
			json_string(!strcmp(backend, "ch") ? "cloud-hypervisor" : backend));
	if (accel)
		json_object_set_new(compat, "accel", json_string(accel));
	json_object_set_new(m, "template", json_string(t.name));
	json_object_set_new(m, "aliases", aliases_of(a, t.name));
	json_object_set_new(m, "parent", t.parent ? json_string(t.parent) : json_null());
	json_object_set_new(m, "vcpus", json_integer(t.vcpus));
	json_object_set_new(m, "memoryMb", json_integer(t.memory_mb));
	json_object_set_new(m, "compat", compat);
	cleanup_free char *body = json_dumps(m, JSON_COMPACT);
	char sig[TPLM_HEX];
	tplm_sign(tok, body, strlen(body), sig);
	http_resp_header(req, "X-Wrenn-Manifest-Signature", sig);
	http_resp_send(req, 200, "application/json", body, strlen(body));
	log_info("template %s: manifest served to %s", t.name,
		 http_req_header(req, "X-Wrenn-Fetch-Host"));
	store_template_done(&t);
}

static void serve_file(struct agent *a, struct http_req *req, const char *name, const char *file)
{
	const char *tok = NULL;
	if (token_or_reply(a, req, name, &tok) < 0)
		return;
	struct store_template t = {0};
	struct wr_err err = {0};
	if (resolve(a, name, &t, &err) < 0) {
		reply_error(req, 404, "%s", wr_err_msg(&err));
		return;
	}
	/* only a name the manifest lists: never a path, a dotfile or anything else */
	cleanup_json json_t *m = NULL;
	bool listed = false;
	if (tplm_name_ok(file) && files_manifest(&t, &m, &err) == 0) {
		size_t i;
		json_t *f;
		json_array_foreach(json_object_get(m, "files"), i, f)
		{
			if (!strcmp(json_string_value(json_object_get(f, "name")), file))
				listed = true;
		}
	}
	cleanup_free char *p = xasprintf("%s/%s", t.snapshot_dir, file);
	store_template_done(&t);
	if (!listed) {
		reply_error(req, 404, "template %s has no file \"%s\"", name, file);
		return;
	}
	cleanup_close int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		reply_error(req, 500, "open %s: %s", file, strerror(errno));
		return;
	}
	if (http_resp_begin(req, 200, "application/octet-stream", st.st_size) < 0)
		return;
	cleanup_free char *buf = xmalloc(CHUNK);
	int64_t left = st.st_size;
	while (left > 0) {
		ssize_t k = read(fd, buf, left < CHUNK ? (size_t)left : CHUNK);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0 || http_resp_write(req, buf, (size_t)k) < 0) {
			http_resp_abort(req); /* the receiver sees a short transfer */
			return;
		}
		left -= k;
	}
	http_resp_end(req);
}

/* --- fetching: the receiving host --------------------------------------------------------- */

struct fetch_req {
	const char *tpl, *source, *source_host, *token;
	int64_t expires;
};

struct xfer {
	char *host, *port;
	char h1[128], h2[64], h3[128];
};

/* GET target from the source with the token headers; the client after its head (caller frees). */
static int xget(const struct xfer *x, const char *target, struct http_client **ret,
		struct wr_err *err)
{
	int fd = -1;
	int r = control_tcp_connect(x->host, x->port, &fd, err);
	if (r < 0)
		return r;
	struct http_client *cl = http_client_new(fd, true);
	http_client_set_timeout(cl, XFER_TIMEOUT_MS);
	const char *hdrs[] = {x->h1, x->h2, x->h3, NULL};
	struct http_creq rq = {.method = "GET", .target = target, .host = x->host, .headers = hdrs};
	if ((r = http_client_send(cl, &rq, err)) < 0 ||
	    (r = http_client_read_head(cl, false, err)) < 0) {
		http_client_free(cl);
		return r;
	}
	*ret = cl;
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* One file into dir/name, hashed on the way; zero blocks become holes (memory files are mostly
 * zeros and stay sparse). */
static int fetch_file(const struct xfer *x, const char *tpl, const char *dir, const json_t *f,
		      struct wr_err *err)
{
	const char *name = json_string_value(json_object_get(f, "name"));
	const char *want = json_string_value(json_object_get(f, "sha256"));
	int64_t size = json_integer_value(json_object_get(f, "size"));
	cleanup_free char *target = xasprintf("/v1/host/templates/%s/files/%s", tpl, name);
	struct http_client *cl = NULL;
	int r = xget(x, target, &cl, err);
	if (r < 0)
		return wr_err_prefix(err, r, "file %s", name);
	if (http_client_status(cl) != 200) {
		cleanup_free char *b = NULL;
		http_client_read_all(cl, 4096, &b, NULL, NULL);
		r = wr_err_set(err, EIO, "file %s: source answered %d: %.200s", name,
			       http_client_status(cl), b ? b : "");
		http_client_free(cl);
		return r;
	}
	cleanup_free char *p = xasprintf("%s/%s", dir, name);
	cleanup_close int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (fd < 0) {
		http_client_free(cl);
		return wr_err_errno(err, errno, "create %s", p);
	}
	struct tplm_hash *h = tplm_hash_new();
	cleanup_free uint8_t *buf = xmalloc(CHUNK);
	int64_t got = 0;
	for (;;) {
		ssize_t k = http_client_read(cl, buf, CHUNK);
		if (k < 0) {
			r = wr_err_set(err, EIO,
				       "file %s: transfer broke after %" PRId64 " of %" PRId64
				       " bytes: %s",
				       name, got, size, strerror((int)-k));
			break;
		}
		if (k == 0)
			break;
		if (got + k > size) {
			r = wr_err_set(err, EBADMSG,
				       "file %s: more than the manifest's %" PRId64 " bytes", name,
				       size);
			break;
		}
		tplm_hash_update(h, buf, (size_t)k);
		if (all_zero(buf, (size_t)k) ? lseek(fd, k, SEEK_CUR) < 0
					     : write_full(fd, buf, (size_t)k) < 0) {
			r = wr_err_errno(err, errno, "write %s", p);
			break;
		}
		got += k;
	}
	http_client_free(cl);
	if (r == 0 && got != size)
		r = wr_err_set(err, EBADMSG,
			       "file %s: partial transfer, %" PRId64 " of %" PRId64 " bytes", name,
			       got, size);
	if (r == 0 && ftruncate(fd, size) < 0)
		r = wr_err_errno(err, errno, "truncate %s", p);
	char hx[TPLM_HEX];
	if (r < 0) {
		tplm_hash_free(h);
		return r;
	}
	tplm_hash_final(h, hx);
	if (!tplm_hex_equal(hx, want))
		return wr_err_set(err, EBADMSG,
				  "file %s: sha256 %s differs from the manifest's %s (corrupted or "
				  "tampered in transfer)",
				  name, hx, want);
	if (fsync(fd) < 0)
		return wr_err_errno(err, errno, "fsync %s", p);
	return 0;
}

/* Aliases may carry a tag (name:tag); nothing that could be a path. */
static bool alias_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > 0 && n <= 128 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-") == n;
}

/* Remove what an earlier fetch of tpl left behind (an agent killed mid-transfer). */
static void sweep_partials(const char *root, const char *tpl)
{
	cleanup_closedir DIR *d = opendir(root);
	if (!d)
		return;
	cleanup_free char *prefix = xasprintf(".fetch-%s-", tpl);
	struct dirent *e;
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, prefix, strlen(prefix))) {
			cleanup_free char *p = xasprintf("%s/%s", root, e->d_name);
			rm_rf(p);
		}
}

static int fetch_verified(const struct fetch_req *fr, struct xfer *x, const char *tmp, json_t *m,
			  struct wr_err *err)
{
	const json_t *files = json_object_get(m, "files");
	size_t i;
	json_t *f;
	json_array_foreach(files, i, f)
	{
		int r = fetch_file(x, fr->tpl, tmp, f, err);
		if (r < 0)
			return r;
	}
	/* the whole content once more, as it lies on this disk now */
	cleanup_json json_t *mine = NULL;
	int r = tplm_build(tmp, &mine, err);
	if (r < 0)
		return r;
	if (!json_equal(json_object_get(mine, "files"), files))
		return wr_err_set(err, EBADMSG, "the fetched files differ from the manifest");
	return 0;
}

/* Fetch, verify and register fr->tpl; 0 also when it is here already. */
static int fetch_one(struct agent *a, const struct fetch_req *fr, json_t **ret_info,
		     struct wr_err *err)
{
	if (runtime_template_resolve(a->rt, fr->tpl, NULL, NULL) == 0) {
		*ret_info = json_pack("{s:s,s:b}", "template", fr->tpl, "present", true);
		return 0;
	}
	double t0 = mono_ms();
	struct xfer x = {0};
	int r = control_parse_url(fr->source, &x.host, &x.port, err);
	if (r < 0)
		return r;
	snprintf(x.h1, sizeof(x.h1), "X-Wrenn-Fetch-Host: %s", a->cfg.host_id);
	snprintf(x.h2, sizeof(x.h2), "X-Wrenn-Fetch-Expires: %" PRId64, fr->expires);
	snprintf(x.h3, sizeof(x.h3), "X-Wrenn-Fetch-Token: %s", fr->token);
	cleanup_free char *target = xasprintf("/v1/host/templates/%s/manifest", fr->tpl);
	struct http_client *cl = NULL;
	cleanup_free char *body = NULL;
	size_t blen = 0;
	cleanup_free char *tmp = NULL;
	cleanup_free char *root = xasprintf("%s/templates", a->cfg.data_dir);
	cleanup_json json_t *m = NULL, *ours = NULL;
	cleanup_free char *dir = NULL, *img = NULL;
	if ((r = xget(&x, target, &cl, err)) < 0)
		goto out;
	r = http_client_read_all(cl, MANIFEST_MAX, &body, &blen, err);
	int status = http_client_status(cl);
	const char *sig = http_client_header(cl, "X-Wrenn-Manifest-Signature");
	char want[TPLM_HEX];
	tplm_sign(fr->token, body ? body : "", blen, want);
	bool sig_ok = tplm_hex_equal(sig, want);
	http_client_free(cl);
	if (r < 0)
		goto out;
	if (status != 200) {
		r = wr_err_set(err, status == 404 ? ENOENT : EIO, "source answered %d: %.300s",
			       status, body ? body : "");
		goto out;
	}
	if (!sig_ok) {
		r = wr_err_set(err, EBADMSG,
			       "the manifest's signature is wrong (not from a holder "
			       "of the fetch token)");
		goto out;
	}
	m = json_loadb(body, blen, 0, NULL);
	const char *name = json_string_value(json_object_get(m, "template"));
	json_t *aliases = json_object_get(m, "aliases");
	bool named = name && !strcmp(name, fr->tpl);
	size_t i;
	json_t *v;
	json_array_foreach(aliases, i, v)
	{
		if (!alias_ok(json_string_value(v))) {
			r = wr_err_set(err, EBADMSG, "manifest: malformed alias");
			goto out;
		}
		if (!strcmp(json_string_value(v), fr->tpl))
			named = true;
	}
	json_t *jv = json_object_get(m, "vcpus"), *jm = json_object_get(m, "memoryMb");
	json_t *par = json_object_get(m, "parent");
	if ((r = tplm_check(m, err)) < 0)
		goto out;
	if (!tplm_name_ok(name) || !named || !json_is_integer(jv) || !json_is_integer(jm) ||
	    (par && !json_is_null(par) && !json_is_string(par)) ||
	    (aliases && !json_is_array(aliases))) {
		r = wr_err_set(err, EBADMSG, "manifest: not a description of template %s", fr->tpl);
		goto out;
	}
	if (runtime_template_resolve(a->rt, name, NULL, NULL) == 0) {
		r = wr_err_set(err, EEXIST,
			       "a template named %s exists here with other aliases: not replaced",
			       name);
		goto out;
	}
	ours = runtime_host_compat(a->rt, NULL);
	if ((r = tplm_compat_check(json_object_get(m, "compat"), ours, err)) < 0)
		goto out;
	const char *digest = json_string_value(json_object_get(m, "digest"));
	log_info("template %s: fetching from host %s (%s), digest %s", name, fr->source_host,
		 fr->source, digest);
	if ((r = mkdir_p(root, 0750)) < 0) {
		r = wr_err_errno(err, -r, "mkdir %s", root);
		goto out;
	}
	sweep_partials(root, name);
	uint8_t rnd[4];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	tmp = xasprintf("%s/.fetch-%s-%02x%02x%02x%02x", root, name, rnd[0], rnd[1], rnd[2],
			rnd[3]);
	if (mkdir(tmp, 0750) < 0) {
		r = wr_err_errno(err, errno, "mkdir %s", tmp);
		free(TAKE_PTR(tmp));
		goto out;
	}
	if ((r = fetch_verified(fr, &x, tmp, m, err)) < 0)
		goto out;
	/* visible at once: the directory by rename, the template by one row */
	dir = xasprintf("%s/%s", root, name);
	if (rename(tmp, dir) < 0) {
		r = wr_err_errno(err, errno, "rename into %s", dir);
		goto out;
	}
	free(TAKE_PTR(tmp));
	img = xasprintf("%s/rootfs.img", dir);
	int64_t total = 0;
	json_array_foreach(json_object_get(m, "files"), i, v) total +=
		json_integer_value(json_object_get(v, "size"));
	struct store_template t = {
		.name = (char *)name,
		.kind = STORE_TPL_SNAPSHOT,
		.rootfs_path = img,
		.kernel_path = NULL, /* this host's kernel: the same bytes (compat above) */
		.snapshot_dir = dir,
		.parent = (char *)json_string_value(par),
		.vcpus = (int)json_integer_value(jv),
		.memory_mb = (int)json_integer_value(jm),
		.size_bytes = total,
		/* the origin: only such copies are garbage-collected (tplgc.c), and the fetch
		 * counts as a use (the create that asked for it follows) */
		.fetched_from = (char *)fr->source_host,
		.last_used_at = store_now_ms(),
	};
	if ((r = store_template_put(a->st, &t, err)) < 0) {
		rm_rf(dir);
		goto out;
	}
	json_array_foreach(aliases, i, v)
	{
		if ((r = store_alias_put(a->st, json_string_value(v), name, NULL, err)) < 0) {
			store_template_delete(a->st, name, NULL);
			rm_rf(dir);
			goto out;
		}
	}
	store_event_add(a->st, NULL, "template_fetched", name, NULL);
	double ms = mono_ms() - t0;
	log_info("template %s: fetched from host %s, %zu files, %" PRId64
		 " bytes, digest %s verified, in %.0f ms",
		 name, fr->source_host, json_array_size(json_object_get(m, "files")), total, digest,
		 ms);
	tplgc_kick(); /* the new copy may put the fetched ones over --fetched-template-max-gb */
	*ret_info = json_pack("{s:s,s:s,s:b,s:I,s:f}", "template", name, "digest", digest,
			      "present", false, "bytes", (json_int_t)total, "ms", ms);
out:
	if (tmp)
		rm_rf(tmp);
	free(x.host);
	free(x.port);
	explicit_bzero(x.h3, sizeof(x.h3));
	return r;
}

/* In-flight fetches, by template name: the first caller fetches, the others wait for it. */
struct inflight {
	char *tpl;
	int refs;
	bool done;
	int r;
	char msg[512];
	json_t *info;
	struct inflight *next;
};
static pthread_mutex_t inflight_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t inflight_cond = PTHREAD_COND_INITIALIZER;
static struct inflight *inflight_head;

static void inflight_put(struct inflight *f)
{
	if (--f->refs > 0)
		return;
	free(f->tpl);
	json_decref(f->info);
	free(f);
}

static int fetch_shared(struct agent *a, const struct fetch_req *fr, json_t **ret_info,
			struct wr_err *err)
{
	pthread_mutex_lock(&inflight_lock);
	struct inflight *f = inflight_head;
	while (f && strcmp(f->tpl, fr->tpl) != 0)
		f = f->next;
	if (f) {
		f->refs++;
		log_info("template %s: joining the fetch in flight", fr->tpl);
		while (!f->done)
			pthread_cond_wait(&inflight_cond, &inflight_lock);
	} else {
		f = xcalloc(1, sizeof(*f));
		f->tpl = xstrdup(fr->tpl);
		f->refs = 1;
		f->next = inflight_head;
		inflight_head = f;
		pthread_mutex_unlock(&inflight_lock);
		struct wr_err e = {0};
		json_t *info = NULL;
		int r = fetch_one(a, fr, &info, &e);
		pthread_mutex_lock(&inflight_lock);
		f->r = r;
		f->info = info;
		snprintf(f->msg, sizeof(f->msg), "%s", r < 0 ? wr_err_msg(&e) : "");
		f->done = true;
		for (struct inflight **pp = &inflight_head; *pp; pp = &(*pp)->next)
			if (*pp == f) {
				*pp = f->next;
				break;
			}
		pthread_cond_broadcast(&inflight_cond);
	}
	int r = f->r;
	if (r < 0)
		wr_err_set(err, -r, "%s", f->msg);
	else
		*ret_info = json_incref(f->info);
	inflight_put(f);
	pthread_mutex_unlock(&inflight_lock);
	return r;
}

/* The control plane, and nothing else: its signed call (host-call.h), which auth_check names
 * "control-plane" (API key ids are hex: no key can carry that id). */
static int control_or_reply(struct agent *a, struct http_req *req)
{
	struct auth_caller caller = {0};
	if (auth_check(a->st, req, &caller) < 0)
		return -EACCES; /* answered */
	bool ok = caller.key_id && !strcmp(caller.key_id, "control-plane");
	auth_caller_done(&caller);
	if (!ok) {
		reply_error(req, 403,
			    "only the control plane may ask this host to fetch templates");
		return -EPERM;
	}
	return 0;
}

static void fetch_route(struct agent *a, struct http_req *req)
{
	if (control_or_reply(a, req) < 0)
		return;
	cleanup_json json_t *body = NULL;
	if (reply_read_json(req, REPLY_MAX_JSON_BODY, true, &body) < 0)
		return;
	struct fetch_req fr = {
		.tpl = json_string_value(json_object_get(body, "template")),
		.source = json_string_value(json_object_get(body, "source")),
		.source_host = json_string_value(json_object_get(body, "sourceHost")),
		.token = json_string_value(json_object_get(body, "token")),
		.expires = json_integer_value(json_object_get(body, "expires")),
	};
	if (!fr.tpl || !alias_ok(fr.tpl) || !fr.source || !fr.source_host || !fr.token ||
	    strlen(fr.token) != 64 || fr.expires <= 0) {
		reply_error(req, 400, "body: template, source, sourceHost, token, expires");
		return;
	}
	struct wr_err err = {0};
	json_t *info = NULL;
	int r = fetch_shared(a, &fr, &info, &err);
	if (r < 0) {
		log_warn("template %s: fetch from host %s failed: %s", fr.tpl, fr.source_host,
			 wr_err_msg(&err));
		int st = r == -EXDEV || r == -EEXIST ? 409
			 : r == -ENOENT		     ? 404
			 : r == -EBADMSG	     ? 502
						     : reply_status_for_errno(r);
		reply_error(req, st < 500 && st != 409 && st != 404 ? 502 : st,
			    "template %s from host %s: %s", fr.tpl, fr.source_host,
			    wr_err_msg(&err));
		return;
	}
	reply_json_new(req, 200, info);
}

bool tplxfer_handle(struct agent *a, struct http_req *req)
{
	const char *path = http_req_path(req), *method = http_req_method(req);
	if (strncmp(path, "/v1/host/", 9) != 0)
		return false;
	struct route_caps caps = {0};
	bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
	if (route_match("/v1/host/templates/*/manifest", path, &caps)) {
		get ? serve_manifest(a, req, caps.v[0])
		    : reply_error(req, 405, "method %s not allowed on %s", method, path);
	} else if (route_match("/v1/host/templates/*/files/*", path, &caps)) {
		get ? serve_file(a, req, caps.v[0], caps.v[1])
		    : reply_error(req, 405, "method %s not allowed on %s", method, path);
	} else if (route_match("/v1/host/template-fetch", path, &caps)) {
		post ? fetch_route(a, req)
		     : reply_error(req, 405, "method %s not allowed on %s", method, path);
	} else {
		reply_error(req, 404, "no route for %s %s", method, path);
	}
	route_caps_done(&caps);
	return true;
}
