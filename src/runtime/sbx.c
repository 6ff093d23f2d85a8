/* SPDX-License-Identifier: MIT */
/*
 * Host objects of one sandbox: paths, the re-attach state file, the VM
 * config, the VMM object, and the one release path for all of them.
 */
#include "runtime/runtime-internal.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void rt_sbx_paths(struct runtime *rt, struct sbx *s)
{
	if (!s->dir)
		s->dir = xasprintf("%s/%s", rt->sandboxes_dir, s->id);
	if (!s->vm_dir)
		s->vm_dir = xasprintf("%s/%s", rt->vmroot_dir, s->id);
	if (!s->log_path)
		s->log_path = xasprintf("%s/" RT_LOG_FILE, s->dir);
}

void rt_sbx_log_note(struct sbx *s, const char *fmt, ...)
{
	if (!s->log_path)
		return;
	cleanup_close int fd =
		open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
	if (fd < 0)
		return;
	char line[512];
	int n = snprintf(line, sizeof(line), "[wrenn] ");
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	(void)write_full(fd, line, len);
}

int rt_sbx_write_state(struct sbx *s, struct wr_err *err)
{
	cleanup_json json_t *j = json_pack(
		"{s:s, s:s, s:s?, s:s?, s:i, s:i, s:i, s:b, s:i, s:i, s:s?, s:{s:s?, s:s, s:s, "
		"s:s, s:s}}",
		"id", s->id, "template", s->template, "rootfs_template", s->rootfs_template,
		"kernel", s->kernel, "vcpus", s->vcpus, "memory_mb", s->memory_mb, "timeout_s",
		s->timeout_s, "allow_internet", s->allow_internet, "slot", s->slot, "pid",
		(int)s->pid, "envd_version", s->envd_version, "disk", "backend",
		s->disk_ops ? s->disk_ops->name : NULL, "path", s->has_disk ? s->disk.path : "",
		"format", disk_format_name(s->disk.format), "cow", s->disk.cow, "dm_name",
		s->disk.dm_name);
	if (!j)
		return wr_err_set(err, EINVAL, "encode sandbox state");
	if (s->create_path)
		json_object_set_new(j, "create_path", json_string(s->create_path));
	rt_net_state_write(s, j);
	rt_vol_state_write(s, j);
	cleanup_free char *txt = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS);
	cleanup_free char *path = xasprintf("%s/" RT_STATE_FILE, s->dir);
	int r = write_file_atomic(path, txt, strlen(txt), 0600);
	if (r < 0)
		return wr_err_errno(err, -r, "write %s", path);
	return 0;
}

static void copy_str(char **dst, json_t *j, const char *key)
{
	const char *v = json_string_value(json_object_get(j, key));
	free(*dst);
	*dst = v ? xstrdup(v) : NULL;
}

static void copy_buf(char *dst, size_t n, json_t *j, const char *key)
{
	const char *v = json_string_value(json_object_get(j, key));
	snprintf(dst, n, "%s", v ? v : "");
}

int rt_sbx_read_state(struct runtime *rt, struct sbx *s, struct wr_err *err)
{
	rt_sbx_paths(rt, s);
	cleanup_free char *path = xasprintf("%s/" RT_STATE_FILE, s->dir);
	json_error_t je;
	cleanup_json json_t *j = json_load_file(path, 0, &je);
	if (!j)
		return wr_err_set(err, access(path, F_OK) < 0 ? ENOENT : EINVAL, "%s: %s", path,
				  je.text);
	copy_str(&s->template, j, "template");
	copy_str(&s->rootfs_template, j, "rootfs_template");
	copy_str(&s->kernel, j, "kernel");
	copy_str(&s->envd_version, j, "envd_version");
	const char *cp = json_string_value(json_object_get(j, "create_path"));
	s->create_path = cp && !strcmp(cp, "snapshot") ? "snapshot" : cp ? "boot" : NULL;
	s->vcpus = (int)json_integer_value(json_object_get(j, "vcpus"));
	s->memory_mb = (int)json_integer_value(json_object_get(j, "memory_mb"));
	s->timeout_s = (int)json_integer_value(json_object_get(j, "timeout_s"));
	s->allow_internet = json_is_true(json_object_get(j, "allow_internet"));
	s->slot = (int)json_integer_value(json_object_get(j, "slot"));
	s->pid = (pid_t)json_integer_value(json_object_get(j, "pid"));
	json_t *d = json_object_get(j, "disk");
	const char *backend = json_string_value(json_object_get(d, "backend"));
	s->disk_ops = backend ? disk_ops_by_name(backend) : NULL;
	copy_buf(s->disk.path, sizeof(s->disk.path), d, "path");
	copy_buf(s->disk.cow, sizeof(s->disk.cow), d, "cow");
	copy_buf(s->disk.dm_name, sizeof(s->disk.dm_name), d, "dm_name");
	const char *fmt = json_string_value(json_object_get(d, "format"));
	s->disk.format = fmt && !strcmp(fmt, "qcow2") ? DISK_FORMAT_QCOW2 : DISK_FORMAT_RAW;
	s->has_disk = s->disk_ops && s->disk.path[0];
	rt_net_state_read(s, j);
	rt_vol_state_read(s, j);
	return 0;
}

int rt_sbx_fill_config(struct sbx *s, struct wr_err *err)
{
	struct vm_config *c = &s->cfg;
	vm_config_done(c);
	vm_config_set(&c->sandbox_id, s->id);
	vm_config_set(&c->template_id, s->template);
	vm_config_set(&c->kernel_path, s->kernel);
	vm_config_set(&c->rootfs_path, s->disk.path);
	c->vcpus = s->vcpus;
	c->memory_mb = s->memory_mb;
	vm_config_set(&c->network_namespace, s->ns);
	vm_config_set(&c->guest_ip, VM_GUEST_IP);
	vm_config_set(&c->gateway_ip, VM_GATEWAY_IP);
	vm_config_set(&c->net_mask, VM_NET_MASK);
	cleanup_free char *sock = xasprintf("%s/" RT_SOCK_FILE, s->dir);
	vm_config_set(&c->socket_path, sock);
	vm_config_set(&c->sandbox_dir, s->vm_dir);
	if (s->rt->vmm_bin)
		vm_config_set(&c->vmm_bin, s->rt->vmm_bin);
	vm_config_apply_defaults(c);
	int r = rt_vol_config(s, err);
	if (r < 0)
		return r;
	return vm_config_validate(c, err);
}

int rt_sbx_vmm_new(struct sbx *s, const char *mem_file, struct wr_err *err)
{
	struct vmm_params p = {
		.cfg = &s->cfg,
		.kind = s->rt->vmm.kind,
		.accel = s->rt->vmm.accel,
		.bin = s->rt->vmm.kind == VMM_KIND_QEMU ? s->rt->vmm_bin : NULL,
		.rootfs_format = s->disk.format == DISK_FORMAT_QCOW2 ? "qcow2" : "raw",
		.log_path = s->log_path,
		.mem_file = mem_file,
		.api_timeout_ms = 20000,
		.cgroup_parent = s->rt->cgroup_parent,
		.net_bytes_per_sec = s->rt->net_bytes_per_sec,
	};
	/* The VMM of slot n is uid base + n (jail.h); slots start at 1.  Both
	 * backends: Cloud Hypervisor takes its API socket and TAP as fds
	 * (vmm-ch.c). */
	if (s->rt->jail_uid_base) {
		p.jail_uid = s->rt->jail_uid_base + (uid_t)s->slot;
		p.jail_gid = s->rt->jail_uid_base + (gid_t)s->slot;
		p.jail_shared_gid = s->rt->jail_uid_base;
	}
	if (p.jail_uid && s->slot < 1)
		return wr_err_set(err, EINVAL, "sandbox %s: no network slot for its jail uid",
				  s->id);
	return vmm_new(&p, &s->vmm, err);
}

void rt_sbx_release(struct sbx *s, bool keep)
{
	struct wr_err e = {0};
	/* a volume outlives the sandbox: what the guest wrote reaches the image first */
	if (!keep && s->nvols && s->vmm && s->state == STORE_SB_RUNNING)
		rt_quiesce(s);
	if (s->vmm) {
		vmm_stop(s->vmm, 1500, NULL);
		vmm_free(s->vmm);
		s->vmm = NULL;
	}
	s->pid = 0;
	if (s->vm_dir)
		rmdir(s->vm_dir);
	if (keep)
		return;
	rt_vol_release(s);
	if (s->has_disk && s->disk_ops) {
		if (s->disk_ops->remove(&s->disk, &e) < 0)
			log_warn("sandbox %s: remove disk: %s", s->id, wr_err_msg(&e));
		s->has_disk = false;
	}
	if (s->slot >= 0) {
		wr_err_clear(&e);
		if (slot_pool_release(s->rt->pool, (unsigned)s->slot, &e) < 0)
			log_warn("sandbox %s: release slot %d: %s", s->id, s->slot, wr_err_msg(&e));
		s->slot = -1;
	}
	if (s->dir) {
		int r = rm_rf(s->dir);
		if (r < 0 && r != -ENOENT)
			log_warn("sandbox %s: remove %s: %s", s->id, s->dir, strerror(-r));
	}
}

void rt_sbx_free(struct sbx *s)
{
	if (!s)
		return;
	vmm_free(s->vmm);
	vm_config_done(&s->cfg);
	pthread_mutex_destroy(&s->lock);
	free(s->template);
	free(s->rootfs_template);
	free(s->snapshot_dir);
	free(s->kernel);
	free(s->token);
	rt_strv_free(s->allow_out);
	rt_strv_free(s->deny_out);
	free(s->traffic_token);
	free(s->mask_host);
	free(s->team);
	free(s->init_auth);
	free(s->envd_version);
	rt_vol_free(s);
	free(s->dir);
	free(s->vm_dir);
	free(s->log_path);
	free(s);
}
