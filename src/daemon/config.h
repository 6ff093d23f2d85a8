/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * wrenn-agent configuration.  Every setting has one name (`data_dir`) used three ways, later
 * ones winning:
 *   file   `data_dir = /srv/wrenn` lines ('#' comments) in --config FILE, $WRENN_CONFIG, or
 *          /etc/wrenn/agent.conf when it exists;
 *   env    WRENN_DATA_DIR=/srv/wrenn  (WRENN_ + upper case);
 *   flag   --data-dir=/srv/wrenn or --data-dir /srv/wrenn  ('-' for '_'; a bare boolean flag
 *          means true).
 */
#include "basic/err.h"

#include <stdbool.h>
#include <stdint.h>

/* The runtime's cap on the warm pool (per automatic or built template). */
#define AGENT_WARM_POOL_MAX 64

struct agent_config {
	char *config_file;  /* the file read, NULL = none */
	char *data_dir;	    /* /var/lib/wrenn */
	char *api_listen;   /* 127.0.0.1:3000 ("" = off) */
	char *proxy_listen; /* 127.0.0.1:3002 ("" = off) */
	char *unix_socket;  /* API also on this unix socket; NULL = none */
	char *images_dir;   /* NULL = <data_dir>/images, else build/guest if it has images */
	char *log_level;    /* error|warn|info|debug */
	char *log_file;	    /* NULL = stderr */
	char *domain;	    /* sandbox domain for Host routing; NULL = any */
	char *vmm, *accel, *disk_backend; /* passed to the runtime; NULL = automatic */
	char *ns_prefix;	/* network namespace prefix; NULL = runtime default "wrenn-ns-" */
	char *veth_prefix;	/* egress host links; NULL = "wrenn-veth-" */
	char *nft_table;	/* egress nft table (inet family); NULL = "wrenn" */
	char *egress_base;	/* egress /16, one /30 per slot; NULL = 10.200.0.0 */
	char *admin_key_file;	/* NULL = <data_dir>/admin-key */
	char *web_dir;		/* dashboard assets; NULL = build/web next to the binary, else
				   /usr/share/wrenn/web (static.h) */
	unsigned max_sandboxes; /* 0 = runtime default */
	unsigned pool_size;	/* 0 = runtime default */
	unsigned max_conns;	/* per listener; 0 = 256 */
	int warm_pool;		/* paused VMs kept per auto template; -1 = default (2), 0 = off */
	/* adaptive warm pool above that floor (runtime.h): per template at most (32, <= 64), host
	 * MiB for all pools (0 = 1/8 of RAM), idle seconds back to the floor (300), builds at
	 * once (2, <= 4); 0 = default */
	unsigned warm_pool_max, warm_pool_memory_mb, warm_pool_idle_s, warm_pool_parallel;
	/* host: fetched templates (tplgc.c) removed S s after their last use (0 = kept) and
	 * beyond N GB on disk, least recently used first (0 = no cap) */
	unsigned fetched_template_ttl, fetched_template_max_gb;
	uint64_t max_upload_bytes; /* file uploads through /v1; default 1 GiB */
	bool resume_on_traffic;	   /* proxy resumes a paused sandbox instead of 409 */
	bool keep_sandboxes;	   /* SIGTERM leaves running VMMs for the next start to re-attach */
	bool build_internet;	   /* template build VMs get egress (default true) */
	bool default_internet;	   /* E2B creates without allow_internet_access get egress (true) */
	bool auto_snapshot; /* creates restore an automatic template snapshot (default true) */
	bool help, version;

	/* VMM jail and limits (runtime_config); 0/NULL = runtime default.
	 * cgroup_parent: "auto", a cgroup2 dir, or "none". */
	unsigned jail_uid_base, max_vcpus, max_memory_mb, max_sandboxes_per_team;
	/* volumes (src/runtime/volumes.h): size of a volume created without sizeMB, the largest
	 * allowed, and volumes per team (0 = no cap) */
	unsigned volume_default_size_mb, volume_max_size_mb, max_volumes_per_team;
	char *cgroup_parent;
	bool jail;	   /* false: VMMs run as root, unconfined (WRENN_JAIL=0; debugging) */
	char *vmm_log_max; /* vmm.log rotation size in bytes; NULL = runtime default (4 MiB) */
	int64_t vmm_log_max_bytes; /* vmm_log_max parsed by agent_config_check; 0 = default */
	int build_cache_entries;   /* template build step cache entries; -1 = default, 0 = off */
	uint64_t net_rate_limit;   /* guest NIC bytes/s (Cloud Hypervisor only); 0 = none */
	/* Read by lower layers from their environment (vm, net, disk, the volumes helper):
	 * agent_config_export puts them there under their WRENN_ names at start.  tcg_cpu: the
	 * guest CPU model under TCG (vmm.h); nft, qemu_img, volfs: the helper programs. */
	char *tcg_cpu, *nft, *qemu_img, *volfs;

	/* multiple hosts (control.h): role "agent" (NULL, the default: one host, SQLite),
	 * "control" (PostgreSQL at database, no runtime) or "host" (reports to control) */
	char *role, *database, *control, *host_id, *host_credential_file;
	char *advertise_api, *advertise_proxy; /* URLs the control plane is told; NULL = listen */
};

void agent_config_init(struct agent_config *c);
void agent_config_done(struct agent_config *c);
/* Set one setting by name; -EINVAL (unknown name / bad value) with a message. */
int agent_config_set(struct agent_config *c, const char *name, const char *value,
		     struct wr_err *err);
/* Parse file text ("name = value" lines); origin names the file in messages. */
int agent_config_parse_text(struct agent_config *c, const char *text, const char *origin,
			    struct wr_err *err);
/* Defaults, then file, env, argv (argv[0] skipped), then agent_config_check (unless --help or
 * --version). */
int agent_config_load(struct agent_config *c, int argc, char **argv, struct wr_err *err);
/* Validate the settings together, at start rather than at the first create: relative paths
 * (data_dir, images_dir, unix_socket, log_file, admin_key_file, web_dir, the helper programs)
 * are made absolute against the working directory; an empty data_dir, both listeners off, an
 * unknown vmm / accel / disk_backend, a cgroup_parent that is not auto, none or an absolute
 * directory, a domain that is not a DNS name, or a vmm_log_max that is not a size are refused
 * (-EINVAL, naming the setting). */
int agent_config_check(struct agent_config *c, struct wr_err *err);
/* Put the settings lower layers read from the environment (tcg_cpu, nft, qemu_img, volfs)
 * there, under their WRENN_ names, so a flag or file line reaches them like the variable does;
 * WRENN_JAIL and WRENN_AUTO_SNAPSHOT, which the runtime also reads, are always set ("1"/"0")
 * to the agent's own answer, so an inherited variable cannot outvote a flag.
 * Call once at start, before any thread (setenv). */
void agent_config_export(const struct agent_config *c);
/* Usage text for --help. */
const char *agent_config_usage(void);
