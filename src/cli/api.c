/* SPDX-License-Identifier: MIT */
#include "cli/api.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

volatile sig_atomic_t api_interrupted;

/* A raw connection's curl handle stays alive as long as its socket is used. */
static CURL *raw_handle;

int api_open(struct api *a, struct cli *c, struct wr_err *err)
{
	*a = (struct api){0};
	/* resolved here, not before parsing: `wrenn CMD --help` and usage errors need no key */
	if (!c->api_url || !c->api_key) {
		int r = cli_resolve_config(c, err);
		if (r < 0)
			return r;
	}
	static bool global_init;
	if (!global_init) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return wr_err_set(err, EIO, "libcurl initialisation failed");
		global_init = true;
	}
	const char *url = c->api_url;
	a->url = xstrdup(url);
	if (strncmp(url, "unix:", 5) == 0) {
		a->unix_path = xstrdup(url + 5);
		a->base = xstrdup("http://localhost");
		a->host = xstrdup("localhost");
	} else if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0) {
		size_t n = strlen(url);
		while (n > 0 && url[n - 1] == '/')
			n--;
		a->base = xstrndup(url, n);
		const char *h = strstr(a->base, "://") + 3;
		a->host = xstrndup(h, strcspn(h, "/"));
	} else {
		api_close(a);
		return wr_err_set(err, EINVAL,
				  "API URL '%s' must start with http://, https:// or unix:", url);
	}
	a->curl = curl_easy_init();
	if (!a->curl) {
		api_close(a);
		return wr_err_set(err, ENOMEM, "curl_easy_init failed");
	}
	if (c->api_key) {
		a->key = xstrdup(c->api_key);
		cleanup_free char *h = xasprintf("X-API-Key: %s", c->api_key);
		a->auth = curl_slist_append(NULL, h);
	}
	return 0;
}

void api_close(struct api *a)
{
	if (a->curl)
		curl_easy_cleanup(a->curl);
	if (raw_handle) {
		curl_easy_cleanup(raw_handle);
		raw_handle = NULL;
	}
	curl_slist_free_all(a->auth);
	if (a->key)
		explicit_bzero(a->key, strlen(a->key));
	free(a->key);
	free(a->url);
	free(a->base);
	free(a->unix_path);
	free(a->host);
	*a = (struct api){0};
}

char *api_esc(struct api *a, const char *s)
{
	char *e = curl_easy_escape(a->curl, s, 0);
	if (!e)
		abort(); /* only fails on OOM, like xmalloc */
	char *r = xstrdup(e);
	curl_free(e);
	return r;
}

void api_resp_done(struct api_resp *r)
{
	if (!r)
		return;
	free(r->body);
	free(r->next_token);
	*r = (struct api_resp){0};
}

int api_status_err(long status, const char *body, size_t len, struct wr_err *err)
{
	int code = EIO;
	if (status == 404)
		code = ENOENT;
	else if (status == 401 || status == 403)
		code = EACCES;
	else if (status == 409)
		code = EBUSY;
	else if (status == 400 || status == 413 || status == 422)
		code = EINVAL;
	const char *msg = NULL;
	cleanup_json json_t *j = body && len ? json_loadb(body, len, 0, NULL) : NULL;
	if (json_is_object(j)) {
		msg = json_string_value(json_object_get(j, "message"));
		/* wrenn upstream style: {"error": {"code", "message"}} */
		if (!msg)
			msg = json_string_value(
				json_object_get(json_object_get(j, "error"), "message"));
	}
	int r;
	if (msg && *msg)
		r = wr_err_set(err, code, "%s (HTTP %ld)", msg, status);
	else if (body && len && !j)
		r = wr_err_set(err, code, "%.*s (HTTP %ld)", (int)(len > 200 ? 200 : len), body,
			       status);
	else
		r = wr_err_set(err, code, "request failed (HTTP %ld)", status);
	return r;
}

struct xfer {
	CURL *curl;
	const struct api_req *rq;
	char *buf;
	size_t len, cap;
	char *next_token;
	int sink_r;
	struct wr_err *sink_err;
};

static void buf_add(struct xfer *x, const char *d, size_t n)
{
	if (x->len + n + 1 > x->cap) {
		x->cap = (x->len + n + 1) * 2;
		x->buf = xrealloc(x->buf, x->cap);
	}
	memcpy(x->buf + x->len, d, n);
	x->len += n;
	x->buf[x->len] = '\0';
}

static size_t on_write(char *d, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	long status = 0;
	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
	if (x->rq->sink && status >= 200 && status < 300) {
		int r = x->rq->sink(d, n, x->rq->sink_ud);
		if (r < 0) {
			x->sink_r = r;
			return 0; /* abort the transfer */
		}
		return n;
	}
	/* error bodies (and non-streamed bodies) are collected; cap what we keep of errors */
	if (x->rq->sink && x->len > 65536)
		return n;
	buf_add(x, d, n);
	return n;
}

static size_t on_header(char *d, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	static const char name[] = "x-next-token:";
	if (n > sizeof(name) - 1 && strncasecmp(d, name, sizeof(name) - 1) == 0) {
		const char *v = d + sizeof(name) - 1;
		size_t vl = n - (sizeof(name) - 1);
		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		free(x->next_token);
		x->next_token = vl ? xstrndup(v, vl) : NULL;
	}
	return n;
}

static size_t on_read(char *d, size_t size, size_t nmemb, void *ud)
{
	const struct api_req *rq = ud;
	ssize_t r;
	do
		r = read(rq->upload_fd, d, size * nmemb);
	while (r < 0 && errno == EINTR);
	return r < 0 ? CURL_READFUNC_ABORT : (size_t)r;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	(void)ud, (void)dt, (void)dn, (void)ut, (void)un;
	return api_interrupted ? 1 : 0;
}

static void common_opts(struct api *a, CURL *h)
{
	if (a->unix_path)
		curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, a->unix_path);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "wrenn-cli/1");
}

int api_do(struct api *a, const struct api_req *rq, struct api_resp *resp, struct wr_err *err)
{
	CURL *h = a->curl;
	curl_easy_reset(h);
	common_opts(a, h);
	cleanup_free char *url = xasprintf("%s%s", a->base, rq->path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	struct xfer x = {.curl = h, .rq = rq, .sink_err = err};
	struct curl_slist *hdrs = NULL;
	for (struct curl_slist *s = a->auth; s; s = s->next)
		hdrs = curl_slist_append(hdrs, s->data);
	/* no "Expect: 100-continue" round trip on uploads */
	hdrs = curl_slist_append(hdrs, "Expect:");
	if (rq->content_type) {
		cleanup_free char *ct = xasprintf("Content-Type: %s", rq->content_type);
		hdrs = curl_slist_append(hdrs, ct);
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
	if (strcmp(rq->method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	if (rq->upload_fd >= 0) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, rq);
		if (rq->upload_size >= 0)
			curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->upload_size);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
	} else if (rq->body) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
	} else if (strcmp(rq->method, "POST") == 0 || strcmp(rq->method, "PUT") == 0) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);

	CURLcode cc = curl_easy_perform(h);
	curl_slist_free_all(hdrs);
	long status = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	int r = 0;
	if (x.sink_r < 0) {
		r = x.sink_r; /* the sink filled err */
	} else if (cc == CURLE_ABORTED_BY_CALLBACK) {
		r = wr_err_set(err, EINTR, "interrupted");
	} else if (cc != CURLE_OK) {
		if (status == 0)
			r = wr_err_set(err, ECONNREFUSED, "cannot reach wrenn-agent at %s: %s",
				       a->url, curl_easy_strerror(cc));
		else
			r = wr_err_set(err, EIO, "%s %s: transfer failed: %s", rq->method, rq->path,
				       curl_easy_strerror(cc));
	} else if (status >= 400) {
		r = api_status_err(status, x.buf, x.len, err);
	} else if (status < 200 || status >= 300) {
		r = wr_err_set(err, EPROTO, "%s %s: unexpected HTTP %ld", rq->method, rq->path,
			       status);
	}
	if (resp && r >= 0) {
		resp->status = status;
		resp->body = x.buf ? TAKE_PTR(x.buf) : xstrdup("");
		resp->len = x.len;
		resp->next_token = TAKE_PTR(x.next_token);
	}
	free(x.buf);
	free(x.next_token);
	return r;
}

int api_json(struct api *a, const char *method, const char *path, json_t *body, json_t **ret,
	     char **ret_next, struct wr_err *err)
{
	cleanup_free char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct api_req rq = API_REQ_INIT;
	rq.method = method;
	rq.path = path;
	if (text) {
		rq.content_type = "application/json";
		rq.body = text;
		rq.body_len = strlen(text);
	}
	struct api_resp resp = {0};
	int r = api_do(a, &rq, &resp, err);
	if (r < 0)
		return r;
	cleanup_json json_t *j = NULL;
	if (resp.len > 0) {
		json_error_t je;
		j = json_loadb(resp.body, resp.len, 0, &je);
		if (!j) {
			api_resp_done(&resp);
			return wr_err_set(err, EBADMSG, "%s %s: bad JSON from server: %s", method,
					  path, je.text);
		}
	}
	if (ret)
		*ret = TAKE_PTR(j);
	if (ret_next)
		*ret_next = TAKE_PTR(resp.next_token);
	api_resp_done(&resp);
	return 0;
}

/* Read until the end of the response head; returns its length, extra bytes stay in buf. */
static int read_head(int fd, char **ret_buf, size_t *ret_len, size_t *ret_head, struct wr_err *err)
{
	size_t cap = 4096, len = 0;
	cleanup_free char *buf = xmalloc(cap + 1);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int pr = poll(&p, 1, 30000);
		if (pr == 0)
			return wr_err_set(err, ETIMEDOUT, "no answer to the upgrade request");
		if (pr < 0 && errno != EINTR)
			return wr_err_errno(err, errno, "poll");
		if (pr < 0)
			continue;
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return wr_err_errno(err, errno, "read");
		if (n == 0)
			return wr_err_set(err, ECONNRESET, "connection closed during upgrade");
		len += (size_t)n;
		buf[len] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (end) {
			*ret_head = (size_t)(end - buf) + 4;
			*ret_len = len;
			*ret_buf = TAKE_PTR(buf);
			return 0;
		}
		if (len == cap) {
			if (cap >= 65536)
				return wr_err_set(err, EPROTO, "response head too large");
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
	}
}

int api_upgrade(struct api *a, const char *path, const char *protocol, int *ret_fd,
		char **ret_extra, size_t *ret_extra_len, struct wr_err *err)
{
	if (raw_handle) {
		curl_easy_cleanup(raw_handle);
		raw_handle = NULL;
	}
	CURL *h = curl_easy_init();
	if (!h)
		return wr_err_set(err, ENOMEM, "curl_easy_init failed");
	common_opts(a, h);
	curl_easy_setopt(h, CURLOPT_URL, a->base);
	/* curl only connects; the HTTP exchange is ours because libcurl has no generic Upgrade */
	curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
	CURLcode cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		curl_easy_cleanup(h);
		return wr_err_set(err, ECONNREFUSED, "cannot reach wrenn-agent at %s: %s", a->url,
				  curl_easy_strerror(cc));
	}
	if (strncmp(a->base, "https:", 6) == 0) {
		curl_easy_cleanup(h);
		return wr_err_set(err, ENOTSUP,
				  "interactive shells need http:// or unix: API URLs");
	}
	curl_socket_t sock;
	curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, &sock);
	raw_handle = h;
	int fd = (int)sock;
	cleanup_free char *head =
		xasprintf("POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: wrenn-cli/1\r\n"
			  "X-API-Key: %s\r\nConnection: Upgrade\r\nUpgrade: %s\r\n"
			  "Content-Length: 0\r\n\r\n",
			  path, a->host, a->key ? a->key : "", protocol);
	int r = write_full(fd, head, strlen(head));
	explicit_bzero(head, strlen(head));
	if (r < 0)
		return wr_err_errno(err, -r, "send upgrade request");
	cleanup_free char *buf = NULL;
	size_t len = 0, hlen = 0;
	r = read_head(fd, &buf, &len, &hlen, err);
	if (r < 0)
		return r;
	long status = 0;
	if (sscanf(buf, "HTTP/1.%*d %ld", &status) != 1)
		return wr_err_set(err, EPROTO, "bad response to the upgrade request");
	if (status != 101) {
		/* read the (small) error body that follows */
		const char *cl = strcasestr(buf, "\r\ncontent-length:");
		size_t want = cl ? (size_t)strtoul(cl + 17, NULL, 10) : 0;
		if (want > 65536)
			want = 65536;
		while (len - hlen < want) {
			buf = xrealloc(buf, hlen + want + 1);
			ssize_t n = read(fd, buf + len, hlen + want - len);
			if (n <= 0)
				break;
			len += (size_t)n;
		}
		return api_status_err(status, buf + hlen, len - hlen, err);
	}
	*ret_fd = fd;
	*ret_extra_len = len - hlen;
	*ret_extra = xmalloc(len - hlen + 1);
	memcpy(*ret_extra, buf + hlen, len - hlen);
	return 0;
}
