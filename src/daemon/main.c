/* SPDX-License-Identifier: MIT */
/*
 * wrenn-agent: config, first run, runtime, the API and proxy servers, signals.
 * SIGTERM/SIGINT: stop accepting, let in-flight requests finish (10 s), close the runtime
 * (running VMMs are stopped unless keep_sandboxes), exit 0.  SIGHUP: reload the settings that
 * can change while running (log level/file, resume_on_traffic).
 */
#include "daemon/agent.h"
#include "daemon/control.h"
#include "daemon/proxy-route.h"
#include "daemon/setup.h"
#include "daemon/tplgc.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "build/build.h"
#include "store/store.h"

#include <errno.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GRACE_MS 10000

struct listener {
	const char *what;
	struct http_server *srv;
	int fd;
	pthread_t th;
	bool running;
};

static void *serve(void *arg)
{
	struct listener *l = arg;
	int r = http_server_run(l->srv, l->fd);
	if (r < 0)
		log_error("%s server: accept failed: %s", l->what, strerror(-r));
	return NULL;
}

static int g_log_fd = -1;

static int apply_logging(const struct agent_config *c)
{
	log_set_level((enum log_level)log_parse_level(c->log_level));
	int fd = -1;
	if (c->log_file) {
		fd = open(c->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (fd < 0) {
			log_error("log file %s: %s (keeping the previous log output)", c->log_file,
				  strerror(errno));
			return -errno;
		}
	}
	log_set_fd(fd);
	if (g_log_fd >= 0)
		close(g_log_fd);
	g_log_fd = fd;
	return 0;
}

static void reload(struct agent *a, int argc, char **argv)
{
	struct agent_config nc;
	struct wr_err err = {0};
	if (agent_config_load(&nc, argc, argv, &err) < 0) {
		log_error("SIGHUP: config not reloaded: %s", wr_err_msg(&err));
		agent_config_done(&nc);
		return;
	}
	apply_logging(&nc);
	atomic_store(&a->resume_on_traffic, nc.resume_on_traffic);
	const char *old = a->cfg.log_level;
	a->cfg.log_level = nc.log_level;
	nc.log_level = (char *)old;
	if (strcmp(nc.data_dir, a->cfg.data_dir) || strcmp(nc.api_listen, a->cfg.api_listen) ||
	    strcmp(nc.proxy_listen, a->cfg.proxy_listen))
		log_warn("SIGHUP: data_dir / listen addresses change only on restart");
	log_info("SIGHUP: configuration reloaded (log level %s, resume_on_traffic %s)",
		 a->cfg.log_level, nc.resume_on_traffic ? "on" : "off");
	agent_config_done(&nc);
}

static int open_listener(struct listener *l, const char *what, const char *addr, bool unix_sock,
			 const struct http_server_config *scfg, http_handler_fn fn, void *ud,
			 struct wr_err *err)
{
	int port = 0;
	int r = unix_sock ? http_listen_unix(addr, 0660, &l->fd, err)
			  : http_listen_tcp(addr, &l->fd, &port, err);
	if (r < 0)
		return wr_err_prefix(err, r, "%s listener %s", what, addr);
	l->what = what;
	l->srv = http_server_new(scfg, fn, ud);
	if (unix_sock)
		log_info("%s listening on unix:%s", what, addr);
	else
		log_info("%s listening on %s (port %d)", what, addr, port);
	return 0;
}

int main(int argc, char **argv)
{
	log_init("wrenn-agent");
	struct agent a = {0};
	struct wr_err err = {0};
	if (agent_config_load(&a.cfg, argc, argv, &err) < 0) {
		fprintf(stderr, "wrenn-agent: %s\n", wr_err_msg(&err));
		agent_config_done(&a.cfg);
		return 2;
	}
	if (a.cfg.help || a.cfg.version) {
		fputs(a.cfg.help ? agent_config_usage() : "wrenn-agent " AGENT_VERSION "\n",
		      stdout);
		agent_config_done(&a.cfg);
		return 0;
	}
	apply_logging(&a.cfg);
	agent_config_export(&a.cfg); /* before any thread: setenv */
	atomic_store(&a.resume_on_traffic, a.cfg.resume_on_traffic);
	signal(SIGPIPE, SIG_IGN);
	/* signals go to sigwait below, never to a server thread */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (a.cfg.role && !strcmp(a.cfg.role, "control")) { /* no runtime, no SQLite */
		int crc = control_run(&a.cfg, &sigs);
		log_info("wrenn-agent control plane stopped");
		agent_config_done(&a.cfg);
		if (g_log_fd >= 0)
			close(g_log_fd);
		return crc;
	}

	int rc = 1;
	struct heartbeat *hb = NULL;
	struct tplgc *gc = NULL; /* fetched templates' garbage collection (host role) */
	struct listener ls[3] = {{.fd = -1}, {.fd = -1}, {.fd = -1}};
	size_t nls = 0;
	cleanup_free char *images = NULL, *dbpath = NULL;

	/* 0700: the data dir holds the database (envd tokens, env vars), the
	 * admin key, claim files and every sandbox's disk and memory. */
	int r = mkdir_p(a.cfg.data_dir, 0700);
	if (r >= 0 && chmod(a.cfg.data_dir, 0700) < 0)
		r = -errno;
	if (r < 0) {
		log_error("data dir %s: %s", a.cfg.data_dir, strerror(-r));
		goto out;
	}
	images = setup_images_dir(&a.cfg, argv[0]);
	if (!setup_images_present(images))
		log_warn(
			"no guest images in %s (need vmlinux + <template>.ext4): creates will fail "
			"until they exist; build them with `make guest-minimal` (writes build/guest) "
			"or pass --images-dir",
			images);
	else
		log_info("guest images: %s", images);
	dbpath = xasprintf("%s/wrenn.db", a.cfg.data_dir);
	r = store_open(dbpath, &a.st, &err);
	if (r < 0) {
		log_error("%s", wr_err_msg(&err));
		goto out;
	}
	r = setup_admin_key(&a.cfg, a.st, stdout, &err);
	if (r < 0) {
		log_error("%s", wr_err_msg(&err));
		goto out;
	}
	struct runtime_config rcfg = {
		.data_dir = a.cfg.data_dir,
		.images_dir = images,
		.store = a.st,
		.ns_prefix = a.cfg.ns_prefix,
		.veth_prefix = a.cfg.veth_prefix,
		.nft_table = a.cfg.nft_table,
		.egress_base = a.cfg.egress_base,
		.pool_size = a.cfg.pool_size,
		.max_sandboxes = a.cfg.max_sandboxes,
		.jail_uid_base = a.cfg.jail_uid_base,
		.no_jail = !a.cfg.jail,
		.log_max_bytes = a.cfg.vmm_log_max_bytes,
		.net_bytes_per_sec = a.cfg.net_rate_limit,
		.cgroup_parent = a.cfg.cgroup_parent,
		.max_vcpus = (int)a.cfg.max_vcpus,
		.max_memory_mb = (int)a.cfg.max_memory_mb,
		.max_sandboxes_per_team = a.cfg.max_sandboxes_per_team,
		.vmm = a.cfg.vmm,
		.accel = a.cfg.accel,
		.disk_backend = a.cfg.disk_backend,
		.stop_on_close = !a.cfg.keep_sandboxes,
		/* creates restore a snapshot of the default template from the start */
		.no_auto_snapshot = !a.cfg.auto_snapshot,
		/* runtime: 0 = its default, negative = off */
		.warm_pool = a.cfg.warm_pool < 0    ? 0
			     : a.cfg.warm_pool == 0 ? -1
						    : a.cfg.warm_pool,
		.warm_pool_max = a.cfg.warm_pool_max,
		.warm_pool_memory_mb = a.cfg.warm_pool_memory_mb,
		.warm_pool_idle_s = a.cfg.warm_pool_idle_s,
		.warm_pool_parallel = a.cfg.warm_pool_parallel,
		.prewarm = true,
	};
	r = runtime_open(&rcfg, &a.rt, &err);
	if (r < 0) {
		log_error("runtime: %s", wr_err_msg(&err));
		goto out;
	}
	struct build_config bcfg = {.data_dir = a.cfg.data_dir,
				    .internet = a.cfg.build_internet,
				    .max_upload_bytes = a.cfg.max_upload_bytes,
				    /* agent: -1 default, 0 off; build: 0 default, < 0 off */
				    .cache_entries = a.cfg.build_cache_entries < 0 ? 0
						     : a.cfg.build_cache_entries == 0
							     ? -1
							     : a.cfg.build_cache_entries};
	if (build_engine_open(a.rt, &bcfg, &a.builds, &err) < 0)
		log_warn("template builds unavailable: %s", wr_err_msg(&err));
	struct http_server_config api_cfg = {.max_conns = a.cfg.max_conns,
					     .server_name = "wrenn-agent/" AGENT_VERSION};
	struct http_server_config proxy_cfg = api_cfg;
	proxy_cfg.max_body_bytes = UINT64_MAX;
	if (a.cfg.api_listen && *a.cfg.api_listen) {
		if (open_listener(&ls[nls], "api", a.cfg.api_listen, false, &api_cfg, api_handle,
				  &a, &err) < 0)
			goto fail_listen;
		nls++;
	}
	if (a.cfg.unix_socket) {
		if (open_listener(&ls[nls], "api", a.cfg.unix_socket, true, &api_cfg, api_handle,
				  &a, &err) < 0)
			goto fail_listen;
		nls++;
	}
	if (a.cfg.proxy_listen && *a.cfg.proxy_listen) {
		if (open_listener(&ls[nls], "sandbox proxy", a.cfg.proxy_listen, false, &proxy_cfg,
				  proxy_handle, &a, &err) < 0)
			goto fail_listen;
		nls++;
	}
	char sbx_domain[256];
	proxy_public_domain(a.cfg.domain, a.cfg.proxy_listen, sbx_domain, sizeof(sbx_domain));
	view_set_sandbox_domain(sbx_domain);
	for (size_t i = 0; i < nls; i++) {
		if (pthread_create(&ls[i].th, NULL, serve, &ls[i]) != 0) {
			log_error("cannot start a server thread");
			goto stop;
		}
		ls[i].running = true;
	}
	if (a.cfg.role && !strcmp(a.cfg.role, "host") && heartbeat_start(&a, &hb, &err) < 0) {
		log_error("host role: %s", wr_err_msg(&err));
		goto stop;
	}
	if (a.cfg.role && !strcmp(a.cfg.role, "host") && tplgc_start(&a, &gc, &err) < 0) {
		log_error("host role: %s", wr_err_msg(&err));
		goto stop;
	}
	log_info("wrenn-agent %s ready (data %s)", AGENT_VERSION, a.cfg.data_dir);
	for (;;) {
		int sig = 0;
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload(&a, argc, argv);
			continue;
		}
		log_info("%s: stopping (grace %d ms)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
			 GRACE_MS);
		break;
	}
	rc = 0;
	goto stop;
fail_listen:
	log_error("%s", wr_err_msg(&err));
stop:
	tplgc_stop(gc);
	heartbeat_stop(hb);
	for (size_t i = 0; i < nls; i++)
		if (ls[i].srv)
			http_server_stop(ls[i].srv, GRACE_MS);
	for (size_t i = 0; i < nls; i++)
		if (ls[i].running)
			pthread_join(ls[i].th, NULL);
out:
	for (size_t i = 0; i < 3; i++) {
		http_server_free(ls[i].srv);
		if (ls[i].fd >= 0)
			close(ls[i].fd);
	}
	/* listener i failed half-way: its fd/srv may be set without nls counting it */
	if (a.cfg.unix_socket)
		unlink(a.cfg.unix_socket);
	build_engine_close(a.builds);
	runtime_close(a.rt);
	store_close(a.st);
	log_info("wrenn-agent stopped");
	agent_config_done(&a.cfg);
	if (g_log_fd >= 0)
		close(g_log_fd);
	return rc;
}
