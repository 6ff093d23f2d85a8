/* SPDX-License-Identifier: MIT */
#include "vm/ch-api.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"
#include "http/http.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CH_BODY_MAX (4 * 1024 * 1024)

json_t *ch_vm_config_json(const struct ch_vm_spec *s)
{
	json_t *serial = s->serial_file
				 ? json_pack("{s:s, s:s}", "mode", "File", "file", s->serial_file)
				 : json_pack("{s:s}", "mode", "Tty");
	return json_pack(
		"{s:{s:s, s:s}, s:{s:i, s:i}, s:{s:I, s:b, s:b}, s:[{s:s, s:s}], s:[{s:s, s:s}],"
		" s:{s:s}, s:o, s:{s:s}}",
		"payload", "kernel", s->kernel, "cmdline", s->cmdline, "cpus", "boot_vcpus",
		s->vcpus, "max_vcpus", s->vcpus, "memory", "size", (json_int_t)s->memory_bytes,
		"shared", s->shared_mem, "thp", 0, "disks", "path", s->disk, "image_type",
		s->disk_format && !strcmp(s->disk_format, "qcow2") ? "Qcow2" : "Raw", "net", "tap",
		s->tap, "mac", s->mac, "rng", "src", "/dev/urandom", "serial", serial, "console",
		"mode", "Off");
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

int ch_api_call(const struct ch_api *a, const char *method, const char *endpoint, json_t *body,
		json_t **ret, struct wr_err *err)
{
	cleanup_free char *payload = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
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
	};
	int status = 0;
	cleanup_free char *resp = NULL;
	size_t len = 0;
	r = http_client_do(c, &rq, CH_BODY_MAX, &status, &resp, &len, err);
	http_client_free(c);
	if (r < 0)
		return wr_err_prefix(err, r, "cloud-hypervisor %s %s", method, endpoint);
	if (status < 200 || status > 299) {
		/* CH's error text can span lines; keep one line. */
		for (char *p = resp; p && *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		return wr_err_set(err, EIO, "cloud-hypervisor %s %s: HTTP %d: %s", method, endpoint,
				  status, resp && *resp ? resp : "(no body)");
	}
	if (ret) {
		*ret = NULL;
		if (len > 0) {
			json_error_t je;
			*ret = json_loadb(resp, len, 0, &je);
			if (!*ret)
				return wr_err_set(err, EPROTO, "cloud-hypervisor %s: bad JSON: %s",
						  endpoint, je.text);
		}
	}
	return 0;
}

int ch_api_ping(const struct ch_api *a, struct wr_err *err)
{
	json_t *j = NULL;
	int r = ch_api_call(a, "GET", "vmm.ping", NULL, &j, err);
	json_decref(j);
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

int ch_api_restore(const struct ch_api *a, const char *dir, bool resume, struct wr_err *err)
{
	cleanup_free char *url = xasprintf("file://%s", dir);
	return ch_api_call(a, "PUT", "vm.restore",
			   json_pack("{s:s, s:s, s:b}", "source_url", url, "memory_restore_mode",
				     "OnDemand", "resume", resume),
			   NULL, err);
}

int ch_api_state(const struct ch_api *a, char **ret_state, struct wr_err *err)
{
	json_t *j = NULL;
	int r = ch_api_call(a, "GET", "vm.info", NULL, &j, err);
	if (r < 0)
		return r;
	const char *s = json_string_value(json_object_get(j, "state"));
	if (!s) {
		json_decref(j);
		return wr_err_set(err, EPROTO, "cloud-hypervisor vm.info: no \"state\" in reply");
	}
	*ret_state = xstrdup(s);
	json_decref(j);
	return 0;
}
