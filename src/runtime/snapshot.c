/* SPDX-License-Identifier: MIT */
/*
 * Snapshots of running sandboxes (createSnapshot, fork).  Each snapshot is
 * registered twice: as a snapshot row (listing, name) and as a snapshot
 * template named by the snapshot id, so creates from it go through the
 * normal template path (restore instead of boot).
 *
 * Capture: quiesce (envd /prepare: sync + drop caches), VMM stop + migration into <dir>/state
 * (RAM in the stream unless it is a shared file), then the disk as it is at
 * that moment.  Migration flushed QEMU's block layer, so the file on the host
 * is what the restored page cache expects.  A raw disk is reflinked (or
 * copied) while the source is stopped; a qcow2 overlay is copied (small)
 * while stopped, the source resumes, and the copy is flattened onto its
 * backing file into a raw image afterwards, off the source's pause time.
 */
#include "runtime/runtime-internal.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "vm/memfile.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAP_ID_PREFIX "snap-"
#define FORK_ID_PREFIX "fork-"

static int mint(const char *prefix, char buf[RUNTIME_ID_MAX])
{
	static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[12];
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -errno;
	size_t n = (size_t)snprintf(buf, RUNTIME_ID_MAX, "%s", prefix);
	for (size_t i = 0; i < sizeof(rnd); i++)
		buf[n + i] = al[rnd[i] % (sizeof(al) - 1)];
	buf[n + sizeof(rnd)] = '\0';
	return 0;
}

static bool name_ok(const char *n)
{
	if (!n || !*n || strlen(n) > 100)
		return false;
	for (const char *c = n; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || strchr("-_.:/", *c)))
			return false;
	return true;
}

void rt_dir_sizes(const char *dir, int64_t *ret_apparent, int64_t *ret_allocated)
{
	static const char *const files[] = {"memory", "state", "rootfs.img", "wrenn-vmm.json"};
	*ret_apparent = *ret_allocated = 0;
	for (size_t i = 0; dir && i < ARRAY_SIZE(files); i++) {
		cleanup_free char *p = xasprintf("%s/%s", dir, files[i]);
		int64_t a = 0, b = 0;
		if (file_sizes(p, &a, &b) == 0) {
			*ret_apparent += a;
			*ret_allocated += b;
		}
	}
}

void runtime_snapshot_done(struct runtime_snapshot *sn)
{
	if (!sn)
		return;
	free(sn->id);
	free(sn->name);
	free(sn->sandbox_id);
	free(sn->template);
	*sn = (struct runtime_snapshot){0};
}

void runtime_snapshot_list_free(struct runtime_snapshot *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		runtime_snapshot_done(&rows[i]);
	free(rows);
}

static void from_row(struct runtime *rt, const struct store_snapshot *row,
		     struct runtime_snapshot *ret)
{
	*ret = (struct runtime_snapshot){0};
	ret->id = xstrdup(row->id);
	ret->name = row->name ? xstrdup(row->name) : NULL;
	ret->sandbox_id = xstrdup(row->sandbox_id ? row->sandbox_id : "");
	ret->template = xstrdup(row->template ? row->template : "");
	ret->created_at = row->created_at;
	rt_dir_sizes(row->dir, &ret->size_apparent, &ret->size_allocated);
	struct store_template t = {0};
	if (store_template_get(rt->store, row->id, &t, NULL) == 0) {
		ret->vcpus = t.vcpus;
		ret->memory_mb = t.memory_mb;
		store_template_done(&t);
	}
}

/* Pause-time part of a capture: VMM stopped, state written, disk captured
 * (raw: final image; qcow2: *ret_overlay = copied overlay to flatten). */
static int capture(struct sbx *s, const char *dir, char **ret_overlay, struct wr_err *err)
{
	cleanup_free char *img = xasprintf("%s/rootfs.img", dir);
	int r;
	if ((r = vmm_pause(s->vmm, err)) < 0 || (r = vmm_snapshot(s->vmm, dir, err)) < 0)
		return r;
	if (s->disk.format == DISK_FORMAT_QCOW2) {
		char *ov = xasprintf("%s/overlay.qcow2", dir);
		char *argv[] = {"cp", "--reflink=auto", "--sparse=always", s->disk.path, ov, NULL};
		if ((r = rt_run(argv, err)) < 0) {
			free(ov);
			return r;
		}
		*ret_overlay = ov;
		return 0;
	}
	return rt_flatten(&s->disk, img, err);
}

/* Snapshot sandbox id into <data>/templates/<snap_id>/ and register the
 * template (and, when listed, the snapshot row). */
static int take(struct runtime *rt, const char *id, const char *snap_id, const char *name,
		bool listed, bool quiesce, struct wr_err *err)
{
	struct sbx *s = runtime_id_valid(id) ? rt_sbx_get(rt, id) : NULL;
	if (!s)
		return wr_err_set(err, ENOENT, "sandbox %s not found", id ? id : "(null)");
	pthread_mutex_lock(&s->lock);
	int r = 0;
	if (!s->listed)
		r = wr_err_set(err, ENOENT, "sandbox %s not found", id);
	else if (s->state != STORE_SB_RUNNING || !s->vmm)
		r = wr_err_set(err, EBUSY,
			       "sandbox %s is %s; only a running sandbox can be "
			       "snapshotted",
			       id, store_sb_state_name(s->state));
	else if (rt->vmm.kind != VMM_KIND_QEMU)
		r = wr_err_set(err, ENOTSUP,
			       "snapshots of running sandboxes need the QEMU backend");
	else if (s->nvols)
		/* every clone would need the one image the sandbox holds (volumes.h) */
		r = wr_err_set(err, EBUSY,
			       "sandbox %s has volume %s attached; a snapshot or fork of it would "
			       "share the volume, which only one sandbox may use at a time",
			       id, s->vols[0].id);
	if (r < 0) {
		pthread_mutex_unlock(&s->lock);
		rt_sbx_put(s);
		return r;
	}
	cleanup_free char *root = xasprintf("%s/templates", rt->data_dir);
	cleanup_free char *dir = xasprintf("%s/%s", root, snap_id);
	cleanup_free char *img = xasprintf("%s/rootfs.img", dir);
	cleanup_free char *overlay = NULL;
	mkdir_p(root, 0750);
	if (mkdir(dir, 0750) < 0) {
		r = wr_err_errno(err, errno, "mkdir %s", dir);
		pthread_mutex_unlock(&s->lock);
		rt_sbx_put(s);
		return r;
	}
	if (s->token) {
		cleanup_free char *tf = xasprintf("%s/" RT_SNAP_TOKEN_FILE, dir);
		write_file_atomic(tf, s->token, strlen(s->token), 0600);
	}
	if (quiesce)
		rt_quiesce(s);
	r = capture(s, dir, &overlay, err);
	/* The source runs on whatever happened. */
	struct wr_err e2 = {0};
	if (vmm_resume(s->vmm, &e2) < 0) {
		log_warn("snapshot %s: resume source %s: %s", snap_id, id, wr_err_msg(&e2));
		rt_sbx_release(s, false);
		s->state = STORE_SB_ERROR;
		store_sandbox_set_state(rt->store, id, STORE_SB_ERROR, wr_err_msg(&e2), NULL);
		rt_sbx_unlist(rt, s);
		if (r >= 0)
			r = wr_err_set(err, EIO, "source sandbox lost after snapshot: %s",
				       wr_err_msg(&e2));
	}
	int vcpus = s->vcpus, mem = s->memory_mb;
	cleanup_free char *tpl = xstrdup(s->template ? s->template : "");
	cleanup_free char *kernel = xstrdup(s->kernel ? s->kernel : rt->kernel_path);
	pthread_mutex_unlock(&s->lock);
	rt_sbx_put(s);

	if (r >= 0 && overlay) {
		char *argv[] = {"qemu-img", "convert", "-q", "-f",    "qcow2", "-O",
				"raw",	    "-S",      "4k", overlay, img,     NULL};
		r = rt_run(argv, err);
		unlink(overlay);
	}
	if (r >= 0) {
		cleanup_free char *memf = xasprintf("%s/memory", dir);
		if (access(memf, F_OK) == 0 && memfile_punch_zeros(memf, &e2) < 0)
			log_warn("snapshot %s: %s", snap_id, wr_err_msg(&e2));
	}
	int64_t app = 0, alloc = 0;
	rt_dir_sizes(dir, &app, &alloc);
	if (r >= 0) {
		struct store_template t = {
			.name = (char *)snap_id,
			.kind = STORE_TPL_SNAPSHOT,
			.rootfs_path = img,
			.kernel_path = kernel,
			.snapshot_dir = dir,
			.parent = tpl,
			.vcpus = vcpus,
			.memory_mb = mem,
			.size_bytes = alloc,
		};
		r = store_template_put(rt->store, &t, err);
	}
	if (r >= 0 && listed) {
		struct store_snapshot sn = {.id = (char *)snap_id,
					    .name = (char *)name,
					    .sandbox_id = (char *)id,
					    .template = tpl,
					    .dir = dir,
					    .size_bytes = alloc};
		if ((r = store_snapshot_add(rt->store, &sn, err)) < 0)
			store_template_delete(rt->store, snap_id, NULL);
	}
	if (r < 0) {
		rm_rf(dir);
		return wr_err_prefix(err, r, "snapshot %s", id);
	}
	log_info("snapshot %s of %s: %lld bytes (%lld allocated)", snap_id, id, (long long)app,
		 (long long)alloc);
	store_event_add(rt->store, id, "snapshot", snap_id, NULL);
	return 0;
}

int runtime_snapshot_create(struct runtime *rt, const char *id, const char *name,
			    struct runtime_snapshot *ret, struct wr_err *err)
{
	if (name && *name && !name_ok(name))
		return wr_err_set(err, EINVAL, "invalid snapshot name \"%s\"", name);
	if (name && !*name)
		name = NULL;
	struct store_snapshot old = {0};
	if (name && store_snapshot_get(rt->store, name, &old, NULL) == 0) {
		store_snapshot_done(&old);
		return wr_err_set(err, EEXIST, "snapshot name %s is taken", name);
	}
	char snap_id[RUNTIME_ID_MAX];
	int r = mint(SNAP_ID_PREFIX, snap_id);
	if (r < 0)
		return wr_err_errno(err, -r, "getrandom");
	if ((r = take(rt, id, snap_id, name, true, true, err)) < 0)
		return r;
	return ret ? runtime_snapshot_get(rt, snap_id, ret, err) : 0;
}

int runtime_template_checkpoint(struct runtime *rt, const char *id, const char *name,
				struct wr_err *err)
{
	/* the caller synced the guest; its page cache stays for the next step (memory and disk
	 * are captured at one instant, so the restore is consistent either way) */
	return take(rt, id, name, NULL, false, false, err);
}

int runtime_snapshot_get(struct runtime *rt, const char *id_or_name, struct runtime_snapshot *ret,
			 struct wr_err *err)
{
	struct store_snapshot row = {0};
	int r = store_snapshot_get(rt->store, id_or_name ? id_or_name : "", &row, NULL);
	if (r < 0)
		return wr_err_set(err, ENOENT, "snapshot %s not found",
				  id_or_name ? id_or_name : "");
	from_row(rt, &row, ret);
	store_snapshot_done(&row);
	return 0;
}

int runtime_snapshot_list(struct runtime *rt, const char *sandbox_id, const char *cursor, int limit,
			  struct runtime_snapshot **ret_rows, size_t *ret_n, char **ret_next,
			  struct wr_err *err)
{
	struct store_snapshot *rows = NULL;
	size_t n = 0;
	int r = store_snapshot_list(rt->store, sandbox_id, cursor, limit, &rows, &n, ret_next, err);
	if (r < 0)
		return r;
	struct runtime_snapshot *out = xcalloc(n ? n : 1, sizeof(*out));
	for (size_t i = 0; i < n; i++)
		from_row(rt, &rows[i], &out[i]);
	store_snapshot_list_free(rows, n);
	*ret_rows = out;
	*ret_n = n;
	return 0;
}

int runtime_snapshot_delete(struct runtime *rt, const char *id_or_name, struct wr_err *err)
{
	struct store_snapshot row = {0};
	int r = store_snapshot_get(rt->store, id_or_name ? id_or_name : "", &row, NULL);
	if (r < 0)
		return wr_err_set(err, ENOENT, "snapshot %s not found",
				  id_or_name ? id_or_name : "");
	cleanup_free char *id = xstrdup(row.id);
	store_snapshot_done(&row);
	/* The template row carries the in-use check; the snapshot row follows it. */
	return runtime_template_delete(rt, id, err);
}

/* After a destroy: an internal fork snapshot goes with its last child. */
void rt_fork_gc(struct runtime *rt, const char *template)
{
	if (!template || strncmp(template, FORK_ID_PREFIX, strlen(FORK_ID_PREFIX)))
		return;
	struct wr_err e = {0};
	int r = runtime_template_delete(rt, template, &e);
	if (r < 0 && r != -EBUSY && r != -ENOENT)
		log_warn("fork snapshot %s: %s", template, wr_err_msg(&e));
}

struct fork_job {
	pthread_t th;
	bool started;
	struct runtime *rt;
	struct runtime_create_spec spec;
	struct runtime_info *ret;
	struct wr_err *err;
	int r;
};

static void *fork_one(void *arg)
{
	struct fork_job *j = arg;
	j->r = runtime_create(j->rt, &j->spec, j->ret, j->err);
	return NULL;
}

int runtime_fork(struct runtime *rt, const char *id, int count, int timeout_s,
		 struct runtime_info *ret, struct wr_err *ret_err, struct wr_err *err)
{
	if (count < 1 || count > 100)
		return wr_err_set(err, EINVAL, "count must be 1..100, got %d", count);
	if (timeout_s < 0)
		return wr_err_set(err, EINVAL, "timeout must be >= 0 seconds");
	struct runtime_info src = {0};
	int r = runtime_get(rt, id, &src, err);
	if (r < 0)
		return r;
	char snap_id[RUNTIME_ID_MAX];
	if ((r = mint(FORK_ID_PREFIX, snap_id)) < 0) {
		runtime_info_done(&src);
		return wr_err_errno(err, -r, "getrandom");
	}
	if ((r = take(rt, id, snap_id, NULL, false, true, err)) < 0) {
		runtime_info_done(&src);
		return wr_err_prefix(err, r, "fork");
	}
	struct fork_job *jobs = xcalloc((size_t)count, sizeof(*jobs));
	for (int i = 0; i < count; i++) {
		struct fork_job *j = &jobs[i];
		j->rt = rt;
		j->spec = (struct runtime_create_spec){
			.template = snap_id,
			.timeout_s = timeout_s,
			.env_vars = src.env_vars,
			.metadata = src.metadata,
			.allow_internet = src.allow_internet,
			.secure = src.envd_token != NULL,
			.allow_out = src.allow_out,
			.deny_out = src.deny_out,
			.private_traffic = src.private_traffic,
			.team = src.team, /* forks belong to the source's team */
		};
		j->ret = &ret[i];
		j->err = &ret_err[i];
		ret[i] = (struct runtime_info){0};
		wr_err_clear(&ret_err[i]);
		j->started = pthread_create(&j->th, NULL, fork_one, j) == 0;
		if (!j->started)
			fork_one(j);
	}
	int ok = 0;
	for (int i = 0; i < count; i++) {
		if (jobs[i].started)
			pthread_join(jobs[i].th, NULL);
		if (jobs[i].r == 0)
			ok++;
	}
	free(jobs);
	runtime_info_done(&src);
	/* No child (left): the snapshot has no user. */
	rt_fork_gc(rt, snap_id);
	if (!ok)
		return wr_err_set(err, EIO, "fork %s: no child started (%s)", id,
				  wr_err_msg(&ret_err[0]));
	log_info("forked %s into %d/%d sandboxes", id, ok, count);
	return 0;
}
