/* SPDX-License-Identifier: MIT */
/*
 * GET /metrics: Prometheus text format, any API key.  A team key sees its team's sandboxes by
 * state; an operator key also sees the host's series (create/restore latency, warm pool, template
 * builds), which describe other teams' work too.
 *
 *   wrenn_sandboxes{state}                    gauge      creating|running|paused|error
 *   wrenn_sandbox_create_seconds              histogram  successful creates (runtime_create)
 *   wrenn_sandbox_create_errors_total         counter
 *   wrenn_sandbox_restore_seconds             histogram  resumes of paused sandboxes
 *   wrenn_warm_pool_hits_total / _misses_total counter   creates from a snapshot template
 *   wrenn_warm_pool_ready                     gauge
 *   wrenn_warm_pool_target{template,vcpus,memory_mb} gauge  adaptive target per template
 *   wrenn_warm_pool_template_ready{...}       gauge      ready entries per template
 *   wrenn_template_builds{status}             gauge      build rows by status (the store's)
 * Counters start at 0 when the agent starts.
 */
#include "daemon/prom.h"
#include "daemon/agent.h"
#include "daemon/auth.h"
#include "daemon/reply.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

const char *const prom_build_status[PROM_BUILD_STATUSES] = {"waiting", "building", "ready",
							    "error"};

static void header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void histogram(FILE *f, const char *name, const char *help, const struct metrics_hist *h)
{
	header(f, name, "histogram", help);
	uint64_t cum = 0;
	for (size_t i = 0; i < METRICS_HIST_BUCKETS; i++) {
		cum += h->bucket[i];
		if (isinf(metrics_hist_bounds[i]))
			fprintf(f, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
		else
			fprintf(f, "%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
				metrics_hist_bounds[i], cum);
	}
	fprintf(f, "%s_sum %.6f\n%s_count %" PRIu64 "\n", name, h->sum, name, h->count);
}

/* name{template="..",vcpus="..",memory_mb=".."} v, the label value escaped as the format wants */
static void warm_gauge(FILE *f, const char *name, const struct runtime_warm_stat *w, unsigned v)
{
	fprintf(f, "%s{template=\"", name);
	for (const char *c = w->template; *c; c++) {
		if (*c == '\\' || *c == '"')
			fputc('\\', f);
		if (*c == '\n')
			fputs("\\n", f);
		else
			fputc(*c, f);
	}
	fprintf(f, "\",vcpus=\"%d\",memory_mb=\"%d\"} %u\n", w->vcpus, w->memory_mb, v);
}

static void counter(FILE *f, const char *name, const char *help, uint64_t v)
{
	header(f, name, "counter", help);
	fprintf(f, "%s %" PRIu64 "\n", name, v);
}

char *prom_render(const struct prom_data *d)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		abort(); /* out of memory, as xmalloc */
	header(f, "wrenn_sandboxes", "gauge", "Sandboxes by state (killed ones are not counted).");
	static const enum store_sb_state states[] = {STORE_SB_CREATING, STORE_SB_RUNNING,
						     STORE_SB_PAUSED, STORE_SB_ERROR};
	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		fprintf(f, "wrenn_sandboxes{state=\"%s\"} %" PRIu64 "\n",
			store_sb_state_name(states[i]), d->by_state[states[i]]);
	if (d->host_wide) {
		histogram(f, "wrenn_sandbox_create_seconds",
			  "Time to create a sandbox, request to envd ready.", &d->c.create);
		counter(f, "wrenn_sandbox_create_errors_total", "Creates that failed.",
			d->c.create_errors);
		histogram(f, "wrenn_sandbox_restore_seconds",
			  "Time to resume a paused sandbox from its snapshot.", &d->c.restore);
		counter(f, "wrenn_warm_pool_hits_total",
			"Creates served by a warm (restored, paused) VM.", d->c.warm_hits);
		counter(f, "wrenn_warm_pool_misses_total",
			"Creates from a snapshot template that found no warm VM.",
			d->c.warm_misses);
		header(f, "wrenn_warm_pool_ready", "gauge", "Warm VMs ready to be claimed.");
		fprintf(f, "wrenn_warm_pool_ready %u\n", d->warm_ready);
		header(f, "wrenn_warm_pool_target", "gauge",
		       "Warm VMs wanted per template (floor, raised by bursts of creates).");
		for (size_t i = 0; i < d->nwarm; i++)
			warm_gauge(f, "wrenn_warm_pool_target", &d->warm[i], d->warm[i].target);
		header(f, "wrenn_warm_pool_template_ready", "gauge",
		       "Warm VMs ready to be claimed per template.");
		for (size_t i = 0; i < d->nwarm; i++)
			warm_gauge(f, "wrenn_warm_pool_template_ready", &d->warm[i],
				   d->warm[i].ready);
		header(f, "wrenn_template_builds", "gauge", "Template builds by status.");
		for (size_t i = 0; i < PROM_BUILD_STATUSES; i++)
			fprintf(f, "wrenn_template_builds{status=\"%s\"} %" PRIu64 "\n",
				prom_build_status[i], d->builds[i]);
	}
	fclose(f);
	return buf;
}

void agent_prometheus(struct agent *a, struct http_req *req, char **caps)
{
	(void)caps;
	struct prom_data d = {.host_wide = auth_is_operator(req)};
	cleanup_free struct runtime_warm_stat *warm = NULL;
	struct runtime_filter f = {
		.states = (1u << STORE_SB_CREATING) | (1u << STORE_SB_RUNNING) |
			  (1u << STORE_SB_PAUSED) | (1u << STORE_SB_ERROR),
		.team = auth_team(req),
	};
	struct runtime_info *rows = NULL;
	size_t n = 0;
	struct wr_err err = {0};
	int r = runtime_list(a->rt, &f, &rows, &n, &err);
	if (r < 0) {
		agent_reply_rt_error(req, r, &err);
		return;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned)rows[i].state < _STORE_SB_STATE_MAX)
			d.by_state[rows[i].state]++;
	runtime_info_list_free(rows, n);
	if (d.host_wide) {
		runtime_metrics_counters(a->rt, &d.c);
		d.warm_ready = runtime_warm_ready(a->rt);
		d.nwarm = runtime_warm_stats(a->rt, &warm);
		d.warm = warm;
		for (size_t i = 0; i < PROM_BUILD_STATUSES; i++) {
			struct store_build *b = NULL;
			size_t nb = 0;
			if (store_build_list(a->st, NULL, prom_build_status[i], &b, &nb, NULL) == 0)
				store_build_list_free(b, nb);
			d.builds[i] = nb;
		}
	}
	char *text = prom_render(&d);
	http_resp_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", text);
	free(text);
}
