/* SPDX-License-Identifier: MIT */
/* wrenn volumes ls | create NAME [--size SIZE] | rm NAME-OR-ID */
#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "cli/table.h"
#include "cli/util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *s(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

int cli_parse_size_mb(const char *v, long long *ret)
{
	char *end = NULL;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (errno || end == v || n <= 0)
		return -EINVAL;
	long long mul = 1;
	if (!strcmp(end, "") || !strcasecmp(end, "M") || !strcasecmp(end, "MiB") ||
	    !strcasecmp(end, "MB"))
		mul = 1;
	else if (!strcasecmp(end, "G") || !strcasecmp(end, "GiB") || !strcasecmp(end, "GB"))
		mul = 1024;
	else if (!strcasecmp(end, "T") || !strcasecmp(end, "TiB") || !strcasecmp(end, "TB"))
		mul = 1024 * 1024;
	else
		return -EINVAL;
	if (n > LLONG_MAX / mul / 2)
		return -ERANGE;
	*ret = n * mul;
	return 0;
}

static int with_api(struct cli *c, int (*fn)(struct cli *c, struct api *a, void *ud), void *ud)
{
	struct api a;
	struct wr_err err = {0};
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	int rc = fn(c, &a, ud);
	api_close(&a);
	return rc;
}

static int ls(struct cli *c, struct api *a, void *ud)
{
	(void)ud;
	struct wr_err err = {0};
	cleanup_json json_t *arr = NULL;
	if (api_json(a, "GET", "/volumes", NULL, &arr, NULL, &err) < 0)
		return cli_fail(&err);
	if (c->json) {
		print_json(arr);
		return CLI_EXIT_OK;
	}
	static const char *const hdr[] = {"ID", "NAME", "SIZE", "IN USE BY"};
	struct table t;
	table_init(&t, 4, hdr);
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		char size[32];
		json_int_t b = json_integer_value(json_object_get(v, "sizeBytes"));
		if (b >= (json_int_t)1 << 30 && b % ((json_int_t)1 << 30) == 0)
			snprintf(size, sizeof(size), "%lld GiB", (long long)(b >> 30));
		else
			snprintf(size, sizeof(size), "%lld MiB", (long long)(b >> 20));
		const char *by = s(v, "sandboxID");
		const char *row[] = {s(v, "volumeID"), s(v, "name"), size, by ? by : "-"};
		table_add(&t, row);
	}
	table_print(&t, stdout);
	table_done(&t);
	return CLI_EXIT_OK;
}

struct create_args {
	const char *name;
	long long size_mb; /* 0 = the agent's default */
};

static int create(struct cli *c, struct api *a, void *ud)
{
	struct create_args *ca = ud;
	struct wr_err err = {0};
	cleanup_json json_t *body = json_pack("{s:s}", "name", ca->name);
	if (ca->size_mb)
		json_object_set_new(body, "sizeMB", json_integer(ca->size_mb));
	cleanup_json json_t *v = NULL;
	if (api_json(a, "POST", "/volumes", body, &v, NULL, &err) < 0)
		return cli_fail(&err);
	if (c->json)
		print_json(v);
	else
		printf("%s\n", s(v, "volumeID") ? s(v, "volumeID") : "");
	return CLI_EXIT_OK;
}

static int rm(struct cli *c, struct api *a, void *ud)
{
	(void)c;
	const char *name = ud;
	struct wr_err err = {0};
	/* a name is resolved through the list (ids work directly) */
	cleanup_free char *id = NULL;
	cleanup_json json_t *arr = NULL;
	if (api_json(a, "GET", "/volumes", NULL, &arr, NULL, &err) < 0)
		return cli_fail(&err);
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		if ((s(v, "name") && !strcmp(s(v, "name"), name)) ||
		    (s(v, "volumeID") && !strcmp(s(v, "volumeID"), name))) {
			id = xstrdup(s(v, "volumeID"));
			break;
		}
	}
	if (!id) {
		wr_err_set(&err, ENOENT, "volume %s not found", name);
		return cli_fail(&err);
	}
	cleanup_free char *e = api_esc(a, id);
	cleanup_free char *path = xasprintf("/volumes/%s", e);
	if (api_json(a, "DELETE", path, NULL, NULL, NULL, &err) < 0)
		return cli_fail(&err);
	return CLI_EXIT_OK;
}

int cmd_volumes_ls(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	int rc;
	if (json_opts_parse(c, cmd, argc, argv, 0, 0, &rc) < 0)
		return rc;
	return with_api(c, ls, NULL);
}

int cmd_volumes_create(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	int rc = CLI_EXIT_OK, o;
	struct create_args ca = {0};
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, &rc)) >= 0) {
		if (o == OPT_JSON)
			c->json = true;
		else if (o == OPT_SIZE && cli_parse_size_mb(optarg, &ca.size_mb) < 0)
			return cli_usage(cmd, "bad --size '%s' (e.g. 512M, 10G)", optarg);
	}
	if (o == CLI_OPT_EXIT)
		return rc;
	if (argc - optind != 1)
		return cli_usage(cmd, "want one NAME");
	ca.name = argv[optind];
	return with_api(c, create, &ca);
}

int cmd_volumes_rm(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	int rc, i = json_opts_parse(c, cmd, argc, argv, 1, 1, &rc);
	if (i < 0)
		return rc;
	return with_api(c, rm, argv[i]);
}
