/* SPDX-License-Identifier: MIT */
/* Open/close, the registry of live sandboxes, and the read-only queries. */
#include "runtime/runtime-internal.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/logrot.h"
#include "basic/xalloc.h"
#include "vm/cgroup.h"
#include "vm/jail.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#define DEFAULT_POOL 2
#define DEFAULT_MAX 64
#define DEFAULT_ENVD_TIMEOUT_MS 60000
#define DEFAULT_WARM 2
#define DEFAULT_MAX_VCPUS 8
#define DEFAULT_MAX_MEMORY_MB 16384
#define WARM_MAX 64
#define WARM_BURST_MS 10000 /* creates this close together are one burst (warm-policy.h) */

/* A warm pool setting: the config's value, else the environment's, else def. */
static unsigned warm_setting(unsigned v, const char *env, unsigned def)
{
	const char *e = getenv(env);
	if (v)
		return v;
	return e && *e ? (unsigned)strtoul(e, NULL, 10) : def;
}

struct sbx *rt_sbx_new(struct runtime *rt, const char *id)
{
	struct sbx *s = xcalloc(1, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "%s", id);
	s->rt = rt;
	s->refs = 1; /* the caller's */
	s->slot = -1;
	pthread_mutex_init(&s->lock, NULL);
	rt_sbx_paths(rt, s);
	return s;
}

int rt_sbx_insert(struct runtime *rt, struct sbx *s, struct wr_err *err)
{
	int r = 0;
	pthread_mutex_lock(&rt->lock);
	if (rt->closing)
		r = wr_err_set(err, ESHUTDOWN, "runtime is closing");
	for (size_t i = 0; r == 0 && i < rt->nsbx; i++)
		if (!strcmp(rt->sbx[i]->id, s->id))
			r = wr_err_set(err, EEXIST, "sandbox %s already exists", s->id);
	if (r == 0 && rt->max_per_team && s->team && *s->team) {
		/* Counted under the same lock as the insert: concurrent creates cannot
		 * both take the last place.  Checked before the host-wide limit, so a
		 * team at its cap hears about its cap (429), not about the host (507). */
		unsigned n = 0;
		for (size_t i = 0; i < rt->nsbx; i++)
			n += rt->sbx[i]->team && !strcmp(rt->sbx[i]->team, s->team);
		if (n >= rt->max_per_team)
			r = wr_err_set(
				err, EUSERS,
				"team %s has %u live sandboxes (max_sandboxes_per_team limit)",
				s->team, n);
	}
	if (r == 0 && rt->nsbx >= rt->max_sandboxes)
		r = wr_err_set(err, ENOSPC, "sandbox limit reached (%u)", rt->max_sandboxes);
	if (r == 0) {
		if (rt->nsbx == rt->capsbx) {
			rt->capsbx = rt->capsbx ? rt->capsbx * 2 : 16;
			rt->sbx = xrealloc(rt->sbx, rt->capsbx * sizeof(*rt->sbx));
		}
		rt->sbx[rt->nsbx++] = s;
		s->listed = true;
		s->refs++;
	}
	pthread_mutex_unlock(&rt->lock);
	return r;
}

/* Drops the registry's reference. */
void rt_sbx_unlist(struct runtime *rt, struct sbx *s)
{
	bool drop = false;
	pthread_mutex_lock(&rt->lock);
	for (size_t i = 0; i < rt->nsbx; i++)
		if (rt->sbx[i] == s) {
			rt->sbx[i] = rt->sbx[--rt->nsbx];
			s->listed = false;
			drop = true;
			break;
		}
	pthread_mutex_unlock(&rt->lock);
	if (drop)
		rt_sbx_put(s);
}

struct sbx *rt_sbx_get(struct runtime *rt, const char *id)
{
	struct sbx *s = NULL;
	pthread_mutex_lock(&rt->lock);
	for (size_t i = 0; id && i < rt->nsbx; i++)
		if (!strcmp(rt->sbx[i]->id, id)) {
			s = rt->sbx[i];
			s->refs++;
			break;
		}
	pthread_mutex_unlock(&rt->lock);
	return s;
}

void rt_sbx_put(struct sbx *s)
{
	if (!s)
		return;
	struct runtime *rt = s->rt;
	pthread_mutex_lock(&rt->lock);
	bool last = --s->refs == 0;
	if (last)
		pthread_cond_broadcast(&rt->cond);
	pthread_mutex_unlock(&rt->lock);
	if (last)
		rt_sbx_free(s);
}

static json_t *parse_obj(const char *txt)
{
	cleanup_json json_t *j = txt ? json_loads(txt, 0, NULL) : NULL;
	if (!json_is_object(j))
		return json_object();
	return TAKE_PTR(j);
}

static void info_from_row(struct runtime_info *ret, struct store_sandbox *row, struct sbx *s)
{
	*ret = (struct runtime_info){0};
	snprintf(ret->id, sizeof(ret->id), "%s", row->id);
	ret->template = xstrdup(row->template ? row->template : "");
	ret->state = row->state;
	ret->vcpus = row->vcpus;
	ret->memory_mb = row->memory_mb;
	ret->slot = row->slot;
	ret->created_at = row->created_at;
	ret->started_at = row->started_at;
	ret->end_at = row->end_at;
	ret->metadata = parse_obj(row->metadata_json);
	ret->env_vars = parse_obj(row->env_json);
	ret->allow_internet = row->allow_internet;
	ret->envd_token = row->envd_token && *row->envd_token ? xstrdup(row->envd_token) : NULL;
	ret->envd_version = xstrdup(s && s->envd_version ? s->envd_version : RUNTIME_ENVD_VERSION);
	ret->error = row->error ? xstrdup(row->error) : NULL;
	ret->create_path = s && s->create_path ? s->create_path : "";
	rt_net_info(ret, s);
	ret->team = xstrdup(row->team ? row->team : "");
}

int rt_info_fill(struct runtime *rt, const char *id, struct runtime_info *ret, struct wr_err *err)
{
	struct store_sandbox row = {0};
	int r = store_sandbox_get(rt->store, id, &row, err);
	if (r < 0)
		return r == -ENOENT ? wr_err_set(err, ENOENT, "sandbox %s not found", id) : r;
	struct sbx *s = rt_sbx_get(rt, id);
	info_from_row(ret, &row, s);
	rt_sbx_put(s);
	store_sandbox_done(&row);
	return 0;
}

void runtime_info_done(struct runtime_info *info)
{
	if (!info)
		return;
	free(info->template);
	json_decref(info->metadata);
	json_decref(info->env_vars);
	free(info->envd_token);
	free(info->envd_version);
	free(info->error);
	rt_strv_free(info->allow_out);
	rt_strv_free(info->deny_out);
	free(info->traffic_token);
	free(info->mask_host);
	free(info->team);
	*info = (struct runtime_info){0};
}

void runtime_info_list_free(struct runtime_info *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		runtime_info_done(&rows[i]);
	free(rows);
}

int runtime_get(struct runtime *rt, const char *id, struct runtime_info *ret, struct wr_err *err)
{
	if (!runtime_id_valid(id))
		return wr_err_set(err, ENOENT, "sandbox %s not found", id ? id : "(null)");
	return rt_info_fill(rt, id, ret, err);
}

int runtime_list(struct runtime *rt, const struct runtime_filter *f, struct runtime_info **ret_rows,
		 size_t *ret_n, struct wr_err *err)
{
	struct store_sandbox_filter sf = {
		.states = f && f->states ? f->states
					 : (1u << STORE_SB_CREATING) | (1u << STORE_SB_RUNNING) |
						   (1u << STORE_SB_PAUSED),
		.template = f ? f->template : NULL,
		.meta = f ? f->meta : NULL,
		.team = f ? f->team : NULL,
	};
	struct runtime_info *out = NULL;
	size_t n = 0;
	cleanup_free char *cursor = NULL;
	do {
		struct store_sandbox *rows = NULL;
		size_t m = 0;
		char *next = NULL;
		int r = store_sandbox_list(rt->store, &sf, cursor, 0, &rows, &m, &next, err);
		if (r < 0) {
			runtime_info_list_free(out, n);
			return r;
		}
		out = xrealloc(out, (n + m + 1) * sizeof(*out));
		for (size_t i = 0; i < m; i++) {
			struct sbx *s = rt_sbx_get(rt, rows[i].id);
			/* A template build's VM is an artefact, not a user's sandbox. */
			if (!s || !s->hidden)
				info_from_row(&out[n++], &rows[i], s);
			rt_sbx_put(s);
		}
		store_sandbox_list_free(rows, m);
		free(cursor);
		cursor = next;
	} while (cursor);
	*ret_rows = out;
	*ret_n = n;
	return 0;
}

/* Look up a live sandbox and lock it; -ENOENT if unknown. */
static int lock_live(struct runtime *rt, const char *id, struct sbx **ret, struct wr_err *err)
{
	struct sbx *s = runtime_id_valid(id) ? rt_sbx_get(rt, id) : NULL;
	if (!s)
		return wr_err_set(err, ENOENT, "sandbox %s not found", id ? id : "(null)");
	pthread_mutex_lock(&s->lock);
	if (!s->listed) {
		pthread_mutex_unlock(&s->lock);
		rt_sbx_put(s);
		return wr_err_set(err, ENOENT, "sandbox %s not found", id);
	}
	*ret = s;
	return 0;
}

static void unlock_put(struct sbx *s)
{
	pthread_mutex_unlock(&s->lock);
	rt_sbx_put(s);
}

int runtime_set_timeout(struct runtime *rt, const char *id, int timeout_s, struct wr_err *err)
{
	if (timeout_s < 0)
		return wr_err_set(err, EINVAL, "timeout must be >= 0 seconds");
	struct sbx *s = NULL;
	int r = lock_live(rt, id, &s, err);
	if (r < 0)
		return r;
	r = rt_state_check(RT_OP_SET_TIMEOUT, s->state, id, err);
	if (r >= 0) {
		s->timeout_s = timeout_s;
		int64_t end = timeout_s ? rt_now_ms() + (int64_t)timeout_s * 1000 : 0;
		r = store_sandbox_set_end_at(rt->store, id, end, err);
		if (r >= 0)
			rt_sbx_write_state(s, NULL);
	}
	unlock_put(s);
	return r < 0 ? r : 0;
}

int runtime_connect(struct runtime *rt, const char *id, uint16_t port, int timeout_ms, int *ret_fd,
		    struct wr_err *err)
{
	struct sbx *s = runtime_id_valid(id) ? rt_sbx_get(rt, id) : NULL;
	if (!s)
		return wr_err_set(err, ENOENT, "sandbox %s not found", id ? id : "(null)");
	/* No sandbox lock: connects must not queue behind a long create or pause;
	 * the state is read racily, the connect itself fails if the VM went away. */
	int r = rt_state_check(RT_OP_CONNECT, s->state, id, err);
	char ns[NETNS_NAME_MAX];
	snprintf(ns, sizeof(ns), "%s", s->ns);
	rt_sbx_put(s);
	if (r < 0)
		return r;
	return net_connect_in_ns(ns, VM_GUEST_IP, port, timeout_ms > 0 ? timeout_ms : 5000, ret_fd,
				 err);
}

int runtime_envd_info(struct runtime *rt, const char *id, char **ret_token, char **ret_version,
		      struct wr_err *err)
{
	struct runtime_info info;
	int r = runtime_get(rt, id, &info, err);
	if (r < 0)
		return r;
	if (info.state == STORE_SB_KILLED) {
		runtime_info_done(&info);
		return wr_err_set(err, ENOENT, "sandbox %s was killed", id);
	}
	if (ret_token)
		*ret_token = TAKE_PTR(info.envd_token);
	if (ret_version)
		*ret_version = TAKE_PTR(info.envd_version);
	runtime_info_done(&info);
	return 0;
}

int runtime_log_path(struct runtime *rt, const char *id, char **ret_path, struct wr_err *err)
{
	if (!runtime_id_valid(id))
		return wr_err_set(err, ENOENT, "sandbox %s not found", id ? id : "(null)");
	struct store_sandbox row = {0};
	int r = store_sandbox_get(rt->store, id, &row, err);
	if (r < 0)
		return r == -ENOENT ? wr_err_set(err, ENOENT, "sandbox %s not found", id) : r;
	store_sandbox_done(&row);
	*ret_path = xasprintf("%s/%s/" RT_LOG_FILE, rt->sandboxes_dir, id);
	return 0;
}

unsigned runtime_warm_ready(struct runtime *rt)
{
	return rt_warm_ready(rt, NULL);
}

struct store *runtime_store(struct runtime *rt)
{
	return rt->store;
}

/* vmm_qemu_ro_private runs the QEMU binary once per process (~15-25 ms under TCG) and a
 * restore needs its answer to build the command line: asked here, at open, it runs while
 * the runtime loads and sweeps, and the first restore finds it cached instead of paying for
 * it (every create of a short-lived process such as wrenn-rtctl did).  A restore that comes
 * first waits for it on the probe's own lock. */
static void *probe_qemu(void *arg)
{
	vmm_qemu_ro_private(arg);
	free(arg);
	return NULL;
}

static void probe_start(struct runtime *rt)
{
	if (rt->vmm.kind != VMM_KIND_QEMU)
		return;
	/* the binary rt_sbx_vmm_new hands the QEMU backend (vmm.h: NULL = qemu-system-x86_64) */
	char *bin = xstrdup(rt->vmm_bin ? rt->vmm_bin : "qemu-system-x86_64");
	if (pthread_create(&rt->probe_thread, NULL, probe_qemu, bin) == 0)
		rt->probe_started = true;
	else
		free(bin);
}

int runtime_open(const struct runtime_config *cfg, struct runtime **ret, struct wr_err *err)
{
	struct runtime_config none = {0};
	if (!cfg)
		cfg = &none;
	struct runtime *rt = xcalloc(1, sizeof(*rt));
	rt->lock_fd = -1;
	pthread_mutex_init(&rt->lock, NULL);
	pthread_cond_init(&rt->cond, NULL);
	pthread_mutex_init(&rt->reaper_lock, NULL);
	pthread_mutex_init(&rt->auto_lock, NULL);
	pthread_rwlock_init(&rt->tpl_gc_lock, NULL);
	rt_metrics_init(rt);
	pthread_cond_init(&rt->reaper_cond, NULL);
	rt->data_dir = xstrdup(cfg->data_dir ? cfg->data_dir : RUNTIME_DATA_DIR_DEFAULT);
	rt->images_dir =
		cfg->images_dir ? xstrdup(cfg->images_dir) : xasprintf("%s/images", rt->data_dir);
	rt->kernel_path = cfg->kernel_path ? xstrdup(cfg->kernel_path)
					   : xasprintf("%s/vmlinux", rt->images_dir);
	rt->sandboxes_dir = xasprintf("%s/sandboxes", rt->data_dir);
	rt->vmroot_dir = xasprintf("%s/vm", rt->data_dir);
	rt->vmm_bin = cfg->vmm_bin ? xstrdup(cfg->vmm_bin) : NULL;
	rt->envd_timeout_ms =
		cfg->envd_timeout_ms > 0 ? cfg->envd_timeout_ms : DEFAULT_ENVD_TIMEOUT_MS;
	rt->max_sandboxes = cfg->max_sandboxes ? cfg->max_sandboxes : DEFAULT_MAX;
	rt->stop_on_close = cfg->stop_on_close;
	{
		/* Jail, cgroup and create limits: config, else WRENN_* environment, else defaults. */
		const char *e = getenv("WRENN_JAIL");
		const char *b = getenv("WRENN_JAIL_UID_BASE");
		unsigned base = cfg->jail_uid_base;
		if (!base)
			base = b && *b ? (unsigned)strtoul(b, NULL, 10) : JAIL_UID_BASE_DEFAULT;
		rt->jail_uid_base = cfg->no_jail || (e && !strcmp(e, "0")) ? 0 : (uid_t)base;
		const char *cg = cfg->cgroup_parent;
		if (!cg)
			cg = getenv("WRENN_CGROUP_PARENT");
		if (!cg || !*cg)
			cg = CGROUP_AUTO;
		rt->cgroup_parent = strcmp(cg, "none") ? xstrdup(cg) : NULL;
		const char *mv = getenv("WRENN_MAX_VCPUS"), *mm = getenv("WRENN_MAX_MEMORY_MB");
		rt->max_vcpus = cfg->max_vcpus;
		if (!rt->max_vcpus)
			rt->max_vcpus = mv && *mv ? atoi(mv) : DEFAULT_MAX_VCPUS;
		rt->max_memory_mb = cfg->max_memory_mb;
		if (!rt->max_memory_mb)
			rt->max_memory_mb = mm && *mm ? atoi(mm) : DEFAULT_MAX_MEMORY_MB;
		const char *pt = getenv("WRENN_MAX_SANDBOXES_PER_TEAM");
		rt->max_per_team = cfg->max_sandboxes_per_team;
		if (!rt->max_per_team && pt && *pt)
			rt->max_per_team = (unsigned)strtoul(pt, NULL, 10);
	}
	const char *as = getenv("WRENN_AUTO_SNAPSHOT");
	rt->auto_snapshot = !cfg->no_auto_snapshot && !(as && !strcmp(as, "0"));
	{
		const char *wp = getenv("WRENN_WARM_POOL");
		int w = cfg->warm_pool;
		if (w == 0)
			w = wp && *wp ? atoi(wp) : cfg->prewarm ? DEFAULT_WARM : 0;
		unsigned floor = w > 0 ? (unsigned)(w > WARM_MAX ? WARM_MAX : w) : 0;
		unsigned wmax = warm_setting(cfg->warm_pool_max, "WRENN_WARM_POOL_MAX", 32);
		unsigned wmem =
			warm_setting(cfg->warm_pool_memory_mb, "WRENN_WARM_POOL_MEMORY_MB", 0);
		unsigned widle = warm_setting(cfg->warm_pool_idle_s, "WRENN_WARM_POOL_IDLE_S", 300);
		unsigned wpar =
			warm_setting(cfg->warm_pool_parallel, "WRENN_WARM_POOL_PARALLEL", 2);
		if (!wmem) {
			long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
			wmem = pages > 0 && psz > 0
				       ? (unsigned)((uint64_t)pages * (uint64_t)psz / 8 / (1 << 20))
				       : 1024;
		}
		struct wp_cfg wc = {.max_per_key = wmax > WARM_MAX ? WARM_MAX : wmax,
				    .budget_mb = wmem,
				    .idle_ms = (int64_t)widle * 1000,
				    .burst_ms = WARM_BURST_MS};
		rt_warm_init(rt, floor, &wc, wpar);
	}
	int r;
	rt->log_max_bytes = cfg->log_max_bytes;
	if (rt->log_max_bytes <= 0 && getenv("WRENN_VMM_LOG_MAX") &&
	    (logrot_parse_size(getenv("WRENN_VMM_LOG_MAX"), RUNTIME_LOG_MAX_LIMIT,
			       &rt->log_max_bytes) < 0 ||
	     rt->log_max_bytes < 4096)) {
		r = wr_err_set(err, EINVAL,
			       "WRENN_VMM_LOG_MAX must be a byte count from 4096 to 2^40");
		goto fail;
	}
	if (rt->log_max_bytes <= 0)
		rt->log_max_bytes = RUNTIME_LOG_MAX_DEFAULT;
	if (rt->jail_uid_base &&
	    (r = jail_check_range(rt->jail_uid_base, rt->max_sandboxes, err)) < 0)
		goto fail;
	if (rt->max_vcpus < 1 || rt->max_vcpus > VM_MAX_VCPUS ||
	    rt->max_memory_mb < RUNTIME_MIN_MEMORY_MB || rt->max_memory_mb > VM_MAX_MEMORY_MB) {
		r = wr_err_set(err, EINVAL, "max vCPUs must be 1..%d and max memory %d..%d MiB",
			       VM_MAX_VCPUS, RUNTIME_MIN_MEMORY_MB, VM_MAX_MEMORY_MB);
		goto fail;
	}
	if ((r = mkdir_p(rt->sandboxes_dir, 0750)) < 0 || (r = mkdir_p(rt->vmroot_dir, 0700)) < 0) {
		r = wr_err_errno(err, -r, "create directories under %s", rt->data_dir);
		goto fail;
	}
	{
		/* Two runtimes on one data dir would sweep each other's creates. */
		cleanup_free char *lp = xasprintf("%s/runtime.lock", rt->data_dir);
		rt->lock_fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (rt->lock_fd < 0) {
			r = wr_err_errno(err, errno, "open %s", lp);
			goto fail;
		}
		if (flock(rt->lock_fd, LOCK_EX | LOCK_NB) < 0) {
			r = errno == EWOULDBLOCK
				    ? wr_err_set(err, EBUSY,
						 "data dir %s is in use by another wrenn runtime",
						 rt->data_dir)
				    : wr_err_errno(err, errno, "lock %s", lp);
			goto fail;
		}
	}
	if (cfg->store) {
		rt->store = cfg->store;
	} else {
		cleanup_free char *sp = cfg->store_path ? xstrdup(cfg->store_path)
							: xasprintf("%s/wrenn.db", rt->data_dir);
		if ((r = store_open(sp, &rt->store, err)) < 0)
			goto fail;
		rt->own_store = true;
	}
	r = vmm_choose(rt->vmm_bin ? rt->vmm_bin : VM_DEFAULT_VMM_BIN, false, &rt->vmm, err);
	if (r >= 0 && (cfg->vmm || cfg->accel)) {
		struct accel_probe probe;
		kvm_probe(false, &probe);
		r = vmm_choose_with(rt->vmm_bin ? rt->vmm_bin : VM_DEFAULT_VMM_BIN, &probe,
				    cfg->vmm, cfg->accel, &rt->vmm, err);
	}
	if (r < 0)
		goto fail;
	rt->net_bytes_per_sec = cfg->net_bytes_per_sec;
	if (rt->net_bytes_per_sec && rt->vmm.kind != VMM_KIND_CH) {
		r = wr_err_set(
			err, ENOTSUP,
			"a guest NIC rate limit needs Cloud Hypervisor (QEMU has no NIC rate "
			"limiter)");
		goto fail;
	}
	probe_start(rt);
	if ((r = disk_detect(rt->data_dir, cfg->disk_backend, &rt->disk_ops, err)) < 0)
		goto fail;
	struct slot_pool_config pc = {
		.data_dir = rt->data_dir,
		.ns_prefix = cfg->ns_prefix,
		.egress = {.veth_prefix = cfg->veth_prefix,
			   .nft_table = cfg->nft_table,
			   .base = cfg->egress_base},
		.first = 1,
		.last = rt->max_sandboxes,
		.pool_size = cfg->pool_size ? cfg->pool_size : DEFAULT_POOL,
	};
	if (pc.pool_size > rt->max_sandboxes)
		pc.pool_size = rt->max_sandboxes;
	if ((r = slot_pool_new(&pc, &rt->pool, err)) < 0)
		goto fail;
	if ((r = rt_templates_load(rt, err)) < 0 || (r = rt_sweep(rt, err)) < 0)
		goto fail;
	struct wr_err fe = {0};
	if (slot_pool_fill(rt->pool, &fe) < 0)
		log_warn("runtime: prepare network slots: %s", wr_err_msg(&fe));
	if (cfg->prewarm && rt_auto_enabled(rt)) {
		/* Builds the default template's auto snapshot if it is missing (in
		 * the background; the builder fills the warm pool when done). */
		struct rt_template t = {0}, a = {0};
		if (rt_template_lookup(rt, NULL, &t, NULL) == 0 && !t.snapshot_dir &&
		    rt_auto_lookup(rt, &t, VM_DEFAULT_VCPUS, VM_DEFAULT_MEMORY_MB, &a) == 1) {
			rt_warm_register(rt, &a, VM_DEFAULT_VCPUS, VM_DEFAULT_MEMORY_MB);
			rt_template_done(&a);
		}
		rt_template_done(&t);
	}
	if (!cfg->no_reaper && (r = rt_reaper_start(rt, err)) < 0)
		goto fail;
	if (!cfg->no_reaper && (r = rt_metrics_start(rt, err)) < 0)
		goto fail;
	*ret = rt;
	return 0;
fail:
	wr_err_prefix(err, r, "runtime");
	runtime_close(rt);
	return r;
}

void runtime_close(struct runtime *rt)
{
	if (!rt)
		return;
	rt_reaper_stop(rt);
	rt_metrics_stop(rt);
	pthread_mutex_lock(&rt->lock);
	rt->closing = true;
	/* Ask in-flight creates to stop, then let every operation finish. */
	for (size_t i = 0; i < rt->nsbx; i++)
		if (atomic_load(&rt->sbx[i]->creating))
			atomic_store(&rt->sbx[i]->cancel, true);
	pthread_mutex_unlock(&rt->lock);
	rt_auto_stop(rt);
	rt_warm_stop(rt);
	if (rt->probe_started)
		pthread_join(rt->probe_thread, NULL);
	rt->probe_started = false;
	for (;;) {
		pthread_mutex_lock(&rt->lock);
		struct sbx *s = NULL;
		for (size_t i = 0; i < rt->nsbx && !s; i++)
			if (rt->sbx[i]->listed)
				s = rt->sbx[i];
		if (s)
			s->refs++;
		pthread_mutex_unlock(&rt->lock);
		if (!s)
			break;
		pthread_mutex_lock(&s->lock);
		if (s->listed) {
			if (rt->stop_on_close && s->state == STORE_SB_RUNNING) {
				rt_sbx_release(s, false);
				store_sandbox_set_state(rt->store, s->id, STORE_SB_KILLED, NULL,
							NULL);
				store_event_add(rt->store, s->id, "killed", "runtime closed", NULL);
			} else if (s->vmm) {
				/* Leave the VMM running for the next runtime_open: drop our
				 * handles without stopping it. */
				vmm_detach(s->vmm);
				vmm_free(s->vmm);
				s->vmm = NULL;
			}
			rt_sbx_unlist(rt, s);
			pthread_mutex_unlock(&s->lock);
		} else {
			pthread_mutex_unlock(&s->lock);
		}
		rt_sbx_put(s);
	}
	/* Wait for other threads still holding references (returning callers). */
	pthread_mutex_lock(&rt->lock);
	pthread_mutex_unlock(&rt->lock);
	slot_pool_free(rt->pool);
	rt_templates_free(rt);
	if (rt->own_store)
		store_close(rt->store);
	if (rt->lock_fd >= 0)
		close(rt->lock_fd);
	free(rt->sbx);
	free(rt->data_dir);
	free(rt->images_dir);
	free(rt->kernel_path);
	free(rt->sandboxes_dir);
	free(rt->vmroot_dir);
	free(rt->vmm_bin);
	free(rt->cgroup_parent);
	rt_warm_done(rt);
	rt_metrics_free(rt);
	pthread_mutex_destroy(&rt->lock);
	pthread_rwlock_destroy(&rt->tpl_gc_lock);
	pthread_cond_destroy(&rt->cond);
	pthread_mutex_destroy(&rt->reaper_lock);
	pthread_mutex_destroy(&rt->auto_lock);
	pthread_cond_destroy(&rt->reaper_cond);
	free(rt);
}
