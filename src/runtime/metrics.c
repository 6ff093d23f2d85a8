/* SPDX-License-Identifier: MIT */
/* Per-sandbox metrics and console logs in memory, and the sampler thread that fills them
 * (limits and sources in metrics.h). */
#include "runtime/metrics.h"
#include "runtime/runtime-internal.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/logrot.h"
#include "basic/xalloc.h"
#include "http/http.h"
#include "http/json.h"
#include "vm/cgroup.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* --- the ring of points ---------------------------------------------------------------------- */

void metric_ring_push(struct metric_ring *r, const struct metric_point *p, size_t max)
{
	if (max == 0)
		return;
	if (r->n < max && r->n == r->cap) {
		/* grow: unroll into a bigger array, oldest first */
		size_t ncap = r->cap ? r->cap * 2 : 16;
		if (ncap > max)
			ncap = max;
		struct metric_point *v = xmalloc(ncap * sizeof(*v));
		for (size_t i = 0; i < r->n; i++)
			v[i] = r->v[(r->start + i) % r->cap];
		free(r->v);
		r->v = v;
		r->cap = ncap;
		r->start = 0;
	}
	if (r->n < r->cap) {
		r->v[(r->start + r->n) % r->cap] = *p;
		r->n++;
	} else { /* full: overwrite the oldest */
		r->v[r->start] = *p;
		r->start = (r->start + 1) % r->cap;
	}
}

void metric_ring_done(struct metric_ring *r)
{
	free(r->v);
	*r = (struct metric_ring){0};
}

size_t metric_ring_window(const struct metric_ring *r, int64_t start, int64_t end,
			  struct metric_point **ret)
{
	*ret = NULL;
	size_t k = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct metric_point *p = &r->v[(r->start + i) % r->cap];
		if ((start && p->ts < start) || (end && p->ts > end))
			continue;
		if (!*ret)
			*ret = xmalloc((r->n - i) * sizeof(**ret));
		(*ret)[k++] = *p;
	}
	return k;
}

bool metric_ring_last(const struct metric_ring *r, struct metric_point *ret)
{
	if (!r->n)
		return false;
	*ret = r->v[(r->start + r->n - 1) % r->cap];
	return true;
}

/* --- the ring of log lines ------------------------------------------------------------------- */

static const char *const level_names[] = {"debug", "info", "warn", "error"};

const char *metrics_level_name(enum metrics_level l)
{
	return (unsigned)l < 4 ? level_names[l] : "info";
}

int metrics_level_parse(const char *s, enum metrics_level *ret)
{
	for (int i = 0; i < 4; i++)
		if (s && !strcmp(s, level_names[i])) {
			*ret = (enum metrics_level)i;
			return 0;
		}
	return -EINVAL;
}

enum metrics_level metrics_line_level(const char *line, size_t len)
{
	/* "2026-01-02T03:04:05.678Z warn  [envd] ..." */
	if (len < 26 || line[4] != '-' || line[7] != '-' || line[10] != 'T')
		return METRICS_INFO;
	const char *sp = memchr(line, ' ', len);
	if (!sp || sp[-1] != 'Z')
		return METRICS_INFO;
	const char *w = sp + 1;
	size_t left = len - (size_t)(w - line);
	for (int i = 0; i < 4; i++) {
		size_t n = strlen(level_names[i]);
		if (left > n && !memcmp(w, level_names[i], n) && w[n] == ' ')
			return (enum metrics_level)i;
	}
	return METRICS_INFO;
}

static void log_drop_oldest(struct log_ring *r)
{
	struct log_entry *e = &r->v[r->start];
	r->bytes -= strlen(e->msg);
	free(e->msg);
	free(e->source);
	*e = (struct log_entry){0};
	r->start = (r->start + 1) % r->cap;
	r->n--;
}

void log_ring_push(struct log_ring *r, int64_t ts_ms, enum metrics_level level, const char *source,
		   const char *msg, size_t len)
{
	if (len > METRICS_LOG_LINE_MAX)
		len = METRICS_LOG_LINE_MAX;
	while (r->n && (r->n >= METRICS_LOG_ENTRIES || r->bytes + len > METRICS_LOG_BYTES))
		log_drop_oldest(r);
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 64;
		if (ncap > METRICS_LOG_ENTRIES)
			ncap = METRICS_LOG_ENTRIES;
		struct log_entry *v = xmalloc(ncap * sizeof(*v));
		for (size_t i = 0; i < r->n; i++)
			v[i] = r->v[(r->start + i) % r->cap];
		free(r->v);
		r->v = v;
		r->cap = ncap;
		r->start = 0;
	}
	/* unique, increasing: the v2 cursor is a timestamp */
	if (ts_ms <= r->last_ts)
		ts_ms = r->last_ts + 1;
	r->last_ts = ts_ms;
	r->v[(r->start + r->n) % r->cap] = (struct log_entry){
		.ts_ms = ts_ms,
		.level = level,
		.source = xstrdup(source),
		.msg = xstrndup(msg, len),
	};
	r->n++;
	r->bytes += len;
}

void log_ring_done(struct log_ring *r)
{
	while (r->n)
		log_drop_oldest(r);
	free(r->v);
	*r = (struct log_ring){0};
}

void log_ring_feed(struct log_ring *r, char **partial, size_t *partial_len, const char *data,
		   size_t n, int64_t ts_ms)
{
	size_t i = 0;
	while (i < n) {
		const char *nl = memchr(data + i, '\n', n - i);
		size_t len = nl ? (size_t)(nl - (data + i)) : n - i;
		size_t room = METRICS_LOG_LINE_MAX - *partial_len;
		size_t take = len < room ? len : room; /* the rest of a longer line is cut */
		*partial = xrealloc(*partial, *partial_len + take + 1);
		memcpy(*partial + *partial_len, data + i, take);
		*partial_len += take;
		if (nl) {
			i += len + 1;
		} else if (*partial_len < METRICS_LOG_LINE_MAX) {
			i += len;
			break; /* wait for the rest of the line */
		} else {
			i += take; /* a run without '\n': the rest is the next piece */
		}
		size_t l = *partial_len;
		while (l && (*partial)[l - 1] == '\r')
			l--;
		log_ring_push(r, ts_ms, metrics_line_level(*partial, l), "console", *partial, l);
		*partial_len = 0;
	}
}

const struct log_entry *log_ring_at(const struct log_ring *r, size_t i)
{
	return &r->v[(r->start + i) % r->cap];
}

size_t log_ring_select(const struct log_ring *r, int64_t cursor, bool forward,
		       enum metrics_level min_level, const char *search, size_t limit, size_t *ret)
{
	size_t k = 0;
	for (size_t j = 0; j < r->n && k < limit; j++) {
		size_t i = forward ? j : r->n - 1 - j;
		const struct log_entry *e = log_ring_at(r, i);
		if (cursor >= 0 && (forward ? e->ts_ms < cursor : e->ts_ms > cursor))
			continue;
		if (e->level < min_level || (search && !strstr(e->msg, search)))
			continue;
		ret[k++] = i;
	}
	return k;
}

/* --- histograms ------------------------------------------------------------------------------ */

const double metrics_hist_bounds[METRICS_HIST_BUCKETS] = {0.1, 0.25, 0.5, 1,  2.5,
							  5,   10,   30,  60, INFINITY};

void metrics_hist_observe(struct metrics_hist *h, double seconds)
{
	if (!(seconds >= 0))
		seconds = 0;
	size_t i = 0;
	while (i < METRICS_HIST_BUCKETS - 1 && seconds > metrics_hist_bounds[i])
		i++;
	h->bucket[i]++;
	h->count++;
	h->sum += seconds;
}

/* --- per-sandbox state ----------------------------------------------------------------------- */

struct msbx {
	char id[RUNTIME_ID_MAX];
	int64_t ended_at; /* unix s; 0 = live */
	struct metric_ring points;
	struct log_ring logs;
	/* sampler-private (only the sampler thread touches these) */
	int64_t log_off; /* logical offset read up to in vmm.log */
	char *partial;	 /* a line not yet ended by '\n' */
	size_t partial_len;
	int64_t next_sample;  /* monotonic ms */
	uint64_t prev_ticks;  /* VMM CPU time, clock ticks */
	int64_t prev_mono_ms; /* when prev_ticks was read; 0 = none */
	pid_t prev_pid;
};

struct rt_metrics {
	pthread_mutex_t lock; /* a leaf: everything below */
	struct msbx **v;
	size_t n;
	struct metrics_counters c;
	/* the sampler thread */
	pthread_mutex_t run_lock;
	pthread_cond_t run_cond;
	pthread_t thread;
	bool running, started;
};

static void msbx_free(struct msbx *m)
{
	if (!m)
		return;
	metric_ring_done(&m->points);
	log_ring_done(&m->logs);
	free(m->partial);
	free(m);
}

static int64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* under m->lock */
static struct msbx *find(struct rt_metrics *m, const char *id)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->v[i]->id, id))
			return m->v[i];
	return NULL;
}

/* under m->lock: the entry of a live sandbox, made on first sight (a re-used id starts over) */
static struct msbx *find_live(struct rt_metrics *m, const char *id)
{
	struct msbx *e = find(m, id);
	if (e && !e->ended_at)
		return e;
	if (e) {
		for (size_t i = 0; i < m->n; i++)
			if (m->v[i] == e) {
				m->v[i] = m->v[--m->n];
				break;
			}
		msbx_free(e);
	}
	e = xcalloc(1, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	m->v = xrealloc(m->v, (m->n + 1) * sizeof(*m->v));
	m->v[m->n++] = e;
	return e;
}

/* under m->lock: ended entries past METRICS_KEEP_S or beyond METRICS_FINISHED_MAX go */
static void expire(struct rt_metrics *m, int64_t now_s)
{
	size_t ended = 0;
	for (size_t i = 0; i < m->n;) {
		struct msbx *e = m->v[i];
		if (e->ended_at && now_s - e->ended_at > METRICS_KEEP_S) {
			m->v[i] = m->v[--m->n];
			msbx_free(e);
			continue;
		}
		ended += e->ended_at != 0;
		i++;
	}
	while (ended > METRICS_FINISHED_MAX) {
		size_t old = SIZE_MAX;
		for (size_t i = 0; i < m->n; i++)
			if (m->v[i]->ended_at &&
			    (old == SIZE_MAX || m->v[i]->ended_at < m->v[old]->ended_at))
				old = i;
		struct msbx *e = m->v[old];
		m->v[old] = m->v[--m->n];
		msbx_free(e);
		ended--;
	}
}

/* --- sampling -------------------------------------------------------------------------------- */

/* utime + stime of pid in clock ticks (/proc/<pid>/stat fields 14 and 15). */
static int proc_cpu_ticks(pid_t pid, uint64_t *ret)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	cleanup_free char *buf = NULL;
	if (read_file(path, 4096, &buf, NULL) < 0)
		return -errno;
	const char *p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
	if (!p)
		return -EIO;
	unsigned long long ut = 0, st = 0;
	/* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
	 * utime(14) stime(15) */
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -EIO;
	*ret = ut + st;
	return 0;
}

/* The VMM's resident memory: its cgroup's charge when it has one, else VmRSS. */
static int64_t host_mem(pid_t pid, const char *id)
{
	struct cgroup_set cg;
	int64_t v = -1;
	if (cgroup_of_pid(pid, id, &cg) == 0) {
		for (size_t i = 0; i < cg.n && v < 0; i++) {
			static const char *const files[] = {"memory.current",
							    "memory.usage_in_bytes"};
			for (size_t f = 0; f < 2 && v < 0; f++) {
				cleanup_free char *path = xasprintf("%s/%s", cg.dir[i], files[f]);
				cleanup_free char *buf = NULL;
				if (read_file(path, 64, &buf, NULL) == 0)
					v = strtoll(buf, NULL, 10);
			}
		}
		cgroup_set_forget(&cg);
	}
	if (v >= 0)
		return v;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	cleanup_free char *buf = NULL;
	if (read_file(path, 1 << 16, &buf, NULL) < 0)
		return 0;
	const char *p = strstr(buf, "\nVmRSS:");
	long long kb = 0;
	if (p && sscanf(p + 7, " %lld kB", &kb) == 1)
		return (int64_t)kb * 1024;
	return 0;
}

int rt_metrics_from_envd(const json_t *m, int64_t mem_total, struct metric_point *p,
			 struct wr_err *err)
{
	static const struct {
		const char *key;
		size_t off;
	} f[] = {
		{"mem_used", offsetof(struct metric_point, mem_used)},
		{"mem_cache", offsetof(struct metric_point, mem_cache)},
		{"disk_used", offsetof(struct metric_point, disk_used)},
		{"disk_total", offsetof(struct metric_point, disk_total)},
	};
	int64_t v[4] = {0};
	for (size_t i = 0; i < 4; i++) {
		int r = wj_i64(m, f[i].key, &v[i]);
		if (r == -ENOENT) {
			v[i] = 0;
			continue;
		}
		if (r < 0)
			return wr_err_set(err, EPROTO, "envd sent a %s that is not an integer",
					  f[i].key);
		/* memory within the guest's RAM, disk below 2^50 (1 PiB) */
		int64_t hi = i < 2 ? mem_total : INT64_C(1) << 50;
		if (v[i] < 0 || v[i] > hi)
			return wr_err_set(err, EPROTO,
					  "envd sent %s = %" PRId64 ", outside 0..%" PRId64,
					  f[i].key, v[i], hi);
	}
	if (v[2] > v[3])
		return wr_err_set(err, EPROTO,
				  "envd sent disk_used %" PRId64 " > disk_total %" PRId64, v[2],
				  v[3]);
	for (size_t i = 0; i < 4; i++)
		*(int64_t *)((char *)p + f[i].off) = v[i];
	return 0;
}

/* GET envd /metrics of a running sandbox into p's guest fields; < 0 leaves them. */
static int sample_envd(struct runtime *rt, const char *id, const char *token,
		       struct metric_point *p, struct wr_err *err)
{
	int fd = -1;
	int r = runtime_connect(rt, id, RUNTIME_ENVD_PORT, 1000, &fd, err);
	if (r < 0)
		return r;
	struct http_client *c = http_client_new(fd, true);
	http_client_set_timeout(c, 2000);
	http_client_set_deadline(c, 2000); /* the guest is untrusted */
	cleanup_free char *tok = token ? xasprintf("X-Access-Token: %s", token) : NULL;
	const char *hdrs[] = {tok, NULL};
	struct http_creq rq = {.method = "GET", .target = "/metrics", .headers = tok ? hdrs : NULL};
	int status = 0;
	cleanup_free char *body = NULL;
	r = http_client_do(c, &rq, 65536, &status, &body, NULL, err);
	http_client_free(c);
	if (r < 0)
		return r;
	if (status != 200)
		return wr_err_set(err, EPROTO, "envd /metrics answered %d", status);
	cleanup_json json_t *j = json_loads(body, 0, NULL);
	if (!json_is_object(j))
		return wr_err_set(err, EPROTO, "envd /metrics sent no JSON object");
	return rt_metrics_from_envd(j, p->mem_total, p, err);
}

/* One point of a running sandbox (not under any lock). */
static bool sample(struct runtime *rt, const struct runtime_info *info, pid_t pid, struct msbx *e,
		   struct metric_point *p)
{
	*p = (struct metric_point){
		.ts = rt_now_ms() / 1000,
		.cpu_count = info->vcpus > 0 ? info->vcpus : 1,
		.mem_total = (int64_t)info->memory_mb << 20,
	};
	uint64_t ticks = 0;
	int64_t now = mono_ms();
	bool have_cpu = false;
	if (pid > 0 && proc_cpu_ticks(pid, &ticks) == 0) {
		if (e->prev_mono_ms && e->prev_pid == pid && ticks >= e->prev_ticks &&
		    now > e->prev_mono_ms) {
			double secs =
				(double)(ticks - e->prev_ticks) / (double)sysconf(_SC_CLK_TCK);
			double pct = 100.0 * secs * 1000.0 / (double)(now - e->prev_mono_ms) /
				     (double)p->cpu_count;
			p->cpu_pct = (float)(pct > 100 ? 100 : pct);
			have_cpu = true;
		}
		e->prev_ticks = ticks;
		e->prev_mono_ms = now;
		e->prev_pid = pid;
	}
	struct wr_err err = {0};
	if (sample_envd(rt, info->id, info->envd_token, p, &err) < 0) {
		log_debug("metrics %s: %s", info->id, wr_err_msg(&err));
		p->mem_used = pid > 0 ? host_mem(pid, info->id) : 0;
		if (p->mem_used > p->mem_total)
			p->mem_used = p->mem_total;
	}
	return have_cpu;
}

/* Read new console bytes of one sandbox into its log ring. */
static void tail_log(struct runtime *rt, struct msbx *e, int64_t now_ms, struct rt_metrics *m)
{
	cleanup_free char *path = xasprintf("%s/%s/" RT_LOG_FILE, rt->sandboxes_dir, e->id);
	struct logrot_view v = LOGROT_VIEW_INIT;
	if (logrot_view_open(path, &v, NULL) < 0)
		return;
	int64_t start = logrot_view_start(&v), end = logrot_view_end(&v);
	if (e->log_off < start)
		e->log_off = start;
	if (e->log_off > end) /* the file started over */
		e->log_off = start;
	/* at most 256 KiB a tick: a flooding guest is cut, never followed without end */
	if (end - e->log_off > 256 * 1024)
		e->log_off = end - 256 * 1024;
	size_t want = (size_t)(end - e->log_off);
	cleanup_free char *buf = want ? xmalloc(want) : NULL;
	size_t got = 0;
	while (got < want) {
		ssize_t r = logrot_view_read(&v, e->log_off + (int64_t)got, buf + got, want - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	logrot_view_close(&v);
	e->log_off += (int64_t)got;
	pthread_mutex_lock(&m->lock);
	log_ring_feed(&e->logs, &e->partial, &e->partial_len, buf, got, now_ms);
	pthread_mutex_unlock(&m->lock);
}

struct live {
	char id[RUNTIME_ID_MAX];
	pid_t pid;
};

static void tick(struct runtime *rt, struct rt_metrics *m)
{
	/* ids first (rt->lock is taken under nothing of ours), as rt_logs_cap does */
	pthread_mutex_lock(&rt->lock);
	size_t n = 0;
	struct live *ids = rt->nsbx ? xmalloc(rt->nsbx * sizeof(*ids)) : NULL;
	for (size_t i = 0; i < rt->nsbx; i++) {
		struct sbx *s = rt->sbx[i];
		if (!s->listed || s->hidden || s->warm)
			continue;
		snprintf(ids[n].id, sizeof(ids[n].id), "%s", s->id);
		ids[n++].pid = s->pid;
	}
	pthread_mutex_unlock(&rt->lock);

	int64_t now_ms = rt_now_ms(), mono = mono_ms();
	for (size_t i = 0; i < n; i++) {
		struct runtime_info info;
		if (runtime_get(rt, ids[i].id, &info, NULL) < 0)
			continue;
		pthread_mutex_lock(&m->lock);
		struct msbx *e = find_live(m, ids[i].id);
		pthread_mutex_unlock(&m->lock);
		/* e stays valid: only this thread removes live entries */
		tail_log(rt, e, now_ms, m);
		if (info.state == STORE_SB_RUNNING && mono >= e->next_sample) {
			e->next_sample = mono + METRICS_SAMPLE_S * 1000 - METRICS_TICK_MS / 2;
			struct metric_point p;
			sample(rt, &info, ids[i].pid, e, &p);
			pthread_mutex_lock(&m->lock);
			metric_ring_push(&e->points, &p, METRICS_RING_POINTS);
			pthread_mutex_unlock(&m->lock);
		} else if (info.state != STORE_SB_RUNNING) {
			e->prev_mono_ms = 0; /* paused: the next CPU delta starts over */
			e->next_sample = 0;
		}
		runtime_info_done(&info);
	}
	/* entries whose sandbox left the registry have ended */
	pthread_mutex_lock(&m->lock);
	for (size_t j = 0; j < m->n; j++) {
		struct msbx *e = m->v[j];
		if (e->ended_at)
			continue;
		bool live = false;
		for (size_t i = 0; i < n && !live; i++)
			live = !strcmp(ids[i].id, e->id);
		if (!live) {
			e->ended_at = now_ms / 1000;
			if (e->partial_len)
				log_ring_push(&e->logs, now_ms, METRICS_INFO, "console", e->partial,
					      e->partial_len);
			e->partial_len = 0;
		}
	}
	expire(m, now_ms / 1000);
	pthread_mutex_unlock(&m->lock);
	free(ids);
}

static void *sampler_main(void *arg)
{
	struct runtime *rt = arg;
	struct rt_metrics *m = rt->metrics;
	pthread_mutex_lock(&m->run_lock);
	while (m->running) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += METRICS_TICK_MS % 1000 * 1000000L;
		ts.tv_sec += METRICS_TICK_MS / 1000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&m->run_cond, &m->run_lock, &ts);
		if (!m->running)
			break;
		pthread_mutex_unlock(&m->run_lock);
		tick(rt, m);
		pthread_mutex_lock(&m->run_lock);
	}
	pthread_mutex_unlock(&m->run_lock);
	return NULL;
}

/* --- runtime glue ---------------------------------------------------------------------------- */

void rt_metrics_init(struct runtime *rt)
{
	struct rt_metrics *m = xcalloc(1, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->run_lock, NULL);
	pthread_cond_init(&m->run_cond, NULL);
	rt->metrics = m;
}

int rt_metrics_start(struct runtime *rt, struct wr_err *err)
{
	struct rt_metrics *m = rt->metrics;
	m->running = true;
	int r = pthread_create(&m->thread, NULL, sampler_main, rt);
	if (r) {
		m->running = false;
		return wr_err_errno(err, r, "start metrics sampler thread");
	}
	m->started = true;
	return 0;
}

void rt_metrics_stop(struct runtime *rt)
{
	struct rt_metrics *m = rt->metrics;
	if (!m || !m->started)
		return;
	pthread_mutex_lock(&m->run_lock);
	m->running = false;
	pthread_cond_broadcast(&m->run_cond);
	pthread_mutex_unlock(&m->run_lock);
	pthread_join(m->thread, NULL);
	m->started = false;
}

void rt_metrics_free(struct runtime *rt)
{
	struct rt_metrics *m = rt->metrics;
	if (!m)
		return;
	rt_metrics_stop(rt);
	for (size_t i = 0; i < m->n; i++)
		msbx_free(m->v[i]);
	free(m->v);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->run_lock);
	pthread_cond_destroy(&m->run_cond);
	free(m);
	rt->metrics = NULL;
}

void rt_metrics_created(struct runtime *rt, int r, double seconds)
{
	struct rt_metrics *m = rt->metrics;
	pthread_mutex_lock(&m->lock);
	if (r < 0)
		m->c.create_errors++;
	else
		metrics_hist_observe(&m->c.create, seconds);
	pthread_mutex_unlock(&m->lock);
}

void rt_metrics_restored(struct runtime *rt, double seconds)
{
	struct rt_metrics *m = rt->metrics;
	pthread_mutex_lock(&m->lock);
	metrics_hist_observe(&m->c.restore, seconds);
	pthread_mutex_unlock(&m->lock);
}

void rt_metrics_warm(struct runtime *rt, bool hit)
{
	struct rt_metrics *m = rt->metrics;
	pthread_mutex_lock(&m->lock);
	if (hit)
		m->c.warm_hits++;
	else
		m->c.warm_misses++;
	pthread_mutex_unlock(&m->lock);
}

/* --- public ---------------------------------------------------------------------------------- */

int runtime_metrics(struct runtime *rt, const char *id, int64_t start, int64_t end,
		    struct metric_point **ret, size_t *ret_n)
{
	struct rt_metrics *m = rt->metrics;
	pthread_mutex_lock(&m->lock);
	struct msbx *e = find(m, id);
	if (e)
		*ret_n = metric_ring_window(&e->points, start, end, ret);
	pthread_mutex_unlock(&m->lock);
	return e ? 0 : -ENOENT;
}

int runtime_metrics_last(struct runtime *rt, const char *id, struct metric_point *ret)
{
	struct rt_metrics *m = rt->metrics;
	pthread_mutex_lock(&m->lock);
	struct msbx *e = find(m, id);
	bool ok = e && metric_ring_last(&e->points, ret);
	pthread_mutex_unlock(&m->lock);
	return ok ? 0 : -ENOENT;
}

int runtime_logs(struct runtime *rt, const char *id, int64_t cursor, bool forward,
		 enum metrics_level min_level, const char *search, size_t limit,
		 struct log_entry **ret, size_t *ret_n)
{
	struct rt_metrics *m = rt->metrics;
	*ret = NULL;
	*ret_n = 0;
	pthread_mutex_lock(&m->lock);
	struct msbx *e = find(m, id);
	if (e && limit) {
		size_t *idx = xmalloc(limit * sizeof(*idx));
		size_t k =
			log_ring_select(&e->logs, cursor, forward, min_level, search, limit, idx);
		*ret = k ? xmalloc(k * sizeof(**ret)) : NULL;
		for (size_t i = 0; i < k; i++) {
			const struct log_entry *le = log_ring_at(&e->logs, idx[i]);
			(*ret)[i] = (struct log_entry){.ts_ms = le->ts_ms,
						       .level = le->level,
						       .source = xstrdup(le->source),
						       .msg = xstrdup(le->msg)};
		}
		*ret_n = k;
		free(idx);
	}
	pthread_mutex_unlock(&m->lock);
	return e ? 0 : -ENOENT;
}

void runtime_log_event(struct runtime *rt, const char *id, enum metrics_level level,
		       const char *source, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	struct rt_metrics *m = rt->metrics;
	pthread_mutex_lock(&m->lock);
	/* an ended entry is kept as it is (never replaced by a late event) */
	struct msbx *e = find(m, id);
	if (!e)
		e = find_live(m, id);
	log_ring_push(&e->logs, rt_now_ms(), level, source, msg, strlen(msg));
	pthread_mutex_unlock(&m->lock);
}

void runtime_logs_free(struct log_entry *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].source);
		free(v[i].msg);
	}
	free(v);
}

void runtime_metrics_counters(struct runtime *rt, struct metrics_counters *ret)
{
	struct rt_metrics *m = rt->metrics;
	pthread_mutex_lock(&m->lock);
	*ret = m->c;
	pthread_mutex_unlock(&m->lock);
}
