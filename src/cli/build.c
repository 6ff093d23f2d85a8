/* SPDX-License-Identifier: MIT */
#include "cli/build.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "cli/ctxtar.h"
#include "cli/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 500

char *tpl_build_path(struct api *a, const struct tpl_build *b, const char *df_in_archive)
{
	cleanup_free char *en = api_esc(a, b->name);
	char *q = xasprintf("/v1/templates/%s/builds?force=%s", en, b->no_cache ? "true" : "false");
	query_add(a, &q, "dockerfile", df_in_archive);
	char num[32];
	if (b->cpu > 0) {
		snprintf(num, sizeof(num), "%ld", b->cpu);
		query_add(a, &q, "cpuCount", num);
	}
	if (b->memory_mb > 0) {
		snprintf(num, sizeof(num), "%ld", b->memory_mb);
		query_add(a, &q, "memoryMB", num);
	}
	return q;
}

char *tpl_build_log_line(double elapsed_s, json_t *entry)
{
	const char *msg = json_string_value(json_object_get(entry, "message"));
	const char *lvl = json_string_value(json_object_get(entry, "level"));
	const char *mark = lvl && strcmp(lvl, "error") == 0  ? "error: "
			   : lvl && strcmp(lvl, "warn") == 0 ? "warning: "
							     : "";
	size_t n = msg ? strlen(msg) : 0;
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		n--;
	return xasprintf("[%6.1fs] %s%.*s", elapsed_s, mark, (int)n, msg ? msg : "");
}

void tpl_build_print_logs(json_t *status, double elapsed_s, size_t *printed, FILE *out)
{
	json_t *logs = json_object_get(status, "logEntries");
	size_t i;
	json_t *e;
	json_array_foreach(logs, i, e)
	{
		if (out) {
			cleanup_free char *l = tpl_build_log_line(elapsed_s, e);
			fprintf(out, "%s\n", l);
		}
	}
	if (out)
		fflush(out);
	*printed += json_array_size(logs);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* the context archive in an unnamed temporary file; returns its fd (at offset 0) and size */
static int make_archive(const struct tpl_build *b, char **ret_df, off_t *ret_size,
			struct wr_err *err)
{
	int r = ctx_dockerfile_path(b->context, b->dockerfile, ret_df, err);
	if (r < 0)
		return r;
	const char *tmp = getenv("TMPDIR");
	cleanup_free char *tpl = xasprintf("%s/wrenn-context-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	cleanup_close int fd = mkostemp(tpl, O_CLOEXEC);
	if (fd < 0)
		return wr_err_errno(err, errno, "create %s", tpl);
	unlink(tpl);
	size_t count = 0;
	r = ctx_tar_write(b->context, b->dockerfile, *ret_df, fd, &count, err);
	if (r < 0)
		return r;
	struct stat st;
	if (fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return wr_err_errno(err, errno, "temporary archive");
	*ret_size = st.st_size;
	return TAKE_FD(fd);
}

static int start_build(struct cli *c, struct api *a, const struct tpl_build *b, json_t **ret,
		       struct wr_err *err)
{
	cleanup_free char *df = NULL;
	off_t size = 0;
	cli_progress(c, "archiving %s...", b->context);
	cleanup_close int fd = make_archive(b, &df, &size, err);
	cli_progress_end(c);
	if (fd < 0)
		return fd;
	if (!c->quiet)
		fprintf(stderr, "wrenn: sending %s context (%lld bytes, Dockerfile %s)\n",
			b->context, (long long)size, df);
	cleanup_free char *path = tpl_build_path(a, b, df);
	struct api_req rq = API_REQ_INIT;
	rq.method = "POST";
	rq.path = path;
	rq.content_type = "application/x-tar";
	rq.upload_fd = fd;
	rq.upload_size = size;
	struct api_resp resp = {0};
	int r = api_do(a, &rq, &resp, err);
	if (r < 0)
		return r;
	cleanup_json json_t *j = json_loadb(resp.body, resp.len, 0, NULL);
	api_resp_done(&resp);
	if (!json_string_value(json_object_get(j, "buildID")))
		return wr_err_set(err, EPROTO, "the server's reply to the build has no buildID");
	/* what the server accepted but only noted (EXPOSE, LABEL: "Dockerfile line N: ...") */
	size_t i;
	json_t *note;
	json_array_foreach(json_object_get(j, "notes"), i, note)
	{
		if (!c->quiet && json_is_string(note))
			fprintf(stderr, "wrenn: note: %s\n", json_string_value(note));
	}
	*ret = TAKE_PTR(j);
	return 0;
}

int tpl_build_run(struct cli *c, const struct tpl_build *b)
{
	struct wr_err err = {0};
	double t0 = now_s();
	install_interrupt_handlers();
	struct api a;
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	int rc = CLI_EXIT_FAIL;
	cleanup_json json_t *started = NULL, *st = NULL;
	cleanup_free char *en = NULL, *eb = NULL;
	if (start_build(c, &a, b, &started, &err) < 0) {
		rc = api_interrupted ? 130 : cli_fail(&err);
		goto out;
	}
	const char *build_id = json_string_value(json_object_get(started, "buildID"));
	en = api_esc(&a, b->name);
	eb = api_esc(&a, build_id);
	if (!c->quiet)
		fprintf(stderr, "wrenn: building template %s (build %s)\n", b->name, build_id);
	size_t printed = 0;
	const char *status = NULL;
	for (;;) {
		cleanup_free char *path =
			xasprintf("/v1/templates/%s/builds/%s?logsOffset=%zu", en, eb, printed);
		cleanup_json json_t *poll = NULL; /* this poll's answer; kept as st when final */
		int r = api_json(&a, "GET", path, NULL, &poll, NULL, &err);
		if (r < 0) {
			if (api_interrupted)
				break;
			rc = cli_fail(&err);
			goto out;
		}
		tpl_build_print_logs(poll, now_s() - t0, &printed, c->json ? NULL : stdout);
		status = json_string_value(json_object_get(poll, "status"));
		if (status && (strcmp(status, "ready") == 0 || strcmp(status, "error") == 0)) {
			st = TAKE_PTR(poll);
			break;
		}
		struct timespec ts = {0, POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
		if (api_interrupted)
			break;
	}
	if (api_interrupted) {
		fprintf(stderr,
			"\nwrenn: stopped following; build %s of %s continues on the server\n",
			build_id, b->name);
		rc = 130;
		goto out;
	}
	if (c->json) {
		/* the whole final status: every log entry, not the last poll's new ones */
		cleanup_free char *path = xasprintf("/v1/templates/%s/builds/%s", en, eb);
		cleanup_json json_t *all = NULL;
		if (api_json(&a, "GET", path, NULL, &all, NULL, &err) < 0) {
			rc = cli_fail(&err);
			goto out;
		}
		print_json(all);
	}
	if (strcmp(status, "ready") == 0) {
		if (!c->json)
			fprintf(stderr, "wrenn: template %s ready (%.1fs)\n", b->name,
				now_s() - t0);
		rc = CLI_EXIT_OK;
	} else {
		json_t *reason = json_object_get(st, "reason");
		const char *m = json_string_value(json_object_get(reason, "message"));
		const char *step = json_string_value(json_object_get(reason, "step"));
		fprintf(stderr, "wrenn: build of %s failed%s%s: %s\n", b->name,
			step ? " at step " : "", step ? step : "", m ? m : "(no reason given)");
		rc = CLI_EXIT_FAIL;
	}
out:
	api_close(&a);
	return rc;
}
