/* SPDX-License-Identifier: MIT */
/*
 * QEMU backend: machine microvm, QMP on the configured SocketPath.
 *
 * The VM is always started with -S, so boot is QMP "cont" and every state
 * change goes through QMP. Guest RAM is always a memory backend object with
 * id "mem" (file-backed or anonymous), so a snapshot taken with either kind
 * restores into either kind: migration matches RAM blocks by that id.
 *
 * Snapshot (VM paused): migrate-set-capabilities x-ignore-shared, then
 * migrate to "fd:" with the state file passed by SCM_RIGHTS (getfd), poll
 * query-migrate. An "exec:cat > file" target races: QEMU SIGTERMs the cat
 * child if it has not exited the moment the stream is closed. Shared
 * file-backed RAM is skipped by x-ignore-shared, so the state is ~100 KB.
 * Restore: same command line plus -incoming defer, without -kernel/-append
 * (see build_argv), the same capability, migrate-incoming "fd:" and "cont".
 *
 * Confinement (see jail.h): QEMU gets the TAP and the QMP socket as fds from
 * the launcher (fd=3, fd=4), and runs its seccomp sandbox: obsolete system
 * calls, set*id/capability changes, fork/exec and scheduler/affinity changes
 * are denied (-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,
 * resourcecontrol=deny).  In the jail it sees its kernel (read-only), its
 * disk and RAM file (its own), a qcow2 backing chain and a template's RAM
 * (read-only to it, except as noted in docs/SECURITY.md) and nothing else.
 */
#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/spawn.h"
#include "basic/xalloc.h"
#include "vm/memfile.h"
#include "vm/qmp.h"
#include "vm/tsc.h"
#include "vm/vmm.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define QEMU_DEFAULT_BIN "qemu-system-x86_64"
#define SNAP_STATE "state"
#define SNAP_MEMORY "memory"

struct qemu {
	struct qmp qmp;
	bool ro_private; /* RAM file mapped private from a read-only open (QEMU >= 8.2) */
	bool mem_shared; /* RAM is a file mapped shared (skipped by migration) */
	char *mem_path;	 /* file behind guest RAM, NULL = anonymous */
	char *cpu;	 /* -cpu of this VMM: a restore keeps its snapshot's */
};

struct strv {
	char **v;
	size_t n, cap;
};

static void __attribute__((format(printf, 2, 3))) sv_add(struct strv *s, const char *fmt, ...)
{
	if (s->n + 2 > s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = xrealloc(s->v, s->cap * sizeof(char *));
	}
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&s->v[s->n], fmt, ap) < 0)
		abort();
	va_end(ap);
	s->v[++s->n] = NULL;
}

static void sv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static struct qemu *Q(struct vmm *v)
{
	if (!v->priv) {
		struct qemu *q = xcalloc(1, sizeof(*q));
		q->qmp = (struct qmp)QMP_INIT;
		v->priv = q;
	}
	return v->priv;
}

char *vmm_tcg_kernel_args(const char *seed, unsigned tsc_khz)
{
	if (!tsc_khz)
		return xasprintf("%s " VMM_TCG_KERNEL_ARGS, seed);
	return xasprintf("%s " VMM_TCG_KERNEL_ARGS " tsc_early_khz=%u", seed, tsc_khz);
}

/*
 * The root disk bypasses the host's page cache: cache=none is O_DIRECT on the host file while
 * the guest still sees a volatile write cache and flushes it as before; on a qcow2 clone only
 * the clone's own layer, the template under it (backing) stays page-cached and shared by every
 * clone.  Why: the VMM's cgroup (guest RAM + VMM_OVERHEAD_MB) is charged the page cache of what
 * QEMU writes.  A guest writing its disk filled the cgroup to its limit (768 MiB: 604 MiB
 * resident + 193 MiB cache, cgroup v1 on this host) and each further host write then waited in
 * reclaim for dirty pages: single 1 MiB guest writes took up to 185 ms, and envd's commit of an
 * overwritten 50 MiB upload (the staged copy) 300-570 ms instead of ~80.  Measured straight to
 * envd from the sandbox's namespace (curl, multipart, 50 MiB overwrites of one file, 8 in a
 * row per sandbox, two sandboxes per mode, interleaved, load 2.9): cache=writeback 40-142
 * MiB/s, median 123, five of 16 under 90; cache=none 117-144, median 130.  Host O_DIRECT writes
 * here run at 1.1-1.8 GB/s.  The cache mode is not part of the migrated machine (virtio-blk
 * keeps its write cache either way): snapshots taken with either restore with either.  A file
 * system that refuses O_DIRECT (tmpfs before Linux 6.6) keeps cache=writeback.
 */
static bool root_direct_ok(const char *path)
{
	if (!path)
		return true;
	int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return errno != EINVAL; /* other errors: QEMU reports them as before */
	close(fd);
	return true;
}

/* The command line; identical for start and restore except -incoming, the
 * memory file's path and share mode, and the kernel: a restore gets none. */
static void build_argv(struct vmm *v, const char *mem_path, bool share, bool incoming,
		       struct strv *a)
{
	const struct vm_config *c = v->p.cfg;
	bool kvm = v->p.accel == VM_ACCEL_KVM;
	sv_add(a, "%s", v->p.bin ? v->p.bin : QEMU_DEFAULT_BIN);
	sv_add(a, "-name");
	sv_add(a, "wrenn-%s", c->sandbox_id);
	sv_add(a, "-M");
	/* Under TCG the PIT/PIC/RTC must stay: without them the kernel cannot
	 * calibrate the TSC and hangs (no kvm-clock).  ACPI goes instead: with
	 * microvm's ACPI tables a TCG guest whose fast TSC calibration fails
	 * waits forever for PIT ticks (3-7 boots in 10 under load, see
	 * guest/README.md); without ACPI it takes the MP-table routing and boots
	 * every time.  Virtio-mmio devices still reach the kernel through its
	 * command line, which QEMU extends. */
	sv_add(a, "microvm,x-option-roms=off,isa-serial=on%s,memory-backend=mem",
	       kvm ? ",pit=off,pic=off,rtc=off" : ",acpi=off");
	sv_add(a, "-accel");
	if (kvm)
		sv_add(a, "kvm");
	else /* bounded translation cache: see VMM_TCG_TB_MB */
		sv_add(a, "tcg,tb-size=%d", VMM_TCG_TB_MB);
	sv_add(a, "-cpu");
	sv_add(a, "%s", Q(v)->cpu);
	sv_add(a, "-m");
	sv_add(a, "%dM", c->memory_mb);
	sv_add(a, "-smp");
	sv_add(a, "%d", c->vcpus);
	sv_add(a, "-object");
	if (mem_path)
		sv_add(a, "memory-backend-file,id=mem,size=%dM,mem-path=%s,share=%s%s",
		       c->memory_mb, mem_path, share ? "on" : "off",
		       !share && Q(v)->ro_private ? ",readonly=on,rom=off" : "");
	else
		sv_add(a, "memory-backend-ram,id=mem,size=%dM", c->memory_mb);
	sv_add(a, "-nodefaults");
	sv_add(a, "-no-user-config");
	sv_add(a, "-nographic");
	/* A guest reboot or panic (reboot=k panic=1) ends the VMM. */
	sv_add(a, "-no-reboot");
	sv_add(a, "-chardev");
	sv_add(a, "stdio,id=ser0,signal=off");
	sv_add(a, "-serial");
	sv_add(a, "chardev:ser0");
	/* A restore's guest is already running its kernel: QEMU would only parse the ELF
	 * (symbol table sorted, segments registered as ROMs that an incoming migration never
	 * copies), ~6 ms of a ~21 ms start under TCG.  Guest-invisible: microvm's RAM blocks
	 * are the same with or without -kernel, and the command line it carries reaches the
	 * guest only at boot. */
	if (!incoming) {
		sv_add(a, "-kernel");
		sv_add(a, "%s", v->kernel_link);
		sv_add(a, "-append");
		a->v[a->n] = vm_config_kernel_args(c);
		if (!kvm) {
			/* The seed's command line, plus VMM_TCG_KERNEL_ARGS (see vmm.h). */
			char *args = a->v[a->n];
			a->v[a->n] = vmm_tcg_kernel_args(args, vm_host_tsc_khz());
			free(args);
		}
		a->v[++a->n] = NULL;
	}
	sv_add(a, "-drive");
	const char *fmt = v->p.rootfs_format ? v->p.rootfs_format : "raw";
	bool direct = root_direct_ok(c->rootfs_path);
	sv_add(a, "id=root,file=%s,format=%s,if=none,cache=%s%s,discard=unmap", v->rootfs_link, fmt,
	       direct ? "none" : "writeback",
	       direct && !strcmp(fmt, "qcow2") ? ",backing.cache.direct=off" : "");
	sv_add(a, "-device");
	sv_add(a, "virtio-blk-device,drive=root");
	sv_add(a, "-netdev");
	sv_add(a, "tap,id=n0,fd=%d", LAUNCH_TAP_FD);
	sv_add(a, "-device");
	sv_add(a, "virtio-net-device,netdev=n0,mac=%s", c->tap_mac);
	sv_add(a, "-device");
	sv_add(a, "virtio-rng-device");
	/* Volumes (vm_config extra disks) after every seed device, so the root disk keeps its
	 * place; the guest finds each by its serial, not by its name. */
	for (int i = 0; i < c->n_extra_disks; i++) {
		sv_add(a, "-drive");
		sv_add(a, "id=vol%d,file=%s,format=raw,if=none,cache=writeback,discard=unmap", i,
		       c->extra_disks[i].path);
		sv_add(a, "-device");
		sv_add(a, "virtio-blk-device,drive=vol%d,serial=%s", i, c->extra_disks[i].serial);
	}
	sv_add(a, "-chardev");
	sv_add(a, "socket,id=qmp,fd=%d,server=on,wait=off", LAUNCH_API_FD);
	/* The socket path is no longer an option, yet the agent's startup sweep and
	 * operators (pgrep -f <data>/sandboxes/<id>/) tell a VMM by its sandbox dir in
	 * argv: an inert label object carries it (never read, not migrated). */
	sv_add(a, "-object");
	sv_add(a, "secret,id=wrenn-api,data=%s", v->socket_path);
	sv_add(a, "-mon");
	sv_add(a, "chardev=qmp,mode=control");
	sv_add(a, "-sandbox");
	sv_add(a, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
	sv_add(a, "-S");
	if (incoming) {
		sv_add(a, "-incoming");
		sv_add(a, "defer");
	}
}

/* QEMU >= 8.2 maps a file opened read-only as private, writable guest RAM
 * (readonly=on,rom=off), so a clone cannot write its template's RAM file;
 * older QEMU opens it O_RDWR even for share=off (docs/SECURITY.md).  Probed
 * once per binary from -object memory-backend-file,help. */
bool vmm_qemu_ro_private(const char *bin)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static char *probed_bin;
	static bool probed;
	pthread_mutex_lock(&lock);
	if (!probed_bin || strcmp(probed_bin, bin)) {
		char out[8192];
		int st = 0;
		struct wr_err e = {0};
		char *argv[] = {(char *)bin, "-object", "memory-backend-file,help", NULL};
		probed = spawn_capture(argv, NULL, out, sizeof(out), &st, &e) == 0 &&
			 strstr(out, " rom=") != NULL;
		free(probed_bin);
		probed_bin = xstrdup(bin);
	}
	bool r = probed;
	pthread_mutex_unlock(&lock);
	return r;
}

const char *vmm_qemu_cpu(enum vm_accel accel)
{
	if (accel == VM_ACCEL_KVM)
		return "host";
	const char *e = getenv("WRENN_TCG_CPU");
	return e && *e ? e : VMM_TCG_CPU_DEFAULT;
}

static int launch(struct vmm *v, const char *mem_path, bool share, bool incoming,
		  struct wr_err *err)
{
	struct qemu *q = Q(v);
	q->ro_private =
		mem_path && !share && vmm_qemu_ro_private(v->p.bin ? v->p.bin : QEMU_DEFAULT_BIN);
	if (!q->cpu)
		q->cpu = xstrdup(vmm_qemu_cpu(v->p.accel));
	struct strv a = {0};
	build_argv(v, mem_path, share, incoming, &a);
	/* What the jail shows: the kernel and a qcow2 backing chain read-only; the
	 * disk and a RAM file it writes (share=on) as its own; a RAM file mapped
	 * private (a clone of a snapshot template) shared with the other clones. */
	char *backing[4] = {0};
	const char *ro[7] = {v->p.cfg->kernel_path};
	size_t nro = 1, nb = 0;
	for (const char *img = v->p.cfg->rootfs_path; img && nb < ARRAY_SIZE(backing);) {
		if (!(backing[nb] = vmm_qcow2_backing(img)))
			break;
		ro[nro++] = backing[nb];
		img = backing[nb++];
	}
	const char *rw[3 + VM_MAX_EXTRA_DISKS] = {v->p.cfg->rootfs_path};
	size_t nrw = 1;
	if (mem_path && share)
		rw[nrw++] = mem_path;
	for (int i = 0; i < v->p.cfg->n_extra_disks && i < VM_MAX_EXTRA_DISKS; i++)
		rw[nrw++] = v->p.cfg->extra_disks[i].path; /* a volume: its own while attached */
	if (q->ro_private)
		ro[nro++] = mem_path; /* read-only to every clone */
	const char *shared[2] = {mem_path && !share && !q->ro_private ? mem_path : NULL, NULL};
	int r = vmm_launch_files(v, a.v, ro, rw, shared, err);
	for (size_t i = 0; i < ARRAY_SIZE(backing); i++)
		free(backing[i]);
	sv_free(&a);
	if (r < 0)
		return r;
	free(q->mem_path);
	q->mem_path = mem_path ? xstrdup(mem_path) : NULL;
	q->mem_shared = mem_path && share;
	q->qmp.timeout_ms = v->p.api_timeout_ms;
	r = qmp_connect(&q->qmp, v->socket_path, v->p.api_timeout_ms, v->proc.pidfd, err);
	if (r < 0)
		return r;
	v->state = VMM_STATE_CREATED;
	return 0;
}

static int qemu_start(struct vmm *v, struct wr_err *err)
{
	if (v->p.mem_file) {
		int r = memfile_ensure(v->p.mem_file, (uint64_t)v->p.cfg->memory_mb << 20, err);
		if (r < 0)
			return r;
	}
	return launch(v, v->p.mem_file, true, false, err);
}

static int simple(struct vmm *v, const char *cmd, enum vmm_state next, struct wr_err *err)
{
	int r = qmp_execute(&Q(v)->qmp, cmd, NULL, NULL, err);
	if (r < 0)
		return r;
	v->state = next;
	return 0;
}

static int qemu_boot(struct vmm *v, struct wr_err *err)
{
	return simple(v, "cont", VMM_STATE_RUNNING, err);
}

static int qemu_pause(struct vmm *v, struct wr_err *err)
{
	return simple(v, "stop", VMM_STATE_PAUSED, err);
}

static int qemu_resume(struct vmm *v, struct wr_err *err)
{
	return simple(v, "cont", VMM_STATE_RUNNING, err);
}

static enum vmm_state map_status(const char *s)
{
	static const struct {
		const char *name;
		enum vmm_state st;
	} map[] = {
		{"running", VMM_STATE_RUNNING},		{"paused", VMM_STATE_PAUSED},
		{"postmigrate", VMM_STATE_PAUSED},	{"finish-migrate", VMM_STATE_PAUSED},
		{"suspended", VMM_STATE_PAUSED},	{"save-vm", VMM_STATE_PAUSED},
		{"restore-vm", VMM_STATE_PAUSED},	{"prelaunch", VMM_STATE_CREATED},
		{"inmigrate", VMM_STATE_CREATED},	{"shutdown", VMM_STATE_SHUTDOWN},
		{"guest-panicked", VMM_STATE_SHUTDOWN},
	};
	for (size_t i = 0; s && i < ARRAY_SIZE(map); i++)
		if (!strcmp(s, map[i].name))
			return map[i].st;
	return VMM_STATE_UNKNOWN;
}

static int qemu_info(struct vmm *v, enum vmm_state *ret, struct wr_err *err)
{
	cleanup_json json_t *st = NULL;
	int r = qmp_execute(&Q(v)->qmp, "query-status", NULL, &st, err);
	if (r < 0)
		return r;
	enum vmm_state s = map_status(json_string_value(json_object_get(st, "status")));
	/* "prelaunch" after a restore that was not resumed is a paused VM. */
	if (s == VMM_STATE_CREATED && v->state == VMM_STATE_PAUSED)
		s = VMM_STATE_PAUSED;
	v->state = s;
	*ret = s;
	return 0;
}

/* The argument after -cpu in /proc/PID/cmdline; NULL when unreadable. */
static char *cmdline_cpu(pid_t pid)
{
	char path[64], buf[8192];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	for (const char *p = buf; p < buf + n; p += strlen(p) + 1)
		if (!strcmp(p, "-cpu") && p + strlen(p) + 1 < buf + n)
			return xstrdup(p + strlen(p) + 1);
	return NULL;
}

static int qemu_attach(struct vmm *v, struct wr_err *err)
{
	struct qemu *q = Q(v);
	/* The RAM mode of the old process is unknown here; treating it as not
	 * shared only means a later snapshot carries RAM in the stream, which
	 * restores into any memory kind. */
	q->mem_shared = false;
	/* Its -cpu (a later snapshot records it): the running process's own argument. */
	free(q->cpu);
	q->cpu = cmdline_cpu(v->proc.pid);
	q->qmp.timeout_ms = v->p.api_timeout_ms;
	int r = qmp_connect(&q->qmp, v->socket_path, 2000, v->proc.pidfd, err);
	if (r < 0)
		return r;
	enum vmm_state st;
	return qemu_info(v, &st, err);
}

static void sleep_ms(int ms)
{
	nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L}, NULL);
}

/* Poll query-migrate until completed (either side). */
static int wait_migration(struct vmm *v, const char *what, struct wr_err *err)
{
	struct qemu *q = Q(v);
	for (int waited = 0;; waited++) {
		cleanup_json json_t *m = NULL;
		int r = qmp_execute(&q->qmp, "query-migrate", NULL, &m, err);
		if (r < 0)
			return r;
		const char *st = json_string_value(json_object_get(m, "status"));
		if (st && !strcmp(st, "completed"))
			return 0;
		if (st && (!strcmp(st, "failed") || !strcmp(st, "cancelled")))
			return wr_err_set(err, EIO, "%s %s: %s", what, st,
					  json_string_value(json_object_get(m, "error-desc"))
						  ?: "no reason given");
		if (waited * 1 > v->p.api_timeout_ms * 6)
			return wr_err_set(err, ETIMEDOUT, "%s did not complete", what);
		sleep_ms(1);
	}
}

static int set_ignore_shared(struct qemu *q, struct wr_err *err)
{
	json_t *caps = json_pack("{s:[{s:s, s:b}]}", "capabilities", "capability",
				 "x-ignore-shared", "state", 1);
	return qmp_execute(&q->qmp, "migrate-set-capabilities", caps, NULL, err);
}

static int pass_fd(struct qemu *q, const char *name, int fd, struct wr_err *err)
{
	return qmp_execute_fd(&q->qmp, "getfd", json_pack("{s:s}", "fdname", name), fd, NULL, err);
}

static int qemu_snapshot(struct vmm *v, const char *dir, struct wr_err *err)
{
	struct qemu *q = Q(v);
	const struct vm_config *c = v->p.cfg;
	int r;
	if (v->state == VMM_STATE_RUNNING && (r = qemu_pause(v, err)) < 0)
		return r;

	cleanup_free char *mem = xasprintf("%s/" SNAP_MEMORY, dir);
	bool in_place = false;
	if (q->mem_shared) {
		in_place = memfile_same(q->mem_path, mem);
		if (!in_place && (r = memfile_copy(q->mem_path, mem, err)) < 0)
			return r;
	} else {
		unlink(mem);
	}
	if ((r = set_ignore_shared(q, err)) < 0)
		return r;
	/* Anonymous or private RAM goes through the stream; the default cap is 128 MiB/s. */
	json_t *par = json_pack("{s:I}", "max-bandwidth", (json_int_t)1 << 40);
	if ((r = qmp_execute(&q->qmp, "migrate-set-parameters", par, NULL, err)) < 0)
		return r;

	cleanup_free char *state = xasprintf("%s/" SNAP_STATE, dir);
	cleanup_close int fd = open(state, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return wr_err_errno(err, errno, "create %s", state);
	if ((r = pass_fd(q, "wrenn-snap", fd, err)) < 0)
		return r;
	if ((r = qmp_execute(&q->qmp, "migrate", json_pack("{s:s}", "uri", "fd:wrenn-snap"), NULL,
			     err)) < 0)
		return r;
	if ((r = wait_migration(v, "snapshot", err)) < 0)
		return r;
	if (fsync(fd) < 0)
		return wr_err_errno(err, errno, "fsync %s", state);
	v->state = VMM_STATE_PAUSED;
	v->mem_is_snapshot = in_place;

	cleanup_json json_t *meta = json_pack(
		"{s:s, s:s, s:s, s:i, s:i, s:s, s:s}", "backend", "qemu", "accel",
		vm_accel_name(v->p.accel), "cpu", q->cpu ?: vmm_qemu_cpu(v->p.accel), "memory_mb",
		c->memory_mb, "vcpus", c->vcpus, "memory", q->mem_shared ? "file" : "stream",
		"rootfs_format", v->p.rootfs_format ? v->p.rootfs_format : "raw");
	return vmm_write_meta(dir, meta, err);
}

static int check_meta(struct vmm *v, json_t *m, bool *ret_file, const char **ret_cpu,
		      struct wr_err *err)
{
	const struct vm_config *c = v->p.cfg;
	const char *backend = json_string_value(json_object_get(m, "backend"));
	const char *accel = json_string_value(json_object_get(m, "accel"));
	const char *memory = json_string_value(json_object_get(m, "memory"));
	const char *fmt = json_string_value(json_object_get(m, "rootfs_format"));
	if (!backend || strcmp(backend, "qemu"))
		return wr_err_set(err, EINVAL, "snapshot was taken by %s, not qemu",
				  backend ?: "an unknown VMM");
	if (!accel || strcmp(accel, vm_accel_name(v->p.accel)))
		return wr_err_set(err, EINVAL, "snapshot was taken under %s, this VMM uses %s",
				  accel ?: "?", vm_accel_name(v->p.accel));
	/* A snapshot restores under the CPU model it was taken with, whatever WRENN_TCG_CPU
	 * says now; those from before the model was recorded ran TCG's then-fixed "max". */
	const char *cpu = json_string_value(json_object_get(m, "cpu"));
	if (!cpu)
		cpu = v->p.accel == VM_ACCEL_KVM ? "host" : "max";
	if (!*cpu || (v->p.accel == VM_ACCEL_KVM) != !strcmp(cpu, "host"))
		return wr_err_set(err, EINVAL, "snapshot CPU model \"%s\" does not fit %s", cpu,
				  vm_accel_name(v->p.accel));
	*ret_cpu = cpu;
	if (json_integer_value(json_object_get(m, "memory_mb")) != c->memory_mb ||
	    json_integer_value(json_object_get(m, "vcpus")) != c->vcpus)
		return wr_err_set(
			err, EINVAL, "snapshot has %lld MiB / %lld vCPUs, config asks %d MiB / %d",
			json_integer_value(json_object_get(m, "memory_mb")),
			json_integer_value(json_object_get(m, "vcpus")), c->memory_mb, c->vcpus);
	if (!fmt || strcmp(fmt, v->p.rootfs_format ? v->p.rootfs_format : "raw"))
		return wr_err_set(err, EINVAL, "snapshot disk format %s differs from %s",
				  fmt ?: "?", v->p.rootfs_format ? v->p.rootfs_format : "raw");
	if (!memory || (strcmp(memory, "file") && strcmp(memory, "stream")))
		return wr_err_set(err, EINVAL, "snapshot memory kind \"%s\" unknown", memory ?: "");
	*ret_file = !strcmp(memory, "file");
	return 0;
}

static int qemu_restore(struct vmm *v, const char *dir, bool resume, struct wr_err *err)
{
	cleanup_json json_t *meta = NULL;
	int r = vmm_read_meta(dir, &meta, err);
	if (r < 0)
		return r;
	bool file = false;
	const char *cpu = NULL;
	r = check_meta(v, meta, &file, &cpu, err);
	if (r == 0) {
		free(Q(v)->cpu);
		Q(v)->cpu = xstrdup(cpu);
	}
	if (r < 0)
		return r;
	uint64_t size = (uint64_t)v->p.cfg->memory_mb << 20;
	cleanup_free char *mem = xasprintf("%s/" SNAP_MEMORY, dir);
	cleanup_free char *state = xasprintf("%s/" SNAP_STATE, dir);
	cleanup_close int fd = open(state, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return wr_err_errno(err, errno, "open %s", state);

	const char *mem_path = v->p.mem_file;
	bool share = true;
	if (file && !mem_path) {
		/* A clone: private copy-on-write mapping of the snapshot's RAM,
		 * page cache shared between all clones. */
		mem_path = mem;
		share = false;
	}
	if (file && (r = memfile_ensure(mem_path, size, err)) < 0)
		return r;
	if (!file && mem_path && (r = memfile_ensure(mem_path, size, err)) < 0)
		return r;
	if ((r = launch(v, mem_path, share, true, err)) < 0)
		return r;
	struct qemu *q = Q(v);
	if ((r = set_ignore_shared(q, err)) < 0 || (r = pass_fd(q, "wrenn-snap", fd, err)) < 0 ||
	    (r = qmp_execute(&q->qmp, "migrate-incoming",
			     json_pack("{s:s}", "uri", "fd:wrenn-snap"), NULL, err)) < 0 ||
	    (r = wait_migration(v, "restore", err)) < 0)
		return r;
	v->state = VMM_STATE_PAUSED;
	v->mem_is_snapshot = false;
	if (resume)
		return qemu_resume(v, err);
	return 0;
}

static int qemu_shutdown(struct vmm *v, struct wr_err *err)
{
	struct wr_err e = {0};
	int r = qmp_execute(&Q(v)->qmp, "quit", NULL, NULL, &e);
	/* QEMU may exit before its reply is read. */
	if (r < 0 && r != -ECONNRESET && r != -EPIPE) {
		if (err)
			*err = e;
		return r;
	}
	return 0;
}

static void qemu_free_priv(struct vmm *v)
{
	struct qemu *q = v->priv;
	if (!q)
		return;
	qmp_close(&q->qmp);
	free(q->mem_path);
	free(q->cpu);
	free(q);
	v->priv = NULL;
}

const struct vmm_ops vmm_qemu_ops = {
	.name = "qemu",
	.start = qemu_start,
	.boot = qemu_boot,
	.pause = qemu_pause,
	.resume = qemu_resume,
	.snapshot = qemu_snapshot,
	.restore = qemu_restore,
	.info = qemu_info,
	.attach = qemu_attach,
	.shutdown = qemu_shutdown,
	.free_priv = qemu_free_priv,
};
