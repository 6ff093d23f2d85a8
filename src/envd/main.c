/* SPDX-License-Identifier: MIT */
/* envd: guest agent.  `envd [--port N | --listen ADDR:PORT]`. */
#include "envd/envd.h"

#include "basic/cleanup-json.h"
#include "basic/log.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct http_server *g_srv;

static void *stopper(void *arg)
{
	sigset_t *set = arg;
	int sig;
	sigwait(set, &sig);
	log_info("signal %d: stopping", sig);
	http_server_stop(g_srv, 2000);
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: envd [--port N] [--listen ADDR:PORT] [--version]\n"
		"  default listen address 0.0.0.0:%d\n"
		"  the access token /init sets is kept in %s (0600) across restarts\n"
		"  WRENN_ENVD_PASSWD / WRENN_ENVD_GROUP: user database files (tests)\n"
		"  WRENN_ENVD_TOKEN_FILE: where the access token is kept (tests)\n",
		ENVD_PORT, ENVD_TOKEN_PATH);
}

int main(int argc, char **argv)
{
	log_init("envd");
	char *listen_addr = xasprintf("0.0.0.0:%d", ENVD_PORT);
	static const struct option opts[] = {
		{"port", required_argument, NULL, 'p'},
		{"listen", required_argument, NULL, 'l'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "p:l:Vh", opts, NULL)) != -1) {
		switch (c) {
		case 'p': {
			char *end;
			long port = strtol(optarg, &end, 10);
			if (*end || port < 0 || port > 65535) {
				fprintf(stderr, "envd: bad port %s\n", optarg);
				return 2;
			}
			free(listen_addr);
			listen_addr = xasprintf("0.0.0.0:%ld", port);
			break;
		}
		case 'l':
			free(listen_addr);
			listen_addr = xstrdup(optarg);
			break;
		case 'V':
			printf("%s\n", ENVD_VERSION);
			free(listen_addr);
			return 0;
		case 'h':
			usage(stdout);
			free(listen_addr);
			return 0;
		default:
			usage(stderr);
			free(listen_addr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		free(listen_addr);
		return 2;
	}

	/* Whatever fds our parent left open (a supervisor's, a test harness's) must not reach the
	 * processes we start: every fd of envd is close-on-exec. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		log_warn("close_range(CLOEXEC): %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	/* Test hook: users from a scratch passwd/group instead of the system's
	 * (integration tests switch to a user that does not exist on the host). */
	const char *pw = getenv("WRENN_ENVD_PASSWD"), *gr = getenv("WRENN_ENVD_GROUP");
	cleanup_json json_t *env = json_object(); /* e.env for envd's whole life */
	struct envd e = {.env = env,
			 .passwd_path = pw && *pw ? pw : "/etc/passwd",
			 .group_path = gr && *gr ? gr : "/etc/group"};
	/* Test hook: /prepare writes here instead of /proc/sys/vm/drop_caches
	 * (a host-side test must not drop the host's caches). */
	const char *dc = getenv("WRENN_ENVD_DROP_CACHES");
	e.drop_caches_path = dc && *dc ? dc : NULL;
	const char *tf = getenv("WRENN_ENVD_TOKEN_FILE");
	e.token_path = tf && *tf ? tf : ENVD_TOKEN_PATH;
	struct wr_err err = {0};
	/* Fail closed: a token we cannot read would leave a secure sandbox open to anyone. */
	if (envd_token_load(e.token_path, &e.access_token, &err) < 0) {
		log_error("access token: %s", wr_err_msg(&err));
		free(listen_addr);
		return 1;
	}
	if (e.access_token)
		log_info("access token restored from %s", e.token_path);
	pthread_mutex_init(&e.lock, NULL);
	e.procs = procs_new();
	e.watchers = watchers_new();

	int lfd, port;
	if (http_listen_tcp(listen_addr, &lfd, &port, &err) < 0) {
		log_error("%s", wr_err_msg(&err));
		return 1;
	}
	struct http_server_config cfg = {.max_conns = 512, .server_name = "envd/" ENVD_VERSION};
	g_srv = http_server_new(&cfg, envd_route, &e);
	pthread_t st;
	pthread_create(&st, NULL, stopper, &set);
	log_info("envd %s listening on %s (port %d)", ENVD_VERSION, listen_addr, port);
	int r = http_server_run(g_srv, lfd);
	pthread_join(st, NULL);
	close(lfd);
	http_server_free(g_srv);
	/* Processes we started keep running in the guest; their readers hold
	 * references, so the tables are not freed under them. */
	watchers_free(e.watchers);
	free(e.access_token);
	free(e.default_user);
	free(e.default_workdir);
	free(listen_addr);
	return r < 0 ? 1 : 0;
}
