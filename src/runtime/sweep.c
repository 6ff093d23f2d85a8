/* SPDX-License-Identifier: MIT */
/*
 * Startup sweep.  What a previous agent left is classified by its store row:
 *   creating  -> the create never finished: everything is removed, row deleted;
 *   running   -> VMM alive (pid + cmdline names our sandbox dir): re-attached;
 *                otherwise cleaned up and marked error;
 *   paused    -> snapshot present and slot re-reserved: stays paused.
 * Then strays are removed: VMM processes started from this data dir that no
 * live sandbox owns, sandbox dirs without a live sandbox, VM mount-point
 * dirs, and (through the slot pool) namespaces, links, claims and nft state.
 */
#include "runtime/runtime-internal.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "store/volumes.h"
#include "vm/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* The VMM's argv mentions <sandboxes_dir>/<id>/ (its QMP socket/log): that
 * tells our VMM apart from a reused pid. */
static bool cmdline_is_ours(struct runtime *rt, pid_t pid, const char *id)
{
	cleanup_free char *path = xasprintf("/proc/%d/cmdline", (int)pid);
	cleanup_free char *buf = NULL;
	size_t len = 0;
	if (pid <= 0 || read_file(path, 1 << 20, &buf, &len) < 0)
		return false;
	cleanup_free char *want = id ? xasprintf("%s/%s/", rt->sandboxes_dir, id)
				     : xasprintf("%s/cl-", rt->sandboxes_dir);
	size_t wl = strlen(want);
	for (size_t i = 0; i + wl <= len; i++)
		if (!memcmp(buf + i, want, wl))
			return true;
	return false;
}

static void kill_wait(pid_t pid)
{
	int fd = pidfd_open_(pid);
	if (kill(-pid, SIGKILL) < 0)
		kill(pid, SIGKILL);
	if (fd >= 0) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		poll(&p, 1, 3000);
		close(fd);
	}
}

static bool is_live(struct runtime *rt, const char *id)
{
	struct sbx *s = rt_sbx_get(rt, id);
	rt_sbx_put(s);
	return s != NULL;
}

/* Remove host objects of a dead sandbox (VMM already gone). */
static void cleanup_dead(struct sbx *s, bool keep_dir)
{
	struct wr_err e = {0};
	if (s->has_disk && s->disk_ops && !keep_dir && s->disk_ops->remove(&s->disk, &e) < 0)
		log_warn("sweep %s: remove disk: %s", s->id, wr_err_msg(&e));
	s->has_disk = false;
	/* its cgroup, left when its VMM died with the previous agent (by name: other
	 * agents' cgroups in the same slice are not ours to touch) */
	cgroup_remove_name(s->rt->cgroup_parent, s->id);
	rmdir(s->vm_dir);
	if (!keep_dir)
		rm_rf(s->dir);
}

static int reattach(struct runtime *rt, struct sbx *s, struct wr_err *err)
{
	int r = slot_pool_reserve(rt->pool, (unsigned)s->slot, err);
	if (r < 0)
		return r;
	slot_pool_ns_name(rt->pool, (unsigned)s->slot, s->ns);
	if ((r = rt_net_reapply(s, err)) < 0 || (r = rt_sbx_fill_config(s, err)) < 0 ||
	    (r = rt_sbx_vmm_new(s, NULL, err)) < 0)
		goto fail;
	if ((r = vmm_reattach(s->vmm, s->pid, err)) < 0)
		goto fail;
	/* An agent that died mid-pause left the VM stopped but whole: run it again. */
	if (s->vmm->state == VMM_STATE_PAUSED && !s->vmm->mem_is_snapshot &&
	    vmm_resume(s->vmm, NULL) == 0)
		log_info("sweep: %s was left paused mid-pause; resumed", s->id);
	if (s->vmm->state != VMM_STATE_RUNNING) {
		r = wr_err_set(err, EIO, "VMM pid %d is %s, not running", (int)s->pid,
			       vmm_state_name(s->vmm->state));
		goto fail;
	}
	s->reattached = true;
	return 0;
fail:
	vmm_free(s->vmm);
	s->vmm = NULL;
	slot_pool_release(rt->pool, (unsigned)s->slot, NULL);
	return r;
}

static void sweep_row(struct runtime *rt, struct store_sandbox *row)
{
	struct wr_err e = {0};
	struct sbx *s = rt_sbx_new(rt, row->id);
	int have_state = rt_sbx_read_state(rt, s, &e);
	free(s->template);
	s->template = xstrdup(row->template ? row->template : "");
	s->vcpus = row->vcpus;
	s->memory_mb = row->memory_mb;
	s->allow_internet = row->allow_internet;
	s->token = row->envd_token && *row->envd_token ? xstrdup(row->envd_token) : NULL;
	s->team = xstrdup(row->team ? row->team : "");
	if (row->slot >= 0)
		s->slot = row->slot;
	if (row->pid > 0)
		s->pid = row->pid;
	s->state = row->state;
	const char *why = NULL;

	if (row->state == STORE_SB_RUNNING && have_state >= 0 && s->pid > 0 &&
	    cmdline_is_ours(rt, s->pid, s->id) && s->slot >= 0) {
		wr_err_clear(&e);
		if (reattach(rt, s, &e) >= 0 && rt_sbx_insert(rt, s, &e) >= 0) {
			store_event_add(rt->store, s->id, "reattached", NULL, NULL);
			rt_sbx_put(s);
			return;
		}
		why = "re-attach failed";
		vmm_free(s->vmm);
		s->vmm = NULL;
	}
	if (row->state == STORE_SB_PAUSED && have_state >= 0 && s->slot >= 0) {
		cleanup_free char *meta = xasprintf("%s/" RT_SNAP_DIR "/wrenn-vmm.json", s->dir);
		/* The agent died between recording the pause and stopping the VMM: the
		 * snapshot is complete, the stopped VM is not needed. */
		if (s->pid > 0 && cmdline_is_ours(rt, s->pid, s->id)) {
			kill_wait(s->pid);
			log_info("sweep: %s: stopped the VMM of a sandbox paused during a crash",
				 s->id);
		}
		s->pid = 0;
		store_sandbox_set_pid(rt->store, s->id, 0, NULL);
		wr_err_clear(&e);
		if (access(meta, R_OK) == 0 &&
		    slot_pool_reserve(rt->pool, (unsigned)s->slot, &e) >= 0) {
			if (rt_net_reapply(s, &e) >= 0 && rt_sbx_insert(rt, s, &e) >= 0) {
				rt_sbx_put(s);
				return;
			}
			slot_pool_release(rt->pool, (unsigned)s->slot, NULL);
		}
		why = "paused sandbox's snapshot or slot is gone";
	}
	/* Dead: kill a VMM that is still ours, remove its objects. */
	if (s->pid > 0 && cmdline_is_ours(rt, s->pid, s->id))
		kill_wait(s->pid);
	s->slot = -1; /* unclaimed: the pool sweep removes its namespace */
	cleanup_dead(s, false);
	if (row->state == STORE_SB_CREATING) {
		store_event_add(rt->store, s->id, "create_failed",
				"agent stopped during create; rolled back at startup", NULL);
		store_sandbox_delete(rt->store, s->id, NULL);
	} else {
		char msg[512];
		snprintf(msg, sizeof(msg), "lost at agent restart: %s%s%s",
			 why ? why : "VMM process gone", e.code ? ": " : "",
			 e.code ? wr_err_msg(&e) : "");
		store_sandbox_set_pid(rt->store, s->id, 0, NULL);
		store_sandbox_set_state(rt->store, s->id, STORE_SB_ERROR, msg, NULL);
		store_event_add(rt->store, s->id, "error", msg, NULL);
	}
	rt_sbx_put(s);
}

/* VMM processes started from our data dir that no live sandbox owns. */
static void sweep_procs(struct runtime *rt)
{
	cleanup_closedir DIR *d = opendir("/proc");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 1 || pid == getpid() || !cmdline_is_ours(rt, (pid_t)pid, NULL))
			continue;
		/* Which sandbox?  The id follows "<sandboxes_dir>/" in argv. */
		cleanup_free char *path = xasprintf("/proc/%ld/cmdline", pid);
		cleanup_free char *buf = NULL;
		size_t len = 0;
		if (read_file(path, 1 << 20, &buf, &len) < 0)
			continue;
		for (size_t i = 0; i < len; i++)
			if (!buf[i])
				buf[i] = ' ';
		cleanup_free char *pfx = xasprintf("%s/", rt->sandboxes_dir);
		const char *p = strstr(buf, pfx);
		char id[RUNTIME_ID_MAX] = "";
		if (p) {
			p += strlen(pfx);
			size_t n = strcspn(p, "/ ");
			snprintf(id, sizeof(id), "%.*s", (int)n, p);
		}
		if (id[0] && is_live(rt, id))
			continue;
		log_info("sweep: killing stale VMM pid %ld (sandbox %s)", pid, id[0] ? id : "?");
		kill_wait((pid_t)pid);
		/* its cgroup too: a VMM without a row (warm pool, template build) has
		 * no other path to it */
		if (id[0])
			cgroup_remove_name(rt->cgroup_parent, id);
	}
}

static void sweep_dirs(struct runtime *rt)
{
	cleanup_closedir DIR *d = opendir(rt->sandboxes_dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || !strcmp(de->d_name, "..")))
			continue;
		if (is_live(rt, de->d_name))
			continue;
		struct sbx *s = rt_sbx_new(rt, de->d_name);
		rt_sbx_read_state(rt, s, NULL);
		log_info("sweep: removing %s", s->dir);
		cleanup_dead(s, false);
		rt_sbx_put(s);
	}
	cleanup_closedir DIR *v = opendir(rt->vmroot_dir);
	while (v && (de = readdir(v))) {
		if (de->d_name[0] == '.' || is_live(rt, de->d_name))
			continue;
		cleanup_free char *p = xasprintf("%s/%s", rt->vmroot_dir, de->d_name);
		umount2(p, MNT_DETACH); /* only a mount if a launcher died mid-setup */
		rmdir(p);
	}
}

/* An automatic snapshot template is registered (store row) only after its directory is
 * complete, so an auto-* directory without a row is what a crash during its build left.
 * Left in place it would make every later build of it fail (mkdir EEXIST) and every create
 * cold-boot: remove it. */
static void sweep_auto_templates(struct runtime *rt)
{
	cleanup_free char *root = xasprintf("%s/templates", rt->data_dir);
	cleanup_closedir DIR *d = opendir(root);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, "auto-", 5) != 0)
			continue;
		struct store_template t = {0};
		if (store_template_get(rt->store, de->d_name, &t, NULL) == 0) {
			store_template_done(&t);
			continue;
		}
		cleanup_free char *dir = xasprintf("%s/%s", root, de->d_name);
		rm_rf(dir);
		log_info("sweep: removed %s (an automatic template build that never finished)",
			 dir);
	}
}

int rt_sweep(struct runtime *rt, struct wr_err *err)
{
	struct store_sandbox_filter f = {
		.states = (1u << STORE_SB_CREATING) | (1u << STORE_SB_RUNNING) |
			  (1u << STORE_SB_PAUSED),
	};
	cleanup_free char *cursor = NULL;
	do {
		struct store_sandbox *rows = NULL;
		size_t n = 0;
		char *next = NULL;
		int r = store_sandbox_list(rt->store, &f, cursor, 0, &rows, &n, &next, err);
		if (r < 0)
			return wr_err_prefix(err, r, "sweep");
		for (size_t i = 0; i < n; i++)
			sweep_row(rt, &rows[i]);
		store_sandbox_list_free(rows, n);
		free(cursor);
		cursor = next;
	} while (cursor);
	sweep_procs(rt);
	sweep_dirs(rt);
	sweep_auto_templates(rt);
	struct slot_sweep_stats st = {0};
	struct wr_err e = {0};
	/* volumes held by a sandbox that is gone now (or by a content request of the previous
	 * agent) are free again */
	int nrel = 0;
	if (store_volume_release_orphans(rt->store, NULL, &nrel, &e) < 0)
		log_warn("sweep: volumes: %s", wr_err_msg(&e));
	else if (nrel)
		log_info("sweep: released %d volumes held by sandboxes that are gone", nrel);
	wr_err_clear(&e);
	if (slot_pool_sweep(rt->pool, &st, &e) < 0)
		log_warn("sweep: network slots: %s", wr_err_msg(&e));
	else if (st.claims || st.namespaces || st.links)
		log_info("sweep: removed %u claims, %u namespaces, %u links", st.claims,
			 st.namespaces, st.links);
	return 0;
}
