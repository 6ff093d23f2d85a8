/* SPDX-License-Identifier: MIT */
/*
 * Fake Cloud Hypervisor API server (see fake-ch.h for the behaviour it
 * models and where that comes from). Links only libc, pthread and jansson:
 * it sits after the project's libraries on the test's link line.
 */
#include "fake-ch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_REQ 64
#define MAX_BODY (4 << 20)
#define MAX_FDS 8

enum vm_state { VM_NONE, VM_RUNNING, VM_PAUSED };

struct fake_ch {
	char *sock;
	int lfd;
	int stop_pipe[2];
	pthread_t th;
	bool threaded;
	int major, minor;
	char *version, *build_version;
	pthread_mutex_t mu;
	json_t *config;	  /* VmConfig from vm.create / vm.restore; NULL = none */
	enum vm_state vm; /* the VM object (exists after boot / restore) */
	bool exited;
	int nreq;
	struct fake_ch_req req[MAX_REQ];
	/* fds that arrived with the request being routed (SCM_RIGHTS) */
	int in_fds[MAX_FDS];
	int n_in;
	/* NIC fds the VM holds (from vm.add-net / vm.restore), closed at free */
	int nic_fds[MAX_FDS];
	int n_nic;
	char tap_name[IFNAMSIZ]; /* what TUNGETIFF said of the NIC fd at boot */
	bool log;		 /* each request on stderr */
};

struct reply {
	int status;
	char *body; /* malloc'd JSON text or NULL */
};

static struct reply ok(int status, json_t *body)
{
	struct reply r = {status, NULL};
	if (body) {
		r.body = json_dumps(body, JSON_COMPACT);
		json_decref(body);
	}
	return r;
}

/* CH's error body: the error chain's messages, outermost first (up to
 * four here; the first NULL ends it). */
static struct reply fail(int status, const char *m1, const char *m2, const char *m3, const char *m4)
{
	const char *m[] = {m1, m2, m3, m4};
	json_t *a = json_array();
	for (size_t i = 0; i < 4 && m[i]; i++)
		json_array_append_new(a, json_string(m[i]));
	return ok(status, a);
}

static struct reply api_fail(int status, const char *api, const char *vm, const char *detail)
{
	return fail(status, "Error from API", api, vm, detail);
}

static struct reply bad_json(const char *text)
{
	return fail(400, "Failed to deserialize JSON", text, NULL, NULL);
}

static bool knows(const struct fake_ch *f, int major)
{
	return f->major >= major;
}

/* --- serde-like checks: NULL = fine, else the message ------------------------- */

static char why[256];

static const char *want(json_t *o, const char *key, json_type t, bool required)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return required ? (snprintf(why, sizeof(why), "missing field `%s`", key), why)
				: NULL;
	if (json_typeof(v) == t || (t == JSON_TRUE && json_is_boolean(v)) ||
	    (t == JSON_REAL && json_is_number(v)))
		return NULL;
	if (json_is_integer(v) && t == JSON_INTEGER && json_integer_value(v) >= 0)
		return NULL;
	snprintf(why, sizeof(why), "invalid type for `%s`", key);
	return why;
}

static const char *want_uint(json_t *o, const char *key, bool required)
{
	const char *e = want(o, key, JSON_INTEGER, required);
	json_t *v = json_object_get(o, key);
	if (!e && v && json_integer_value(v) < 0) {
		snprintf(why, sizeof(why), "invalid value for `%s`: expected u64", key);
		return why;
	}
	return e;
}

static const char *want_enum(json_t *o, const char *key, const char *const *vals)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return NULL;
	if (!json_is_string(v))
		return want(o, key, JSON_STRING, false);
	for (; *vals; vals++)
		if (!strcmp(*vals, json_string_value(v)))
			return NULL;
	snprintf(why, sizeof(why), "unknown variant `%s` for `%s`", json_string_value(v), key);
	return why;
}

static const char *check_bucket(json_t *b)
{
	if (!json_is_object(b))
		return "invalid type: expected struct TokenBucketConfig";
	const char *e;
	if ((e = want_uint(b, "size", true)) || (e = want_uint(b, "refill_time", true)) ||
	    (e = want_uint(b, "one_time_burst", false)))
		return e;
	return NULL;
}

/* RateLimiterConfig is #[serde(deny_unknown_fields)]. */
static const char *check_rate_limiter(json_t *rl)
{
	if (!rl || json_is_null(rl))
		return NULL;
	if (!json_is_object(rl))
		return "invalid type: expected struct RateLimiterConfig";
	const char *k;
	json_t *v;
	json_object_foreach(rl, k, v)
	{
		if (strcmp(k, "bandwidth") && strcmp(k, "ops")) {
			snprintf(why, sizeof(why),
				 "unknown field `%s`, expected `bandwidth` or `ops`", k);
			return why;
		}
		const char *e = json_is_null(v) ? NULL : check_bucket(v);
		if (e)
			return e;
	}
	return NULL;
}

static const char *const image_types[] = {"FixedVhd", "Qcow2", "Raw", "Vhdx", "Unknown", NULL};
static const char *const console_modes[] = {"Off", "Pty", "Tty", "File", "Socket", "Null", NULL};

static const char *check_console(json_t *c, const char *key)
{
	json_t *o = json_object_get(c, key);
	if (!o)
		return NULL;
	if (!json_is_object(o)) {
		snprintf(why, sizeof(why), "invalid type for `%s`", key);
		return why;
	}
	const char *e;
	if ((e = want(o, "mode", JSON_STRING, true)) || (e = want_enum(o, "mode", console_modes)) ||
	    (e = want(o, "file", JSON_STRING, false)))
		return e;
	return NULL;
}

static const char *check_vm_config(const struct fake_ch *f, json_t *c)
{
	if (!json_is_object(c))
		return "invalid type: expected struct VmConfig";
	const char *e;
	json_t *o;
	if ((o = json_object_get(c, "payload"))) {
		if (!json_is_object(o))
			return "invalid type for `payload`";
		if ((e = want(o, "kernel", JSON_STRING, false)) ||
		    (e = want(o, "cmdline", JSON_STRING, false)))
			return e;
	}
	if ((o = json_object_get(c, "cpus"))) {
		if (!json_is_object(o))
			return "invalid type for `cpus`";
		if ((e = want_uint(o, "boot_vcpus", false)) ||
		    (e = want_uint(o, "max_vcpus", false)))
			return e;
	}
	if ((o = json_object_get(c, "memory"))) {
		if (!json_is_object(o))
			return "invalid type for `memory`";
		if ((e = want_uint(o, "size", true)) || (e = want(o, "shared", JSON_TRUE, false)) ||
		    (e = want(o, "thp", JSON_TRUE, false)))
			return e;
	}
	json_t *arr, *d;
	size_t i;
	if ((arr = json_object_get(c, "disks"))) {
		if (!json_is_array(arr))
			return "invalid type for `disks`";
		json_array_foreach(arr, i, d)
		{
			if (!json_is_object(d))
				return "invalid type: expected struct DiskConfig";
			if ((e = want(d, "path", JSON_STRING, false)) ||
			    (e = want(d, "readonly", JSON_TRUE, false)) ||
			    (e = check_rate_limiter(json_object_get(d, "rate_limiter_config"))))
				return e;
			if (knows(f, 51) && ((e = want(d, "backing_files", JSON_TRUE, false)) ||
					     (e = want_enum(d, "image_type", image_types))))
				return e;
		}
	}
	if ((arr = json_object_get(c, "net"))) {
		if (!json_is_array(arr))
			return "invalid type for `net`";
		json_array_foreach(arr, i, d)
		{
			if (!json_is_object(d))
				return "invalid type: expected struct NetConfig";
			if ((e = want(d, "tap", JSON_STRING, false)) ||
			    (e = want(d, "mac", JSON_STRING, false)) ||
			    (e = check_rate_limiter(json_object_get(d, "rate_limiter_config"))))
				return e;
			const char *mac = json_string_value(json_object_get(d, "mac"));
			unsigned b[6];
			char tail;
			if (mac && sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
					  &b[3], &b[4], &b[5], &tail) != 6)
				return "invalid MAC address";
		}
	}
	if ((o = json_object_get(c, "rng")) && (e = want(o, "src", JSON_STRING, false)))
		return e;
	if ((e = check_console(c, "serial")) || (e = check_console(c, "console")))
		return e;
	return NULL;
}

/* --- what vm.boot opens ------------------------------------------------------- */

static uint64_t be64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* 0 ok, else an error message for the disk (static). */
static const char *open_disk(const struct fake_ch *f, json_t *d)
{
	const char *path = json_string_value(json_object_get(d, "path"));
	if (!path)
		return "Disk path is missing";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, sizeof(why), "Failed to open disk file %s: %s", path,
			 strerror(errno));
		return why;
	}
	unsigned char h[24] = {0};
	ssize_t n = read(fd, h, sizeof(h));
	close(fd);
	bool is_qcow2 = n == (ssize_t)sizeof(h) && !memcmp(h, "QFI\xfb", 4);
	const char *type = json_string_value(json_object_get(d, "image_type"));
	if (!knows(f, 51) || !type || !strcmp(type, "Unknown"))
		type = is_qcow2 ? "Qcow2" : "Raw"; /* autodetection */
	if (!strcmp(type, "Qcow2")) {
		if (!is_qcow2)
			return "Failed to parse QCOW2 image: invalid magic";
		bool backing = be64(h + 8) != 0;
		bool allowed = !knows(f, 51) || json_is_true(json_object_get(d, "backing_files"));
		if (backing && !allowed)
			return "Failed to open QCOW2 image: unsupported feature: backing file "
			       "(backing_files=off)";
	}
	return NULL;
}

/* What CH does with each NetConfig when it builds the device: a NIC with fds
 * uses them (Tap::from_tap_fd: TUNGETIFF, TUNSETIFF); one with a tap name opens
 * /dev/net/tun and attaches by name (open_tap), which this fake only models
 * as "needs /dev/net/tun"; one with neither creates a new TAP, which needs
 * CAP_NET_ADMIN: refused here.  NULL = fine, else the message. */
static const char *open_nics(struct fake_ch *f)
{
	json_t *n;
	size_t i;
	json_array_foreach(json_object_get(f->config, "net"), i, n)
	{
		json_t *fds = json_object_get(n, "fds");
		if (json_array_size(fds)) {
			int fd = (int)json_integer_value(json_array_get(fds, 0));
			struct ifreq ifr;
			memset(&ifr, 0, sizeof(ifr));
			if (fd < 0 || ioctl(fd, TUNGETIFF, &ifr) < 0) {
				snprintf(why, sizeof(why),
					 "Failed to open tap device from fd %d: %s", fd,
					 strerror(errno));
				return why;
			}
			snprintf(f->tap_name, sizeof(f->tap_name), "%s", ifr.ifr_name);
			continue;
		}
		if (!json_string_value(json_object_get(n, "tap")))
			return "Failed to create tap device: Operation not permitted";
		if (access("/dev/net/tun", R_OK | W_OK) < 0) {
			snprintf(why, sizeof(why), "Failed to open /dev/net/tun: %s",
				 strerror(errno));
			return why;
		}
	}
	return NULL;
}

/* Take the request's SCM_RIGHTS fds as the NIC's, as CH's attach_fds_to_cfg:
 * "fds" numbers in the body are never trusted (reset), n fds from the socket. */
static const char *take_nic_fds(struct fake_ch *f, json_t *net, int n)
{
	json_object_del(net, "fds");
	if (n == 0)
		return NULL;
	if (f->n_in < n || f->n_nic + n > MAX_FDS)
		return "Expected more FDs than were sent";
	json_t *a = json_array();
	for (int i = 0; i < n; i++) {
		int fd = f->in_fds[--f->n_in];
		f->nic_fds[f->n_nic++] = fd;
		json_array_append_new(a, json_integer(fd));
	}
	json_object_set_new(net, "fds", a);
	return NULL;
}

/* PUT vm.add-net: NetConfig with fds from the socket; on a VM not booted yet
 * it only joins the config (Vmm::vm_add_net), NetConfig::validate first. */
static struct reply vm_add_net(struct fake_ch *f, json_t *body)
{
	if (!json_is_object(body))
		return bad_json("invalid type: expected struct NetConfig");
	json_t *net = json_deep_copy(body);
	json_t *arr = json_array();
	json_array_append(arr, net);
	json_t *wrap = json_pack("{s:o}", "net", arr);
	const char *e = check_vm_config(f, wrap);
	json_decref(wrap);
	if (e) {
		json_decref(net);
		return bad_json(e);
	}
	if (!f->config) {
		json_decref(net);
		return api_fail(500, "The network device could not be added", "VM is not created",
				NULL);
	}
	json_int_t nq = json_object_get(net, "num_queues")
				? json_integer_value(json_object_get(net, "num_queues"))
				: 2;
	int n = f->n_in;
	if ((e = take_nic_fds(f, net, n))) {
		json_decref(net);
		return api_fail(400, "Bad Request", e, NULL);
	}
	if (nq < 2 || (n && nq != 2 * n)) {
		json_decref(net);
		return api_fail(500, "The network device could not be added", "Invalid VM config",
				"Number of queues does not match the fds");
	}
	json_t *nets = json_object_get(f->config, "net");
	if (!nets)
		json_object_set_new(f->config, "net", nets = json_array());
	json_array_append_new(nets, net);
	return ok(f->vm == VM_NONE ? 204 : 200, f->vm == VM_NONE ? NULL : json_object());
}

/* vm.restore's net_fds (RestoreConfig::validate): every fd-backed NIC of the
 * snapshot must get its fds, by id, num_fds of them. */
static const char *restore_nics(struct fake_ch *f, json_t *cfg, json_t *net_fds)
{
	json_t *n, *r;
	size_t i, j;
	int want = 0;
	json_array_foreach(net_fds, j, r) want +=
		(int)json_integer_value(json_object_get(r, "num_fds"));
	if (want != f->n_in)
		return "Expected FDs in VmRestore request do not match those received";
	json_array_foreach(json_object_get(cfg, "net"), i, n)
	{
		if (!json_object_get(n, "fds"))
			continue; /* by name: CH opens it again */
		const char *id = json_string_value(json_object_get(n, "id"));
		json_t *match = NULL;
		json_array_foreach(
			net_fds, j,
			r) if (id && !strcmp(id, json_string_value(json_object_get(r, "id")) ?: ""))
			match = r;
		if (!match) {
			snprintf(why, sizeof(why), "Missing required net id for restore: %s",
				 id ? id : "(none)");
			return why;
		}
		int k = (int)json_integer_value(json_object_get(match, "num_fds"));
		if (k != (int)json_array_size(json_object_get(n, "fds")))
			return "Net fd count mismatch for restore";
		const char *e = take_nic_fds(f, n, k);
		if (e)
			return e;
	}
	return NULL;
}

/* --- endpoints ---------------------------------------------------------------- */

static struct reply vm_boot(struct fake_ch *f)
{
	if (f->vm != VM_NONE)
		return api_fail(500, "The VM could not boot", "VM is already created", NULL);
	if (!f->config)
		return api_fail(404, "The VM could not boot", "VM config is missing", NULL);
	const char *kernel =
		json_string_value(json_object_get(json_object_get(f->config, "payload"), "kernel"));
	if (!kernel || access(kernel, R_OK) < 0)
		return api_fail(500, "The VM could not boot", "Cannot load the kernel into memory",
				kernel ? strerror(errno) : "no kernel in payload");
	json_t *d;
	size_t i;
	json_array_foreach(json_object_get(f->config, "disks"), i, d)
	{
		const char *e = open_disk(f, d);
		if (e)
			return api_fail(500, "The VM could not boot",
					"Error creating device manager", e);
	}
	const char *e = open_nics(f);
	if (e)
		return api_fail(500, "The VM could not boot", "Error creating device manager", e);
	f->vm = VM_RUNNING;
	return ok(204, NULL);
}

static struct reply transition(struct fake_ch *f, enum vm_state from, enum vm_state to,
			       const char *api, const char *vm_err)
{
	static const char *const names[] = {"Created", "Running", "Paused"};
	if (f->vm == VM_NONE)
		return api_fail(500, api, "VM is not running", NULL);
	if (f->vm != from) {
		char t[96];
		snprintf(t, sizeof(t), "Invalid transition: InvalidStateTransition(%s, %s)",
			 names[f->vm], names[to]);
		return api_fail(500, api, vm_err, t);
	}
	f->vm = to;
	return ok(204, NULL);
}

static const char *file_url_dir(json_t *body, const char *key)
{
	const char *u = json_string_value(json_object_get(body, key));
	return u && !strncmp(u, "file://", 7) ? u + 7 : NULL;
}

static int write_file(const char *dir, const char *name, const char *text)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *fp = fopen(p, "we");
	if (!fp)
		return -1;
	fputs(text, fp);
	return fclose(fp);
}

static struct reply vm_snapshot(struct fake_ch *f, json_t *body)
{
	const char *e = want(body, "destination_url", JSON_STRING, true);
	if (e)
		return bad_json(e);
	if (f->vm == VM_NONE)
		return api_fail(500, "The VM could not be snapshotted", "VM is not running", NULL);
	if (f->vm != VM_PAUSED)
		return api_fail(500, "The VM could not be snapshotted", "Cannot snapshot VM",
				"Trying to snapshot while VM is running");
	const char *dir = file_url_dir(body, "destination_url");
	char *cfg = json_dumps(f->config, JSON_COMPACT);
	int r = dir ? write_file(dir, "config.json", cfg) : -1;
	free(cfg);
	if (r == 0)
		r = write_file(dir, "state.json", "{}");
	if (r == 0)
		r = write_file(dir, "memory-ranges", "");
	if (r < 0)
		return api_fail(500, "The VM could not be snapshotted", "Cannot send VM snapshot",
				dir ? strerror(errno) : "unsupported URL scheme");
	return ok(204, NULL);
}

static struct reply vm_restore(struct fake_ch *f, json_t *body)
{
	static const char *const modes[] = {"Copy", "OnDemand", NULL};
	const char *e;
	if ((e = want(body, "source_url", JSON_STRING, true)) ||
	    (e = want(body, "prefault", JSON_TRUE, false)))
		return bad_json(e);
	if (knows(f, 52) && ((e = want(body, "resume", JSON_TRUE, false)) ||
			     (e = want_enum(body, "memory_restore_mode", modes))))
		return bad_json(e);
	if (f->vm != VM_NONE || f->config)
		return api_fail(500, "The VM could not be restored", "VM is already created", NULL);
	const char *dir = file_url_dir(body, "source_url");
	char p[512];
	snprintf(p, sizeof(p), "%s/config.json", dir ? dir : "");
	json_t *cfg = dir ? json_load_file(p, 0, NULL) : NULL;
	if (!cfg)
		return api_fail(500, "The VM could not be restored", "Error restoring VM",
				"Failed to read the VM config from the snapshot");
	/* CH reads the state and the memory too (Copy: all of it, now). */
	const char *parts[] = {"state.json", "memory-ranges"};
	for (size_t i = 0; i < 2; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, parts[i]);
		if (access(p, R_OK) < 0) {
			json_decref(cfg);
			snprintf(why, sizeof(why), "Failed to read %.200s: %s", p, strerror(errno));
			return api_fail(500, "The VM could not be restored", "Error restoring VM",
					why);
		}
	}
	const char *ne = restore_nics(f, cfg, json_object_get(body, "net_fds"));
	if (!ne)
		ne = (f->config = cfg, open_nics(f));
	if (ne) {
		if (f->config != cfg)
			json_decref(cfg);
		json_decref(f->config);
		f->config = NULL;
		return api_fail(500, "The VM could not be restored", "Error restoring VM", ne);
	}
	f->vm = VM_PAUSED;
	if (knows(f, 52) && json_is_true(json_object_get(body, "resume")))
		f->vm = VM_RUNNING;
	return ok(204, NULL);
}

static struct reply vm_info(struct fake_ch *f)
{
	static const char *const names[] = {"Created", "Running", "Paused"};
	if (!f->config)
		return api_fail(404, "The VM info is not available", "VM is not created", NULL);
	json_int_t mem =
		json_integer_value(json_object_get(json_object_get(f->config, "memory"), "size"));
	return ok(200, json_pack("{s:O, s:s, s:I}", "config", f->config, "state", names[f->vm],
				 "memory_actual_size", mem));
}

static struct reply route(struct fake_ch *f, const char *method, const char *path, const char *raw,
			  size_t raw_len)
{
	static const char *const actions[] = {"vm.create",  "vm.boot",	   "vm.pause",
					      "vm.resume",  "vm.shutdown", "vm.snapshot",
					      "vm.restore", "vm.delete",   "vmm.shutdown",
					      "vm.reboot",  "vm.add-net",  NULL};
	if (strncmp(path, "/api/v1/", 8))
		return fail(404, "Not Found", NULL, NULL, NULL);
	const char *ep = path + 8;
	bool get = !strcmp(ep, "vmm.ping") || !strcmp(ep, "vm.info");
	bool put = false;
	for (const char *const *a = actions; *a; a++)
		put = put || !strcmp(ep, *a);
	if (!get && !put)
		return fail(404, "Not Found", NULL, NULL, NULL);
	if (strcmp(method, get ? "GET" : "PUT"))
		return fail(400, "Bad Request", NULL, NULL, NULL);

	if (!strcmp(ep, "vmm.ping"))
		return ok(200, json_pack("{s:s, s:s, s:I, s:[]}", "build_version", f->build_version,
					 "version", f->version, "pid", (json_int_t)getpid(),
					 "features"));
	if (!strcmp(ep, "vm.info"))
		return vm_info(f);
	if (!strcmp(ep, "vmm.shutdown")) {
		f->exited = true;
		return ok(200, NULL);
	}

	json_t *body = NULL;
	bool needs_body = !strcmp(ep, "vm.create") || !strcmp(ep, "vm.snapshot") ||
			  !strcmp(ep, "vm.restore") || !strcmp(ep, "vm.add-net");
	if (needs_body) {
		if (!raw_len)
			return (struct reply){400, NULL};
		json_error_t je;
		body = json_loadb(raw, raw_len, 0, &je);
		if (!body)
			return bad_json(je.text);
	}
	struct reply r;
	if (!strcmp(ep, "vm.create")) {
		const char *e = check_vm_config(f, body);
		if (e)
			r = bad_json(e);
		else if (f->config)
			r = api_fail(500, "The VM could not be created", "VM is already created",
				     NULL);
		else {
			/* VmCreate takes no fds: those in the body are reset (and any sent
			 * with the request are dropped below). */
			json_t *n;
			size_t i;
			json_array_foreach(json_object_get(body, "net"), i, n)
				json_object_del(n, "fds");
			f->config = json_incref(body);
			r = ok(204, NULL);
		}
	} else if (!strcmp(ep, "vm.boot")) {
		r = vm_boot(f);
	} else if (!strcmp(ep, "vm.pause")) {
		r = transition(f, VM_RUNNING, VM_PAUSED, "The VM could not be paused",
			       "Cannot pause VM");
	} else if (!strcmp(ep, "vm.resume")) {
		r = transition(f, VM_PAUSED, VM_RUNNING, "The VM could not resume",
			       "Cannot resume VM");
	} else if (!strcmp(ep, "vm.shutdown")) {
		if (f->vm == VM_NONE)
			r = api_fail(500, "The VM could not shutdown", "VM is not running", NULL);
		else {
			f->vm = VM_NONE; /* the config stays: vm.info says Created */
			r = ok(204, NULL);
		}
	} else if (!strcmp(ep, "vm.add-net")) {
		r = vm_add_net(f, body);
	} else if (!strcmp(ep, "vm.snapshot")) {
		r = vm_snapshot(f, body);
	} else if (!strcmp(ep, "vm.restore")) {
		r = vm_restore(f, body);
	} else if (!strcmp(ep, "vm.delete")) {
		f->vm = VM_NONE;
		json_decref(f->config);
		f->config = NULL;
		r = ok(204, NULL);
	} else { /* vm.reboot */
		r = f->vm == VM_NONE
			    ? api_fail(404, "The VM could not reboot", "VM is not created", NULL)
			    : ok(204, NULL);
	}
	json_decref(body);
	return r;
}

/* --- HTTP --------------------------------------------------------------------- */

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 204:
		return "No Content";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	default:
		return "Internal Server Error";
	}
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* read() that also collects SCM_RIGHTS fds (micro_http's recvmsg) into f->in_fds. */
static ssize_t recv_fds(struct fake_ch *f, int fd, void *buf, size_t n)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {buf, n};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = u.b,
			   .msg_controllen = sizeof(u.b)};
	ssize_t r = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
	if (r < 0)
		return r;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int *fds = (int *)CMSG_DATA(c);
		for (size_t i = 0; i < k; i++) {
			if (f->n_in < MAX_FDS)
				f->in_fds[f->n_in++] = fds[i];
			else
				close(fds[i]);
		}
	}
	return r;
}

/* One request from buf (len bytes so far); false at EOF or on garbage. */
static bool serve_one(struct fake_ch *f, int fd, char **buf, size_t *len)
{
	char *end;
	while (!(end = memmem(*buf, *len, "\r\n\r\n", 4))) {
		if (*len >= 65536)
			return false;
		char tmp[4096];
		ssize_t n = recv_fds(f, fd, tmp, sizeof(tmp));
		if (n <= 0)
			return false;
		*buf = realloc(*buf, *len + (size_t)n + 1);
		memcpy(*buf + *len, tmp, (size_t)n);
		*len += (size_t)n;
		(*buf)[*len] = '\0';
	}
	size_t head = (size_t)(end + 4 - *buf);
	char method[8] = "", path[64] = "";
	if (sscanf(*buf, "%7s %63s", method, path) != 2)
		return false;
	size_t clen = 0;
	for (char *h = strstr(*buf, "\r\n"); h && h < end; h = strstr(h + 2, "\r\n"))
		if (!strncasecmp(h + 2, "Content-Length:", 15))
			clen = strtoul(h + 17, NULL, 10);
	if (clen > MAX_BODY)
		return false;
	while (*len < head + clen) {
		*buf = realloc(*buf, head + clen + 1);
		ssize_t n = recv_fds(f, fd, *buf + *len, head + clen - *len);
		if (n <= 0)
			return false;
		*len += (size_t)n;
	}
	pthread_mutex_lock(&f->mu);
	int nfds = f->n_in;
	struct reply r = route(f, method, path, *buf + head, clen);
	/* vmm.shutdown: nobody is accepted any more once the answer is out (closed
	 * before it, so a client's next connect is refused, never half-accepted) */
	if (f->exited && f->lfd >= 0) {
		close(f->lfd);
		f->lfd = -1;
	}
	/* fds the endpoint did not take are dropped (closed), as CH's Vec<File> */
	while (f->n_in > 0)
		close(f->in_fds[--f->n_in]);
	if (f->log)
		fprintf(stderr, "fake-ch: %s %s nfds=%d status=%d body=%.*s\n", method, path, nfds,
			r.status, (int)clen, *buf + head);
	if (f->nreq < MAX_REQ) {
		struct fake_ch_req *q = &f->req[f->nreq++];
		snprintf(q->method, sizeof(q->method), "%s", method);
		snprintf(q->path, sizeof(q->path), "%s", path);
		q->body = strndup(*buf + head, clen);
		q->status = r.status;
		q->nfds = nfds;
	}
	pthread_mutex_unlock(&f->mu);
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.1 %d %s\r\nServer: Cloud Hypervisor API\r\n"
			 "Content-Type: application/json\r\n",
			 r.status, reason(r.status));
	if (r.status != 204)
		n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "Content-Length: %zu\r\n",
			      r.body ? strlen(r.body) : 0);
	n += snprintf(hdr + n, sizeof(hdr) - (size_t)n, "\r\n");
	int w = write_all(fd, hdr, (size_t)n);
	if (w == 0 && r.body)
		w = write_all(fd, r.body, strlen(r.body));
	free(r.body);
	/* keep what followed this request */
	memmove(*buf, *buf + head + clen, *len - head - clen);
	*len -= head + clen;
	return w == 0;
}

static void serve_conn(struct fake_ch *f, int fd)
{
	char *buf = calloc(1, 1);
	size_t len = 0;
	while (!f->exited && serve_one(f, fd, &buf, &len))
		;
	free(buf);
	close(fd);
}

void fake_ch_serve(struct fake_ch *f)
{
	while (!f->exited) {
		struct pollfd p[2] = {{f->lfd, POLLIN, 0}, {f->stop_pipe[0], POLLIN, 0}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			serve_conn(f, fd);
	}
	/* Like CH after vmm.shutdown: nobody listens any more. */
	if (f->lfd >= 0)
		close(f->lfd);
	f->lfd = -1;
}

static void *thread_main(void *arg)
{
	fake_ch_serve(arg);
	return NULL;
}

struct fake_ch *fake_ch_new(const char *socket_path, const char *version, const char *build_version)
{
	struct fake_ch *f = calloc(1, sizeof(*f));
	f->sock = strdup(socket_path);
	f->version = strdup(version);
	if (build_version)
		f->build_version = strdup(build_version);
	else if (asprintf(&f->build_version, "v%s", version) < 0)
		f->build_version = NULL;
	sscanf(version, "%d.%d", &f->major, &f->minor);
	pthread_mutex_init(&f->mu, NULL);
	f->lfd = -1;
	if (pipe2(f->stop_pipe, O_CLOEXEC) < 0)
		goto fail;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", socket_path);
	if (f->major >= 53) {
		char lock[sizeof(sa.sun_path) + 8];
		snprintf(lock, sizeof(lock), "%s.lock", socket_path);
		int lfd = open(lock, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (lfd < 0)
			goto fail;
		close(lfd);
	}
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->lfd < 0 || bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(f->lfd, 16) < 0)
		goto fail;
	return f;
fail:
	fake_ch_free(f);
	return NULL;
}

struct fake_ch *fake_ch_new_fd(int lfd, const char *version, const char *build_version)
{
	struct fake_ch *f = calloc(1, sizeof(*f));
	f->version = strdup(version);
	if (build_version)
		f->build_version = strdup(build_version);
	else if (asprintf(&f->build_version, "v%s", version) < 0)
		f->build_version = NULL;
	sscanf(version, "%d.%d", &f->major, &f->minor);
	pthread_mutex_init(&f->mu, NULL);
	f->lfd = lfd;
	if (pipe2(f->stop_pipe, O_CLOEXEC) < 0) {
		fake_ch_free(f);
		return NULL;
	}
	return f;
}

const char *fake_ch_tap(struct fake_ch *f)
{
	return f->tap_name;
}

void fake_ch_set_log(struct fake_ch *f)
{
	f->log = true;
}

int fake_ch_req_nfds(struct fake_ch *f, int i)
{
	pthread_mutex_lock(&f->mu);
	int n = i >= 0 && i < f->nreq ? f->req[i].nfds : -1;
	pthread_mutex_unlock(&f->mu);
	return n;
}

struct fake_ch *fake_ch_start(const char *socket_path, const char *version,
			      const char *build_version)
{
	struct fake_ch *f = fake_ch_new(socket_path, version, build_version);
	if (f && pthread_create(&f->th, NULL, thread_main, f) == 0)
		f->threaded = true;
	else if (f) {
		fake_ch_free(f);
		f = NULL;
	}
	return f;
}

void fake_ch_free(struct fake_ch *f)
{
	if (!f)
		return;
	if (f->threaded) {
		if (write(f->stop_pipe[1], "x", 1) < 0)
			abort();
		pthread_join(f->th, NULL);
	}
	if (f->lfd >= 0)
		close(f->lfd);
	if (f->sock)
		unlink(f->sock); /* for the next fake on this path; <sock>.lock stays */
	if (f->stop_pipe[0] > 0) {
		close(f->stop_pipe[0]);
		close(f->stop_pipe[1]);
	}
	for (int i = 0; i < f->nreq; i++)
		free(f->req[i].body);
	for (int i = 0; i < f->n_nic; i++)
		close(f->nic_fds[i]);
	json_decref(f->config);
	pthread_mutex_destroy(&f->mu);
	free(f->sock);
	free(f->version);
	free(f->build_version);
	free(f);
}

int fake_ch_nreq(struct fake_ch *f)
{
	pthread_mutex_lock(&f->mu);
	int n = f->nreq;
	pthread_mutex_unlock(&f->mu);
	return n;
}

struct fake_ch_req fake_ch_req(struct fake_ch *f, int i)
{
	pthread_mutex_lock(&f->mu);
	struct fake_ch_req q = {.status = 0};
	if (i >= 0 && i < f->nreq) {
		q = f->req[i];
		q.body = strdup(q.body);
	} else {
		q.body = strdup("");
	}
	pthread_mutex_unlock(&f->mu);
	return q;
}

const char *fake_ch_state(struct fake_ch *f)
{
	static const char *const names[] = {"Created", "Running", "Paused"};
	pthread_mutex_lock(&f->mu);
	const char *s = f->config ? names[f->vm] : "none";
	pthread_mutex_unlock(&f->mu);
	return s;
}

json_t *fake_ch_config(struct fake_ch *f)
{
	pthread_mutex_lock(&f->mu);
	json_t *c = json_incref(f->config);
	pthread_mutex_unlock(&f->mu);
	return c;
}

bool fake_ch_exited(struct fake_ch *f)
{
	pthread_mutex_lock(&f->mu);
	bool e = f->exited;
	pthread_mutex_unlock(&f->mu);
	return e;
}
