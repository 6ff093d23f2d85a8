/* SPDX-License-Identifier: MIT */
#include "http/msg.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define IN_CHUNK (64 * 1024)

static struct http_msg *msg_of(llhttp_t *p)
{
	return p->data;
}

static int append(char **buf, size_t *len, const char *at, size_t n)
{
	*buf = xrealloc(*buf, *len + n + 1);
	memcpy(*buf + *len, at, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

static int head_account(struct http_msg *m, size_t n)
{
	m->head_bytes += n;
	if (m->head_bytes > m->max_head) {
		m->limit_hit = -E2BIG;
		return HPE_USER;
	}
	return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t n)
{
	struct http_msg *m = msg_of(p);
	if (head_account(m, n))
		return HPE_USER;
	return append(&m->url, &m->url_len, at, n);
}

static int on_status(llhttp_t *p, const char *at, size_t n)
{
	struct http_msg *m = msg_of(p);
	if (head_account(m, n))
		return HPE_USER;
	return append(&m->status, &m->status_len, at, n);
}

static int push_header(struct http_msg *m)
{
	if (!m->cur_field)
		return 0;
	if (m->nhdrs >= m->max_headers) {
		m->limit_hit = -E2BIG;
		return HPE_USER;
	}
	if (m->nhdrs == 0 || (m->nhdrs & (m->nhdrs - 1)) == 0)
		m->hdrs = xrealloc(m->hdrs, sizeof(*m->hdrs) * (m->nhdrs ? m->nhdrs * 2 : 8));
	m->hdrs[m->nhdrs].name = m->cur_field;
	m->hdrs[m->nhdrs].value = m->cur_value ? m->cur_value : xstrdup("");
	m->nhdrs++;
	m->cur_field = m->cur_value = NULL;
	m->cur_field_len = m->cur_value_len = 0;
	return 0;
}

static int on_field(llhttp_t *p, const char *at, size_t n)
{
	struct http_msg *m = msg_of(p);
	if (head_account(m, n))
		return HPE_USER;
	if (m->in_value) {
		m->in_value = false;
		if (push_header(m))
			return HPE_USER;
	}
	return append(&m->cur_field, &m->cur_field_len, at, n);
}

static int on_value(llhttp_t *p, const char *at, size_t n)
{
	struct http_msg *m = msg_of(p);
	if (head_account(m, n))
		return HPE_USER;
	m->in_value = true;
	return append(&m->cur_value, &m->cur_value_len, at, n);
}

static int on_value_complete(llhttp_t *p)
{
	struct http_msg *m = msg_of(p);
	if (!m->cur_value)
		m->cur_value = xstrdup("");
	m->in_value = false;
	return push_header(m) ? HPE_USER : 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct http_msg *m = msg_of(p);
	if (push_header(m))
		return HPE_USER;
	/* Interim responses (100 Continue): forget them and keep parsing. */
	if (p->type == HTTP_RESPONSE && p->status_code / 100 == 1 && p->status_code != 101) {
		/* A peer (a guest's envd is untrusted) must not keep a reader
		 * forever with endless 100 Continue: at most HTTP_MAX_INTERIM. */
		if (++m->interim > HTTP_MAX_INTERIM) {
			m->limit_hit = -EPROTO;
			return HPE_USER;
		}
		http_msg_reset_head(m);
		return 0;
	}
	m->head_done = true;
	m->upgrade = p->upgrade;
	if (m->no_body)
		return 1;
	return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
	struct http_msg *m = msg_of(p);
	if (m->body_limit && m->body_total + n > m->body_limit) {
		m->limit_hit = -EFBIG;
		return HPE_USER;
	}
	m->body_total += n;
	if (m->dst && m->dst_len < m->dst_cap) {
		size_t k = m->dst_cap - m->dst_len < n ? m->dst_cap - m->dst_len : n;
		if (at != m->dst + m->dst_len) /* equal: received in place (read_direct) */
			memmove(m->dst + m->dst_len, at, k);
		m->dst_len += k;
		at += k;
		n -= k;
		if (!n)
			return 0;
	}
	if (m->body_len + n > m->body_cap) {
		m->body_cap = m->body_len + n;
		m->body = xrealloc(m->body, m->body_cap);
	}
	memcpy(m->body + m->body_len, at, n);
	m->body_len += n;
	return 0;
}

static int on_chunk_header(llhttp_t *p)
{
	msg_of(p)->in_chunk = p->content_length > 0;
	return 0;
}

static int on_chunk_complete(llhttp_t *p)
{
	msg_of(p)->in_chunk = false;
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct http_msg *m = msg_of(p);
	if (!m->head_done)
		return 0; /* end of an interim 1xx response */
	m->msg_done = true;
	return HPE_PAUSED;
}

void http_msg_init(struct http_msg *m, int fd, llhttp_type_t type)
{
	memset(m, 0, sizeof(*m));
	m->fd = fd;
	m->max_head = 64 * 1024;
	m->max_headers = 100;
	llhttp_settings_init(&m->st);
	m->st.on_url = on_url;
	m->st.on_status = on_status;
	m->st.on_header_field = on_field;
	m->st.on_header_value = on_value;
	m->st.on_header_value_complete = on_value_complete;
	m->st.on_headers_complete = on_headers_complete;
	m->st.on_body = on_body;
	m->st.on_chunk_header = on_chunk_header;
	m->st.on_chunk_complete = on_chunk_complete;
	m->st.on_message_complete = on_message_complete;
	llhttp_init(&m->p, type, &m->st);
	m->p.data = m;
}

void http_msg_reset_head(struct http_msg *m)
{
	for (size_t i = 0; i < m->nhdrs; i++) {
		free(m->hdrs[i].name);
		free(m->hdrs[i].value);
	}
	free(m->hdrs);
	m->hdrs = NULL;
	m->nhdrs = 0;
	free(m->url);
	free(m->status);
	free(m->cur_field);
	free(m->cur_value);
	m->url = m->status = m->cur_field = m->cur_value = NULL;
	m->url_len = m->status_len = m->cur_field_len = m->cur_value_len = 0;
	m->in_value = false;
	m->head_bytes = 0;
	m->head_done = m->msg_done = m->upgrade = false;
	m->body_off = m->body_len = 0;
	m->body_total = 0;
	m->in_chunk = false;
}

void http_msg_done(struct http_msg *m)
{
	http_msg_reset_head(m);
	free(m->in);
	free(m->body);
	m->in = m->body = NULL;
}

int64_t http_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds this read may wait: the per-read limit, cut to the deadline
 * (-1 = forever, 0 = the deadline has passed). */
static int wait_ms(const struct http_msg *m, int64_t deadline)
{
	int64_t w = m->timeout_ms ? (int64_t)m->timeout_ms : -1;
	if (deadline) {
		int64_t left = deadline - http_mono_ms();
		if (left < 0)
			left = 0;
		if (w < 0 || left < w)
			w = left;
	}
	return (int)w;
}

static ssize_t recv_until(struct http_msg *m, void *buf, size_t n, int64_t deadline)
{
	for (;;) {
		int w = wait_ms(m, deadline);
		if (w >= 0) {
			if (w == 0 && deadline)
				return -ETIMEDOUT;
			struct pollfd pfd = {.fd = m->fd, .events = POLLIN};
			int r = poll(&pfd, 1, w);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				return -errno;
			}
			if (r == 0)
				return -ETIMEDOUT;
		}
		ssize_t r = recv(m->fd, buf, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOTSOCK) {
				r = read(m->fd, buf, n);
				if (r >= 0)
					return r;
			}
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		return r;
	}
}

ssize_t http_msg_recv(struct http_msg *m, void *buf, size_t n)
{
	return recv_until(m, buf, n, m->deadline_ms);
}

/* Pull more bytes from the socket into in[]. 0 on EOF (m->eof set).
 * deadline: absolute monotonic ms, 0 = none beyond m->deadline_ms. */
static ssize_t fill_max(struct http_msg *m, int64_t deadline, size_t max)
{
	if (m->off == m->len) {
		m->off = m->len = 0;
	} else if (m->off > 0) {
		memmove(m->in, m->in + m->off, m->len - m->off);
		m->len -= m->off;
		m->off = 0;
	}
	if (m->in_cap - m->len < IN_CHUNK / 2) {
		m->in_cap = m->len + IN_CHUNK;
		m->in = xrealloc(m->in, m->in_cap);
	}
	if (m->deadline_ms && (!deadline || m->deadline_ms < deadline))
		deadline = m->deadline_ms;
	size_t want = m->in_cap - m->len;
	ssize_t r = recv_until(m, m->in + m->len, max && max < want ? max : want, deadline);
	if (r < 0)
		return r;
	if (r == 0)
		m->eof = true;
	m->len += (size_t)r;
	return r;
}

static ssize_t fill_until(struct http_msg *m, int64_t deadline)
{
	return fill_max(m, deadline, 0);
}

/* Feed buffered bytes to llhttp.  Returns 1 when the parser paused (head or
 * message complete), 0 when everything was consumed, -errno on errors. */
static int feed(struct http_msg *m)
{
	const char *d = m->in ? m->in + m->off : "";
	size_t n = m->len - m->off;
	llhttp_errno_t e = llhttp_execute(&m->p, d, n);
	if (e == HPE_OK) {
		m->off += n;
		return 0;
	}
	if (e == HPE_PAUSED) {
		m->off += (size_t)(llhttp_get_error_pos(&m->p) - d);
		llhttp_resume(&m->p);
		return 1;
	}
	if (e == HPE_PAUSED_UPGRADE) {
		/* Bytes after an upgrade are not HTTP: stop parsing there. */
		m->off += (size_t)(llhttp_get_error_pos(&m->p) - d);
		m->msg_done = true;
		return 1;
	}
	if (m->limit_hit)
		return m->limit_hit;
	return -EBADMSG;
}

/* The peer closed: complete a message that ends at EOF. */
static int finish(struct http_msg *m)
{
	llhttp_errno_t e = llhttp_finish(&m->p);
	if (e == HPE_PAUSED) {
		llhttp_resume(&m->p);
		return 0;
	}
	return e == HPE_OK ? 0 : -EBADMSG;
}

int http_msg_read_head(struct http_msg *m)
{
	bool any = m->off < m->len;
	int64_t head_deadline = 0;
	while (!m->head_done) {
		if (any && !head_deadline && m->head_timeout_ms)
			head_deadline = http_mono_ms() + m->head_timeout_ms;
		int r = feed(m);
		if (r < 0)
			return r;
		if (m->head_done)
			break;
		if (r == 1)
			continue;
		if (m->eof)
			return any ? -EBADMSG : -ENODATA;
		ssize_t n = fill_until(m, head_deadline);
		if (n < 0)
			return (int)n;
		if (n == 0) {
			if (!any)
				return -ENODATA;
			/* A response without length ends at EOF. */
			if (finish(m) < 0)
				return -EBADMSG;
			if (!m->head_done)
				return -EBADMSG;
			break;
		}
		any = true;
	}
	return 0;
}

/*
 * Nothing buffered and the parser inside body data (a Content-Length body, or a chunk's data)
 * with p.content_length bytes of it to come: at most that many are received straight into buf
 * (so never a byte of what follows the message) and parsed where they are, on_body seeing them
 * in place.  The body's bytes are then copied by nobody but the kernel: in a TCG guest envd
 * saves a 50 MiB memcpy (~30 ms of the emulated CPU) per 50 MiB uploaded.
 */
static ssize_t read_direct(struct http_msg *m, char *buf, size_t n)
{
	size_t want = n < m->p.content_length ? n : (size_t)m->p.content_length;
	ssize_t k = recv_until(m, buf, want, m->deadline_ms);
	if (k == 0)
		m->eof = true; /* the caller's EOF handling says what that means */
	if (k <= 0)
		return k;
	m->dst = buf;
	m->dst_cap = n;
	m->dst_len = 0;
	llhttp_errno_t e = llhttp_execute(&m->p, buf, (size_t)k);
	size_t got = m->dst_len;
	m->dst = NULL;
	if (e == HPE_PAUSED && llhttp_get_error_pos(&m->p) == buf + k) {
		llhttp_resume(&m->p); /* the message is complete (on_message_complete) */
		e = HPE_OK;
	}
	if (e != HPE_OK)
		return m->limit_hit ? m->limit_hit : -EBADMSG;
	return (ssize_t)got;
}

ssize_t http_msg_read_body(struct http_msg *m, void *buf, size_t n)
{
	for (;;) {
		if (m->body_off < m->body_len) {
			size_t k = m->body_len - m->body_off;
			if (k > n)
				k = n;
			memcpy(buf, m->body + m->body_off, k);
			m->body_off += k;
			if (m->body_off == m->body_len)
				m->body_off = m->body_len = 0;
			return (ssize_t)k;
		}
		if (m->msg_done || !m->head_done || m->upgrade)
			return 0;
		/* Body bytes are parsed straight into buf (on_body), not through m->body: a 50 MiB
		 * upload is copied once less, ~30 ms of a TCG guest's CPU for envd.  Bytes that do not
		 * fit wait in m->body for the next call. */
		m->dst = buf;
		m->dst_cap = n;
		m->dst_len = 0;
		int r = feed(m);
		size_t got = m->dst_len;
		m->dst = NULL;
		if (got) /* an error after them is reported by the next call */
			return (ssize_t)got;
		if (r < 0)
			return r;
		if (r == 1 || m->body_len > 0)
			continue;
		if (m->eof) {
			if (llhttp_message_needs_eof(&m->p) && finish(m) == 0) {
				m->msg_done = true;
				continue;
			}
			return -ECONNRESET;
		}
		bool chunked = m->p.flags & F_CHUNKED;
		if (n && m->p.content_length && (!chunked || m->in_chunk)) {
			ssize_t d = read_direct(m, buf, n);
			if (d) /* 0: EOF (handled above on the next turn) */
				return d;
			continue;
		}
		/* Between two chunks: a short read for the CRLF and the next size line, so the
		 * chunk's data comes through read_direct rather than through in[]. */
		ssize_t k = fill_max(m, 0, chunked ? 64 : 0);
		if (k < 0)
			return k;
	}
}

const char *http_msg_header(const struct http_msg *m, const char *name)
{
	for (size_t i = 0; i < m->nhdrs; i++)
		if (!strcasecmp(m->hdrs[i].name, name))
			return m->hdrs[i].value;
	return NULL;
}

int http_read_all(ssize_t (*read)(void *ctx, void *buf, size_t n), void *ctx, size_t max,
		  char **ret_buf, size_t *ret_len)
{
	size_t cap = 4096, len = 0;
	cleanup_free char *buf = xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		ssize_t r = read(ctx, buf + len, cap - len);
		if (r < 0)
			return (int)r;
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > max)
			return 1;
	}
	buf[len] = '\0';
	*ret_buf = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int http_send_all(int fd, const void *buf, size_t n)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = n};
	return http_sendv_all(fd, &iov, 1);
}

int http_sendv_all(int fd, struct iovec *iov, int iovcnt)
{
	while (iovcnt > 0) {
		if (iov->iov_len == 0) {
			iov++;
			iovcnt--;
			continue;
		}
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
		ssize_t r = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOTSOCK) {
				r = writev(fd, iov, iovcnt);
				if (r < 0)
					return -errno;
			} else {
				return errno == EPIPE ? -EPIPE : -errno;
			}
		}
		size_t k = (size_t)r;
		while (iovcnt > 0 && k >= iov->iov_len) {
			k -= iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + k;
			iov->iov_len -= k;
		}
	}
	return 0;
}
