/* SPDX-License-Identifier: MIT */
/* Volumes attached to a sandbox (runtime-internal.h rt_vol_*); volumes.c makes and deletes them. */
#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "runtime/runtime-internal.h"
#include "runtime/volumes.h"

#include <errno.h>
#include <string.h>
#include <time.h>

int rt_vol_resolve(struct sbx *s, const struct runtime_create_spec *sp, struct wr_err *err)
{
	if (sp->n_volumes > VM_MAX_EXTRA_DISKS)
		return wr_err_set(err, EINVAL, "at most %d volume mounts per sandbox",
				  VM_MAX_EXTRA_DISKS);
	for (size_t i = 0; i < sp->n_volumes; i++) {
		const struct runtime_volume_mount *m = &sp->volumes[i];
		if (!m->volume || !*m->volume)
			return wr_err_set(err, EINVAL, "volumeMounts[%zu]: no volume name", i);
		if (!vm_valid_mount_path(m->path))
			return wr_err_set(
				err, EINVAL,
				"volumeMounts[%zu]: path \"%s\" is not allowed (absolute, at most %d "
				"characters of [A-Za-z0-9._/-], no . or .. components, not / or a "
				"system directory such as /proc /sys /dev /run /etc /usr)",
				i, m->path ? m->path : "", VM_MOUNT_PATH_MAX);
		struct store_volume v = {0};
		int r = store_volume_get(s->rt->store, m->volume, s->team, &v, err);
		if (r == -ENOENT)
			return wr_err_set(err, EINVAL, "volumeMounts[%zu]: volume %s not found", i,
					  m->volume);
		if (r < 0)
			return r;
		for (int k = 0; k < s->nvols; k++)
			if (!strcmp(s->vols[k].id, v.id) || !strcmp(s->vols[k].mount, m->path)) {
				store_volume_done(&v);
				return wr_err_set(err, EINVAL,
						  "volumeMounts[%zu]: volume or path given twice",
						  i);
			}
		/* published under the registry lock: runtime_volume_mounts reads them without
		 * waiting for this sandbox's lock (held across a whole create or pause) */
		pthread_mutex_lock(&s->rt->lock);
		struct rt_vol *o = &s->vols[s->nvols];
		o->id = TAKE_PTR(v.id);
		o->image = TAKE_PTR(v.path);
		o->mount = xstrdup(m->path);
		s->nvols++;
		pthread_mutex_unlock(&s->rt->lock);
		store_volume_done(&v);
	}
	return 0;
}

int rt_vol_claim_wait(struct store *st, const char *id, const char *holder, struct wr_err *err)
{
	/* A content request answers its client just before it lets go of the image: a create
	 * (or delete) that client sends next waits for that instead of failing. */
	for (int tries = 0;; tries++) {
		struct wr_err e = {0};
		int r = store_volume_claim(st, id, holder, &e);
		if (r != -EBUSY || tries == 100 || !strstr(wr_err_msg(&e), "content request")) {
			if (r < 0)
				*err = e;
			return r;
		}
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
}

int rt_vol_claim(struct sbx *s, struct wr_err *err)
{
	for (int i = 0; i < s->nvols; i++) {
		int r = rt_vol_claim_wait(s->rt->store, s->vols[i].id, s->id, err);
		if (r < 0) {
			store_volume_release(s->rt->store, NULL, s->id, NULL);
			return r;
		}
	}
	return 0;
}

void rt_vol_release(struct sbx *s)
{
	struct wr_err e = {0};
	if (s->nvols && store_volume_release(s->rt->store, NULL, s->id, &e) < 0)
		log_warn("sandbox %s: release volumes: %s", s->id, wr_err_msg(&e));
}

int rt_vol_config(struct sbx *s, struct wr_err *err)
{
	for (int i = 0; i < s->nvols; i++) {
		int r = vm_config_add_disk(&s->cfg, s->vols[i].image, s->vols[i].id,
					   s->vols[i].mount, err);
		if (r < 0)
			return r;
	}
	return 0;
}

void rt_vol_free(struct sbx *s)
{
	for (int i = 0; i < s->nvols; i++) {
		free(s->vols[i].id);
		free(s->vols[i].image);
		free(s->vols[i].mount);
		s->vols[i] = (struct rt_vol){0};
	}
	s->nvols = 0;
}

void rt_vol_state_write(const struct sbx *s, json_t *j)
{
	if (!s->nvols)
		return;
	json_t *a = json_array();
	for (int i = 0; i < s->nvols; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "id", s->vols[i].id, "image",
						   s->vols[i].image, "path", s->vols[i].mount));
	json_object_set_new(j, "volumes", a);
}

void rt_vol_state_read(struct sbx *s, const json_t *j)
{
	rt_vol_free(s);
	json_t *a = json_object_get(j, "volumes");
	size_t i;
	json_t *e;
	json_array_foreach(a, i, e)
	{
		const char *id = json_string_value(json_object_get(e, "id"));
		const char *img = json_string_value(json_object_get(e, "image"));
		const char *p = json_string_value(json_object_get(e, "path"));
		if (!id || !img || !p || s->nvols >= VM_MAX_EXTRA_DISKS)
			continue;
		struct rt_vol *o = &s->vols[s->nvols++];
		o->id = xstrdup(id);
		o->image = xstrdup(img);
		o->mount = xstrdup(p);
	}
}

int runtime_volume_mounts(struct runtime *rt, const char *id, struct runtime_volume_mount **ret,
			  size_t *ret_n, struct wr_err *err)
{
	struct sbx *s = runtime_id_valid(id) ? rt_sbx_get(rt, id) : NULL;
	if (!s)
		return wr_err_set(err, ENOENT, "sandbox %s not found", id ? id : "(null)");
	pthread_mutex_lock(&rt->lock);
	struct runtime_volume_mount *v = xcalloc((size_t)s->nvols + 1, sizeof(*v));
	size_t n = 0;
	for (int i = 0; i < s->nvols; i++, n++) {
		v[n].volume = xstrdup(s->vols[i].id);
		v[n].path = xstrdup(s->vols[i].mount);
	}
	pthread_mutex_unlock(&rt->lock);
	rt_sbx_put(s);
	*ret = v;
	*ret_n = n;
	return 0;
}

void runtime_volume_mounts_free(struct runtime_volume_mount *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free((char *)v[i].volume);
		free((char *)v[i].path);
	}
	free(v);
}
