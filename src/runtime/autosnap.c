/* SPDX-License-Identifier: MIT */
/*
 * Automatic snapshot templates: the normal create path for built-in
 * templates.  The first create of (template, vCPUs, memory) boots and, in the
 * background, a snapshot template "auto-<template>-<vcpus>c-<mem>m-<key>" is
 * built; later creates restore it.  The key hashes the image's and kernel's
 * path, inode, size and mtime, so a rebuilt image gets a new snapshot instead
 * of restoring a stale one.  One build runs at a time; builds asked for meanwhile wait in a
 * short queue (RT_AUTO_PENDING_MAX) and run next on the same thread.
 */
#include "runtime/runtime-internal.h"

#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define AUTO_PREFIX "auto-"

struct auto_job {
	struct runtime *rt;
	char *name, *from;
	int vcpus, mem;
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t file_key(uint64_t h, const char *path)
{
	struct stat st = {0};
	stat(path, &st);
	h = fnv(h, path, strlen(path));
	int64_t v[] = {(int64_t)st.st_ino, (int64_t)st.st_size, (int64_t)st.st_mtim.tv_sec,
		       (int64_t)st.st_mtim.tv_nsec};
	return fnv(h, v, sizeof(v));
}

bool rt_auto_enabled(struct runtime *rt)
{
	return rt->auto_snapshot && rt->vmm.kind == VMM_KIND_QEMU;
}

char *rt_auto_name(const struct rt_template *t, int vcpus, int mem)
{
	uint64_t h = file_key(file_key(0xcbf29ce484222325ULL, t->rootfs), t->kernel);
	/* Snapshots taken before tap0 had a fixed MAC cache a gateway MAC that
	 * no namespace has any more (and the host no longer ARPs for the guest):
	 * a new key makes them be rebuilt instead of restored. */
	static const char net_gen[] = "tap-mac-02fc00000001";
	h = fnv(h, net_gen, sizeof(net_gen) - 1);
	/* A snapshot restores only under the CPU model it was taken with (WRENN_TCG_CPU; under
	 * KVM always "host": a changed setting there merely rebuilds). */
	const char *cpu = vmm_qemu_cpu(VM_ACCEL_TCG);
	h = fnv(h, cpu, strlen(cpu));
	h = fnv(h, VMM_TCG_KERNEL_ARGS, sizeof(VMM_TCG_KERNEL_ARGS) - 1);
	return xasprintf(AUTO_PREFIX "%s-%dc-%dm-%08x", t->name, vcpus, mem,
			 (unsigned)(h ^ (h >> 32)));
}

static void job_free(struct auto_job *j)
{
	free(j->name);
	free(j->from);
	free(j);
}

/* The builder thread: the job it was started with, then each one queued meanwhile. */
static void *build_main(void *arg)
{
	struct auto_job *j = arg;
	struct runtime *rt = j->rt;
	while (j) {
		struct wr_err e = {0};
		log_info("auto snapshot %s: building from %s in the background", j->name, j->from);
		int r = runtime_template_build(rt, j->name, j->from, j->vcpus, j->mem, &e);
		if (r < 0 && r != -EEXIST)
			log_warn("auto snapshot %s: %s (creates keep booting)", j->name,
				 wr_err_msg(&e));
		else if (r == 0)
			log_info("auto snapshot %s ready", j->name);
		if (r == 0)
			rt_auto_warm(rt, j->from, j->vcpus, j->mem);
		job_free(j);
		j = NULL;
		pthread_mutex_lock(&rt->auto_lock);
		if (rt->auto_npending && !rt->auto_closed) {
			j = rt->auto_pending[0];
			memmove(rt->auto_pending, rt->auto_pending + 1,
				--rt->auto_npending * sizeof(rt->auto_pending[0]));
		} else {
			rt->auto_busy = false;
		}
		pthread_mutex_unlock(&rt->auto_lock);
	}
	return NULL;
}

void rt_auto_build(struct runtime *rt, const char *name, const char *from, int vcpus, int mem)
{
	pthread_mutex_lock(&rt->auto_lock);
	if (rt->auto_closed) {
		pthread_mutex_unlock(&rt->auto_lock);
		return;
	}
	if (rt->auto_busy) {
		/* queued for the running builder, once; a full queue drops it (the next create of
		 * that shape asks again) */
		bool queued = false;
		for (size_t i = 0; i < rt->auto_npending && !queued; i++)
			queued = !strcmp(rt->auto_pending[i]->name, name);
		if (!queued && rt->auto_npending < RT_AUTO_PENDING_MAX) {
			struct auto_job *q = xcalloc(1, sizeof(*q));
			*q = (struct auto_job){rt, xstrdup(name), xstrdup(from), vcpus, mem};
			rt->auto_pending[rt->auto_npending++] = q;
		}
		pthread_mutex_unlock(&rt->auto_lock);
		return;
	}
	/* The previous builder has finished (not busy): collect it first. */
	if (rt->auto_started) {
		pthread_join(rt->auto_thread, NULL);
		rt->auto_started = false;
	}
	struct auto_job *j = xcalloc(1, sizeof(*j));
	*j = (struct auto_job){rt, xstrdup(name), xstrdup(from), vcpus, mem};
	rt->auto_busy = true;
	if (pthread_create(&rt->auto_thread, NULL, build_main, j) == 0) {
		rt->auto_started = true;
	} else {
		rt->auto_busy = false;
		job_free(j);
	}
	pthread_mutex_unlock(&rt->auto_lock);
}

void rt_auto_stop(struct runtime *rt)
{
	pthread_mutex_lock(&rt->auto_lock);
	bool started = rt->auto_started;
	rt->auto_started = false;
	rt->auto_closed = true;
	pthread_mutex_unlock(&rt->auto_lock);
	if (started)
		pthread_join(rt->auto_thread, NULL);
	/* the builder takes no queued job once closed: what is left is ours to free */
	for (size_t i = 0; i < rt->auto_npending; i++)
		job_free(rt->auto_pending[i]);
	rt->auto_npending = 0;
}

int rt_auto_lookup(struct runtime *rt, const struct rt_template *t, int vcpus, int mem,
		   struct rt_template *ret)
{
	cleanup_free char *name = rt_auto_name(t, vcpus, mem);
	struct store_template st = {0};
	if (store_template_get(rt->store, name, &st, NULL) == 0) {
		cleanup_free char *meta =
			st.snapshot_dir ? xasprintf("%s/wrenn-vmm.json", st.snapshot_dir) : NULL;
		if (meta && access(meta, R_OK) == 0 && st.rootfs_path &&
		    access(st.rootfs_path, R_OK) == 0) {
			ret->name = xstrdup(t->name);
			ret->rootfs = xstrdup(st.rootfs_path);
			ret->kernel = xstrdup(t->kernel);
			ret->snapshot_dir = xstrdup(st.snapshot_dir);
			ret->vcpus = vcpus;
			ret->memory_mb = mem;
			store_template_done(&st);
			return 1;
		}
		/* Files gone: drop the row so it is rebuilt. */
		store_template_done(&st);
		store_template_delete(rt->store, name, NULL);
	}
	rt_auto_build(rt, name, t->name, vcpus, mem);
	return 0;
}

void rt_auto_warm(struct runtime *rt, const char *from, int vcpus, int mem)
{
	if (!rt->warm_target || !rt_auto_enabled(rt))
		return;
	struct rt_template t = {0}, a = {0};
	if (rt_template_lookup(rt, from, &t, NULL) == 0 && !t.snapshot_dir &&
	    rt_auto_lookup(rt, &t, vcpus, mem, &a) == 1) {
		rt_warm_register(rt, &a, vcpus, mem);
		rt_template_done(&a);
	}
	rt_template_done(&t);
}

int runtime_template_prewarm(struct runtime *rt, const char *template, int vcpus, int memory_mb,
			     struct wr_err *err)
{
	if (!rt_auto_enabled(rt))
		return wr_err_set(err, ENOTSUP, "automatic snapshots are off");
	struct rt_template t = {0};
	int r = rt_template_lookup(rt, template, &t, err);
	if (r < 0)
		return r;
	if (t.snapshot_dir) {
		rt_template_done(&t);
		return 0;
	}
	int v = vcpus ? vcpus : VM_DEFAULT_VCPUS, m = memory_mb ? memory_mb : VM_DEFAULT_MEMORY_MB;
	cleanup_free char *name = rt_auto_name(&t, v, m);
	struct store_template st = {0};
	if (store_template_get(rt->store, name, &st, NULL) == 0) {
		store_template_done(&st);
		rt_auto_warm(rt, t.name, v, m);
		rt_template_done(&t);
		return 0;
	}
	r = runtime_template_build(rt, name, t.name, v, m, err);
	if (r >= 0 || r == -EEXIST)
		rt_auto_warm(rt, t.name, v, m);
	rt_template_done(&t);
	return r == -EEXIST ? 0 : r;
}
