/* SPDX-License-Identifier: MIT */
#include "http/http.h"
#include "http/msg.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FDS 16

struct http_client {
	struct http_msg m;
	bool own_fd;
	bool have_head;
	bool sent_chunked;
};

struct http_client *http_client_new(int fd, bool own_fd)
{
	struct http_client *c = xcalloc(1, sizeof(*c));
	http_msg_init(&c->m, fd, HTTP_RESPONSE);
	c->m.timeout_ms = 60000;
	c->own_fd = own_fd;
	return c;
}

void http_client_free(struct http_client *c)
{
	if (!c)
		return;
	if (c->own_fd && c->m.fd >= 0)
		close(c->m.fd);
	http_msg_done(&c->m);
	free(c);
}

int http_client_fd(const struct http_client *c)
{
	return c->m.fd;
}

void http_client_set_timeout(struct http_client *c, unsigned ms)
{
	c->m.timeout_ms = ms;
}

void http_client_set_deadline(struct http_client *c, unsigned ms)
{
	c->m.deadline_ms = ms ? http_mono_ms() + ms : 0;
}

static bool method_has_body(const char *m)
{
	return !strcmp(m, "POST") || !strcmp(m, "PUT") || !strcmp(m, "PATCH");
}

int http_client_send(struct http_client *c, const struct http_creq *rq, struct wr_err *err)
{
	if (!rq->method || !rq->target || strpbrk(rq->target, " \r\n"))
		return wr_err_set(err, EINVAL, "http request: bad method or target");
	if (rq->nfds > MAX_FDS)
		return wr_err_set(err, EINVAL, "http request: too many fds (%zu)", rq->nfds);
	size_t cap = 256 + strlen(rq->method) + strlen(rq->target) +
		     (rq->host ? strlen(rq->host) : 0) +
		     (rq->content_type ? strlen(rq->content_type) : 0);
	for (const char *const *h = rq->headers; h && *h; h++) {
		if (strpbrk(*h, "\r\n"))
			return wr_err_set(err, EINVAL, "http request: header with a line break");
		cap += strlen(*h) + 2;
	}
	cleanup_free char *head = xmalloc(cap);
	size_t n = 0;
	n += (size_t)snprintf(head + n, cap - n, "%s %s HTTP/1.1\r\nHost: %s\r\n", rq->method,
			      rq->target, rq->host ? rq->host : "localhost");
	if (rq->content_type)
		n += (size_t)snprintf(head + n, cap - n, "Content-Type: %s\r\n", rq->content_type);
	for (const char *const *h = rq->headers; h && *h; h++)
		n += (size_t)snprintf(head + n, cap - n, "%s\r\n", *h);
	if (rq->chunked)
		n += (size_t)snprintf(head + n, cap - n, "Transfer-Encoding: chunked\r\n");
	else if (rq->body_len > 0 || method_has_body(rq->method))
		n += (size_t)snprintf(head + n, cap - n, "Content-Length: %zu\r\n", rq->body_len);
	n += (size_t)snprintf(head + n, cap - n, "\r\n");

	struct iovec iov[2] = {{head, n}, {(void *)rq->body, rq->chunked ? 0 : rq->body_len}};
	int iovcnt = iov[1].iov_len ? 2 : 1;
	if (rq->nfds > 0) {
		/* The fds ride on the first sendmsg with the head. */
		union {
			char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
			struct cmsghdr align;
		} u;
		memset(&u, 0, sizeof(u));
		struct msghdr mh = {.msg_iov = iov,
				    .msg_iovlen = 1,
				    .msg_control = u.buf,
				    .msg_controllen = CMSG_SPACE(sizeof(int) * rq->nfds)};
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * rq->nfds);
		memcpy(CMSG_DATA(cm), rq->fds, sizeof(int) * rq->nfds);
		ssize_t r;
		do
			r = sendmsg(c->m.fd, &mh, MSG_NOSIGNAL);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return wr_err_errno(err, errno, "send %s %s", rq->method, rq->target);
		iov[0].iov_base = head + r;
		iov[0].iov_len = n - (size_t)r;
	}
	int r = http_sendv_all(c->m.fd, iov, iovcnt);
	if (r < 0)
		return wr_err_errno(err, r, "send %s %s", rq->method, rq->target);
	c->sent_chunked = rq->chunked;
	c->have_head = false;
	return 0;
}

int http_client_write(struct http_client *c, const void *data, size_t len, struct wr_err *err)
{
	if (!c->sent_chunked)
		return wr_err_set(err, EINVAL, "http request body: not a chunked request");
	if (len == 0)
		return 0;
	char pre[24];
	int pn = snprintf(pre, sizeof(pre), "%zx\r\n", len);
	struct iovec iov[3] = {{pre, (size_t)pn}, {(void *)data, len}, {"\r\n", 2}};
	int r = http_sendv_all(c->m.fd, iov, 3);
	if (r < 0)
		return wr_err_errno(err, r, "send request body");
	return 0;
}

int http_client_end(struct http_client *c, struct wr_err *err)
{
	if (!c->sent_chunked)
		return 0;
	c->sent_chunked = false;
	int r = http_send_all(c->m.fd, "0\r\n\r\n", 5);
	if (r < 0)
		return wr_err_errno(err, r, "send request body");
	return 0;
}

int http_client_read_head(struct http_client *c, bool head, struct wr_err *err)
{
	http_msg_reset_head(&c->m);
	c->m.no_body = head;
	c->m.interim = 0;
	int r = http_msg_read_head(&c->m);
	if (r == -EPROTO)
		return wr_err_set(err, EPROTO, "more than %d interim (1xx) responses",
				  HTTP_MAX_INTERIM);
	if (r == -ETIMEDOUT && c->m.deadline_ms && http_mono_ms() >= c->m.deadline_ms)
		return wr_err_set(err, ETIMEDOUT,
				  "no complete response before the call's deadline");
	if (r == -ENODATA)
		return wr_err_set(err, ECONNRESET, "connection closed before a response");
	if (r == -EBADMSG)
		return wr_err_set(
			err, EBADMSG, "malformed HTTP response: %s",
			llhttp_get_error_reason(&c->m.p) ? llhttp_get_error_reason(&c->m.p) : "?");
	if (r == -E2BIG)
		return wr_err_set(err, E2BIG, "HTTP response head too large");
	if (r < 0)
		return wr_err_errno(err, r, "read response");
	c->have_head = true;
	return 0;
}

size_t http_client_buffered(const struct http_client *c, const char **ret)
{
	*ret = c->m.in ? c->m.in + c->m.off : "";
	return c->m.len - c->m.off;
}

int http_client_status(const struct http_client *c)
{
	return c->have_head ? c->m.p.status_code : 0;
}

const char *http_client_header(const struct http_client *c, const char *name)
{
	return http_msg_header(&c->m, name);
}

size_t http_client_header_count(const struct http_client *c)
{
	return c->m.nhdrs;
}

void http_client_header_at(const struct http_client *c, size_t i, const char **ret_name,
			   const char **ret_value)
{
	*ret_name = c->m.hdrs[i].name;
	*ret_value = c->m.hdrs[i].value;
}

int64_t http_client_content_length(const struct http_client *c)
{
	if (c->m.p.flags & F_CHUNKED)
		return -1;
	if (c->m.p.flags & F_CONTENT_LENGTH) {
		const char *v = http_msg_header(&c->m, "Content-Length");
		return v ? strtoll(v, NULL, 10) : -1;
	}
	return c->m.no_body ? 0 : -1;
}

ssize_t http_client_read(struct http_client *c, void *buf, size_t n)
{
	if (!c->have_head)
		return -EINVAL;
	return http_msg_read_body(&c->m, buf, n);
}

static ssize_t client_read(void *c, void *buf, size_t n)
{
	return http_client_read(c, buf, n);
}

int http_client_read_all(struct http_client *c, size_t max, char **ret_buf, size_t *ret_len,
			 struct wr_err *err)
{
	int r = http_read_all(client_read, c, max, ret_buf, ret_len);
	if (r > 0)
		return wr_err_set(err, EFBIG, "response body larger than %zu bytes", max);
	if (r < 0)
		return wr_err_errno(err, r, "read response body");
	return 0;
}

bool http_client_keep_alive(const struct http_client *c)
{
	return c->m.msg_done && llhttp_should_keep_alive(&c->m.p) && !c->m.upgrade;
}

int http_client_do(struct http_client *c, const struct http_creq *rq, size_t max_body,
		   int *ret_status, char **ret_body, size_t *ret_len, struct wr_err *err)
{
	int r = http_client_send(c, rq, err);
	if (r < 0)
		return r;
	r = http_client_read_head(c, !strcmp(rq->method, "HEAD"), err);
	if (r < 0)
		return r;
	cleanup_free char *body = NULL;
	size_t len = 0;
	r = http_client_read_all(c, max_body, &body, &len, err);
	if (r < 0)
		return r;
	*ret_status = http_client_status(c);
	if (ret_body)
		*ret_body = TAKE_PTR(body);
	if (ret_len)
		*ret_len = len;
	return 0;
}
