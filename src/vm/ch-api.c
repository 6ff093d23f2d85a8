/* SPDX-License-Identifier: MIT */
#include "vm/ch-api.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "http/http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CH_BODY_MAX (4 * 1024 * 1024)

/* One token bucket refilled every second: size = the per-second rate. */
static json_t *bucket(uint64_t per_sec)
{
	return json_pack("{s:I, s:I}", "size", (json_int_t)per_sec, "refill_time",
			 (json_int_t)1000);
}

static json_t *rate_limiter_json(const struct ch_rate_limit *l)
{
	json_t *o = json_object();
	if (l->bytes_per_sec)
		json_object_set_new(o, "bandwidth", bucket(l->bytes_per_sec));
	if (l->ops_per_sec)
		json_object_set_new(o, "ops", bucket(l->ops_per_sec));
	return o;
}

json_t *ch_vm_config_json(const struct ch_vm_spec *s)
{
	bool qcow2 = s->disk_format && !strcmp(s->disk_format, "qcow2");
	json_t *disk =
		json_pack("{s:s, s:s}", "path", s->disk, "image_type", qcow2 ? "Qcow2" : "Raw");
	/* CH >= v51 opens a qcow2 backing file only when asked to. */
	if (qcow2)
		json_object_set_new(disk, "backing_files", json_true());
	json_t *disks = json_array();
	json_array_append_new(disks, disk);
	for (int i = 0; i < s->n_extra; i++)
		json_array_append_new(disks, json_pack("{s:s, s:s, s:s}", "path", s->extra_disks[i],
						       "image_type", "Raw", "serial",
						       s->extra_serials[i]));
	json_t *serial = s->serial_file
				 ? json_pack("{s:s, s:s}", "mode", "File", "file", s->serial_file)
				 : json_pack("{s:s}", "mode", "Tty");
	return json_pack("{s:{s:s, s:s}, s:{s:i, s:i}, s:{s:I, s:b, s:b}, s:o,"
			 " s:{s:s}, s:o, s:{s:s}}",
			 "payload", "kernel", s->kernel, "cmdline", s->cmdline, "cpus",
			 "boot_vcpus", s->vcpus, "max_vcpus", s->vcpus, "memory", "size",
			 (json_int_t)s->memory_bytes, "shared", s->shared_mem, "thp", 0, "disks",
			 disks, "rng", "src", "/dev/urandom", "serial", serial, "console", "mode",
			 "Off");
}

json_t *ch_net_config_json(const struct ch_vm_spec *s)
{
	json_t *net = json_pack("{s:s, s:s, s:i}", "id", CH_NET_ID, "mac", s->mac, "num_queues", 2);
	if (s->net_limit.bytes_per_sec || s->net_limit.ops_per_sec)
		json_object_set_new(net, "rate_limiter_config", rate_limiter_json(&s->net_limit));
	return net;
}

static bool parse_mm(const char *s, struct ch_version *ret)
{
	if (!s)
		return false;
	if (*s == 'v')
		s++;
	int major, minor, n = 0;
	if (sscanf(s, "%d.%d%n", &major, &minor, &n) != 2 || n == 0 || major < 0 || minor < 0)
		return false;
	*ret = (struct ch_version){major, minor};
	return true;
}

int ch_version_parse(const char *version, const char *build_version, struct ch_version *ret)
{
	/* "version" is the crate version ("53.0.0"); build_version is git
	 * describe output and may be anything a packager's build produced. */
	if (parse_mm(version, ret) || parse_mm(build_version, ret))
		return 0;
	return -EINVAL;
}

int ch_version_check(const struct ch_version *v, struct wr_err *err)
{
	if (v->major < CH_MIN_MAJOR)
		return wr_err_set(
			err, ENOTSUP,
			"cloud-hypervisor v%d.%d is too old: wrenn needs v%d.0 or newer "
			"(explicit disk image_type, qcow2 overlays over raw backing files)",
			v->major, v->minor, CH_MIN_MAJOR);
	return 0;
}

static int connect_unix(const char *path, int *ret_fd, struct wr_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return wr_err_set(err, ENAMETOOLONG, "API socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return wr_err_errno(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return wr_err_errno(err, errno, "connect %s", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* CH answers errors with a JSON array of messages, outermost first
 * (["Error from API", "The VM could not boot", ...]): joined with ": ".
 * Anything else is shown as text on one line. */
static char *error_text(const char *resp, size_t len)
{
	if (!resp || !len)
		return xstrdup("(no body)");
	cleanup_json json_t *j = json_loadb(resp, len, 0, NULL);
	if (json_is_array(j) && json_array_size(j) > 0) {
		size_t cap = 1, i;
		json_t *m;
		json_array_foreach(j, i, m) cap +=
			(json_string_value(m) ? json_string_length(m) : 0) + 2;
		char *out = xmalloc(cap);
		out[0] = '\0';
		json_array_foreach(j, i, m)
		{
			if (!json_string_value(m))
				continue;
			if (out[0])
				strcat(out, ": ");
			strcat(out, json_string_value(m));
		}
		return out;
	}
	char *out = xstrndup(resp, len);
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return out;
}

int ch_api_call(const struct ch_api *a, const char *method, const char *endpoint, json_t *body,
		json_t **ret, struct wr_err *err)
{
	return ch_api_call_fds(a, method, endpoint, body, NULL, 0, ret, err);
}

int ch_api_call_fds(const struct ch_api *a, const char *method, const char *endpoint, json_t *body,
		    const int *fds, size_t nfds, json_t **ret, struct wr_err *err)
{
	cleanup_json json_t *owned_body = body; /* ours from here on, whatever happens */
	cleanup_free char *payload = owned_body ? json_dumps(owned_body, JSON_COMPACT) : NULL;
	int fd = -1;
	int r = connect_unix(a->socket_path, &fd, err);
	if (r < 0)
		return wr_err_prefix(err, r, "cloud-hypervisor %s", endpoint);
	struct http_client *c = http_client_new(fd, true);
	http_client_set_timeout(c, a->timeout_ms > 0 ? (unsigned)a->timeout_ms : 10000);
	cleanup_free char *target = xasprintf("/api/v1/%s", endpoint);
	struct http_creq rq = {
		.method = method,
		.target = target,
		.content_type = payload ? "application/json" : NULL,
		.body = payload,
		.body_len = payload ? strlen(payload) : 0,
		.fds = fds,
		.nfds = nfds,
	};
	int status = 0;
	cleanup_free char *resp = NULL;
	size_t len = 0;
	r = http_client_do(c, &rq, CH_BODY_MAX, &status, &resp, &len, err);
	http_client_free(c);
	if (r < 0)
		return wr_err_prefix(err, r, "cloud-hypervisor %s %s", method, endpoint);
	if (status < 200 || status > 299) {
		cleanup_free char *why = error_text(resp, len);
		return wr_err_set(err, EIO, "cloud-hypervisor %s %s: HTTP %d: %s", method, endpoint,
				  status, why);
	}
	if (ret) {
		cleanup_json json_t *reply = NULL;
		if (len > 0) {
			json_error_t je;
			reply = json_loadb(resp, len, 0, &je);
			if (!reply)
				return wr_err_set(err, EPROTO, "cloud-hypervisor %s: bad JSON: %s",
						  endpoint, je.text);
		}
		*ret = TAKE_PTR(reply);
	}
	return 0;
}

int ch_api_ping(const struct ch_api *a, struct ch_version *ret_ver, struct wr_err *err)
{
	cleanup_json json_t *j = NULL;
	int r = ch_api_call(a, "GET", "vmm.ping", NULL, &j, err);
	if (r < 0 || !ret_ver)
		return r;
	const char *v = json_string_value(json_object_get(j, "version"));
	const char *bv = json_string_value(json_object_get(j, "build_version"));
	if (ch_version_parse(v, bv, ret_ver) < 0)
		r = wr_err_set(err, EPROTO,
			       "cloud-hypervisor vmm.ping: no version in reply "
			       "(version \"%s\", build_version \"%s\")",
			       v ?: "", bv ?: "");
	return r;
}

int ch_api_create(const struct ch_api *a, const struct ch_vm_spec *s, struct wr_err *err)
{
	return ch_api_call(a, "PUT", "vm.create", ch_vm_config_json(s), NULL, err);
}

int ch_api_put(const struct ch_api *a, const char *endpoint, struct wr_err *err)
{
	return ch_api_call(a, "PUT", endpoint, NULL, NULL, err);
}

int ch_api_snapshot(const struct ch_api *a, const char *dir, struct wr_err *err)
{
	cleanup_free char *url = xasprintf("file://%s", dir);
	return ch_api_call(a, "PUT", "vm.snapshot", json_pack("{s:s}", "destination_url", url),
			   NULL, err);
}

int ch_api_add_net(const struct ch_api *a, const struct ch_vm_spec *s, int tap_fd,
		   struct wr_err *err)
{
	return ch_api_call_fds(a, "PUT", "vm.add-net", ch_net_config_json(s), &tap_fd, 1, NULL,
			       err);
}

int ch_api_restore(const struct ch_api *a, const char *dir, const struct ch_restore *o,
		   struct wr_err *err)
{
	cleanup_free char *url = xasprintf("file://%s", dir);
	cleanup_json json_t *body = json_pack("{s:s}", "source_url", url);
	bool fd = o->net_id && o->tap_fd >= 0;
	/* RestoreConfig.net_fds (v51+): the NIC's new fds, num_fds of them, in order. */
	if (fd)
		json_object_set_new(body, "net_fds",
				    json_pack("[{s:s, s:i}]", "id", o->net_id, "num_fds", 1));
	bool opts = a->ver.major >= CH_RESTORE_OPTS_MAJOR;
	if (opts) {
		json_object_set_new(body, "memory_restore_mode",
				    json_string(o->on_demand ? "OnDemand" : "Copy"));
		json_object_set_new(body, "resume", json_boolean(o->resume));
	}
	int r = ch_api_call_fds(a, "PUT", "vm.restore", TAKE_PTR(body), fd ? &o->tap_fd : NULL,
				fd ? 1 : 0, NULL, err);
	/* Older: the fields would be ignored; copy restore, then resume. */
	if (r < 0 || opts || !o->resume)
		return r;
	return ch_api_put(a, "vm.resume", err);
}

int ch_api_state(const struct ch_api *a, char **ret_state, struct wr_err *err)
{
	cleanup_json json_t *j = NULL;
	int r = ch_api_call(a, "GET", "vm.info", NULL, &j, err);
	if (r < 0)
		return r;
	const char *s = json_string_value(json_object_get(j, "state"));
	if (!s)
		return wr_err_set(err, EPROTO, "cloud-hypervisor vm.info: no \"state\" in reply");
	*ret_state = xstrdup(s);
	return 0;
}
