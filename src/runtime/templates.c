/* SPDX-License-Identifier: MIT */
/*
 * Templates: the built-in images (minimal, debian) found in images_dir are
 * registered in the store at open; "base" (the E2B SDK's default template id)
 * is an alias of debian when that image exists, else of minimal.  Rootfs
 * templates added to the store by other means are usable too.
 */
#include "runtime/runtime-internal.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static const char *const builtin[] = {"minimal", "debian"};

void rt_template_done(struct rt_template *t)
{
	free(t->name);
	free(t->rootfs);
	free(t->kernel);
	free(t->snapshot_dir);
	*t = (struct rt_template){0};
}

void rt_templates_free(struct runtime *rt)
{
	for (size_t i = 0; i < rt->ntpl; i++)
		rt_template_done(&rt->tpl[i]);
	free(rt->tpl);
	rt->tpl = NULL;
	rt->ntpl = 0;
}

int rt_templates_load(struct runtime *rt, struct wr_err *err)
{
	rt->tpl = xcalloc(ARRAY_SIZE(builtin), sizeof(*rt->tpl));
	for (size_t i = 0; i < ARRAY_SIZE(builtin); i++) {
		cleanup_free char *img = xasprintf("%s/%s.ext4", rt->images_dir, builtin[i]);
		if (access(img, R_OK) < 0)
			continue;
		struct rt_template *t = &rt->tpl[rt->ntpl++];
		t->name = xstrdup(builtin[i]);
		t->rootfs = TAKE_PTR(img);
		t->kernel = xstrdup(rt->kernel_path);
		struct store_template st = {
			.name = t->name,
			.kind = STORE_TPL_ROOTFS,
			.rootfs_path = t->rootfs,
			.kernel_path = t->kernel,
			.vcpus = VM_DEFAULT_VCPUS,
			.memory_mb = VM_DEFAULT_MEMORY_MB,
		};
		int r = store_template_put(rt->store, &st, err);
		if (r < 0)
			return wr_err_prefix(err, r, "register template %s", t->name);
	}
	return 0;
}

bool rt_template_builtin(struct runtime *rt, const char *name)
{
	for (size_t i = 0; name && i < rt->ntpl; i++)
		if (!strcmp(rt->tpl[i].name, name))
			return true;
	return false;
}

static const char *alias_target(struct runtime *rt)
{
	const char *to = NULL;
	for (size_t i = 0; i < rt->ntpl; i++)
		if (!to || !strcmp(rt->tpl[i].name, "debian"))
			to = rt->tpl[i].name;
	return to;
}

/* Templates of the agent's own making a user never names: automatic snapshots, build step
 * checkpoints, OCI bases, and the snapshots built templates publish under their name. */
static bool internal_name(const char *n)
{
	const char *b = strstr(n, ".b");
	return !strncmp(n, "auto-", 5) || !strncmp(n, "bc-", 3) || !strncmp(n, "oci-", 4) ||
	       (b && strlen(b + 2) == 8 && strspn(b + 2, "0123456789abcdef") == 8);
}

static void known_add(char *known, size_t size, size_t *off, const char *n)
{
	if (*off < size)
		*off += (size_t)snprintf(known + *off, size - *off, "%s%s", *off ? ", " : "", n);
}

static int unknown(struct runtime *rt, const char *name, struct wr_err *err)
{
	struct store_template *rows = NULL;
	size_t n = 0;
	char known[256] = "";
	size_t off = 0;
	if (store_template_list(rt->store, &rows, &n, NULL) >= 0)
		for (size_t i = 0; i < n; i++)
			if (!internal_name(rows[i].name))
				known_add(known, sizeof(known), &off, rows[i].name);
	store_template_list_free(rows, n);
	/* built templates are known by their names (aliases) */
	struct store_alias *al = NULL;
	if (store_alias_list(rt->store, NULL, &al, &n, NULL) >= 0)
		for (size_t i = 0; i < n; i++)
			if (!strchr(al[i].alias, ':'))
				known_add(known, sizeof(known), &off, al[i].alias);
	store_alias_list_free(al, n);
	return wr_err_set(err, ENOENT, "template \"%s\" not found (known: %s%s%s)", name,
			  alias_target(rt) ? "base, " : "", known[0] ? known : "none", "");
}

int rt_template_lookup(struct runtime *rt, const char *name, struct rt_template *ret,
		       struct wr_err *err)
{
	if (!name || !*name)
		name = RUNTIME_DEFAULT_TEMPLATE;
	if (!strcmp(name, "base")) {
		const char *to = alias_target(rt);
		if (!to)
			return wr_err_set(err, ENOENT,
					  "template \"base\" not found: neither %s/debian.ext4 nor "
					  "%s/minimal.ext4 exists",
					  rt->images_dir, rt->images_dir);
		name = to;
	}
	for (size_t i = 0; i < rt->ntpl; i++)
		if (!strcmp(rt->tpl[i].name, name)) {
			ret->name = xstrdup(rt->tpl[i].name);
			ret->rootfs = xstrdup(rt->tpl[i].rootfs);
			ret->kernel = xstrdup(rt->tpl[i].kernel);
			return 0;
		}
	struct store_template st = {0};
	int r = store_template_get(rt->store, name, &st, NULL);
	if (r == -ENOENT) {
		/* A snapshot may be named: its template is its id. */
		struct store_snapshot sn = {0};
		if (store_snapshot_get(rt->store, name, &sn, NULL) == 0) {
			r = store_template_get(rt->store, sn.id, &st, NULL);
			store_snapshot_done(&sn);
		}
	}
	if (r == -ENOENT) {
		/* A built template's published name (or name:tag) points at its snapshot. */
		struct store_alias al = {0};
		if (store_alias_get(rt->store, name, &al, NULL) == 0) {
			r = store_template_get(rt->store, al.target, &st, NULL);
			store_alias_done(&al);
		}
	}
	if (r == -ENOENT)
		return unknown(rt, name, err);
	if (r < 0)
		return wr_err_set(err, -r, "template \"%s\": store lookup failed", name);
	if (!st.rootfs_path || (st.kind == STORE_TPL_SNAPSHOT && !st.snapshot_dir)) {
		store_template_done(&st);
		return wr_err_set(err, EINVAL, "template \"%s\" has no disk image or snapshot",
				  name);
	}
	if (st.kind == STORE_TPL_SNAPSHOT) {
		ret->snapshot_dir = xstrdup(st.snapshot_dir);
		ret->vcpus = st.vcpus;
		ret->memory_mb = st.memory_mb;
	}
	ret->name = xstrdup(st.name);
	ret->rootfs = xstrdup(st.rootfs_path);
	ret->kernel = xstrdup(st.kernel_path ? st.kernel_path : rt->kernel_path);
	store_template_done(&st);
	return 0;
}

int runtime_template_resolve(struct runtime *rt, const char *name, char **ret_name,
			     struct wr_err *err)
{
	struct rt_template t = {0};
	int r = rt_template_lookup(rt, name, &t, err);
	if (r < 0)
		return r;
	if (ret_name)
		*ret_name = TAKE_PTR(t.name);
	rt_template_done(&t);
	return 0;
}

int runtime_template_list(struct runtime *rt, struct store_template **ret_rows, size_t *ret_n,
			  struct wr_err *err)
{
	struct store_template *rows = NULL;
	size_t n = 0;
	int r = store_template_list(rt->store, &rows, &n, err);
	if (r < 0)
		return r;
	const char *to = alias_target(rt);
	for (size_t i = 0; to && i < n; i++) {
		if (strcmp(rows[i].name, to))
			continue;
		rows = xrealloc(rows, (n + 1) * sizeof(*rows));
		struct store_template *src = &rows[i], *a = &rows[n];
		*a = *src;
		a->name = xstrdup("base");
		a->rootfs_path = src->rootfs_path ? xstrdup(src->rootfs_path) : NULL;
		a->kernel_path = src->kernel_path ? xstrdup(src->kernel_path) : NULL;
		a->snapshot_dir = src->snapshot_dir ? xstrdup(src->snapshot_dir) : NULL;
		a->parent = xstrdup(to);
		n++;
		break;
	}
	*ret_rows = rows;
	*ret_n = n;
	return 0;
}
