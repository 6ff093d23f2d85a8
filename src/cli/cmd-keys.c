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

static void key_row(struct table *t, json_t *k, int64_t now)
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
	table_add(t, row);
}

static void team_row(struct table *t, json_t *tm, int64_t now)
{
	char keys[16], sbx[16], created[24];
	snprintf(keys, sizeof(keys), "%lld",
		 (long long)json_integer_value(json_object_get(tm, "keys")));
	snprintf(sbx, sizeof(sbx), "%lld",
		 (long long)json_integer_value(json_object_get(tm, "sandboxes")));
	ago(s(tm, "createdAt"), now, created, "-");
	const char *row[] = {s(tm, "name"), keys, sbx, created};
	table_add(t, row);
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
	static const char *const hdr[] = {"ID", "NAME", "TEAM", "PREFIX", "CREATED", "LAST USED"};
	static const struct list_cmd l = {
		.path = "/v1/keys", .member = "keys", .ncols = 6, .headers = hdr, .row = key_row};
	return list_cmd_run(c, cmd, argc, argv, &l);
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
	static const char *const hdr[] = {"TEAM", "KEYS", "SANDBOXES", "CREATED"};
	static const struct list_cmd l = {.path = "/v1/teams",
					  .member = "teams",
					  .ncols = 4,
					  .headers = hdr,
					  .row = team_row};
	return list_cmd_run(c, cmd, argc, argv, &l);
}
