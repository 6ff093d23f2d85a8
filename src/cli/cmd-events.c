/* SPDX-License-Identifier: MIT */
/* wrenn events [--sandbox ID] [--host ID] [--kind KIND] [-n N] [--json]: GET /v1/events, on one
 * host or a control plane (docs/openapi.yaml "/v1/events"). */
#include "basic/cleanup.h"
#include "basic/parse.h"
#include "basic/xalloc.h"
#include "cli/table.h"
#include "cli/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void print_events(json_t *events)
{
	static const char *const hdr[] = {"TIME", "KIND", "SANDBOX", "HOST", "DETAIL"};
	struct table t;
	table_init(&t, 5, hdr);
	/* the answer is newest first; a table reads like a log: oldest first */
	for (size_t i = json_array_size(events); i-- > 0;) {
		json_t *e = json_array_get(events, i);
		const char *row[] = {s(e, "time"), s(e, "kind"), s(e, "sandboxId"), s(e, "hostId"),
				     s(e, "detail")};
		table_add(&t, row);
	}
	table_print(&t, stdout);
	table_done(&t);
}

int cmd_events(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *sandbox = NULL, *host = NULL, *kind = NULL, *limit = NULL;
	int o, rc = CLI_EXIT_OK;
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, &rc)) >= 0) {
		if (o == OPT_JSON)
			c->json = true;
		else if (o == OPT_SANDBOX)
			sandbox = optarg;
		else if (o == OPT_HOST)
			host = optarg;
		else if (o == OPT_KIND)
			kind = optarg;
		else if (o == 'n')
			limit = optarg;
	}
	if (o == CLI_OPT_EXIT)
		return rc;
	if (optind < argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	int64_t n = 0;
	if (limit && (!parse_positive_i64(limit, &n) || n > 1000))
		return cli_usage(cmd, "-n takes 1..1000");
	struct api a;
	struct wr_err err = {0};
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	cleanup_free char *q = xasprintf("limit=%s", limit ? limit : "100");
	if (sandbox)
		query_add(&a, &q, "sandboxId", sandbox);
	if (host)
		query_add(&a, &q, "hostId", host);
	if (kind)
		query_add(&a, &q, "kind", kind);
	cleanup_free char *path = xasprintf("/v1/events?%s", q);
	cleanup_json json_t *resp = NULL;
	if (api_json(&a, "GET", path, NULL, &resp, NULL, &err) < 0) {
		rc = cli_fail(&err);
	} else {
		json_t *events = json_object_get(resp, "events");
		if (c->json)
			print_json(events);
		else
			print_events(events);
	}
	api_close(&a);
	return rc;
}
