/* SPDX-License-Identifier: MIT */
/*
 * A sandbox's egress policy (E2B `network`): allow_out/deny_out sets in its namespace's
 * egress table, kept in runtime.json so a restarted agent re-installs them, and replaced
 * live by runtime_set_network (updateNetwork).
 */
#include "runtime/runtime-internal.h"

#include "basic/xalloc.h"
#include "net/egress.h"
#include "net/slot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

char **rt_strv_dup(char *const *v)
{
	if (!v)
		return NULL;
	size_t n = 0;
	while (v[n])
		n++;
	char **d = xcalloc(n + 1, sizeof(*d));
	for (size_t i = 0; i < n; i++)
		d[i] = xstrdup(v[i]);
	return d;
}

void rt_strv_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

int rt_net_apply(struct sbx *s, struct wr_err *err)
{
	if (!s->allow_internet || s->slot < 0)
		return 0;
	struct egress_policy p = {.allow_out = s->allow_out, .deny_out = s->deny_out};
	return egress_set_policy(slot_pool_egress_config(s->rt->pool), s->ns, &p, err);
}

int rt_net_reapply(struct sbx *s, struct wr_err *err)
{
	if (!s->allow_internet || s->slot < 0)
		return 0;
	slot_pool_ns_name(s->rt->pool, (unsigned)s->slot, s->ns);
	struct egress_policy p = {.allow_out = s->allow_out, .deny_out = s->deny_out};
	return egress_reapply(slot_pool_egress_config(s->rt->pool), (unsigned)s->slot, s->ns, &p,
			      err);
}

static json_t *strv_json(char *const *v)
{
	json_t *a = json_array();
	for (char *const *p = v; p && *p; p++)
		json_array_append_new(a, json_string(*p));
	return a;
}

static char **json_strv(const json_t *a)
{
	if (!json_is_array(a) || json_array_size(a) == 0)
		return NULL;
	char **v = xcalloc(json_array_size(a) + 1, sizeof(*v));
	size_t i, n = 0;
	json_t *e;
	json_array_foreach(a, i, e)
	{
		char buf[EGRESS_CIDR_MAX];
		/* only what the parser would accept gets into nft */
		if (json_is_string(e) && egress_cidr_parse(json_string_value(e), buf, NULL) >= 0)
			v[n++] = xstrdup(buf);
	}
	return v;
}

void rt_net_state_write(const struct sbx *s, json_t *j)
{
	json_t *n = json_object();
	json_object_set_new(n, "allow_out", strv_json(s->allow_out));
	json_object_set_new(n, "deny_out", strv_json(s->deny_out));
	if (s->traffic_token)
		json_object_set_new(n, "traffic_token", json_string(s->traffic_token));
	if (s->mask_host)
		json_object_set_new(n, "mask_host", json_string(s->mask_host));
	json_object_set_new(j, "network", n);
}

void rt_net_state_read(struct sbx *s, const json_t *j)
{
	const json_t *n = json_object_get(j, "network");
	rt_strv_free(s->allow_out);
	rt_strv_free(s->deny_out);
	free(s->traffic_token);
	s->allow_out = json_strv(json_object_get(n, "allow_out"));
	s->deny_out = json_strv(json_object_get(n, "deny_out"));
	const char *t = json_string_value(json_object_get(n, "traffic_token"));
	s->traffic_token = t && *t ? xstrdup(t) : NULL;
	s->private_traffic = s->traffic_token != NULL;
	free(s->mask_host);
	const char *m = json_string_value(json_object_get(n, "mask_host"));
	s->mask_host = m && *m ? xstrdup(m) : NULL;
}

void rt_net_info(struct runtime_info *ret, const struct sbx *s)
{
	if (!s)
		return;
	ret->allow_out = rt_strv_dup(s->allow_out);
	ret->deny_out = rt_strv_dup(s->deny_out);
	ret->private_traffic = s->private_traffic;
	ret->traffic_token = s->traffic_token ? xstrdup(s->traffic_token) : NULL;
	ret->mask_host = s->mask_host ? xstrdup(s->mask_host) : NULL;
}

static int row_set_internet(struct store *st, const char *id, bool on, struct wr_err *err)
{
	struct store_sandbox row = {0};
	int r = store_sandbox_get(st, id, &row, err);
	if (r >= 0 && row.allow_internet != on) {
		row.allow_internet = on;
		r = store_sandbox_put(st, &row, err);
	}
	store_sandbox_done(&row);
	return r;
}

int runtime_set_network(struct runtime *rt, const char *id, int allow_internet,
			char *const *allow_out, char *const *deny_out, struct wr_err *err)
{
	struct sbx *s = runtime_id_valid(id) ? rt_sbx_get(rt, id) : NULL;
	if (!s)
		return wr_err_set(err, ENOENT, "sandbox %s not found", id ? id : "(null)");
	pthread_mutex_lock(&s->lock);
	int r = 0;
	if (s->state != STORE_SB_RUNNING && s->state != STORE_SB_PAUSED) {
		r = wr_err_set(err, EBUSY, "sandbox %s is %s", id, store_sb_state_name(s->state));
		goto out;
	}
	bool on = allow_internet < 0 ? s->allow_internet : allow_internet > 0;
	if (allow_out && *allow_out && !on) {
		r = wr_err_set(err, EINVAL,
			       "allowOut needs internet access (allow_internet_access is false)");
		goto out;
	}
	char **old_allow = s->allow_out, **old_deny = s->deny_out;
	bool old_on = s->allow_internet;
	s->allow_out = rt_strv_dup(allow_out);
	s->deny_out = rt_strv_dup(deny_out);
	if (on != old_on)
		r = slot_pool_egress(rt->pool, (unsigned)s->slot, on, err);
	s->allow_internet = on;
	if (r >= 0)
		r = rt_net_apply(s, err);
	if (r >= 0 && on != old_on)
		r = row_set_internet(rt->store, id, on, err);
	if (r < 0) {
		/* a half-applied change must not stay open: egress off */
		struct wr_err ignored = {0};
		if (on)
			slot_pool_egress(rt->pool, (unsigned)s->slot, false, &ignored);
		rt_strv_free(s->allow_out);
		rt_strv_free(s->deny_out);
		s->allow_out = old_allow;
		s->deny_out = old_deny;
		s->allow_internet = false;
		rt_sbx_write_state(s, NULL);
		row_set_internet(rt->store, id, false, NULL);
		goto out;
	}
	rt_strv_free(old_allow);
	rt_strv_free(old_deny);
	r = rt_sbx_write_state(s, err);
out:
	pthread_mutex_unlock(&s->lock);
	rt_sbx_put(s);
	return r < 0 ? r : 0;
}
