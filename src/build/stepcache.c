/* SPDX-License-Identifier: MIT */
/*
 * The per-step build cache.  After each step that changes the VM (every type but ENV) the build
 * VM is checkpointed into the snapshot template "bc-<key>" (runtime_template_checkpoint: RAM,
 * device state and disk; the VM runs on), with <snapshot_dir>/build-step.json holding the
 * engine's state after the step (env, user, workdir).  The key of step i is
 * sha256(key of step i-1, step i's type/args/filesHash); step 0's is the base's identity.  A
 * rebuild restores the longest cached prefix and reruns from the first changed step.
 *
 * Entries are bounded (cache_entries, least recently used evicted); an entry whose template is
 * registered but whose build-step.json is missing was half-written (crash) and is swept at open.
 * e->cache_lock orders lookups against eviction: a build holds it from its lookup until its
 * build VM exists (then the template is in use and runtime_template_delete refuses it).
 */
#include "build/build-internal.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PREFIX "bc-"
#define META "build-step.json"
#define META_MAX (1 << 20)

static char *sha256_hex(const char *txt)
{
	unsigned char md[32];
	unsigned int mdl = 0;
	EVP_Digest(txt, strlen(txt), md, &mdl, EVP_sha256(), NULL);
	char *hex = xmalloc(65);
	for (int j = 0; j < 32; j++)
		snprintf(hex + 2 * j, 3, "%02x", md[j]);
	return hex;
}

static char *key_of(const json_t *k)
{
	cleanup_free char *txt = json_dumps(k, JSON_COMPACT | JSON_SORT_KEYS);
	return sha256_hex(txt);
}

char *build_cache_base_key(struct build_engine *e, const char *from, int vcpus, int memory_mb)
{
	cleanup_json json_t *k = json_pack("{s:s, s:s, s:i, s:i}", "v", "step-cache-1", "from",
					   from, "vcpus", vcpus, "memoryMB", memory_mb);
	/* a rebuilt base (a new build of a template, a new guest image) changes every key */
	struct store_alias al = {0};
	if (store_alias_get(e->st, from, &al, NULL) == 0) {
		json_object_set_new(k, "fromBuild", json_string(al.build_id ? al.build_id : ""));
		store_alias_done(&al);
	}
	struct store_template t = {0};
	if (store_template_get(e->st, from, &t, NULL) == 0) {
		json_object_set_new(k, "fromCreated", json_integer(t.created_at));
		json_object_set_new(k, "fromRootfs",
				    json_string(t.rootfs_path ? t.rootfs_path : ""));
	}
	store_template_done(&t);
	return key_of(k);
}

char *build_cache_step_key(const char *parent, const json_t *step)
{
	json_t *args = json_object_get(step, "args");
	cleanup_json json_t *k = json_pack("{s:s, s:O, s:o}", "parent", parent, "type",
					   json_object_get(step, "type"), "args",
					   args ? json_deep_copy(args) : json_array());
	json_t *h = json_object_get(step, "filesHash");
	if (h)
		json_object_set(k, "filesHash", h);
	return key_of(k);
}

static char *tpl_name(const char *key)
{
	return xasprintf(PREFIX "%.32s", key);
}

static char *meta_path(struct build_engine *e, const char *name)
{
	return xasprintf("%s/templates/%s/" META, e->data_dir, name);
}

int build_cache_lookup(struct build_engine *e, const char *key, json_t **ret_meta,
		       char **ret_template)
{
	if (e->cache_max <= 0)
		return 0;
	cleanup_free char *name = tpl_name(key);
	struct store_template t = {0};
	if (store_template_get(e->st, name, &t, NULL) < 0)
		return 0;
	store_template_done(&t);
	cleanup_free char *mp = meta_path(e, name);
	cleanup_free char *txt = NULL;
	size_t len = 0;
	if (read_file(mp, META_MAX, &txt, &len) < 0)
		return 0;
	cleanup_json json_t *m = json_loadb(txt, len, 0, NULL);
	const char *mk = json_string_value(json_object_get(m, "key"));
	if (!json_is_object(m) || !mk || strcmp(mk, key))
		return 0;
	/* recently used: eviction goes by the meta file's mtime */
	utimensat(AT_FDCWD, mp, NULL, 0);
	*ret_meta = TAKE_PTR(m);
	*ret_template = TAKE_PTR(name);
	return 1;
}

int build_cache_store(struct build_engine *e, const char *sandbox_id, const char *key,
		      const json_t *state, struct wr_err *err)
{
	if (e->cache_max <= 0)
		return 0;
	cleanup_free char *name = tpl_name(key);
	pthread_mutex_lock(&e->cache_lock);
	/* a forced rerun replaces the entry (unless a build VM runs from it right now) */
	struct store_template old = {0};
	int r = 0;
	if (store_template_get(e->st, name, &old, NULL) == 0)
		r = runtime_template_delete(e->rt, name, err);
	store_template_done(&old);
	if (r == 0)
		r = runtime_template_checkpoint(e->rt, sandbox_id, name, err);
	struct store_template t = {0};
	if (r == 0 && (r = store_template_get(e->st, name, &t, err)) == 0) {
		/* not a child of the build VM's template: entries are evicted independently */
		free(t.parent);
		t.parent = NULL;
		r = store_template_put(e->st, &t, err);
	}
	store_template_done(&t);
	if (r == 0) {
		cleanup_json json_t *m = json_deep_copy(state);
		json_object_set_new(m, "key", json_string(key));
		cleanup_free char *txt = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
		cleanup_free char *mp = meta_path(e, name);
		r = write_file_atomic(mp, txt, strlen(txt), 0640);
		if (r < 0) {
			r = wr_err_errno(err, -r, "write %s", mp);
			runtime_template_delete(e->rt, name, NULL);
		}
	}
	pthread_mutex_unlock(&e->cache_lock);
	return r;
}

struct entry {
	char *name;
	struct timespec used;
};

static int by_age(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	if (x->used.tv_sec != y->used.tv_sec)
		return x->used.tv_sec < y->used.tv_sec ? -1 : 1;
	if (x->used.tv_nsec != y->used.tv_nsec)
		return x->used.tv_nsec < y->used.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Cache entries (with their meta) oldest first; with `half`, those without meta are deleted. */
static void gc(struct build_engine *e, bool half)
{
	struct store_template *rows = NULL;
	size_t n = 0;
	if (store_template_list(e->st, &rows, &n, NULL) < 0)
		return;
	struct entry *ents = xcalloc(n ? n : 1, sizeof(*ents));
	size_t ne = 0;
	for (size_t i = 0; i < n; i++) {
		if (strncmp(rows[i].name, PREFIX, strlen(PREFIX)))
			continue;
		cleanup_free char *mp = meta_path(e, rows[i].name);
		struct stat st;
		if (stat(mp, &st) < 0) {
			if (half) {
				log_info("build cache: removing half-written entry %s",
					 rows[i].name);
				runtime_template_delete(e->rt, rows[i].name, NULL);
			}
			continue;
		}
		ents[ne].name = xstrdup(rows[i].name);
		ents[ne++].used = st.st_mtim;
	}
	store_template_list_free(rows, n);
	qsort(ents, ne, sizeof(*ents), by_age);
	size_t keep = e->cache_max > 0 ? (size_t)e->cache_max : 0, left = ne;
	for (size_t i = 0; i < ne; i++) {
		if (left > keep) {
			struct wr_err err = {0};
			int r = runtime_template_delete(e->rt, ents[i].name, &err);
			if (r == 0 || r == -ENOENT) {
				log_info("build cache: evicted %s", ents[i].name);
				left--;
			} else {
				log_info("build cache: %s kept: %s", ents[i].name,
					 wr_err_msg(&err));
			}
		}
		free(ents[i].name);
	}
	free(ents);
}

void build_cache_gc(struct build_engine *e)
{
	pthread_mutex_lock(&e->cache_lock);
	gc(e, false);
	pthread_mutex_unlock(&e->cache_lock);
}

void build_cache_sweep(struct build_engine *e)
{
	pthread_mutex_lock(&e->cache_lock);
	gc(e, true);
	/* directories a crash left before their template was registered */
	cleanup_free char *root = xasprintf("%s/templates", e->data_dir);
	DIR *d = opendir(root);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, PREFIX, strlen(PREFIX)))
			continue;
		struct store_template t = {0};
		if (store_template_get(e->st, de->d_name, &t, NULL) < 0) {
			cleanup_free char *p = xasprintf("%s/%s", root, de->d_name);
			log_info("build cache: removing unregistered %s", p);
			rm_rf(p);
		}
		store_template_done(&t);
	}
	if (d)
		closedir(d);
	pthread_mutex_unlock(&e->cache_lock);
}
