/* SPDX-License-Identifier: MIT */
/* Snapshot templates: build (boot once, snapshot with file-backed RAM) and delete. */
#include "runtime/runtime-internal.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "vm/memfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static bool name_ok(const char *n)
{
	if (!n || !*n || strlen(n) > 63 || !strcmp(n, "base"))
		return false;
	for (const char *c = n; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-' ||
		      *c == '_' || *c == '.'))
			return false;
	return n[0] != '.';
}

int rt_run(char *const argv[], struct wr_err *err)
{
	pid_t pid = fork();
	if (pid < 0)
		return wr_err_errno(err, errno, "fork");
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
		}
		execvp(argv[0], argv);
		_exit(127);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		return wr_err_set(err, EIO, "%s failed (status %d)", argv[0], st);
	return 0;
}

/* The snapshot-time disk as a raw image (what every clone's CoW disk is based on). */
int rt_flatten(const struct disk_result *d, const char *dst, struct wr_err *err)
{
	if (d->format == DISK_FORMAT_QCOW2) {
		char *argv[] = {"qemu-img",  "convert", "-q", "-f", "qcow2",
				"-O",	     "raw",	"-S", "4k", (char *)d->path,
				(char *)dst, NULL};
		return rt_run(argv, err);
	}
	char *argv[] = {"cp", "--reflink=auto", "--sparse=always", (char *)d->path, (char *)dst,
			NULL};
	return rt_run(argv, err);
}

int runtime_template_build(struct runtime *rt, const char *name, const char *from, int vcpus,
			   int memory_mb, struct wr_err *err)
{
	return runtime_template_build_with(rt, name, from, vcpus, memory_mb, NULL, err);
}

int runtime_template_build_with(struct runtime *rt, const char *name, const char *from, int vcpus,
				int memory_mb, const struct runtime_build_hook *hook,
				struct wr_err *err)
{
	if (!name_ok(name))
		return wr_err_set(err, EINVAL, "invalid template name \"%s\"", name ? name : "");
	if (rt->vmm.kind != VMM_KIND_QEMU)
		return wr_err_set(err, ENOTSUP, "snapshot templates need the QEMU backend");
	struct store_template old = {0};
	if (store_template_get(rt->store, name, &old, NULL) == 0) {
		store_template_done(&old);
		return wr_err_set(err, EEXIST, "template %s already exists", name);
	}
	cleanup_free char *root = xasprintf("%s/templates", rt->data_dir);
	cleanup_free char *dir = xasprintf("%s/%s", root, name);
	cleanup_free char *mem = xasprintf("%s/memory", dir);
	cleanup_free char *img = xasprintf("%s/rootfs.img", dir);
	int r = mkdir_p(root, 0750);
	if (r < 0)
		return wr_err_errno(err, -r, "mkdir %s", root);
	if (mkdir(dir, 0750) < 0)
		return wr_err_errno(err, errno, "mkdir %s", dir);

	/* From a snapshot template (a build step checkpoint, a built template) the build VM
	 * restores with its RAM in our memory file, so that file starts as a copy of its RAM. */
	struct store_template ft = {0};
	if (store_template_get(rt->store, from ? from : "", &ft, NULL) == 0 &&
	    ft.kind == STORE_TPL_SNAPSHOT && ft.snapshot_dir) {
		cleanup_free char *fm = xasprintf("%s/memory", ft.snapshot_dir);
		if (access(fm, F_OK) == 0 && (r = memfile_copy(fm, mem, err)) < 0) {
			store_template_done(&ft);
			rm_rf(dir);
			return wr_err_prefix(err, r, "build template %s", name);
		}
	}
	store_template_done(&ft);

	struct runtime_create_spec spec = {.template = from,
					   .vcpus = vcpus,
					   .memory_mb = memory_mb,
					   .allow_internet = hook && hook->allow_internet};
	struct rt_create_opts o = {.mem_file = mem, .no_init = true};
	char id[RUNTIME_ID_MAX];
	/* A template built for creates: the warm pool serves it (an automatic snapshot's pool is
	 * registered under its built-in's name by autosnap.c instead). */
	bool warm = strncmp(name, "auto-", 5) != 0;
	struct rt_template wt = {0}; /* what the pool needs of it, once it is published */
	r = rt_create(rt, &spec, &o, id, err);
	if (r < 0) {
		rm_rf(dir);
		return wr_err_prefix(err, r, "build template %s", name);
	}
	struct sbx *s = rt_sbx_get(rt, id);
	if (hook && hook->started)
		hook->started(hook->ud, id);
	/* The hook talks to envd through runtime_connect, which takes the lock itself. */
	if (hook && hook->run && (r = hook->run(rt, id, hook->ud, err)) < 0) {
		pthread_mutex_lock(&s->lock);
		goto out;
	}
	pthread_mutex_lock(&s->lock);
	if (!s->listed || !s->vmm) {
		r = wr_err_set(err, ECANCELED, "build sandbox %s went away", id);
		goto out;
	}
	if (hook)
		rt_quiesce(s);
	/* RAM is the shared file: the snapshot writes only device state. */
	if ((r = vmm_pause(s->vmm, err)) < 0 || (r = vmm_snapshot(s->vmm, dir, err)) < 0)
		goto out;
	/* Quit so QEMU flushes its disk cache before the disk is copied. */
	vmm_stop(s->vmm, 5000, NULL);
	if ((r = rt_flatten(&s->disk, img, err)) < 0)
		goto out;
	if (hook) {
		cleanup_free char *mark = xasprintf("%s/" RT_BUILD_DEFAULTS_MARK, dir);
		if ((r = write_file_atomic(mark, "", 0, 0640)) < 0) {
			r = wr_err_errno(err, -r, "write %s", mark);
			goto out;
		}
	}
	if (warm) {
		cleanup_free char *mark = xasprintf("%s/" RT_WARM_MARK, dir);
		if ((r = write_file_atomic(mark, "", 0, 0640)) < 0) {
			r = wr_err_errno(err, -r, "write %s", mark);
			goto out;
		}
	}
	struct store_template t = {
		.name = (char *)name,
		.kind = STORE_TPL_SNAPSHOT,
		.rootfs_path = img,
		.kernel_path = s->kernel,
		.snapshot_dir = dir,
		.parent = s->template,
		.vcpus = s->vcpus,
		.memory_mb = s->memory_mb,
	};
	struct wr_err e2 = {0};
	if (memfile_punch_zeros(mem, &e2) < 0)
		log_warn("template %s: %s", name, wr_err_msg(&e2));
	int64_t app = 0;
	rt_dir_sizes(dir, &app, &t.size_bytes);
	r = store_template_put(rt->store, &t, err);
	if (r >= 0 && warm)
		wt = (struct rt_template){.name = xstrdup(name),
					  .rootfs = xstrdup(img),
					  .kernel = xstrdup(s->kernel),
					  .snapshot_dir = xstrdup(dir),
					  .vcpus = s->vcpus,
					  .memory_mb = s->memory_mb};
out:
	/* The build sandbox is an artefact: remove it and its row. */
	rt_sbx_release(s, false);
	store_sandbox_delete(rt->store, id, NULL);
	rt_sbx_unlist(rt, s);
	pthread_mutex_unlock(&s->lock);
	rt_sbx_put(s);
	if (r < 0) {
		rm_rf(dir);
		return wr_err_prefix(err, r, "build template %s", name);
	}
	store_event_add(rt->store, NULL, "template_built", name, NULL);
	/* Its pool fills now, while nothing else runs: the first create after the build takes a
	 * ready entry or waits for the one being built (rt_warm_take) instead of restoring a VM
	 * of its own. */
	rt_warm_register_built(rt, &wt);
	rt_template_done(&wt);
	return 0;
}

int runtime_template_delete(struct runtime *rt, const char *name, struct wr_err *err)
{
	struct store_template t = {0};
	int r = store_template_get(rt->store, name ? name : "", &t, NULL);
	if (r < 0)
		return wr_err_set(err, ENOENT, "template \"%s\" not found", name ? name : "");
	if (t.kind != STORE_TPL_SNAPSHOT) {
		store_template_done(&t);
		return wr_err_set(err, EINVAL, "template %s is built in, not deletable", name);
	}
	/* An automatic snapshot template's clones are recorded under the built-in template's
	 * name (t.parent), yet their qcow2 disks are backed by its rootfs.img and their RAM
	 * maps its memory file: while any of them lives it must stay (refusing is
	 * conservative: a sandbox of the parent may have cold-booted instead). */
	if (t.parent && !strncmp(name, "auto-", 5)) {
		struct store_sandbox_filter f = {
			.states = (1u << STORE_SB_CREATING) | (1u << STORE_SB_RUNNING) |
				  (1u << STORE_SB_PAUSED),
			.template = t.parent,
		};
		struct store_sandbox *rows = NULL;
		size_t n = 0;
		cleanup_free char *next = NULL;
		r = store_sandbox_list(rt->store, &f, NULL, 1, &rows, &n, &next, err);
		if (r >= 0 && n > 0)
			r = wr_err_set(err, EBUSY,
				       "template %s is still in use: sandbox %s (from %s) runs on "
				       "its disk and memory",
				       name, rows[0].id, t.parent);
		store_sandbox_list_free(rows, n);
		if (r < 0) {
			store_template_done(&t);
			return r;
		}
	}
	/* Warm entries hold clones of its disk and map its memory. */
	rt_warm_forget(rt, t.snapshot_dir);
	r = store_template_delete(rt->store, name, err);
	if (r == -EBUSY)
		wr_err_set(err, EBUSY, "template %s is still in use by sandboxes", name);
	if (r >= 0) {
		store_snapshot_delete(rt->store, name, NULL);
		if (t.snapshot_dir)
			rm_rf(t.snapshot_dir);
	}
	store_template_done(&t);
	return r;
}
