/* SPDX-License-Identifier: MIT */
/* wrenn keys create [--team TEAM] [NAME] | ls | rm ID; wrenn teams ls */
#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "cli/table.h"
#include "cli/util.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *s(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* "3m ago" for an RFC 3339 time, else `none`. */
static void ago(const char *rfc3339, int64_t now, char buf[24], const char *none)
{
	int64_t t = parse_rfc3339(rfc3339);
	snprintf(buf, 24, "%s", none);
	if (t >= 0) {
		fmt_duration(now - t, buf, 24);
		strncat(buf, " ago", 24 - strlen(buf) - 1);
	}
}

static int keys_ls(struct cli *c, struct api *a)
{
	struct wr_err err = {0};
	cleanup_json json_t *resp = NULL;
	if (api_json(a, "GET", "/v1/keys", NULL, &resp, NULL, &err) < 0)
		return cli_fail(&err);
	json_t *arr = json_object_get(resp, "keys");
	if (c->json) {
		print_json(arr ? arr : resp);
		return CLI_EXIT_OK;
	}
	static const char *const hdr[] = {"ID", "NAME", "TEAM", "PREFIX", "CREATED", "LAST USED"};
	struct table t;
	table_init(&t, 6, hdr);
	size_t i;
	json_t *k;
	int64_t now = (int64_t)time(NULL);
	json_array_foreach(arr, i, k)
	{
		char created[24], used[24];
		ago(s(k, "createdAt"), now, created, "-");
		ago(s(k, "lastUsed"), now, used, "never");
		const char *name = s(k, "name");
		const char *team = s(k, "team");
		const char *row[] = {s(k, "id"),
				     name && *name ? name : "-",
				     team && *team ? team : "(operator)",
				     s(k, "prefix"),
				     created,
				     used};
		table_add(&t, row);
	}
	table_print(&t, stdout);
	table_done(&t);
	return CLI_EXIT_OK;
}

static int keys_create(struct cli *c, struct api *a, const char *name, const char *team)
{
	struct wr_err err = {0};
	cleanup_json json_t *body = json_object();
	if (name)
		json_object_set_new(body, "name", json_string(name));
	if (team)
		json_object_set_new(body, "team", json_string(team));
	cleanup_json json_t *k = NULL;
	int r = api_json(a, "POST", "/v1/keys", body, &k, NULL, &err);
	if (r < 0)
		return cli_fail(&err);
	if (c->json) {
		print_json(k);
	} else {
		/* only the key on stdout, so `wrenn keys create > keyfile` works */
		printf("%s\n", s(k, "key") ? s(k, "key") : "");
		if (!c->quiet)
			fprintf(stderr, "wrenn: key %s created; it is shown only this once\n",
				s(k, "id") ? s(k, "id") : "?");
	}
	return CLI_EXIT_OK;
}

int cmd_keys_ls(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	int rc;
	if (json_opts_parse(c, cmd, argc, argv, 0, 0, &rc) < 0)
		return rc;
	struct api a;
	struct wr_err err = {0};
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	rc = keys_ls(c, &a);
	api_close(&a);
	return rc;
}

int cmd_keys_create(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	int rc = CLI_EXIT_OK, o;
	const char *team = NULL;
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, &rc)) >= 0) {
		if (o == OPT_JSON)
			c->json = true;
		else if (o == OPT_TEAM)
			team = optarg;
	}
	if (o == CLI_OPT_EXIT)
		return rc;
	int i = optind;
	if (argc - i > 1)
		return cli_usage(cmd, "unexpected argument '%s'", argv[i + 1]);
	struct api a;
	struct wr_err err = {0};
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	rc = keys_create(c, &a, i < argc ? argv[i] : NULL, team);
	api_close(&a);
	return rc;
}

int cmd_keys_rm(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	int rc, i = json_opts_parse(c, cmd, argc, argv, 1, 1, &rc);
	if (i < 0)
		return rc;
	struct api a;
	struct wr_err err = {0};
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	cleanup_free char *e = api_esc(&a, argv[i]);
	cleanup_free char *path = xasprintf("/v1/keys/%s", e);
	rc = api_json(&a, "DELETE", path, NULL, NULL, NULL, &err) < 0 ? cli_fail(&err)
								      : CLI_EXIT_OK;
	api_close(&a);
	return rc;
}

int cmd_teams_ls(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	int rc;
	if (json_opts_parse(c, cmd, argc, argv, 0, 0, &rc) < 0)
		return rc;
	struct api a;
	struct wr_err err = {0};
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	cleanup_json json_t *resp = NULL;
	rc = api_json(&a, "GET", "/v1/teams", NULL, &resp, NULL, &err) < 0 ? cli_fail(&err)
									   : CLI_EXIT_OK;
	api_close(&a);
	if (rc != CLI_EXIT_OK)
		return rc;
	json_t *arr = json_object_get(resp, "teams");
	if (c->json) {
		print_json(arr ? arr : resp);
		return CLI_EXIT_OK;
	}
	static const char *const hdr[] = {"TEAM", "KEYS", "SANDBOXES", "CREATED"};
	struct table t;
	table_init(&t, 4, hdr);
	size_t i;
	json_t *tm;
	int64_t now = (int64_t)time(NULL);
	json_array_foreach(arr, i, tm)
	{
		char keys[16], sbx[16], created[24];
		snprintf(keys, sizeof(keys), "%lld",
			 (long long)json_integer_value(json_object_get(tm, "keys")));
		snprintf(sbx, sizeof(sbx), "%lld",
			 (long long)json_integer_value(json_object_get(tm, "sandboxes")));
		ago(s(tm, "createdAt"), now, created, "-");
		const char *row[] = {s(tm, "name"), keys, sbx, created};
		table_add(&t, row);
	}
	table_print(&t, stdout);
	table_done(&t);
	return CLI_EXIT_OK;
}
