/* SPDX-License-Identifier: MIT */
#include "daemon/config.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/logrot.h"
#include "basic/xalloc.h"
#include "runtime/runtime.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DEFAULT_CONFIG_FILE "/etc/wrenn/agent.conf"

/* K_INT: an int where -1 means unset; K_ENV: a string agent_config_export puts in the
 * environment for the layer that reads it there. */
enum kind { K_STR, K_UINT, K_U64, K_BOOL, K_LEVEL, K_WARM, K_INT, K_ENV };
struct opt {
	const char *name;
	enum kind kind;
	size_t off;
};
#define O(n, k)                                                                                    \
	{                                                                                          \
#n, k, offsetof(struct agent_config, n)                                            \
	}
static const struct opt opts[] = {
	O(data_dir, K_STR),
	O(api_listen, K_STR),
	O(proxy_listen, K_STR),
	O(unix_socket, K_STR),
	O(images_dir, K_STR),
	O(log_level, K_LEVEL),
	O(log_file, K_STR),
	O(domain, K_STR),
	O(vmm, K_STR),
	O(accel, K_STR),
	O(disk_backend, K_STR),
	O(admin_key_file, K_STR),
	O(ns_prefix, K_STR),
	O(veth_prefix, K_STR),
	O(nft_table, K_STR),
	O(egress_base, K_STR),
	O(max_sandboxes, K_UINT),
	O(jail_uid_base, K_UINT), /* VMM jail and limits */
	O(max_vcpus, K_UINT),
	O(max_memory_mb, K_UINT),
	O(max_sandboxes_per_team, K_UINT),
	O(volume_default_size_mb, K_UINT),
	O(volume_max_size_mb, K_UINT),
	O(max_volumes_per_team, K_UINT),
	O(cgroup_parent, K_STR),
	O(jail, K_BOOL),
	O(vmm_log_max, K_STR),
	O(tcg_cpu, K_ENV),
	O(nft, K_ENV),
	O(qemu_img, K_ENV),
	O(volfs, K_ENV),
	O(build_cache_entries, K_INT),
	O(net_rate_limit, K_U64),
	O(pool_size, K_UINT),
	O(max_conns, K_UINT),
	O(warm_pool, K_WARM),
	O(warm_pool_max, K_UINT),
	O(warm_pool_memory_mb, K_UINT),
	O(warm_pool_idle_s, K_UINT),
	O(warm_pool_parallel, K_UINT),
	O(max_upload_bytes, K_U64),
	O(resume_on_traffic, K_BOOL),
	O(keep_sandboxes, K_BOOL),
	O(build_internet, K_BOOL),
	O(default_internet, K_BOOL),
	O(auto_snapshot, K_BOOL),
	O(web_dir, K_STR), /* dashboard */
	O(role, K_STR),	   /* multiple hosts */
	O(database, K_STR),
	O(control, K_STR),
	O(host_id, K_STR),
	O(host_credential_file, K_STR),
	O(advertise_api, K_STR),
	O(advertise_proxy, K_STR),
	O(fetched_template_ttl, K_UINT), /* garbage collection of fetched templates */
	O(fetched_template_max_gb, K_UINT),
	O(help, K_BOOL),
	O(version, K_BOOL),
};
#undef O

const char *agent_config_usage(void)
{
	return "usage: wrenn-agent [--name=value ...]\n"
	       "  --config FILE           settings file (name = value lines); default $WRENN_CONFIG\n"
	       "                          or /etc/wrenn/agent.conf if present\n"
	       "  --data-dir DIR          state directory (default /var/lib/wrenn)\n"
	       "  --api-listen ADDR       API (native /v1 + E2B) listen address (127.0.0.1:3000)\n"
	       "  --proxy-listen ADDR     sandbox traffic (envd proxy) address (127.0.0.1:3002)\n"
	       "  --unix-socket PATH      also serve the API on this unix socket\n"
	       "  --images-dir DIR        guest kernel + rootfs images (vmlinux, minimal.ext4, ...)\n"
	       "  --log-level LEVEL       error|warn|info|debug (default info)\n"
	       "  --log-file PATH         append log lines here instead of stderr\n"
	       "  --domain DOMAIN         sandbox domain for Host: <port>-<id>.<domain> routing\n"
	       "  --vmm qemu|cloud-hypervisor  --accel kvm|tcg  --disk-backend auto|reflink|qcow2|dm\n"
	       "  --max-sandboxes N       sandboxes at once (runtime default)\n"
	       "  --max-vcpus N  --max-memory-mb N  per-create maxima, 400 above (8, 16384)\n"
	       "  --max-sandboxes-per-team N  live sandboxes per team, 429 above (no cap)\n"
	       "  --volume-default-size-mb N  --volume-max-size-mb N  volume sizes (1024, 65536)\n"
	       "  --max-volumes-per-team N  volumes per team, 429 above (64; 0 = no cap)\n"
	       "  --jail-uid-base N       VMM of slot n runs as uid/gid N+n (64000); the range\n"
	       "                          must be free of host users\n"
	       "  --jail=false            VMMs run as root, unconfined (debugging only)\n"
	       "  --cgroup-parent auto|DIR|none  per-sandbox cgroup (auto: the agent's own)\n"
	       "  --vmm-log-max BYTES     a sandbox's vmm.log is rotated past BYTES (4194304;\n"
	       "                          4096..2^40)\n"
	       "  --tcg-cpu MODEL         QEMU guest CPU model under TCG (Nehalem; max for AVX)\n"
	       "  --nft PATH  --qemu-img PATH  --volfs PATH  helper programs (nft: /usr/sbin/nft,\n"
	       "                          else PATH; /usr/bin/qemu-img; wrenn-volfs next to the agent)\n"
	       "  --build-cache-entries N template build step cache entries (16; 0 = off)\n"
	       "  --net-rate-limit BYTES  a guest NIC's bytes per second, each way (Cloud Hypervisor\n"
	       "                          only; default none)\n"
	       "  --pool-size N           network slots prepared ahead (runtime default)\n"
	       "  --max-conns N           connections per listener (256)\n"
	       "  --max-upload-bytes N    file uploads through /v1 (1 GiB)\n"
	       "  --warm-pool N           paused VMs kept ready per automatic or built template (2,\n"
	       "                          0 = off, at most 64); the floor of an adaptive pool:\n"
	       "  --warm-pool-max N       a burst of creates raises a template's pool up to N (32)\n"
	       "  --warm-pool-memory-mb N host memory for all warm VMs (default 1/8 of RAM)\n"
	       "  --warm-pool-idle-s S    back to the floor after S s without creates (300)\n"
	       "  --warm-pool-parallel N  warm VMs restored at once when refilling (2, at most 4)\n"
	       "  --auto-snapshot=false   every create boots instead of restoring an automatic\n"
	       "                          template snapshot\n"
	       "  --ns-prefix PREFIX      network namespace names (default wrenn-ns-); agents on one\n"
	       "                          host need distinct prefixes or one data dir\n"
	       "  --veth-prefix P  --nft-table NAME  --egress-base A.B.0.0\n"
	       "                          egress host links (wrenn-veth-), nft table (wrenn) and /16\n"
	       "                          (10.200.0.0); agents on one host need distinct ones\n"
	       "  --admin-key-file PATH   where the first-run admin key is written (<data-dir>/admin-key)\n"
	       "  --web-dir DIR           dashboard files served at / (build/web next to the binary,\n"
	       "                          else /usr/share/wrenn/web)\n"
	       "  --resume-on-traffic     the proxy resumes paused sandboxes instead of answering 409\n"
	       "  --keep-sandboxes        on SIGTERM leave sandboxes running for the next start\n"
	       "  --build-internet=false  template build VMs get no egress (default: they do)\n"
	       "  --default-internet=false  E2B creates without allow_internet_access get no egress\n"
	       "                          (default: E2B's, they do; the /v1 API defaults to none)\n"
	       "  --role agent|control|host  one host on its own (default); the control plane of\n"
	       "                          many hosts (state in PostgreSQL, no VMs); a host of one\n"
	       "  --database URL          control: postgres://user:pw@host:port/db (libpq)\n"
	       "  --control URL --host-id ID --host-credential-file F  host: where to heartbeat,\n"
	       "                          as which host, with the credential POST /v1/hosts issued\n"
	       "  --advertise-api URL  --advertise-proxy URL  host: URLs told to the control plane\n"
	       "  --fetched-template-ttl S  host: a template fetched from another host is removed\n"
	       "                          S s after its last use, when no sandbox uses it (86400;\n"
	       "                          0 = kept)\n"
	       "  --fetched-template-max-gb N  host: fetched templates beyond N GB on disk are\n"
	       "                          removed, least recently used first (20; 0 = no cap)\n"
	       "  --help  --version\n"
	       "Every setting also reads from WRENN_<NAME> (e.g. WRENN_DATA_DIR, WRENN_WARM_POOL).\n"
	       "Relative paths are taken from the working directory at start.\n"
	       "Signals: SIGTERM/SIGINT graceful stop, SIGHUP reload (log level, log file, options).\n";
}

void agent_config_init(struct agent_config *c)
{
	*c = (struct agent_config){0};
	c->data_dir = xstrdup("/var/lib/wrenn");
	c->api_listen = xstrdup("127.0.0.1:3000");
	c->proxy_listen = xstrdup("127.0.0.1:3002");
	c->log_level = xstrdup("info");
	c->max_upload_bytes = UINT64_C(1) << 30;
	c->build_internet = true;
	c->default_internet = true;
	c->warm_pool = -1;
	c->auto_snapshot = true;
	c->volume_default_size_mb = 1024;
	c->volume_max_size_mb = 65536;
	c->max_volumes_per_team = 64;
	c->jail = true;
	c->build_cache_entries = -1;
	c->fetched_template_ttl = 86400;
	c->fetched_template_max_gb = 20;
}

void agent_config_done(struct agent_config *c)
{
	free(c->config_file);
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (opts[i].kind == K_STR || opts[i].kind == K_LEVEL || opts[i].kind == K_ENV) {
			char **p = (char **)((char *)c + opts[i].off);
			free(*p);
			*p = NULL;
		}
	c->config_file = NULL;
}

static int parse_bool(const char *v, bool *ret)
{
	if (!v || !*v || !strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
	    !strcasecmp(v, "on"))
		*ret = true;
	else if (!strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") ||
		 !strcasecmp(v, "off"))
		*ret = false;
	else
		return -EINVAL;
	return 0;
}

int agent_config_set(struct agent_config *c, const char *name, const char *value,
		     struct wr_err *err)
{
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		const struct opt *o = &opts[i];
		if (strcmp(o->name, name) != 0)
			continue;
		void *p = (char *)c + o->off;
		char *end = NULL;
		switch (o->kind) {
		case K_LEVEL:
			if (log_parse_level(value) < 0)
				return wr_err_set(err, EINVAL,
						  "%s: expected error|warn|info|debug, got \"%s\"",
						  name, value ? value : "");
			/* fall through */
		case K_STR:
		case K_ENV:
			if (!value)
				return wr_err_set(err, EINVAL, "%s needs a value", name);
			free(*(char **)p);
			/* "" switches an optional setting off */
			*(char **)p = *value || o->kind == K_LEVEL || !strcmp(name, "api_listen") ||
						      !strcmp(name, "proxy_listen")
					      ? xstrdup(value)
					      : NULL;
			return 0;
		case K_UINT:
		case K_U64:
		case K_WARM:
		case K_INT: {
			if (!value || !*value || !isdigit((unsigned char)*value))
				return wr_err_set(err, EINVAL, "%s needs a number", name);
			errno = 0;
			unsigned long long v = strtoull(value, &end, 10);
			if (errno || *end ||
			    ((o->kind == K_UINT || o->kind == K_INT) && v > 1000000))
				return wr_err_set(err, EINVAL, "%s: bad number \"%s\"", name,
						  value);
			if (o->kind == K_WARM && v > AGENT_WARM_POOL_MAX)
				return wr_err_set(err, EINVAL, "%s: at most %d, got %s", name,
						  AGENT_WARM_POOL_MAX, value);
			if (o->kind == K_WARM || o->kind == K_INT)
				*(int *)p = (int)v;
			else if (o->kind == K_UINT)
				*(unsigned *)p = (unsigned)v;
			else
				*(uint64_t *)p = v;
			return 0;
		}
		case K_BOOL:
			if (parse_bool(value, (bool *)p) < 0)
				return wr_err_set(err, EINVAL,
						  "%s: expected true or false, got \"%s\"", name,
						  value);
			return 0;
		}
	}
	return wr_err_set(err, EINVAL, "unknown setting \"%s\"", name);
}

int agent_config_parse_text(struct agent_config *c, const char *text, const char *origin,
			    struct wr_err *err)
{
	unsigned lineno = 0;
	while (*text) {
		size_t n = strcspn(text, "\n");
		cleanup_free char *line = xstrndup(text, n);
		text += n;
		if (*text)
			text++;
		lineno++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		char *s = line;
		while (isspace((unsigned char)*s))
			s++;
		size_t l = strlen(s);
		while (l && isspace((unsigned char)s[l - 1]))
			s[--l] = '\0';
		if (!*s)
			continue;
		char *eq = strchr(s, '=');
		if (!eq)
			return wr_err_set(err, EINVAL, "%s:%u: expected name = value", origin,
					  lineno);
		char *v = eq + 1;
		while (eq > s && isspace((unsigned char)eq[-1]))
			eq--;
		*eq = '\0';
		while (isspace((unsigned char)*v))
			v++;
		/* optional quotes around the value */
		l = strlen(v);
		if (l >= 2 &&
		    ((v[0] == '"' && v[l - 1] == '"') || (v[0] == '\'' && v[l - 1] == '\''))) {
			v[l - 1] = '\0';
			v++;
		}
		int r = agent_config_set(c, s, v, err);
		if (r < 0)
			return wr_err_prefix(err, r, "%s:%u", origin, lineno);
	}
	return 0;
}

/* "--data-dir=x" / "--data-dir x" -> ("data_dir", "x"); returns how many argv slots it used. */
static int flag_of(char **argv, int i, int argc, char **ret_name, const char **ret_value)
{
	const char *a = argv[i] + 2;
	const char *eq = strchr(a, '=');
	char *name = xstrndup(a, eq ? (size_t)(eq - a) : strlen(a));
	for (char *p = name; *p; p++)
		if (*p == '-')
			*p = '_';
	*ret_name = name;
	if (eq) {
		*ret_value = eq + 1;
		return 1;
	}
	bool is_bool = false;
	for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
		if (!strcmp(opts[k].name, name))
			is_bool = opts[k].kind == K_BOOL;
	if (is_bool || i + 1 >= argc) {
		*ret_value = NULL;
		return 1;
	}
	*ret_value = argv[i + 1];
	return 2;
}

/* A relative path setting made absolute against the working directory. */
static int absolutize(char **p, const char *name, struct wr_err *err)
{
	if (!*p || (*p)[0] == '/')
		return 0;
	cleanup_free char *cwd = getcwd(NULL, 0);
	if (!cwd)
		return wr_err_errno(err, errno,
				    "%s %s is relative and the working directory is "
				    "unknown: give an absolute path",
				    name, *p);
	const char *rel = (*p)[0] == '.' && (*p)[1] == '/' ? *p + 2 : *p;
	char *abs = strcmp(rel, ".") ? xasprintf("%s/%s", cwd, rel) : xstrdup(cwd);
	free(*p);
	*p = abs;
	return 0;
}

static int one_of(const char *v, const char *name, const char *const *ok, const char *list,
		  struct wr_err *err)
{
	if (!v)
		return 0;
	for (; *ok; ok++)
		if (!strcmp(v, *ok))
			return 0;
	return wr_err_set(err, EINVAL, "%s: expected %s, got \"%s\"", name, list, v);
}

/* A DNS name: labels of letters, digits and '-' joined by dots (the proxy compares it with what
 * a Host header carries after <port>-<id>., and the SDK builds host names from it). */
static bool dns_name(const char *s)
{
	size_t n = strlen(s), label = 0;
	if (n == 0 || n > 253)
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*p) || *p == '-') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

int agent_config_check(struct agent_config *c, struct wr_err *err)
{
	if (!c->data_dir || !*c->data_dir)
		return wr_err_set(err, EINVAL, "data_dir must not be empty");
	if (c->images_dir && !*c->images_dir)
		return wr_err_set(err, EINVAL, "images_dir must not be empty");
	int r;
	if ((r = absolutize(&c->data_dir, "data_dir", err)) < 0 ||
	    (r = absolutize(&c->images_dir, "images_dir", err)) < 0 ||
	    (r = absolutize(&c->unix_socket, "unix_socket", err)) < 0 ||
	    (r = absolutize(&c->log_file, "log_file", err)) < 0 ||
	    (r = absolutize(&c->admin_key_file, "admin_key_file", err)) < 0 ||
	    (r = absolutize(&c->web_dir, "web_dir", err)) < 0 ||
	    (r = absolutize(&c->nft, "nft", err)) < 0 ||
	    (r = absolutize(&c->qemu_img, "qemu_img", err)) < 0 ||
	    (r = absolutize(&c->volfs, "volfs", err)) < 0)
		return r;
	/* a cgroup dir relative to the working directory means nothing: refused, not guessed */
	if (c->cgroup_parent && strcmp(c->cgroup_parent, "auto") &&
	    strcmp(c->cgroup_parent, "none") && c->cgroup_parent[0] != '/')
		return wr_err_set(err, EINVAL,
				  "cgroup_parent: expected auto, none or an absolute cgroup2 "
				  "directory, got \"%s\"",
				  c->cgroup_parent);
	if (c->domain && !dns_name(c->domain))
		return wr_err_set(err, EINVAL,
				  "domain: expected a DNS name (letters, digits, '-' and dots, no "
				  "port), got \"%s\"",
				  c->domain);
	c->vmm_log_max_bytes = 0;
	if (c->vmm_log_max &&
	    (logrot_parse_size(c->vmm_log_max, RUNTIME_LOG_MAX_LIMIT, &c->vmm_log_max_bytes) < 0 ||
	     c->vmm_log_max_bytes < 4096))
		return wr_err_set(
			err, EINVAL,
			"vmm_log_max: expected a byte count from 4096 to 2^40, got \"%s\"",
			c->vmm_log_max);
	if (!*c->api_listen && !*c->proxy_listen && !c->unix_socket)
		return wr_err_set(
			err, EINVAL,
			"api_listen, proxy_listen and unix_socket are all off: nothing to "
			"serve");
	if (c->warm_pool_max > AGENT_WARM_POOL_MAX)
		return wr_err_set(err, EINVAL, "warm_pool_max: at most %d, got %u",
				  AGENT_WARM_POOL_MAX, c->warm_pool_max);
	if (c->warm_pool_parallel > 4)
		return wr_err_set(err, EINVAL, "warm_pool_parallel: 1..4, got %u",
				  c->warm_pool_parallel);
	if (c->warm_pool_idle_s > 86400)
		return wr_err_set(err, EINVAL, "warm_pool_idle_s: at most 86400, got %u",
				  c->warm_pool_idle_s);
	if (c->volume_max_size_mb < 16)
		return wr_err_set(err, EINVAL, "volume_max_size_mb must be at least 16");
	if (c->volume_default_size_mb < 16 || c->volume_default_size_mb > c->volume_max_size_mb)
		return wr_err_set(err, EINVAL,
				  "volume_default_size_mb must be 16..volume_max_size_mb (%u)",
				  c->volume_max_size_mb);
	if ((r = absolutize(&c->host_credential_file, "host_credential_file", err)) < 0)
		return r;
	static const char *const roles[] = {"agent", "control", "host", NULL};
	if ((r = one_of(c->role, "role", roles, "agent, control or host", err)) < 0)
		return r;
	bool control = c->role && !strcmp(c->role, "control");
	bool host = c->role && !strcmp(c->role, "host");
	if (control && (!c->database || !*c->api_listen))
		return wr_err_set(err, EINVAL,
				  "role control needs database (postgres://...) and api_listen");
	if (!control && c->database)
		return wr_err_set(err, EINVAL, "database is a setting of role control");
	if (host && (!c->control || !c->host_id || !c->host_credential_file))
		return wr_err_set(err, EINVAL,
				  "role host needs control, host_id and host_credential_file");
	if (!host && (c->control || c->host_id || c->host_credential_file))
		return wr_err_set(err, EINVAL,
				  "control, host_id and host_credential_file are settings of role "
				  "host");
	static const char *const vmms[] = {"qemu", "cloud-hypervisor", NULL};
	static const char *const accels[] = {"kvm", "tcg", NULL};
	static const char *const disks[] = {"auto", "auto+dm", "reflink", "qcow2", "dm", NULL};
	if ((r = one_of(c->vmm, "vmm", vmms, "qemu or cloud-hypervisor", err)) < 0 ||
	    (r = one_of(c->accel, "accel", accels, "kvm or tcg", err)) < 0 ||
	    (r = one_of(c->disk_backend, "disk_backend", disks,
			"auto, auto+dm, reflink, qcow2 or dm", err)) < 0)
		return r;
	return 0;
}

/* data_dir -> WRENN_DATA_DIR */
static void env_name(const char *name, char *buf, size_t size)
{
	size_t k = (size_t)snprintf(buf, size, "WRENN_");
	for (; *name && k + 1 < size; name++)
		buf[k++] = (char)toupper((unsigned char)*name);
	buf[k] = '\0';
}

void agent_config_export(const struct agent_config *c)
{
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		if (opts[i].kind != K_ENV)
			continue;
		const char *v = *(char *const *)((const char *)c + opts[i].off);
		if (!v)
			continue;
		char env[64];
		env_name(opts[i].name, env, sizeof(env));
		setenv(env, v, 1);
	}
	/* The runtime also reads WRENN_JAIL and WRENN_AUTO_SNAPSHOT itself (for rtctl), and only
	 * "0" turns either off there.  The agent has already resolved both through its own layers
	 * (file, environment, flags), so it writes its answer back: otherwise an inherited
	 * WRENN_JAIL=0 would outvote --jail=true and leave the VMMs unconfined, and
	 * WRENN_JAIL=false, off here, would leave them jailed. */
	setenv("WRENN_JAIL", c->jail ? "1" : "0", 1);
	setenv("WRENN_AUTO_SNAPSHOT", c->auto_snapshot ? "1" : "0", 1);
}

int agent_config_load(struct agent_config *c, int argc, char **argv, struct wr_err *err)
{
	agent_config_init(c);
	/* which file: --config beats $WRENN_CONFIG beats the default path (if present) */
	const char *file = getenv("WRENN_CONFIG");
	bool explicit_file = file && *file;
	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--config=", 9)) {
			file = argv[i] + 9;
			explicit_file = true;
		} else if (!strcmp(argv[i], "--config") && i + 1 < argc) {
			file = argv[++i];
			explicit_file = true;
		}
	}
	if (!explicit_file && access(DEFAULT_CONFIG_FILE, F_OK) == 0)
		file = DEFAULT_CONFIG_FILE;
	if (file && *file) {
		cleanup_free char *text = NULL;
		int r = read_file(file, 1024 * 1024, &text, NULL);
		if (r < 0)
			return wr_err_errno(err, -r, "config file %s", file);
		r = agent_config_parse_text(c, text, file, err);
		if (r < 0)
			return r;
		c->config_file = xstrdup(file);
	}
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		char env[64];
		env_name(opts[i].name, env, sizeof(env));
		const char *v = getenv(env);
		if (!v && !strcmp(opts[i].name, "log_level"))
			v = getenv("WRENN_LOG");
		if (!v || !strcmp(opts[i].name, "help") || !strcmp(opts[i].name, "version"))
			continue;
		int r = agent_config_set(c, opts[i].name, v, err);
		if (r < 0)
			return wr_err_prefix(err, r, "environment %s", env);
	}
	for (int i = 1; i < argc;) {
		if (!strcmp(argv[i], "-h")) {
			c->help = true;
			i++;
			continue;
		}
		if (strncmp(argv[i], "--", 2) != 0 || !argv[i][2])
			return wr_err_set(err, EINVAL, "unexpected argument \"%s\" (see --help)",
					  argv[i]);
		cleanup_free char *name = NULL;
		const char *value = NULL;
		int used = flag_of(argv, i, argc, &name, &value);
		i += used;
		if (!strcmp(name, "config"))
			continue;
		int r = agent_config_set(c, name, value, err);
		if (r < 0)
			return wr_err_prefix(err, r, "--%s", argv[i - used] + 2);
	}
	if (c->help || c->version)
		return 0;
	return agent_config_check(c, err);
}
