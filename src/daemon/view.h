/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * What the API shows about one sandbox, independent of where it came from (runtime or store),
 * and the JSON shapes built from it: the native /v1 `Sandbox` and E2B's `Sandbox`,
 * `SandboxDetail` / `ListedSandbox` (e2b.md §2.2).  Also request parsing for creates.  Pure,
 * unit-tested.
 */
#include "basic/err.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define E2B_CLIENT_ID "6532622b"
#define VIEW_DEFAULT_TIMEOUT_S 300

struct sbx_view {
	const char *id;
	const char *template;
	const char *state; /* "creating", "running", "paused", "killed", "error" */
	int vcpus;
	int memory_mb;
	int disk_mb;
	int64_t started_at;	  /* unix ms */
	int64_t end_at;		  /* unix ms, 0 = none */
	const json_t *metadata;	  /* object or NULL */
	const char *envd_version; /* NULL = unknown */
	const char *envd_token;	  /* NULL = none */
	bool allow_internet;
	const char *error;	 /* NULL = none */
	const char *create_path; /* "snapshot" | "boot"; NULL/"" = not shown */
	char *const *allow_out;	 /* NULL-terminated CIDRs, NULL = none */
	char *const *deny_out;
	bool private_traffic;	   /* allowPublicTraffic: false */
	const char *traffic_token; /* NULL = none */
	const char *mask_host;	   /* network.maskRequestHost; NULL = none */
	bool lifecycle_known;	   /* lifecycle (STORE_SB_LC_* bits) read: getInfo shows it */
	unsigned lifecycle;
};

/* The `domain` E2B sandbox replies carry ("" or NULL: null).  Set once at startup, before the
 * servers run (proxy_public_domain computes it). */
void view_set_sandbox_domain(const char *domain);

/* "2024-05-01T12:00:00.123Z" into buf (>= 32 bytes). */
void view_rfc3339(int64_t unix_ms, char *buf, size_t len);
/* RFC 3339 ("2024-05-01T12:00:00.123Z", "...+02:00") into unix ms; -EINVAL otherwise. */
int view_parse_rfc3339(const char *s, int64_t *ret_ms);

/* native /v1 Sandbox; with_token adds envdAccessToken */
json_t *view_v1_sandbox(const struct sbx_view *v, bool with_token);
/* E2B Sandbox (create/connect/resume answers); with_token adds envdAccessToken */
json_t *view_e2b_sandbox(const struct sbx_view *v, bool with_token);
/* E2B SandboxDetail (getInfo) and ListedSandbox (list): the same required set */
json_t *view_e2b_detail(const struct sbx_view *v, bool with_token);

/* A create request in either dialect. */
struct create_req {
	char *template; /* NULL = default */
	int vcpus;	/* 0 = template default */
	int memory_mb;	/* 0 = template default */
	int64_t timeout_s;
	json_t *env;	  /* object of strings (owned) */
	json_t *metadata; /* object of strings (owned) */
	bool allow_internet;
	bool secure; /* issue an envd access token */
	/* E2B `network` (both dialects): normalised IPv4 CIDRs (owned, NULL-terminated, NULL =
	 * none) and allowPublicTraffic: false */
	char **allow_out, **deny_out;
	bool private_traffic;
	char *mask_host;       /* network.maskRequestHost (owned, validated), NULL = none */
	unsigned lifecycle;    /* STORE_SB_LC_* (E2B autoPause / autoResume) */
	json_t *volume_mounts; /* E2B volumeMounts: array of {name, path} strings (owned), or NULL */
};
void create_req_done(struct create_req *c);
/* Native NewSandbox. -EINVAL with a message on a bad field. */
int view_parse_v1_create(const json_t *body, struct create_req *ret, struct wr_err *err);
/* E2B NewSandbox / NewSandboxV2 (v2: secure is always on; allow_internet_access defaults true). */
int view_parse_e2b_create(const json_t *body, bool v2, struct create_req *ret, struct wr_err *err);

/* A `network` object (create, and the body of PUT /sandboxes/{id}/network with update set:
 * allow_internet_access read into *ret_internet, -1 when absent).  Unknown or unsupported
 * fields (domain names, egressProxy, rules, maskRequestHost, httpsPorts) are -EINVAL naming
 * the field. */
int view_parse_network(const json_t *net, const char *where, struct create_req *c,
		       struct wr_err *err);
int view_parse_network_update(const json_t *body, char ***ret_allow, char ***ret_deny,
			      int *ret_internet, struct wr_err *err);
void view_cidrs_free(char **v);
/* {"allowOut": [...], "denyOut": [...], "allowPublicTraffic": b} of a view */
json_t *view_network(const struct sbx_view *v);

/* Parse a metadata filter "k=v&k2=v2" (each part URL-encoded) into a NULL-terminated
 * key, value, key, value ... array (malloc'd strings; free with view_strv_free).  The E2B SDKs
 * encode every key and value once more before joining (e2b.md §2.1): extra_decode undoes that
 * (a part that does not decode is kept as it is). */
int view_parse_metadata_query(const char *q, bool extra_decode, char ***ret, struct wr_err *err);
void view_strv_free(char **v);
/* "running,paused" -> bit set of the store's states; -EINVAL on an unknown name. */
int view_parse_states(const char *q, unsigned *ret, struct wr_err *err);

/* Copy n bytes as valid UTF-8 (invalid sequences become U+FFFD; NULs kept, so use the length)
 * into a malloc'd string. */
char *view_utf8_clean(const char *s, size_t n, size_t *ret_len);
