/* SPDX-License-Identifier: MIT */
/* wrenn hosts ls | add NAME | drain ID | rm ID: the control plane's host registry (/v1/hosts,
 * admin key; docs/ARCHITECTURE.md "Multiple hosts"). */
#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "cli/table.h"
#include "cli/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *s(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	return v && *v ? v : "-";
}

static void cap_num(json_t *h, const char *k, char buf[24])
{
	json_t *v = json_object_get(json_object_get(h, "capacity"), k);
	if (json_is_integer(v))
		snprintf(buf, 24, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	else
		snprintf(buf, 24, "-");
}

static void host_row(struct table *t, json_t *h, int64_t now)
{
	char sbx[24], slots[24], mem[24], beat[24] = "never";
	cap_num(h, "sandboxes", sbx);
	cap_num(h, "freeSlots", slots);
	cap_num(h, "memoryAvailableMb", mem);
	json_t *lh = json_object_get(h, "lastHeartbeatMs");
	if (json_is_integer(lh)) {
		fmt_duration(now - json_integer_value(lh) / 1000, beat, sizeof(beat));
		strncat(beat, " ago", sizeof(beat) - strlen(beat) - 1);
	}
	const char *row[] = {s(h, "id"), s(h, "name"), s(h, "state"), sbx,
			     slots,	 mem,	       beat,	      s(h, "apiUrl")};
	table_add(t, row);
}

/* Open the API, run one request on /v1/hosts[/ID[suffix]], close. */
static int hosts_call(struct cli *c, const char *method, const char *id, const char *suffix,
		      json_t *body, json_t **ret)
{
	struct api a;
	struct wr_err err = {0};
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	cleanup_free char *e = id ? api_esc(&a, id) : NULL;
	cleanup_free char *path =
		id ? xasprintf("/v1/hosts/%s%s", e, suffix ? suffix : "") : xstrdup("/v1/hosts");
	int r = api_json(&a, method, path, body, ret, NULL, &err);
	api_close(&a);
	return r < 0 ? cli_fail(&err) : CLI_EXIT_OK;
}

int cmd_hosts_ls(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	static const char *const hdr[] = {"ID",		"NAME",	       "STATE",	    "SANDBOXES",
					  "FREE SLOTS", "FREE MEM MB", "HEARTBEAT", "API"};
	static const struct list_cmd l = {
		.path = "/v1/hosts", .ncols = 8, .headers = hdr, .row = host_row};
	return list_cmd_run(c, cmd, argc, argv, &l);
}

int cmd_hosts_add(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	int rc, i = json_opts_parse(c, cmd, argc, argv, 1, 1, &rc);
	if (i < 0)
		return rc;
	cleanup_json json_t *body = json_pack("{s:s}", "name", argv[i]);
	cleanup_json json_t *h = NULL;
	rc = hosts_call(c, "POST", NULL, NULL, body, &h);
	if (rc != CLI_EXIT_OK)
		return rc;
	if (c->json) {
		print_json(h);
		return CLI_EXIT_OK;
	}
	/* only the credential on stdout, so `wrenn hosts add h1 > credential-file` works */
	printf("%s\n", json_string_value(json_object_get(h, "credential"))
			       ? json_string_value(json_object_get(h, "credential"))
			       : "");
	if (!c->quiet)
		fprintf(stderr,
			"wrenn: host %s registered; its credential is shown only this once.\n"
			"  on the host: wrenn-agent --role host --control URL --host-id %s "
			"--host-credential-file FILE\n",
			s(h, "id"), s(h, "id"));
	return CLI_EXIT_OK;
}

int cmd_hosts_drain(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	int rc, i = json_opts_parse(c, cmd, argc, argv, 1, 1, &rc);
	if (i < 0)
		return rc;
	cleanup_json json_t *h = NULL;
	rc = hosts_call(c, "POST", argv[i], "/drain", NULL, &h);
	if (rc != CLI_EXIT_OK)
		return rc;
	if (c->json)
		print_json(h);
	else if (!c->quiet)
		fprintf(stderr, "wrenn: host %s draining: no new sandboxes go there\n", argv[i]);
	return CLI_EXIT_OK;
}

int cmd_hosts_rm(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	int rc, i = json_opts_parse(c, cmd, argc, argv, 1, 1, &rc);
	if (i < 0)
		return rc;
	return hosts_call(c, "DELETE", argv[i], NULL, NULL, NULL);
}
