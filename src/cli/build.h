/* SPDX-License-Identifier: MIT */
#pragma once
/* `wrenn templates build -f Dockerfile -t NAME [CONTEXT_DIR]`: the context archive is POSTed to
 * /v1/templates/{name}/builds, then the build's status is polled (E2B's build-status shape) and
 * its log lines printed until it is ready or failed. */
#include "cli/api.h"
#include "cli/cli.h"

#include <jansson.h>

struct tpl_build {
	const char *name;
	const char *dockerfile;
	const char *context;
	long cpu;	/* -1: server default */
	long memory_mb; /* -1: server default */
	bool no_cache;
};

/* "/v1/templates/<name>/builds?dockerfile=..&cpuCount=..&memoryMB=..&force=.." (malloc'd). */
char *tpl_build_path(struct api *a, const struct tpl_build *b, const char *df_in_archive);
/* One log entry as printed: "[  12.3s] message" (malloc'd); level warn/error are marked. */
char *tpl_build_log_line(double elapsed_s, json_t *entry);
/* Print the new entries of a status object (log lines after *printed) and advance *printed. */
void tpl_build_print_logs(json_t *status, double elapsed_s, size_t *printed, FILE *out);

/* Archive, start, follow.  Returns the exit code (0 ready, 1 failed, 130 interrupted). */
int tpl_build_run(struct cli *c, const struct tpl_build *b);
