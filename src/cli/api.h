/* SPDX-License-Identifier: MIT */
#pragma once
/* HTTP client of the native API (libcurl).  Errors from the server become `wr_err` messages
 * carrying the server's `message`; network failures say which URL could not be reached. */
#include "cli/cli.h"

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct api {
	CURL *curl;
	char *url;	 /* as configured, for messages */
	char *base;	 /* scheme://host[:port] that paths are appended to */
	char *unix_path; /* set for unix:/path URLs */
	char *host;	 /* Host header for raw (upgraded) connections */
	struct curl_slist *auth;
	char *key;
};

/* Set by signal handlers of long-running commands; transfers notice it and abort (-EINTR). */
extern volatile sig_atomic_t api_interrupted;

int api_open(struct api *a, struct cli *c, struct wr_err *err);
void api_close(struct api *a);
/* URL-escape one path segment or query value (malloc'd). */
char *api_esc(struct api *a, const char *s);

struct api_req {
	const char *method;
	const char *path; /* starts with '/', already escaped */
	const char *content_type;
	const void *body; /* in memory ... */
	size_t body_len;
	int upload_fd; /* ... or streamed from this fd (set upload_size) */
	int64_t upload_size;
	/* 2xx response bodies go here when set (streaming); errors are always collected. */
	int (*sink)(const char *data, size_t n, void *ud);
	void *sink_ud;
};
#define API_REQ_INIT                                                                               \
	{                                                                                          \
		.upload_fd = -1, .upload_size = -1                                                 \
	}

struct api_resp {
	long status;
	char *body; /* NUL-terminated */
	size_t len;
	char *next_token; /* X-Next-Token, if any */
};
void api_resp_done(struct api_resp *r);

/* 0 for a 2xx response.  For >= 400: -ENOENT (404), -EACCES (401/403), -EBUSY (409), -EINVAL
 * (400/413/422), -EIO otherwise, with "server message (HTTP n)" in err.  resp may be NULL. */
int api_do(struct api *a, const struct api_req *rq, struct api_resp *resp, struct wr_err *err);
/* JSON in and out.  body may be NULL (no body); *ret is NULL for empty responses. */
int api_json(struct api *a, const char *method, const char *path, json_t *body, json_t **ret,
	     char **ret_next, struct wr_err *err);
/* Map a status and error body to (code, message). Pure, unit-tested. */
int api_status_err(long status, const char *body, size_t len, struct wr_err *err);

/* Open a raw connection for an Upgrade request: sends `request_head` (a full HTTP head ending
 * with CRLFCRLF, built by the caller with api_upgrade_head) and reads the response head.  On
 * 101, *ret_fd is the socket (owned by a->curl's raw handle) and ret_extra holds bytes already
 * read past the head. */
int api_upgrade(struct api *a, const char *path, const char *protocol, int *ret_fd,
		char **ret_extra, size_t *ret_extra_len, struct wr_err *err);
