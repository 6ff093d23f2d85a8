/* SPDX-License-Identifier: MIT */
/* The host role's heartbeat thread (control.h): capacity, signed, every few seconds. */
#include "daemon/agent.h"
#include "daemon/control.h"
#include "daemon/host-call.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/hex.h"
#include "basic/hmac.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "store/store.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define HEARTBEAT_TIMEOUT_MS 5000
/* `--control URL1,URL2,...`: control-plane replicas, tried in order */
#define CONTROL_URLS_MAX 8

struct control_url {
	char *url, *host, *port;
};

struct heartbeat {
	struct agent *a;
	/* the control plane's replicas; a beat goes to `cur` (the one that answered last) first,
	 * then to the others in list order */
	struct control_url urls[CONTROL_URLS_MAX];
	size_t nurls, cur;
	char *target; /* /v1/hosts/<id>/heartbeat */
	char *api_url, *proxy_url;
	uint8_t key[32];
	int64_t last_ts;
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	int last_status; /* for logging changes only */
	bool draining;
};

static int64_t real_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "http://HOST:PORT[/]" -> host, port. */
int control_parse_url(const char *url, char **ret_host, char **ret_port, struct wr_err *err)
{
	if (!strncmp(url, "https://", 8))
		return wr_err_set(err, ENOTSUP,
				  "control %s: https is not supported yet (requests are signed, "
				  "not encrypted: keep the control channel on a private network)",
				  url);
	if (strncmp(url, "http://", 7) != 0)
		return wr_err_set(err, EINVAL, "control %s: expected http://HOST:PORT", url);
	const char *h = url + 7;
	size_t hl = strcspn(h, "/");
	if (h[hl] && strcmp(h + hl, "/") != 0)
		return wr_err_set(err, EINVAL, "control %s: expected http://HOST:PORT (no path)",
				  url);
	cleanup_free char *hp = xstrndup(h, hl);
	char *colon = strrchr(hp, ':');
	if (!colon || colon == hp || !colon[1])
		return wr_err_set(err, EINVAL, "control %s: expected http://HOST:PORT", url);
	*colon = '\0';
	char *host = hp;
	size_t n = strlen(host);
	if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
		host[n - 1] = '\0';
		host++;
	}
	*ret_host = xstrdup(host);
	*ret_port = xstrdup(colon + 1);
	return 0;
}

/* "127.0.0.1:3000" -> "http://127.0.0.1:3000" */
static char *url_of_listen(const char *listen)
{
	if (!listen || !*listen)
		return xstrdup("");
	return xasprintf("http://%s%s", listen[0] == ':' ? "127.0.0.1" : "", listen);
}

int control_tcp_connect(const char *host, const char *port, int *ret_fd, struct wr_err *err)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
	int r = getaddrinfo(host, port, &hints, &ai);
	if (r != 0)
		return wr_err_set(err, EHOSTUNREACH, "resolve %s: %s", host, gai_strerror(r));
	r = -ECONNREFUSED;
	for (struct addrinfo *p = ai; p; p = p->ai_next) {
		int fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
		if (fd < 0)
			continue;
		struct timeval tv = {.tv_sec = HEARTBEAT_TIMEOUT_MS / 1000};
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, p->ai_addr, p->ai_addrlen) == 0) {
			*ret_fd = fd;
			freeaddrinfo(ai);
			return 0;
		}
		r = -errno;
		close(fd);
	}
	freeaddrinfo(ai);
	return wr_err_errno(err, -r, "connect %s:%s", host, port);
}

static void meminfo(int64_t *ret_total_mb, int64_t *ret_avail_mb)
{
	cleanup_free char *text = NULL;
	*ret_total_mb = *ret_avail_mb = 0;
	if (read_file("/proc/meminfo", 65536, &text, NULL) < 0)
		return;
	const char *p;
	if ((p = strstr(text, "MemTotal:")))
		*ret_total_mb = strtoll(p + 9, NULL, 10) / 1024;
	if ((p = strstr(text, "MemAvailable:")))
		*ret_avail_mb = strtoll(p + 13, NULL, 10) / 1024;
}

/* The bearer key older releases derived for the control plane's calls; only computed now to
 * revoke it from a host's store (heartbeat_start), since calls are signed instead. */
void control_host_api_key(const uint8_t host_key[32], char out[STORE_KEY_LEN + 1])
{
	static const char label[] = "wrenn control plane API key v1";
	uint8_t mac[32];
	char hx[65];
	hmac_sha256(host_key, 32, label, sizeof(label) - 1, mac);
	hex_encode(mac, sizeof(mac), hx);
	snprintf(out, STORE_KEY_LEN + 1, "e2b_%.40s", hx);
	explicit_bzero(hx, sizeof(hx));
	explicit_bzero(mac, sizeof(mac));
}

/* The capacity object; *ret_ids the ids of the sandboxes this host has (creating, running,
 * paused), NULL when the list failed (the control plane then releases nothing). */
static json_t *capacity(struct heartbeat *hb, json_t **ret_ids)
{
	struct agent *a = hb->a;
	struct runtime_info *rows = NULL;
	size_t n = 0;
	struct wr_err err = {0};
	*ret_ids = NULL;
	if (runtime_list(a->rt, NULL, &rows, &n, &err) < 0) {
		log_warn("heartbeat: sandbox list: %s", wr_err_msg(&err));
		n = 0;
	} else {
		*ret_ids = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(*ret_ids, json_string(rows[i].id));
	}
	runtime_info_list_free(rows, n);
	int64_t max = a->cfg.max_sandboxes ? a->cfg.max_sandboxes : 64; /* runtime default */
	int64_t total = 0, avail = 0;
	meminfo(&total, &avail);
	json_t *tpls = json_array();
	struct store_template *t = NULL;
	size_t nt = 0;
	if (runtime_template_list(a->rt, &t, &nt, &err) >= 0) {
		for (size_t i = 0; i < nt; i++)
			json_array_append_new(tpls, json_string(t[i].name));
		store_template_list_free(t, nt);
	}
	/* built templates are created by their published names (and name:tag): the control plane
	 * finds where a template lives, for locality and for fetching it, by those too */
	struct store_alias *al = NULL;
	size_t na = 0;
	if (store_alias_list(a->st, NULL, &al, &na, NULL) >= 0)
		for (size_t i = 0; i < na; i++)
			json_array_append_new(tpls, json_string(al[i].alias));
	store_alias_list_free(al, na);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:o,s:I}", "maxSandboxes", (json_int_t)max,
			 "sandboxes", (json_int_t)n, "freeSlots",
			 (json_int_t)(max > (int64_t)n ? max - (int64_t)n : 0), "memoryTotalMb",
			 (json_int_t)total, "memoryAvailableMb", (json_int_t)avail, "cpus",
			 (json_int_t)(cpus > 0 ? cpus : 1), "templates", tpls, "warmVms",
			 (json_int_t)runtime_warm_ready(a->rt));
}

/* One heartbeat to one replica; the HTTP status (or -errno).  Each attempt is signed anew with a
 * newer timestamp: replicas share the replay guard (the host's last accepted timestamp in the
 * database), so a beat that reached one replica but whose answer was lost is not refused by the
 * next as a replay. */
static int beat_to(struct heartbeat *hb, const struct control_url *u, const char *text,
		   struct wr_err *err)
{
	int64_t ts = real_ms();
	if (ts <= hb->last_ts)
		ts = hb->last_ts + 1;
	hb->last_ts = ts;
	char sig[HMAC_SHA256_HEX];
	hmac_req_sign(hb->key, "POST", hb->target, hb->a->cfg.host_id, ts, text, strlen(text), sig);
	cleanup_free char *h1 = xasprintf("X-Wrenn-Host: %s", hb->a->cfg.host_id);
	cleanup_free char *h2 = xasprintf("X-Wrenn-Timestamp: %" PRId64, ts);
	cleanup_free char *h3 = xasprintf("X-Wrenn-Signature: %s", sig);
	const char *hdrs[] = {h1, h2, h3, NULL};
	int fd = -1;
	int r = control_tcp_connect(u->host, u->port, &fd, err);
	if (r < 0)
		return r;
	struct http_client *cl = http_client_new(fd, true);
	http_client_set_deadline(cl, HEARTBEAT_TIMEOUT_MS);
	struct http_creq rq = {.method = "POST",
			       .target = hb->target,
			       .host = u->host,
			       .headers = hdrs,
			       .content_type = "application/json",
			       .body = text,
			       .body_len = strlen(text)};
	int status = 0;
	cleanup_free char *resp = NULL;
	r = http_client_do(cl, &rq, 65536, &status, &resp, NULL, err);
	http_client_free(cl);
	if (r < 0)
		return r;
	if (status != 200) {
		wr_err_set(err, EPROTO, "control plane %s answered %d: %.200s", u->url, status,
			   resp ? resp : "");
		return status;
	}
	cleanup_json json_t *j = json_loads(resp ? resp : "", 0, NULL);
	bool draining = json_is_true(json_object_get(j, "draining"));
	if (draining != hb->draining)
		log_info("control plane: this host is %s", draining ? "draining" : "not draining");
	hb->draining = draining;
	return status;
}

/*
 * One heartbeat: to the replica that answered last, else to each other one in list order until
 * one answers 200 (an unreachable replica, or one whose database is down, answers 5xx or not at
 * all).  A 4xx (refused signature, unknown host) is the same on every replica: not retried.
 */
static int beat(struct heartbeat *hb, struct wr_err *err)
{
	json_t *ids = NULL;
	json_t *cap = capacity(hb, &ids);
	cleanup_json json_t *body = json_pack("{s:s,s:s,s:o}", "apiUrl", hb->api_url, "proxyUrl",
					      hb->proxy_url, "capacity", cap);
	if (ids)
		json_object_set_new(body, "sandboxIds", ids);
	cleanup_free char *text = json_dumps(body, JSON_COMPACT);
	int r = -EHOSTUNREACH;
	for (size_t k = 0; k < hb->nurls; k++) {
		size_t i = k == 0 ? hb->cur : (k <= hb->cur ? k - 1 : k);
		wr_err_clear(err);
		r = beat_to(hb, &hb->urls[i], text, err);
		if (r == 200 || (r >= 400 && r < 500)) {
			if (r == 200 && i != hb->cur)
				log_info("heartbeat: control plane %s answers (%s did not)",
					 hb->urls[i].url, hb->urls[hb->cur].url);
			if (r == 200)
				hb->cur = i;
			return r;
		}
	}
	return r;
}

static void *run(void *arg)
{
	struct heartbeat *hb = arg;
	pthread_mutex_lock(&hb->lock);
	while (!hb->stop) {
		pthread_mutex_unlock(&hb->lock);
		struct wr_err err = {0};
		int r = beat(hb, &err);
		if (r != hb->last_status) {
			if (r == 200)
				log_info(
					"heartbeat: host %s reporting to the control plane every %d "
					"ms",
					hb->a->cfg.host_id, HEARTBEAT_INTERVAL_MS);
			else
				log_warn("heartbeat: %s", wr_err_msg(&err));
		}
		hb->last_status = r;
		pthread_mutex_lock(&hb->lock);
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += HEARTBEAT_INTERVAL_MS / 1000;
		until.tv_nsec += (HEARTBEAT_INTERVAL_MS % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!hb->stop &&
		       pthread_cond_timedwait(&hb->cond, &hb->lock, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&hb->lock);
	return NULL;
}

static void heartbeat_free(struct heartbeat *hb)
{
	if (!hb)
		return;
	explicit_bzero(hb->key, sizeof(hb->key));
	for (size_t i = 0; i < hb->nurls; i++) {
		free(hb->urls[i].url);
		free(hb->urls[i].host);
		free(hb->urls[i].port);
	}
	free(hb->target);
	free(hb->api_url);
	free(hb->proxy_url);
	pthread_cond_destroy(&hb->cond);
	pthread_mutex_destroy(&hb->lock);
	free(hb);
}

/* "URL1,URL2,...": each http://HOST:PORT, at most CONTROL_URLS_MAX. */
static int parse_control_urls(struct heartbeat *hb, const char *list, struct wr_err *err)
{
	for (const char *p = list;;) {
		size_t n = strcspn(p, ",");
		if (n == 0)
			return wr_err_set(err, EINVAL, "control %s: an empty URL in the list",
					  list);
		if (hb->nurls == CONTROL_URLS_MAX)
			return wr_err_set(err, EINVAL, "control: at most %d URLs",
					  CONTROL_URLS_MAX);
		struct control_url *u = &hb->urls[hb->nurls];
		u->url = xstrndup(p, n);
		int r = control_parse_url(u->url, &u->host, &u->port, err);
		hb->nurls++;
		if (r < 0)
			return r;
		if (!p[n])
			return 0;
		p += n + 1;
	}
}

int heartbeat_start(struct agent *a, struct heartbeat **ret, struct wr_err *err)
{
	const struct agent_config *c = &a->cfg;
	cleanup_free char *cred = NULL;
	int r = read_file(c->host_credential_file, 4096, &cred, NULL);
	if (r < 0)
		return wr_err_errno(err, -r, "host credential file %s", c->host_credential_file);
	size_t n = strcspn(cred, " \t\r\n");
	if (n < 16) {
		explicit_bzero(cred, strlen(cred));
		return wr_err_set(err, EINVAL, "host credential file %s: no credential in it",
				  c->host_credential_file);
	}
	struct heartbeat *hb = xcalloc(1, sizeof(*hb));
	hb->a = a;
	pthread_mutex_init(&hb->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&hb->cond, &ca);
	pthread_condattr_destroy(&ca);
	/* the signing key is the credential's SHA-256, what the control plane stores */
	sha256_digest(cred, n, hb->key);
	explicit_bzero(cred, strlen(cred));
	r = parse_control_urls(hb, c->control, err);
	if (r < 0) {
		heartbeat_free(hb);
		return r;
	}
	/* Releases before signed calls made the control plane a bearer key derived from this key
	 * and imported it here; it would still open this host to whoever saw one forwarded
	 * request, so it goes. */
	char cpkey[STORE_KEY_LEN + 1];
	control_host_api_key(hb->key, cpkey);
	cleanup_free char *kid = NULL;
	if (store_key_verify(a->st, cpkey, &kid, NULL) == 0) {
		r = store_key_delete(a->st, kid, err);
		if (r == 0)
			log_info(
				"revoked the control plane's derived API key (calls are signed now)");
	}
	explicit_bzero(cpkey, sizeof(cpkey));
	if (r < 0) {
		heartbeat_free(hb);
		return wr_err_prefix(err, r, "revoke the control plane's old API key");
	}
	host_call_enable(c->host_id, hb->key);
	hb->target = xasprintf("/v1/hosts/%s/heartbeat", c->host_id);
	hb->api_url = c->advertise_api ? xstrdup(c->advertise_api) : url_of_listen(c->api_listen);
	hb->proxy_url =
		c->advertise_proxy ? xstrdup(c->advertise_proxy) : url_of_listen(c->proxy_listen);
	if (pthread_create(&hb->th, NULL, run, hb) != 0) {
		host_call_disable();
		heartbeat_free(hb);
		return wr_err_set(err, EAGAIN, "cannot start the heartbeat thread");
	}
	*ret = hb;
	return 0;
}

void heartbeat_stop(struct heartbeat *hb)
{
	if (!hb)
		return;
	pthread_mutex_lock(&hb->lock);
	hb->stop = true;
	pthread_cond_signal(&hb->cond);
	pthread_mutex_unlock(&hb->lock);
	pthread_join(hb->th, NULL);
	host_call_disable();
	heartbeat_free(hb);
}
