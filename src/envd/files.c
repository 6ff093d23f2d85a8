/* SPDX-License-Identifier: MIT */
/* GET /files (download, Range) and POST /files (multipart or raw upload). */
#include "envd/dio.h"
#include "envd/envd.h"
#include "envd/multipart.h"

#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "http/json.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <zlib.h>

#define IO_CHUNK (256 * 1024)

/* The user of a /files request: ?username=, else Basic auth, else default. */
static int files_user(struct envd *e, struct http_req *req, struct envd_user *u, struct wr_err *err)
{
	const char *name = http_req_query(req, "username");
	if (name && *name)
		return envd_user_lookup(e, name, u, err);
	return envd_request_user(e, req, u, err);
}

static void files_error(struct http_req *req, int e, const char *what, const char *path)
{
	int st = e == ENOENT				      ? 404
		 : e == ENOSPC || e == EDQUOT		      ? 507
		 : e == EISDIR || e == ENOTDIR || e == EINVAL ? 400
		 : e == EACCES || e == EPERM		      ? 403
							      : 500;
	envd_http_error(req, st, "%s '%s': %s", what, path, strerror(e));
}

/* Parse a single "bytes=" range against size: 1 = range set, 0 = no/ignored
 * header, -1 = unsatisfiable. */
static int parse_range(const char *h, int64_t size, int64_t *from, int64_t *to)
{
	if (!h || strncmp(h, "bytes=", 6) || strchr(h, ','))
		return 0;
	const char *p = h + 6;
	char *end;
	if (*p == '-') {
		long long n = strtoll(p + 1, &end, 10);
		if (*end || n <= 0 || end == p + 1)
			return 0;
		if (size == 0)
			return -1;
		*from = n >= size ? 0 : size - n;
		*to = size - 1;
		return 1;
	}
	if (!isdigit((unsigned char)*p))
		return 0;
	long long a = strtoll(p, &end, 10);
	if (*end != '-')
		return 0;
	const char *q = end + 1;
	long long b = size - 1;
	if (*q) {
		b = strtoll(q, &end, 10);
		if (*end || b < a)
			return 0;
	}
	if (a >= size)
		return -1;
	if (b >= size)
		b = size - 1;
	*from = a;
	*to = b;
	return 1;
}

/* Past this much input, a body that deflates by less than 10% goes on stored (level 0). */
#define GZIP_PROBE_BYTES (256 * 1024)

/*
 * The whole file, deflated on the fly into a chunked gzip body.  Node's fetch (the npm SDK) asks
 * for gzip on every read, and deflate in an emulated guest is slow: zlib's default level cut a
 * 50 MiB SDK download of random bytes to 4.4 MiB/s (curl without gzip: ~60).  So level 1, and a
 * body that stops compressing (past GZIP_PROBE_BYTES) goes on stored: still gzip for the client,
 * no deflate work for the guest.  A body that does not compress from its start is not sent here
 * at all when the client takes identity (compresses(), below).
 */
static void send_gzip(struct http_req *req, int fd, off_t size)
{
	struct dio_reader rd;
	if (dio_reader_init(&rd, fd, size) < 0)
		return envd_http_error(req, 500, "out of memory");
	z_stream zs = {0};
	if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) !=
	    Z_OK) {
		dio_reader_done(&rd);
		return envd_http_error(req, 500, "zlib init failed");
	}
	http_resp_header(req, "Content-Encoding", "gzip");
	cleanup_free char *out = xmalloc(IO_CHUNK);
	int r = http_resp_begin(req, 200, "application/octet-stream", HTTP_CHUNKED);
	int flush = Z_NO_FLUSH;
	bool stored = false;
	off_t off = 0;
	while (r == 0 && flush != Z_FINISH) {
		const char *in;
		/* the probe's bytes in small reads: they are deflated at level 1 */
		size_t max = stored || zs.total_in >= GZIP_PROBE_BYTES ? DIO_CHUNK : IO_CHUNK;
		ssize_t n = dio_reader_read(&rd, off, max, &in);
		if (n < 0) {
			r = (int)n;
			break;
		}
		off += n;
		flush = n == 0 ? Z_FINISH : Z_NO_FLUSH;
		zs.next_in = (Bytef *)in;
		zs.avail_in = (uInt)n;
		do {
			zs.next_out = (Bytef *)out;
			zs.avail_out = IO_CHUNK;
			int z = deflate(&zs, flush);
			if (z == Z_STREAM_ERROR) {
				r = -EIO;
				break;
			}
			r = http_resp_write(req, out, IO_CHUNK - zs.avail_out);
		} while (r == 0 && zs.avail_out == 0);
		if (r == 0 && !stored && flush == Z_NO_FLUSH && zs.total_in >= GZIP_PROBE_BYTES &&
		    zs.total_out * 10 > zs.total_in * 9) {
			zs.next_out = (Bytef *)out;
			zs.avail_out = IO_CHUNK;
			int z = deflateParams(&zs, 0, Z_DEFAULT_STRATEGY);
			if (z == Z_OK || z == Z_BUF_ERROR) /* Z_BUF_ERROR: try again next chunk */
				r = http_resp_write(req, out, IO_CHUNK - zs.avail_out);
			stored = z == Z_OK;
		}
	}
	deflateEnd(&zs);
	dio_reader_done(&rd);
	if (r == 0)
		http_resp_end(req);
	else /* the head is out: only a cut body can say it broke */
		http_resp_abort(req);
}

/* What a client that takes gzip gets when the file does not compress: identity, unless it refused
 * identity.  The npm SDK's fetch asks for gzip on every read and inflates in JavaScript: a
 * 50 MiB random file straight from envd took it 0.61-0.82 s gzip (stored) against 0.24-0.43 s
 * identity (n=4 each, interleaved; curl: 0.36 vs 0.18 s), and stored gzip only adds its framing
 * and a CRC to bytes that did not shrink.  The probe is IDENTITY_PROBE_BYTES from the start of
 * the file at level 1, the test send_gzip applies later in the stream. */
#define IDENTITY_PROBE_BYTES (64 * 1024)

static bool compresses(int fd)
{
	cleanup_free char *in = xmalloc(IDENTITY_PROBE_BYTES);
	ssize_t n;
	do
		n = pread(fd, in, IDENTITY_PROBE_BYTES, 0);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return true; /* unsure: gzip as asked */
	z_stream zs = {0};
	if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return true;
	uLong cap = deflateBound(&zs, (uLong)n);
	cleanup_free char *out = xmalloc(cap);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = (Bytef *)out;
	zs.avail_out = (uInt)cap;
	int z = deflate(&zs, Z_FINISH);
	bool yes = z != Z_STREAM_END || zs.total_out * 10 <= zs.total_in * 9;
	deflateEnd(&zs);
	return yes;
}

void envd_files_get(struct envd *e, struct http_req *req)
{
	struct wr_err err = {0};
	struct envd_user u;
	const char *qpath = http_req_query(req, "path");
	const char *uname = http_req_query(req, "username");
	const char *denied = envd_auth_error(e, req, "read", qpath, uname ? uname : "");
	if (denied)
		return envd_http_error(req, 401, "%s", denied);
	if (files_user(e, req, &u, &err) < 0)
		return envd_http_error(req, 401, "%s", wr_err_msg(&err));
	cleanup_free char *path = envd_resolve_path(qpath, &u);
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return files_error(req, errno, "cannot open file", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return files_error(req, errno, "cannot stat file", path);
	if (S_ISDIR(st.st_mode))
		return envd_http_error(req, 400, "path '%s' is a directory", path);
	if (!S_ISREG(st.st_mode))
		return envd_http_error(req, 400, "path '%s' is not a regular file", path);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	cleanup_free char *qb = http_escape(base, false);
	http_resp_headerf(req, "Content-Disposition", "inline; filename*=UTF-8''%s", qb);
	http_resp_header(req, "Accept-Ranges", "bytes");
	int64_t from = 0, to = st.st_size - 1;
	int status = 200;
	const char *range = http_req_header(req, "Range");
	http_resp_header(req, "Vary", "Accept-Encoding");
	const char *ae = http_req_header(req, "Accept-Encoding");
	enum envd_coding coding = envd_pick_coding(ae, range || !st.st_size);
	if (coding == ENVD_CODING_GZIP && envd_pick_coding(ae, true) == ENVD_CODING_IDENTITY &&
	    !compresses(fd))
		coding = ENVD_CODING_IDENTITY;
	if (coding == ENVD_CODING_NONE)
		return envd_http_error(req, 406,
				       "no acceptable encoding (supported: gzip, identity)");
	if (coding == ENVD_CODING_GZIP)
		return send_gzip(req, fd, st.st_size);
	int rr = parse_range(range, st.st_size, &from, &to);
	if (rr < 0) {
		http_resp_headerf(req, "Content-Range", "bytes */%" PRId64, (int64_t)st.st_size);
		return envd_http_error(req, 416, "range not satisfiable");
	}
	if (rr > 0) {
		status = 206;
		http_resp_headerf(req, "Content-Range", "bytes %" PRId64 "-%" PRId64 "/%" PRId64,
				  from, to, (int64_t)st.st_size);
	}
	int64_t len = st.st_size ? to - from + 1 : 0;
	if (http_resp_begin(req, status, "application/octet-stream", len) < 0)
		return;
	struct dio_reader rd;
	if (dio_reader_init(&rd, fd, st.st_size) < 0) {
		http_resp_abort(req);
		return;
	}
	int64_t off = from;
	bool cut = false;
	while (len > 0 && !cut) {
		size_t want = len < DIO_CHUNK ? (size_t)len : DIO_CHUNK;
		const char *buf;
		ssize_t n = dio_reader_read(&rd, off, want, &buf);
		if (n <= 0)
			break; /* file shrank: the short body makes the server close */
		cut = http_resp_write(req, buf, (size_t)n) < 0;
		off += n;
		len -= n;
	}
	dio_reader_done(&rd);
	if (!cut)
		http_resp_end(req);
}

/* ------------------------------------------------------------------ upload */

struct upload {
	struct envd *e;
	struct http_req *req;
	struct envd_user *u;
	const char *qpath;
	json_t *result;
	int fd;
	struct dio dio; /* writes fd: O_DIRECT where the filesystem takes it (envd/dio.h) */
	char *path;
	/* An existing file is only touched once the part is complete: the body is
	 * staged in an unnamed O_TMPFILE on the same filesystem, then copied into
	 * the target opened with O_TRUNC (same inode, mode, owner and links;
	 * symlinks followed; watchers see a write of the target, as with E2B's
	 * envd).  A new file is written in place and removed if the part fails. */
	bool staged;
	bool created;
	int err; /* errno of a failed write */
	char errmsg[512];
	int status;
	/* metadata from X-Metadata-* headers */
	char **mkeys, **mvals;
	size_t nmeta;
	/* gzip */
	bool gzip;
	z_stream zs;
	bool zinit;
	char *zin;
};

static int open_target(struct upload *up, const char *target)
{
	free(up->path);
	up->path = envd_resolve_path(target, up->u);
	cleanup_free char *parent = xstrdup(up->path);
	char *slash = strrchr(parent, '/');
	if (slash && slash != parent) {
		*slash = '\0';
		/* create parents one by one so each new one gets the user as owner */
		for (char *s = parent + 1;; s++) {
			bool end = *s == '\0';
			if (*s == '/' || end) {
				char c = *s;
				*s = '\0';
				if (mkdir(parent, 0755) == 0)
					envd_chown(parent, up->u);
				else if (errno != EEXIST) {
					up->err = errno;
					up->status = errno == ENOSPC ? 507 : 400;
					snprintf(up->errmsg, sizeof(up->errmsg),
						 "cannot create '%s': %s", parent, strerror(errno));
					return -up->err;
				}
				*s = c;
			}
			if (end)
				break;
		}
	}
	struct stat st;
	if (stat(up->path, &st) == 0 && S_ISDIR(st.st_mode)) {
		up->status = 400;
		snprintf(up->errmsg, sizeof(up->errmsg), "path '%s' is a directory", up->path);
		return -EISDIR;
	}
	bool found = stat(up->path, &st) == 0;
	bool exists = found && S_ISREG(st.st_mode);
	up->staged = up->created = false;
	bool direct = false;
	if (exists) {
		cleanup_free char *dir = xstrdup(up->path);
		char *sl = strrchr(dir, '/');
		if (sl)
			sl[sl == dir ? 1 : 0] = '\0';
		up->fd = dio_open(sl ? dir : ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600, &direct);
		up->staged = up->fd >= 0;
	}
	if (!up->staged && found && !exists) {
		/* a device, a FIFO: as it is, no O_DIRECT */
		up->fd = open(up->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
		up->fd = up->fd < 0 ? -errno : up->fd;
		direct = false;
	} else if (!up->staged) {
		/* new file, or a filesystem without O_TMPFILE: write in place */
		up->fd = dio_open(up->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY,
				  0644, &direct);
		up->created = up->fd >= 0 && !exists;
	}
	if (up->fd < 0) {
		errno = -up->fd;
		up->fd = -1;
		up->err = errno;
		up->status = errno == ENOSPC ? 507 : errno == EACCES ? 403 : 400;
		snprintf(up->errmsg, sizeof(up->errmsg), "cannot open '%s': %s", up->path,
			 strerror(errno));
		return -up->err;
	}
	dio_init(&up->dio, up->fd, direct);
	if (up->created)
		envd_chown(up->path, up->u);
	return 0;
}

/* A part that did not complete: a staged body vanishes with its fd, a file
 * this part created is removed, an existing target was never touched. */
static void discard_target(struct upload *up)
{
	dio_done(&up->dio);
	if (up->fd >= 0)
		close(up->fd);
	up->fd = -1;
	if (up->created && up->path)
		unlink(up->path);
	up->staged = up->created = false;
}

/* Copy the staged body into the target (opened O_TRUNC: same inode).  A body staged with
 * O_DIRECT is copied with O_DIRECT too: copy_file_range on ext4 (no reflink) goes through the
 * page cache on both sides, 50 MiB in ~500 ms in a TCG guest, this in ~80-270 ms. */
static int commit_staged(struct upload *up)
{
	off_t len = lseek(up->fd, 0, SEEK_END);
	if (len < 0)
		return -errno;
	if (up->dio.at_off) {
		/* the body's last partial block was written after O_DIRECT was cleared: read the
		 * staged body back with it again (the kernel writes that block out first) */
		int fl = fcntl(up->fd, F_GETFL);
		if (fl >= 0)
			(void)fcntl(up->fd, F_SETFL, fl | O_DIRECT);
		bool direct;
		cleanup_close int out =
			dio_open(up->path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0, &direct);
		if (out < 0)
			return out;
		int r = dio_copy(up->fd, out, direct, len);
		if (r < 0)
			return r;
		return close(TAKE_FD(out)) < 0 ? -errno : 0;
	}
	cleanup_close int out = open(up->path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
	if (out < 0)
		return -errno;
	off_t in_off = 0;
	while (in_off < len) {
		ssize_t n = copy_file_range(up->fd, &in_off, out, NULL, (size_t)(len - in_off), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* no in-kernel copy here: plain read/write */
			char buf[65536];
			ssize_t k = pread(up->fd, buf, sizeof(buf), in_off);
			if (k <= 0)
				return k < 0 ? -errno : -EIO;
			int w = write_full(out, buf, (size_t)k);
			if (w < 0)
				return w;
			in_off += k;
		}
	}
	if (close(TAKE_FD(out)) < 0)
		return -errno;
	return 0;
}

static int write_fail(struct upload *up, int r)
{
	if (r < 0) {
		up->err = -r;
		up->status = r == -ENOSPC || r == -EDQUOT ? 507 : 500;
		snprintf(up->errmsg, sizeof(up->errmsg), "write '%s': %s", up->path, strerror(-r));
	}
	return r;
}

static int write_out(struct upload *up, const void *d, size_t n)
{
	return write_fail(up, dio_write(&up->dio, d, n));
}

/* E2B's contract: each upload replaces the file's user.e2b.* attributes with exactly the
 * X-Metadata-* headers it carried (none clears them).  Attributes of other namespaces are
 * left alone.  A filesystem without user xattrs answers -ENOTSUP, reported to the caller
 * rather than dropping the metadata. */
static int replace_metadata(struct upload *up)
{
	ssize_t nl = listxattr(up->path, NULL, 0);
	if (nl < 0 && errno != ENOTSUP)
		return -errno;
	if (nl > 0) {
		cleanup_free char *names = xmalloc((size_t)nl);
		nl = listxattr(up->path, names, (size_t)nl);
		if (nl < 0)
			return -errno; /* changed under us (ERANGE): let the caller retry */
		for (ssize_t i = 0; i < nl; i += (ssize_t)strlen(names + i) + 1)
			if (!strncmp(names + i, "user.e2b.", 9) &&
			    removexattr(up->path, names + i) < 0 && errno != ENODATA)
				return -errno;
	}
	for (size_t i = 0; i < up->nmeta; i++) {
		cleanup_free char *k = xasprintf("user.e2b.%s", up->mkeys[i]);
		if (setxattr(up->path, k, up->mvals[i], strlen(up->mvals[i]), 0) < 0)
			return -errno;
	}
	return 0;
}

static int close_target(struct upload *up)
{
	int r = write_fail(up, dio_flush(&up->dio));
	dio_done(&up->dio);
	/* a staged body stays open until it is copied; a file written in place is
	 * closed here so its close error (delayed ENOSPC) is seen */
	if (r == 0 && !up->staged && up->fd >= 0) {
		int fd = up->fd;
		up->fd = -1;
		if (close(fd) < 0 && !up->err) {
			up->err = errno;
			up->status = errno == ENOSPC ? 507 : 500;
			snprintf(up->errmsg, sizeof(up->errmsg), "close '%s': %s", up->path,
				 strerror(errno));
			r = -up->err;
		}
	}
	if (r == 0 && up->staged && (r = commit_staged(up)) < 0) {
		up->err = -r;
		up->status = r == -ENOSPC || r == -EDQUOT ? 507 : r == -EACCES ? 403 : 500;
		snprintf(up->errmsg, sizeof(up->errmsg), "write '%s': %s", up->path, strerror(-r));
	}
	if (up->fd >= 0)
		close(up->fd);
	up->fd = -1;
	if (r < 0 && up->created)
		unlink(up->path);
	up->staged = up->created = false;
	if (r == 0 && (r = replace_metadata(up)) < 0) {
		up->err = -r;
		up->status = r == -ENOTSUP ? 400 : r == -ENOSPC || r == -EDQUOT ? 507 : 500;
		snprintf(up->errmsg, sizeof(up->errmsg),
			 r == -ENOTSUP ? "'%s' was written, but its filesystem does not store file "
					 "metadata (user xattrs): %s"
				       : "'%s' was written, but storing its metadata failed: %s",
			 up->path, strerror(-r));
	}
	if (r == 0) {
		const char *base = strrchr(up->path, '/');
		json_t *info = json_pack("{s:s, s:s, s:s}", "path", up->path, "name",
					 base ? base + 1 : up->path, "type", "file");
		if (up->nmeta) {
			json_t *meta = json_object();
			for (size_t i = 0; i < up->nmeta; i++)
				json_object_set_new(meta, up->mkeys[i], json_string(up->mvals[i]));
			json_object_set_new(info, "metadata", meta);
		}
		json_array_append_new(up->result, info);
	}
	return r;
}

static int mp_begin(void *ud, const char *name, const char *filename)
{
	struct upload *up = ud;
	(void)name;
	const char *target = up->qpath && *up->qpath ? up->qpath : filename;
	if (!target || !*target) {
		up->status = 400;
		snprintf(up->errmsg, sizeof(up->errmsg),
			 "part without a filename and no path given");
		return -EINVAL;
	}
	return open_target(up, target);
}

static int mp_data(void *ud, const void *d, size_t n)
{
	return write_out(ud, d, n);
}

static int mp_end(void *ud)
{
	return close_target(ud);
}

static ssize_t body_read(void *ctx, void *buf, size_t n)
{
	struct upload *up = ctx;
	if (!up->gzip)
		return http_req_read(up->req, buf, n);
	/* inflate the request body */
	if (!up->zin)
		up->zin = xmalloc(IO_CHUNK);
	char *in = up->zin;
	up->zs.next_out = buf;
	up->zs.avail_out = (uInt)n;
	while (up->zs.avail_out == n) {
		if (up->zs.avail_in == 0) {
			ssize_t r = http_req_read(up->req, in, IO_CHUNK);
			if (r < 0)
				return r;
			if (r == 0)
				return 0;
			up->zs.next_in = (Bytef *)in;
			up->zs.avail_in = (uInt)r;
		}
		int z = inflate(&up->zs, Z_NO_FLUSH);
		if (z == Z_STREAM_END)
			break;
		if (z != Z_OK && z != Z_BUF_ERROR)
			return -EBADMSG;
	}
	return (ssize_t)(n - up->zs.avail_out);
}

static int collect_metadata(struct upload *up)
{
	size_t total = 0;
	for (size_t i = 0; i < http_req_header_count(up->req); i++) {
		const char *k, *v;
		http_req_header_at(up->req, i, &k, &v);
		if (strncasecmp(k, "X-Metadata-", 11) || !k[11])
			continue;
		for (const char *p = v; *p; p++)
			if (*p < 0x20 || *p > 0x7e)
				return -EINVAL;
		char *key = xstrdup(k + 11);
		for (char *p = key; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		bool dup = false;
		for (size_t j = 0; j < up->nmeta; j++)
			dup |= !strcmp(up->mkeys[j], key);
		if (dup || strlen(key) > 246) {
			free(key);
			if (dup)
				continue;
			return -EINVAL;
		}
		total += strlen(key) + 9 + strlen(v);
		if (total > 4096) {
			free(key);
			return -EINVAL;
		}
		up->mkeys = xrealloc(up->mkeys, sizeof(char *) * (up->nmeta + 1));
		up->mvals = xrealloc(up->mvals, sizeof(char *) * (up->nmeta + 1));
		up->mkeys[up->nmeta] = key;
		up->mvals[up->nmeta++] = xstrdup(v);
	}
	return 0;
}

void envd_files_post(struct envd *e, struct http_req *req)
{
	struct wr_err err = {0};
	struct envd_user u;
	const char *qpath = http_req_query(req, "path");
	const char *uname = http_req_query(req, "username");
	const char *denied = envd_auth_error(e, req, "write", qpath, uname ? uname : "");
	if (denied)
		return envd_http_error(req, 401, "%s", denied);
	if (files_user(e, req, &u, &err) < 0)
		return envd_http_error(req, 401, "%s", wr_err_msg(&err));
	const char *ct = http_req_header(req, "Content-Type");
	const char *ce = http_req_header(req, "Content-Encoding");
	struct upload up = {.e = e, .req = req, .u = &u, .qpath = qpath, .fd = -1};
	if (ce && strcasecmp(ce, "identity")) {
		if (strcasecmp(ce, "gzip")) {
			http_resp_close_after(req);
			return envd_http_error(req, 415, "unsupported Content-Encoding %s", ce);
		}
		up.gzip = true;
		if (inflateInit2(&up.zs, 16 + MAX_WBITS) != Z_OK)
			return envd_http_error(req, 500, "zlib init failed");
		up.zinit = true;
	}
	http_req_set_body_limit(req, 0);	    /* files: bounded by the disk, not memory */
	cleanup_json json_t *result = json_array(); /* up borrows it */
	up.result = result;
	int r;
	if (collect_metadata(&up) < 0) {
		up.status = 400;
		snprintf(
			up.errmsg, sizeof(up.errmsg),
			"invalid X-Metadata-* header (printable ASCII, key <= 246, total <= 4096)");
		r = -EINVAL;
	} else if (ct && !strncasecmp(ct, "multipart/form-data", 19)) {
		char boundary[128];
		if (multipart_boundary(ct, boundary, sizeof(boundary)) < 0) {
			up.status = 400;
			snprintf(up.errmsg, sizeof(up.errmsg),
				 "multipart without a valid boundary");
			r = -EINVAL;
		} else {
			struct mp_ops ops = {mp_begin, mp_data, mp_end};
			r = multipart_parse(boundary, body_read, &up, &ops, &up, &err);
			if (r < 0 && !up.status) {
				up.status = r == -EFBIG ? 413 : 400;
				snprintf(up.errmsg, sizeof(up.errmsg), "%s", wr_err_msg(&err));
			}
		}
	} else if (ct && !strncasecmp(ct, "application/octet-stream", 24)) {
		if (!qpath || !*qpath) {
			up.status = 400;
			snprintf(up.errmsg, sizeof(up.errmsg), "path is required for octet-stream");
			r = -EINVAL;
		} else {
			r = open_target(&up, qpath);
			/* whole aligned DIO_CHUNKs: dio writes them from here (no copy) */
			cleanup_free char *buf = NULL;
			if (r == 0 && posix_memalign((void **)&buf, DIO_ALIGN, DIO_CHUNK))
				r = write_fail(&up, -ENOMEM);
			size_t fill = 0;
			while (r == 0) {
				ssize_t n = body_read(&up, buf + fill, DIO_CHUNK - fill);
				if (n < 0) {
					up.status = 400;
					snprintf(up.errmsg, sizeof(up.errmsg), "reading body: %s",
						 strerror((int)-n));
					r = (int)n;
					break;
				}
				fill += (size_t)n;
				if ((n == 0 || fill == DIO_CHUNK) && fill) {
					r = write_out(&up, buf, fill);
					fill = 0;
				}
				if (n == 0)
					break;
			}
			if (r == 0)
				r = close_target(&up);
		}
	} else {
		up.status = 400;
		snprintf(up.errmsg, sizeof(up.errmsg),
			 "unsupported Content-Type %s (want multipart/form-data or "
			 "application/octet-stream)",
			 ct ? ct : "(none)");
		r = -EINVAL;
	}
	discard_target(&up); /* a part still open here did not complete */
	if (up.zinit)
		inflateEnd(&up.zs);
	free(up.zin);
	for (size_t i = 0; i < up.nmeta; i++) {
		free(up.mkeys[i]);
		free(up.mvals[i]);
	}
	free(up.mkeys);
	free(up.mvals);
	free(up.path);
	if (r < 0) {
		http_resp_close_after(req);
		return envd_http_error(req, up.status ? up.status : 500, "%s",
				       up.errmsg[0] ? up.errmsg : strerror(-r));
	}
	size_t len;
	cleanup_free char *s = wj_dump(up.result, &len);
	http_resp_send(req, 200, "application/json", s, len);
}
