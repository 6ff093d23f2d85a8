/* SPDX-License-Identifier: MIT */
#include "daemon/view.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "http/http.h"
#include "http/json.h"
#include "net/egress.h"
#include "store/store.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void view_rfc3339(int64_t unix_ms, char *buf, size_t len)
{
	time_t t = (time_t)(unix_ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(unix_ms % 1000));
}

int view_parse_rfc3339(const char *s, int64_t *ret_ms)
{
	int y, mo, d, h, mi, sec, n = 0;
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
	    n != 19 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
	    y < 1970 || h < 0 || mi < 0 || sec < 0)
		return -EINVAL;
	const char *p = s + n;
	int64_t ms = 0;
	if (*p == '.') {
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 3)
				ms = ms * 10 + (*p - '0');
		if (digits == 0)
			return -EINVAL;
		for (; digits < 3; digits++)
			ms *= 10;
	}
	int64_t off_s = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om, k = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &k) != 2 || k != 5 || oh > 23 || om > 59)
			return -EINVAL;
		off_s = (int64_t)(oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
		p += 6;
	} else {
		return -EINVAL;
	}
	if (*p)
		return -EINVAL;
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mo - 1,
			.tm_mday = d,
			.tm_hour = h,
			.tm_min = mi,
			.tm_sec = sec};
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return -EINVAL;
	*ret_ms = ((int64_t)t - off_s) * 1000 + ms;
	return 0;
}

static void set_time(json_t *o, const char *key, int64_t ms)
{
	char b[40];
	view_rfc3339(ms, b, sizeof(b));
	json_object_set_new(o, key, json_string(b));
}

static json_t *metadata_obj(const json_t *m)
{
	return json_is_object(m) ? json_deep_copy(m) : json_object();
}

json_t *view_v1_sandbox(const struct sbx_view *v, bool with_token)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(v->id));
	json_object_set_new(o, "template", json_string(v->template ? v->template : ""));
	json_object_set_new(o, "state", json_string(v->state));
	json_object_set_new(o, "vcpus", json_integer(v->vcpus));
	json_object_set_new(o, "memoryMB", json_integer(v->memory_mb));
	if (v->disk_mb > 0)
		json_object_set_new(o, "diskSizeMB", json_integer(v->disk_mb));
	set_time(o, "startedAt", v->started_at);
	if (v->end_at > 0)
		set_time(o, "endAt", v->end_at);
	else
		json_object_set_new(o, "endAt", json_null());
	json_object_set_new(o, "metadata", metadata_obj(v->metadata));
	json_object_set_new(o, "allowInternetAccess", json_boolean(v->allow_internet));
	if (v->envd_version)
		json_object_set_new(o, "envdVersion", json_string(v->envd_version));
	if (with_token && v->envd_token)
		json_object_set_new(o, "envdAccessToken", json_string(v->envd_token));
	if (v->error)
		json_object_set_new(o, "error", json_string(v->error));
	if (v->create_path && *v->create_path)
		json_object_set_new(o, "createPath", json_string(v->create_path));
	json_object_set_new(o, "network", view_network(v));
	if (with_token && v->traffic_token)
		json_object_set_new(o, "trafficAccessToken", json_string(v->traffic_token));
	return o;
}

static char sandbox_domain[256];

void view_set_sandbox_domain(const char *domain)
{
	snprintf(sandbox_domain, sizeof(sandbox_domain), "%s", domain ? domain : "");
}

json_t *view_e2b_sandbox(const struct sbx_view *v, bool with_token)
{
	json_t *o = json_object();
	json_object_set_new(o, "sandboxID", json_string(v->id));
	json_object_set_new(o, "templateID", json_string(v->template ? v->template : ""));
	json_object_set_new(o, "clientID", json_string(E2B_CLIENT_ID));
	json_object_set_new(o, "envdVersion",
			    json_string(v->envd_version ? v->envd_version : "0.0.0"));
	if (with_token && v->envd_token)
		json_object_set_new(o, "envdAccessToken", json_string(v->envd_token));
	json_object_set_new(o, "trafficAccessToken",
			    with_token && v->traffic_token ? json_string(v->traffic_token)
							   : json_null());
	/* the SDK builds getHost(port) = "<port>-<id>.<domain>" from it; null: its E2B_DOMAIN */
	json_object_set_new(o, "domain",
			    sandbox_domain[0] ? json_string(sandbox_domain) : json_null());
	if (v->create_path && *v->create_path)
		json_object_set_new(o, "createPath", json_string(v->create_path));
	return o;
}

json_t *view_e2b_detail(const struct sbx_view *v, bool with_token)
{
	json_t *o = view_e2b_sandbox(v, with_token);
	/* E2B knows only these two; creating counts as running, the rest never get listed */
	const char *st = strcmp(v->state, "paused") == 0 ? "paused" : "running";
	json_object_set_new(o, "state", json_string(st));
	json_object_set_new(o, "cpuCount", json_integer(v->vcpus > 0 ? v->vcpus : 1));
	json_object_set_new(o, "memoryMB", json_integer(v->memory_mb));
	json_object_set_new(o, "diskSizeMB", json_integer(v->disk_mb > 0 ? v->disk_mb : 0));
	set_time(o, "startedAt", v->started_at);
	/* endAt is required: "no expiry" is shown as far in the future */
	set_time(o, "endAt", v->end_at > 0 ? v->end_at : INT64_C(253402300799000));
	if (v->lifecycle_known) {
		/* what the SDK's getInfo() returns as `lifecycle` */
		json_t *lc = json_object();
		json_object_set_new(lc, "onTimeout",
				    json_string(v->lifecycle & STORE_SB_LC_PAUSE_ON_TIMEOUT
							? "pause"
							: "kill"));
		json_object_set_new(lc, "autoResume",
				    json_boolean(v->lifecycle & STORE_SB_LC_AUTO_RESUME));
		json_object_set_new(o, "lifecycle", lc);
	}
	json_object_set_new(o, "metadata", metadata_obj(v->metadata));
	json_object_set_new(o, "allowInternetAccess", json_boolean(v->allow_internet));
	json_object_set_new(o, "alias", json_string(v->template ? v->template : ""));
	json_object_set_new(o, "network", view_network(v));
	return o;
}

static json_t *cidr_array(char *const *v)
{
	json_t *a = json_array();
	for (char *const *p = v; p && *p; p++)
		json_array_append_new(a, json_string(*p));
	return a;
}

json_t *view_network(const struct sbx_view *v)
{
	json_t *o = json_object();
	json_object_set_new(o, "allowOut", cidr_array(v->allow_out));
	json_object_set_new(o, "denyOut", cidr_array(v->deny_out));
	json_object_set_new(o, "allowPublicTraffic", json_boolean(!v->private_traffic));
	if (v->mask_host)
		json_object_set_new(o, "maskRequestHost", json_string(v->mask_host));
	return o;
}

void view_cidrs_free(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

#define VIEW_MAX_CIDRS 512

static int cidr_list(const json_t *net, const char *where, const char *key, bool allow, char ***ret,
		     struct wr_err *err)
{
	const json_t *a = json_object_get(net, key);
	*ret = NULL;
	if (!a || json_is_null(a))
		return 0;
	if (!json_is_array(a))
		return wr_err_set(err, EINVAL, "%s.%s must be an array of IPv4 addresses or CIDRs",
				  where, key);
	if (json_array_size(a) > VIEW_MAX_CIDRS)
		return wr_err_set(err, EINVAL, "%s.%s: at most %d entries", where, key,
				  VIEW_MAX_CIDRS);
	char **v = xcalloc(json_array_size(a) + 1, sizeof(*v));
	size_t i, n = 0;
	json_t *e;
	json_array_foreach(a, i, e)
	{
		const char *s = json_string_value(e);
		char buf[EGRESS_CIDR_MAX];
		int r = 0;
		if (!s)
			r = wr_err_set(err, EINVAL, "%s.%s[%zu] must be a string", where, key, i);
		else if (strchr(s, ':'))
			r = wr_err_set(
				err, EINVAL,
				"%s.%s: \"%s\": IPv6 is not supported (sandboxes have no IPv6 "
				"egress)",
				where, key, s);
		else if (egress_cidr_parse(s, buf, NULL) < 0) {
			bool name =
				strpbrk(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
			r = name ? wr_err_set(err, EINVAL,
					      "%s.%s: \"%s\": domain names are not supported, only "
					      "IPv4 addresses and CIDRs",
					      where, key, s)
				 : wr_err_set(err, EINVAL,
					      "%s.%s: \"%s\" is not an IPv4 address or CIDR", where,
					      key, s);
		} else if (allow && egress_cidr_blocked(buf))
			r = wr_err_set(err, EINVAL,
				       "%s.%s: %s overlaps %s, which sandboxes can never reach",
				       where, key, buf, egress_cidr_blocked(buf));
		if (r < 0) {
			view_cidrs_free(v);
			return r;
		}
		v[n++] = xstrdup(buf);
	}
	*ret = v;
	return 0;
}

/* Fields we do not implement are refused when they ask for something. */
static bool field_set(const json_t *v)
{
	if (!v || json_is_null(v) || json_is_false(v))
		return false;
	if (json_is_object(v))
		return json_object_size(v) > 0;
	if (json_is_array(v))
		return json_array_size(v) > 0;
	return true;
}

/*
 * network.maskRequestHost: the Host header the proxy sends to the sandbox's ports instead of
 * the client's, with each ${PORT} replaced by the port.  It goes into a request head, so only
 * a host name's characters (letters, digits, '.', '-', ':') besides ${PORT}: no CR/LF, no
 * spaces, nothing a header could be split or smuggled with.
 */
static int parse_mask_host(const json_t *v, const char *where, char **ret, struct wr_err *err)
{
	const char *s = json_string_value(v);
	if (!s || !*s || strlen(s) > 253)
		return wr_err_set(err, EINVAL,
				  "%s.maskRequestHost must be a host name (1-253 chars)", where);
	for (const char *p = s; *p; p++) {
		if (!strncmp(p, "${PORT}", 7)) {
			p += 6;
			continue;
		}
		if (!isalnum((unsigned char)*p) && !strchr(".-:", *p))
			return wr_err_set(err, EINVAL,
					  "%s.maskRequestHost: byte 0x%02x is not allowed (a host "
					  "name, optionally with ${PORT})",
					  where, (unsigned char)*p);
	}
	*ret = xstrdup(s);
	return 0;
}

static int parse_network_fields(const json_t *net, const char *where, bool update,
				char ***ret_allow, char ***ret_deny, bool *ret_private,
				char **ret_mask, int *ret_internet, struct wr_err *err)
{
	if (!json_is_object(net))
		return wr_err_set(err, EINVAL, "%s must be an object", where);
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)net, k, v)
	{
		if (!strcmp(k, "allowOut") || !strcmp(k, "denyOut"))
			continue;
		if (!update && !strcmp(k, "allowPublicTraffic")) {
			if (!json_is_boolean(v) && !json_is_null(v))
				return wr_err_set(err, EINVAL, "%s.%s must be true or false", where,
						  k);
			*ret_private = json_is_false(v);
			continue;
		}
		if (update && !strcmp(k, "allow_internet_access")) {
			if (!json_is_boolean(v) && !json_is_null(v))
				return wr_err_set(err, EINVAL, "%s must be true or false", k);
			*ret_internet = json_is_null(v) ? -1 : json_is_true(v);
			continue;
		}
		if (!update && !strcmp(k, "maskRequestHost")) {
			if (json_is_null(v))
				continue;
			free(*ret_mask);
			*ret_mask = NULL;
			int r = parse_mask_host(v, where, ret_mask, err);
			if (r < 0)
				return r;
			continue;
		}
		if (!strcmp(k, "egressProxy") || !strcmp(k, "rules") ||
		    !strcmp(k, "maskRequestHost") || !strcmp(k, "httpsPorts")) {
			if (field_set(v))
				return wr_err_set(err, EINVAL, "%s.%s is not supported by wrenn",
						  where, k);
			continue;
		}
		return wr_err_set(err, EINVAL, "%s.%s is not a known field", where, k);
	}
	int r = cidr_list(net, where, "allowOut", true, ret_allow, err);
	if (r >= 0 && (r = cidr_list(net, where, "denyOut", false, ret_deny, err)) < 0) {
		view_cidrs_free(*ret_allow);
		*ret_allow = NULL;
	}
	return r;
}

int view_parse_network(const json_t *net, const char *where, struct create_req *c,
		       struct wr_err *err)
{
	if (!net || json_is_null(net))
		return 0;
	int internet = -1;
	return parse_network_fields(net, where, false, &c->allow_out, &c->deny_out,
				    &c->private_traffic, &c->mask_host, &internet, err);
}

int view_parse_network_update(const json_t *body, char ***ret_allow, char ***ret_deny,
			      int *ret_internet, struct wr_err *err)
{
	bool priv = false;
	char *mask = NULL; /* refused on update: it stays NULL */
	*ret_allow = *ret_deny = NULL;
	*ret_internet = -1;
	return parse_network_fields(body, "network", true, ret_allow, ret_deny, &priv, &mask,
				    ret_internet, err);
}

/* Every field of a create body must be one this dialect knows; what wrenn does not
 * implement is refused when it asks for something, never dropped. */
static int check_fields(const json_t *body, const char *const *known,
			const char *const *unsupported, struct wr_err *err)
{
	if (!json_is_object(body))
		return wr_err_set(err, EINVAL, "the body must be a JSON object");
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)body, k, v)
	{
		bool ok = false;
		for (const char *const *p = known; *p && !ok; p++)
			ok = !strcmp(*p, k);
		if (ok)
			continue;
		for (const char *const *p = unsupported; *p && !ok; p++)
			ok = !strcmp(*p, k);
		if (!ok)
			return wr_err_set(err, EINVAL, "%s is not a known field", k);
		if (field_set(v))
			return wr_err_set(err, EINVAL, "%s is not supported by wrenn", k);
	}
	return 0;
}

static int check_network(struct create_req *c, const char *name, struct wr_err *err)
{
	if (c->allow_out && *c->allow_out && !c->allow_internet)
		return wr_err_set(err, EINVAL, "network.allowOut needs %s (it is false)", name);
	return 0;
}

void create_req_done(struct create_req *c)
{
	view_cidrs_free(c->allow_out);
	view_cidrs_free(c->deny_out);
	free(c->template);
	free(c->mask_host);
	json_decref(c->env);
	json_decref(c->metadata);
	json_decref(c->volume_mounts);
	*c = (struct create_req){0};
}

static int str_map(const json_t *body, const char *key, json_t **ret, struct wr_err *err)
{
	json_t *m = json_object_get(body, key);
	if (!m || json_is_null(m)) {
		*ret = json_object();
		return 0;
	}
	if (!json_is_object(m))
		return wr_err_set(err, EINVAL, "%s must be an object of strings", key);
	const char *k;
	json_t *v;
	json_object_foreach(m, k, v)
	{
		if (!json_is_string(v))
			return wr_err_set(err, EINVAL, "%s.%s must be a string", key, k);
		if (!*k)
			return wr_err_set(err, EINVAL, "%s has an empty key", key);
	}
	*ret = json_deep_copy(m);
	return 0;
}

static int opt_int(const json_t *body, const char *key, int64_t min, int64_t max, int64_t *ret,
		   struct wr_err *err)
{
	json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v))
		return wr_err_set(err, EINVAL, "%s must be an integer", key);
	json_int_t i = json_integer_value(v);
	if (i < min || i > max)
		return wr_err_set(err, EINVAL, "%s must be between %lld and %lld", key,
				  (long long)min, (long long)max);
	*ret = i;
	return 0;
}

static int opt_bool(const json_t *body, const char *key, bool *ret, struct wr_err *err)
{
	json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return wr_err_set(err, EINVAL, "%s must be true or false", key);
	*ret = json_is_true(v);
	return 0;
}

static int opt_template(const json_t *body, const char *key, char **ret, struct wr_err *err)
{
	json_t *v = json_object_get(body, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return wr_err_set(err, EINVAL, "%s must be a string", key);
	const char *s = json_string_value(v);
	size_t n = strlen(s);
	if (n == 0 || n > 128)
		return wr_err_set(err, EINVAL, "%s must be 1..128 characters", key);
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("._-/:", s[i])))
			return wr_err_set(err, EINVAL, "%s contains an invalid character", key);
	*ret = xstrdup(s);
	return 0;
}

#define MAX_TIMEOUT_S (INT64_C(30) * 24 * 3600)

static const char *const v1_fields[] = {
	"template", "vcpus",	"memoryMB", "timeout", "allowInternetAccess",
	"envVars",  "metadata", "network",  NULL};
static const char *const no_fields[] = {NULL};
static const char *const e2b_fields[] = {"templateID",
					 "timeout",
					 "allow_internet_access",
					 "secure",
					 "cpuCount",
					 "memoryMB",
					 "envVars",
					 "metadata",
					 "network",
					 "autoPause",
					 "autoPauseMemory",
					 "autoResume",
					 "volumeMounts",
					 NULL};
/* in the SDKs' create bodies, not implemented here */
static const char *const e2b_unsupported[] = {"mcp", "iam", NULL};

/* volumeMounts: [{name, path}] (SandboxVolumeMount); the runtime checks the names and paths. */
static int parse_volume_mounts(const json_t *body, json_t **ret, struct wr_err *err)
{
	json_t *a = json_object_get(body, "volumeMounts");
	if (!a || json_is_null(a) || (json_is_array(a) && json_array_size(a) == 0))
		return 0;
	if (!json_is_array(a) || json_array_size(a) > 4)
		return wr_err_set(err, EINVAL,
				  "volumeMounts must be an array of at most 4 {name, path}");
	size_t i;
	json_t *m;
	json_array_foreach(a, i, m)
	{
		const char *k;
		json_t *v;
		if (!json_is_object(m))
			return wr_err_set(err, EINVAL,
					  "volumeMounts[%zu] must be an object {name, path}", i);
		json_object_foreach(m, k, v)
		{
			if (strcmp(k, "name") && strcmp(k, "path"))
				return wr_err_set(err, EINVAL,
						  "volumeMounts[%zu].%s is not a known field", i,
						  k);
			if (!json_is_string(v))
				return wr_err_set(err, EINVAL,
						  "volumeMounts[%zu].%s must be a string", i, k);
		}
		if (!json_object_get(m, "name") || !json_object_get(m, "path"))
			return wr_err_set(err, EINVAL, "volumeMounts[%zu] needs name and path", i);
	}
	*ret = json_incref(a);
	return 0;
}

/*
 * The SDK's `lifecycle` option as it goes on the wire: autoPause (onTimeout 'pause'),
 * autoPauseMemory (onTimeout.keepMemory) and autoResume {enabled}.  Pauses always keep memory
 * here, so a filesystem-only pause (autoPauseMemory: false) is refused, not downgraded.
 */
static int parse_lifecycle(const json_t *body, unsigned *ret, struct wr_err *err)
{
	bool pause = false, memory = true, resume = false;
	int r;
	if ((r = opt_bool(body, "autoPause", &pause, err)) < 0 ||
	    (r = opt_bool(body, "autoPauseMemory", &memory, err)) < 0)
		return r;
	json_t *ar = json_object_get(body, "autoResume");
	if (ar && !json_is_null(ar)) {
		const char *k;
		json_t *v;
		if (!json_is_object(ar))
			return wr_err_set(err, EINVAL,
					  "autoResume must be an object {\"enabled\": bool}");
		json_object_foreach(ar, k, v)
		{
			if (strcmp(k, "enabled") != 0)
				return wr_err_set(err, EINVAL, "autoResume.%s is not a known field",
						  k);
			if (!json_is_boolean(v))
				return wr_err_set(err, EINVAL,
						  "autoResume.enabled must be true or false");
			resume = json_is_true(v);
		}
	}
	if (!memory && pause)
		return wr_err_set(
			err, EINVAL,
			"autoPauseMemory: false (a filesystem-only pause) is not supported "
			"by wrenn: pauses keep memory");
	if (resume && !pause)
		return wr_err_set(err, EINVAL,
				  "autoResume needs autoPause (lifecycle.onTimeout: 'pause')");
	*ret = (pause ? STORE_SB_LC_PAUSE_ON_TIMEOUT : 0) | (resume ? STORE_SB_LC_AUTO_RESUME : 0);
	return 0;
}

int view_parse_v1_create(const json_t *body, struct create_req *ret, struct wr_err *err)
{
	struct create_req c = {.timeout_s = VIEW_DEFAULT_TIMEOUT_S, .secure = true};
	int64_t vcpus = 0, mem = 0;
	int r;
	if ((r = check_fields(body, v1_fields, no_fields, err)) < 0 ||
	    (r = opt_template(body, "template", &c.template, err)) < 0 ||
	    (r = opt_int(body, "vcpus", 1, 64, &vcpus, err)) < 0 ||
	    (r = opt_int(body, "memoryMB", 128, 1024 * 1024, &mem, err)) < 0 ||
	    (r = opt_int(body, "timeout", 0, MAX_TIMEOUT_S, &c.timeout_s, err)) < 0 ||
	    (r = opt_bool(body, "allowInternetAccess", &c.allow_internet, err)) < 0 ||
	    (r = str_map(body, "envVars", &c.env, err)) < 0 ||
	    (r = str_map(body, "metadata", &c.metadata, err)) < 0 ||
	    (r = view_parse_network(json_object_get(body, "network"), "network", &c, err)) < 0 ||
	    (r = check_network(&c, "allowInternetAccess", err)) < 0) {
		create_req_done(&c);
		return r;
	}
	c.vcpus = (int)vcpus;
	c.memory_mb = (int)mem;
	*ret = c;
	return 0;
}

int view_parse_e2b_create(const json_t *body, bool v2, struct create_req *ret, struct wr_err *err)
{
	struct create_req c = {
		.timeout_s = VIEW_DEFAULT_TIMEOUT_S, .secure = true, .allow_internet = true};
	int64_t vcpus = 0, mem = 0;
	int r;
	if ((r = check_fields(body, e2b_fields, e2b_unsupported, err)) < 0 ||
	    (r = opt_template(body, "templateID", &c.template, err)) < 0 ||
	    (r = opt_int(body, "timeout", 0, MAX_TIMEOUT_S, &c.timeout_s, err)) < 0 ||
	    (r = opt_bool(body, "allow_internet_access", &c.allow_internet, err)) < 0 ||
	    (r = opt_bool(body, "secure", &c.secure, err)) < 0 ||
	    (v2 && !c.secure &&
	     (r = wr_err_set(err, EINVAL, "secure: false is not supported on /v2/sandboxes")) <
		     0) ||
	    /* not in E2B's schema, but harmless and handy: */
	    (r = opt_int(body, "cpuCount", 1, 64, &vcpus, err)) < 0 ||
	    (r = opt_int(body, "memoryMB", 128, 1024 * 1024, &mem, err)) < 0 ||
	    (r = str_map(body, "envVars", &c.env, err)) < 0 ||
	    (r = str_map(body, "metadata", &c.metadata, err)) < 0 ||
	    (r = view_parse_network(json_object_get(body, "network"), "network", &c, err)) < 0 ||
	    (r = check_network(&c, "allow_internet_access", err)) < 0 ||
	    (r = parse_lifecycle(body, &c.lifecycle, err)) < 0 ||
	    (r = parse_volume_mounts(body, &c.volume_mounts, err)) < 0) {
		create_req_done(&c);
		return r;
	}
	c.vcpus = (int)vcpus;
	c.memory_mb = (int)mem;
	*ret = c;
	return 0;
}

void view_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

static char *decode_again(char *s)
{
	char *d = NULL;
	if (http_unescape(s, strlen(s), false, &d) < 0)
		return s;
	free(s);
	return d;
}

int view_parse_metadata_query(const char *q, bool extra_decode, char ***ret, struct wr_err *err)
{
	size_t n = 0;
	char **v = xcalloc(1, sizeof(char *));
	while (q && *q) {
		size_t len = strcspn(q, "&");
		const char *eq = memchr(q, '=', len);
		if (len > 0) {
			if (!eq) {
				view_strv_free(v);
				return wr_err_set(err, EINVAL,
						  "metadata filter must be k=v pairs joined by &");
			}
			char *k = NULL, *val = NULL;
			if (http_unescape(q, (size_t)(eq - q), true, &k) < 0 ||
			    http_unescape(eq + 1, len - (size_t)(eq - q) - 1, true, &val) < 0) {
				free(k);
				view_strv_free(v);
				return wr_err_set(err, EINVAL, "metadata filter: bad %%-escape");
			}
			if (extra_decode) {
				k = decode_again(k);
				val = decode_again(val);
			}
			v = xrealloc(v, sizeof(char *) * (n + 3));
			v[n++] = k;
			v[n++] = val;
			v[n] = NULL;
		}
		q += len;
		if (*q == '&')
			q++;
	}
	*ret = v;
	return 0;
}

int view_parse_states(const char *q, unsigned *ret, struct wr_err *err)
{
	unsigned bits = 0;
	while (q && *q) {
		size_t len = strcspn(q, ",");
		if (len > 0) {
			cleanup_free char *name = xstrndup(q, len);
			int st = store_sb_state_parse(name);
			if (st < 0)
				return wr_err_set(err, EINVAL, "unknown state \"%s\"", name);
			bits |= 1u << st;
		}
		q += len;
		if (*q == ',')
			q++;
	}
	*ret = bits;
	return 0;
}

/* length of a valid UTF-8 sequence at s (max n bytes), 0 if invalid */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	unsigned cp = c & (0x3f >> (len - 1));
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

char *view_utf8_clean(const char *s, size_t n, size_t *ret_len)
{
	char *out = xmalloc(n * 3 + 1);
	size_t o = 0;
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_seq(u + i, n - i);
		if (l == 0) {
			out[o++] = (char)0xef;
			out[o++] = (char)0xbf;
			out[o++] = (char)0xbd;
			i++;
			continue;
		}
		memcpy(out + o, u + i, l);
		o += l;
		i += l;
	}
	out[o] = '\0';
	if (ret_len)
		*ret_len = o;
	return out;
}
