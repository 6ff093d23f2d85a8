/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * envd: the guest agent, wire-compatible with E2B's envd (Connect JSON
 * process/filesystem services plus plain HTTP routes).  One struct envd holds
 * the state /init configures; every route takes it.
 */
#include "basic/err.h"
#include "http/http.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

/* What the E2B SDK gates on (e2b.md §3.5): >= 0.6.4 unlocks every feature we
 * serve (octet-stream upload, CloseStdin, metadata headers, watch options). */
#define ENVD_VERSION "0.6.4"
#define ENVD_PORT 49983

struct envd {
	pthread_mutex_t lock;
	json_t *env;	       /* default env from /init (object of strings) */
	char *access_token;    /* NULL = no auth */
	char *default_user;    /* NULL = the user envd runs as */
	char *default_workdir; /* NULL = the user's home */
	struct procs *procs;
	struct watchers *watchers;
	const char *passwd_path, *group_path;
	const char *drop_caches_path; /* NULL = /proc/sys/vm/drop_caches */
	const char *token_path;	      /* where the access token survives restarts */
};

/* token.c: the access token kept across envd restarts (ENVD_TOKEN_PATH unless the test hook
 * WRENN_ENVD_TOKEN_FILE says otherwise).  load: *ret NULL when there is none; a file that is
 * not ours with mode 0600 is refused (-EPERM).  store: NULL or "" removes it; the directory is
 * made (or set) 0700, the file written atomically 0600. */
#define ENVD_TOKEN_PATH "/run/wrenn/envd-token"
int envd_token_load(const char *path, char **ret, struct wr_err *err);
int envd_token_store(const char *path, const char *token, struct wr_err *err);

/* A resolved account. */
struct envd_user {
	char name[64];
	uid_t uid;
	gid_t gid;
	char home[256];
	char shell[128];
	gid_t groups[64];
	int ngroups;
};

/* user.c: look a user up in /etc/passwd and /etc/group (no NSS: static). */
int envd_user_lookup(const struct envd *e, const char *name, struct envd_user *ret,
		     struct wr_err *err);
/* The user of a request: Basic auth user, else the default user.  Fills err
 * and returns -EACCES for an unknown user. */
int envd_request_user(struct envd *e, struct http_req *req, struct envd_user *ret,
		      struct wr_err *err);
/* Expand "~", "~/x" and relative paths against home; normalises "." and "..".
 * Returns a malloc'd absolute path. */
char *envd_resolve_path(const char *path, const struct envd_user *u);
/* chown to u when running as root (best effort otherwise). */
int envd_chown(const char *path, const struct envd_user *u);

/* env.c: a started process's environment, later layers winning: PATH (path,
 * or ENVD_DEFAULT_PATH when NULL/empty), HOME/USER/LOGNAME of u, the /init
 * defaults, then the request's envs.  -EINVAL (with a message) for a request
 * entry with an empty name, '=' in the name or a non-string value.  The list
 * is NULL-terminated; release it with envd_env_free(). */
#define ENVD_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
int envd_build_env(const struct envd_user *u, const char *path, const json_t *defaults,
		   const json_t *request, char ***ret_envp, struct wr_err *err);
const char *envd_env_get(char *const *envp, const char *key);
void envd_env_free(char **envp);

/* auth.c: X-Access-Token or signature check; NULL when authorized, else E2B envd's message
 * for why not (401).  op is "read" / "write" for the /files signature; NULL for routes that
 * accept only the header. */
const char *envd_auth_error(struct envd *e, struct http_req *req, const char *op, const char *path,
			    const char *user);
/* "v1_" + base64(sha256(path:op:user:token[:exp])) without padding. */
char *envd_signature(const char *path, const char *op, const char *user, const char *token,
		     const char *exp);
/* NULL when sig matches and exp (decimal Unix seconds, NULL/"" = none) is not before now;
 * else "invalid signature" or "signature is already expired" (expiry checked second). */
const char *envd_signature_check(const char *sig, const char *path, const char *op,
				 const char *user, const char *token, const char *exp, time_t now);
/* envd_signature_check(...) == NULL */
bool envd_signature_ok(const char *sig, const char *path, const char *op, const char *user,
		       const char *token, const char *exp, time_t now);

/* encoding.c: the response coding for an Accept-Encoding header (NULL =
 * absent).  ranged: the answer must be identity (Range, empty file), so
 * gzip is never picked; NONE when nothing acceptable is left (406). */
enum envd_coding { ENVD_CODING_IDENTITY, ENVD_CODING_GZIP, ENVD_CODING_NONE };
enum envd_coding envd_pick_coding(const char *accept_encoding, bool ranged);

/* entropy.c: decode a hex string (upper or lower case) into out (at most cap
 * bytes); -EINVAL with a message on odd length, a non-hex digit or too many
 * digits. */
int envd_hex_decode(const char *hex, unsigned char *out, size_t cap, size_t *ret_len,
		    struct wr_err *err);
/* RNDADDENTROPY (len * 8 bits credited) then RNDRESEEDCRNG where the headers
 * have it.  Failures are logged (EPERM when not root: debug only) and
 * returned; the caller goes on regardless. */
#define ENVD_MAX_ENTROPY 256 /* bytes: 512 hex digits */
int envd_add_entropy(const unsigned char *buf, size_t len);

/* Routes. */
void envd_route(struct http_req *req, void *userdata);
void envd_process_rpc(struct envd *e, struct http_req *req, const char *method);
void envd_fs_rpc(struct envd *e, struct http_req *req, const char *method);
void envd_files_get(struct envd *e, struct http_req *req);
void envd_files_post(struct envd *e, struct http_req *req);
void envd_init(struct envd *e, struct http_req *req);
void envd_envs(struct envd *e, struct http_req *req);
void envd_metrics(struct envd *e, struct http_req *req);
/* prepare.c: POST /prepare (host-only): sync + drop caches before a pause or
 * snapshot. */
void envd_prepare(struct envd *e, struct http_req *req);

/* Idle time before a stream sends a keepalive event: the
 * Keepalive-Ping-Interval header (seconds), 90 s when absent or silly. */
unsigned envd_keepalive_ms(const struct http_req *req);

/* Plain-HTTP JSON error {"code":N,"message":"..."}. */
void envd_http_error(struct http_req *req, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* proc.c */
struct procs *procs_new(void);
void procs_free(struct procs *p);
/* watch.c */
struct watchers *watchers_new(void);
void watchers_free(struct watchers *w);
