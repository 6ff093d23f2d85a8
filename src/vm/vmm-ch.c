/* SPDX-License-Identifier: MIT */
/*
 * Cloud Hypervisor backend: `cloud-hypervisor --api-socket path=<sock>`
 * through the launcher, then REST (ch-api.c). The TAP must already exist in
 * the namespace (vm.create ignores fds). Restore starts a bare CH and sends
 * vm.restore with OnDemand memory (userfaultfd); CH rebuilds the VM from
 * the snapshot's config.json, whose disk path is the stable
 * <SandboxDir>/rootfs link.
 *
 * The version vmm.ping reports is checked on every launch and attach
 * (older than CH_MIN_MAJOR: refused) and kept in priv: vm.restore's
 * fields depend on it (ch-api.h).
 */
#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "vm/ch-api.h"
#include "vm/vmm.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct ch_priv {
	struct ch_version ver;
};

static struct ch_api api(struct vmm *v)
{
	struct ch_priv *p = v->priv;
	return (struct ch_api){.socket_path = v->socket_path,
			       .timeout_ms = v->p.api_timeout_ms,
			       .ver = p ? p->ver : (struct ch_version){0, 0}};
}

/* vmm.ping answered with ver: keep it if we can drive that version. */
static int set_version(struct vmm *v, const struct ch_version *ver, struct wr_err *err)
{
	int r = ch_version_check(ver, err);
	if (r < 0)
		return r;
	if (!v->priv)
		v->priv = xcalloc(1, sizeof(struct ch_priv));
	((struct ch_priv *)v->priv)->ver = *ver;
	return 0;
}

static void ch_free_priv(struct vmm *v)
{
	free(v->priv);
	v->priv = NULL;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Launch and wait until vmm.ping answers (or the process dies). */
static int launch(struct vmm *v, struct wr_err *err)
{
	cleanup_free char *sock = xasprintf("path=%s", v->socket_path);
	char *argv[] = {(char *)(v->p.bin ? v->p.bin : v->p.cfg->vmm_bin), "--api-socket", sock,
			NULL};
	int r = vmm_launch(v, argv, err);
	if (r < 0)
		return r;
	struct ch_api a = api(v);
	long long deadline = now_ms() + v->p.api_timeout_ms;
	struct ch_version ver;
	for (;;) {
		struct wr_err e = {0};
		r = ch_api_ping(&a, &ver, &e);
		if (r == -EPROTO) /* it answered, but not with a version */
			return wr_err_set(err, EPROTO, "%s", wr_err_msg(&e));
		if (r == 0)
			break;
		if (!launched_alive(&v->proc))
			return wr_err_set(err, ESRCH,
					  "cloud-hypervisor exited before its API "
					  "socket answered");
		if (now_ms() >= deadline)
			return wr_err_set(err, ETIMEDOUT, "API socket did not answer in %d ms: %s",
					  v->p.api_timeout_ms, wr_err_msg(&e));
		nanosleep(&(struct timespec){.tv_nsec = 5 * 1000 * 1000}, NULL);
	}
	return set_version(v, &ver, err);
}

static int ch_start(struct vmm *v, struct wr_err *err)
{
	int r = launch(v, err);
	if (r < 0)
		return r;
	const struct vm_config *c = v->p.cfg;
	cleanup_free char *cmdline = vm_config_kernel_args(c);
	const char *xd[VM_MAX_EXTRA_DISKS], *xs[VM_MAX_EXTRA_DISKS];
	int nx = 0;
	for (; nx < c->n_extra_disks && nx < VM_MAX_EXTRA_DISKS; nx++) {
		xd[nx] = c->extra_disks[nx].path;
		xs[nx] = c->extra_disks[nx].serial;
	}
	struct ch_vm_spec s = {
		.extra_disks = xd,
		.extra_serials = xs,
		.n_extra = nx,
		.kernel = v->kernel_link,
		.cmdline = cmdline,
		.vcpus = c->vcpus,
		.memory_bytes = (uint64_t)c->memory_mb << 20,
		.shared_mem = v->p.shared_mem,
		.disk = v->rootfs_link,
		.disk_format = v->p.rootfs_format,
		.tap = c->tap_device,
		.mac = c->tap_mac,
		.serial_file = NULL,
		.net_limit = {.bytes_per_sec = v->p.net_bytes_per_sec,
			      .ops_per_sec = v->p.net_ops_per_sec},
	};
	struct ch_api a = api(v);
	if ((r = ch_api_create(&a, &s, err)) < 0)
		return r;
	v->state = VMM_STATE_CREATED;
	return 0;
}

static int put(struct vmm *v, const char *ep, enum vmm_state next, struct wr_err *err)
{
	struct ch_api a = api(v);
	int r = ch_api_put(&a, ep, err);
	if (r < 0)
		return r;
	v->state = next;
	return 0;
}

static int ch_boot(struct vmm *v, struct wr_err *err)
{
	return put(v, "vm.boot", VMM_STATE_RUNNING, err);
}

static int ch_pause(struct vmm *v, struct wr_err *err)
{
	return put(v, "vm.pause", VMM_STATE_PAUSED, err);
}

static int ch_resume(struct vmm *v, struct wr_err *err)
{
	return put(v, "vm.resume", VMM_STATE_RUNNING, err);
}

static int ch_snapshot(struct vmm *v, const char *dir, struct wr_err *err)
{
	int r;
	if (v->state == VMM_STATE_RUNNING && (r = ch_pause(v, err)) < 0)
		return r;
	struct ch_api a = api(v);
	if ((r = ch_api_snapshot(&a, dir, err)) < 0)
		return r;
	json_t *meta =
		json_pack("{s:s, s:s, s:i, s:i, s:s}", "backend", "cloud-hypervisor", "accel",
			  "kvm", "memory_mb", v->p.cfg->memory_mb, "vcpus", v->p.cfg->vcpus,
			  "rootfs_format", v->p.rootfs_format ? v->p.rootfs_format : "raw");
	r = vmm_write_meta(dir, meta, err);
	json_decref(meta);
	return r;
}

static int ch_restore(struct vmm *v, const char *dir, bool resume, struct wr_err *err)
{
	json_t *meta = NULL;
	int r = vmm_read_meta(dir, &meta, err);
	if (r < 0)
		return r;
	const char *b = json_string_value(json_object_get(meta, "backend"));
	bool ok = b && !strcmp(b, "cloud-hypervisor");
	r = ok ? 0
	       : wr_err_set(err, EINVAL, "snapshot was taken by %s, not cloud-hypervisor",
			    b ?: "an unknown VMM");
	json_decref(meta);
	if (r < 0)
		return r;
	if ((r = launch(v, err)) < 0)
		return r;
	struct ch_api a = api(v);
	if ((r = ch_api_restore(&a, dir, resume, err)) < 0)
		return r;
	v->state = resume ? VMM_STATE_RUNNING : VMM_STATE_PAUSED;
	return 0;
}

static enum vmm_state map_state(const char *s)
{
	if (!strcmp(s, "Created"))
		return VMM_STATE_CREATED;
	if (!strcmp(s, "Running"))
		return VMM_STATE_RUNNING;
	if (!strcmp(s, "Paused") || !strcmp(s, "BreakPoint"))
		return VMM_STATE_PAUSED;
	if (!strcmp(s, "Shutdown"))
		return VMM_STATE_SHUTDOWN;
	return VMM_STATE_UNKNOWN;
}

static int ch_info(struct vmm *v, enum vmm_state *ret, struct wr_err *err)
{
	struct ch_api a = api(v);
	cleanup_free char *s = NULL;
	int r = ch_api_state(&a, &s, err);
	if (r < 0)
		return r;
	v->state = *ret = map_state(s);
	return 0;
}

static int ch_attach(struct vmm *v, struct wr_err *err)
{
	struct ch_api a = api(v);
	struct ch_version ver;
	int r = ch_api_ping(&a, &ver, err);
	if (r < 0 || (r = set_version(v, &ver, err)) < 0)
		return r;
	enum vmm_state st;
	return ch_info(v, &st, err);
}

static int ch_shutdown(struct vmm *v, struct wr_err *err)
{
	struct ch_api a = api(v);
	/* vm.shutdown fails when no VM is booted; the VMM must go anyway. */
	if (v->state == VMM_STATE_RUNNING || v->state == VMM_STATE_PAUSED)
		ch_api_put(&a, "vm.shutdown", NULL);
	return ch_api_put(&a, "vmm.shutdown", err);
}

const struct vmm_ops vmm_ch_ops = {
	.name = "cloud-hypervisor",
	.start = ch_start,
	.boot = ch_boot,
	.pause = ch_pause,
	.resume = ch_resume,
	.snapshot = ch_snapshot,
	.restore = ch_restore,
	.info = ch_info,
	.attach = ch_attach,
	.shutdown = ch_shutdown,
	.free_priv = ch_free_priv,
};
