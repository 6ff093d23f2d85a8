/* SPDX-License-Identifier: MIT */
/* envd's pure parts: path resolution, /files signatures, env layering, exit
 * status text, Accept-Encoding negotiation, multipart parsing and user
 * lookup from scratch passwd/group files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "envd/dio.h"
#include "envd/envd.h"
#include "envd/multipart.h"
#include "envd/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct envd_user alice = {
	.name = "alice", .uid = 1001, .gid = 1001, .home = "/home/alice"};

static void check_resolve(const char *in, const char *want)
{
	char *got = envd_resolve_path(in, &alice);
	if (strcmp(got, want))
		fail_msg("resolve '%s': got '%s', want '%s'", in ? in : "(null)", got, want);
	free(got);
}

static void test_resolve_path(void **state)
{
	(void)state;
	check_resolve(NULL, "/home/alice");
	check_resolve("", "/home/alice");
	check_resolve("~", "/home/alice");
	check_resolve("~/", "/home/alice");
	check_resolve("~/a/b.txt", "/home/alice/a/b.txt");
	check_resolve("a.txt", "/home/alice/a.txt");
	check_resolve("./x/./y", "/home/alice/x/y");
	check_resolve("../bob/f", "/home/bob/f");
	check_resolve("../../../../../etc/passwd", "/etc/passwd"); /* clamps at / */
	check_resolve("/abs//dir///f", "/abs/dir/f");
	check_resolve("/a/b/../../..", "/");
	check_resolve("/", "/");
	check_resolve("/trailing/", "/trailing");
	check_resolve("~bob/x", "/home/alice/~bob/x"); /* only "~" and "~/" expand */
	check_resolve("/a/~/b", "/a/~/b");
	check_resolve("...", "/home/alice/...");
	struct envd_user root = {.name = "root", .home = "/"};
	char *r = envd_resolve_path("x", &root);
	assert_string_equal(r, "/x");
	free(r);
}

static void test_signature(void **state)
{
	(void)state;
	/* Vectors from `printf %s "<path>:<op>:<user>:<token>[:<exp>]" |
	 * openssl dgst -sha256 -binary | base64 | tr -d =`. */
	char *s = envd_signature("/home/user/a.txt", "read", "user", "tok", NULL);
	assert_string_equal(s, "v1_p0WqJQYCLtO6YX+e4h7VbpybRsdJbMbIw7clYpulIJk");
	free(s);
	s = envd_signature("/home/user/a.txt", "write", "user", "tok", "1700000000");
	assert_string_equal(s, "v1_x09R0+VxB2mRzkxWcRyFCpiJmFv0okUrtgQ6q12G0jM");

	/* expiration: valid until (and including) that second */
	assert_true(envd_signature_ok(s, "/home/user/a.txt", "write", "user", "tok", "1700000000",
				      1700000000));
	assert_false(envd_signature_ok(s, "/home/user/a.txt", "write", "user", "tok", "1700000000",
				       1700000001));
	/* E2B's messages: a genuine signature past its time says so, anything else is invalid */
	assert_string_equal(envd_signature_check(s, "/home/user/a.txt", "write", "user", "tok",
						 "1700000000", 1700000001),
			    "signature is already expired");
	assert_string_equal(envd_signature_check(s, "/home/user/a.txt", "write", "user", "other",
						 "1700000000", 1700000001),
			    "invalid signature");
	assert_false(envd_signature_ok(s, "/home/user/a.txt", "read", "user", "tok", "1700000000",
				       0)); /* op is signed */
	assert_false(
		envd_signature_ok(s, "/home/user/b.txt", "write", "user", "tok", "1700000000", 0));
	assert_false(
		envd_signature_ok(s, "/home/user/a.txt", "write", "root", "tok", "1700000000", 0));
	assert_false(envd_signature_ok(s, "/home/user/a.txt", "write", "user", "other",
				       "1700000000", 0));
	assert_false(envd_signature_ok(s, "/home/user/a.txt", "write", "user", "tok", "17e8", 0));
	assert_false(envd_signature_ok(s, "/home/user/a.txt", "write", "user", "tok",
				       "99999999999999999999999", 0)); /* overflow */
	free(s);
	s = envd_signature("/home/user/a.txt", "read", "user", "tok", NULL);
	assert_true(envd_signature_ok(s, "/home/user/a.txt", "read", "user", "tok", NULL, 0));
	assert_true(envd_signature_ok(s, "/home/user/a.txt", "read", "user", "tok", "", 0));
	s[strlen(s) - 1] ^= 1;
	assert_false(envd_signature_ok(s, "/home/user/a.txt", "read", "user", "tok", NULL, 0));
	assert_false(envd_signature_ok("", "/home/user/a.txt", "read", "user", "tok", NULL, 0));
	free(s);
}

static void test_env_layering(void **state)
{
	(void)state;
	json_t *defaults = json_pack("{s:s, s:s, s:s}", "LANG", "C.UTF-8", "HOME", "/init-home",
				     "SHARED", "from-init");
	json_t *request = json_pack("{s:s, s:s}", "SHARED", "from-request", "PATH", "/req/bin");
	char **env = NULL;
	struct wr_err err = {0};
	assert_int_equal(envd_build_env(&alice, "/envd/bin", defaults, request, &env, &err), 0);
	/* order of first appearance, later layers win */
	const char *want[] = {"PATH=/req/bin", "HOME=/init-home", "USER=alice",
			      "LOGNAME=alice", "LANG=C.UTF-8",	  "SHARED=from-request"};
	size_t n = 0;
	while (env[n])
		n++;
	assert_int_equal(n, ARRAY_SIZE(want));
	for (size_t i = 0; i < n; i++)
		assert_string_equal(env[i], want[i]);
	assert_string_equal(envd_env_get(env, "SHARED"), "from-request");
	assert_null(envd_env_get(env, "SHARE"));
	assert_null(envd_env_get(env, "NOPE"));
	envd_env_free(env);

	/* no PATH anywhere: the default; no defaults / request at all is fine */
	assert_int_equal(envd_build_env(&alice, NULL, NULL, NULL, &env, &err), 0);
	assert_string_equal(envd_env_get(env, "PATH"), ENVD_DEFAULT_PATH);
	assert_string_equal(envd_env_get(env, "HOME"), "/home/alice");
	envd_env_free(env);

	const char *bad[] = {"{\"\":\"x\"}", "{\"A=B\":\"x\"}", "{\"A\":1}", "{\"A\":null}"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		json_t *b = json_loads(bad[i], 0, NULL);
		assert_non_null(b);
		env = NULL;
		wr_err_clear(&err);
		assert_int_equal(envd_build_env(&alice, NULL, defaults, b, &env, &err), -EINVAL);
		assert_null(env);
		assert_non_null(strstr(err.msg, "invalid env entry"));
		json_decref(b);
	}
	json_decref(defaults);
	json_decref(request);
}

static void check_status(int wstatus, bool exited, int code, const char *text)
{
	struct pev ev = {0};
	proc_status_text(wstatus, &ev);
	assert_int_equal(ev.exited, exited);
	assert_int_equal(ev.exit_code, code);
	assert_string_equal(ev.status, text);
}

static void test_status_text(void **state)
{
	(void)state;
	/* wait(2) encoding: exit code << 8; signal in the low 7 bits, 0x80 = core */
	check_status(0, true, 0, "exit status 0");
	check_status(1 << 8, true, 1, "exit status 1");
	check_status(255 << 8, true, 255, "exit status 255");
	check_status(SIGKILL, false, -1, "signal: killed");
	check_status(SIGTERM, false, -1, "signal: terminated");
	check_status(SIGINT, false, -1, "signal: interrupt");
	check_status(SIGHUP, false, -1, "signal: hangup");
	check_status(SIGPIPE, false, -1, "signal: broken pipe");
	check_status(SIGSEGV | 0x80, false, -1, "signal: segmentation fault (core dumped)");
	check_status(SIGABRT | 0x80, false, -1, "signal: aborted (core dumped)");
	check_status(SIGRTMIN + 2, false, -1, "signal: signal 36");
}

static void test_pick_coding(void **state)
{
	(void)state;
	assert_int_equal(envd_pick_coding(NULL, false), ENVD_CODING_IDENTITY);
	assert_int_equal(envd_pick_coding("", false), ENVD_CODING_IDENTITY);
	assert_int_equal(envd_pick_coding("gzip", false), ENVD_CODING_GZIP);
	assert_int_equal(envd_pick_coding("GZip;q=0.5", false), ENVD_CODING_GZIP);
	assert_int_equal(envd_pick_coding("deflate, x-gzip", false), ENVD_CODING_GZIP);
	assert_int_equal(envd_pick_coding("br, deflate", false), ENVD_CODING_IDENTITY);
	assert_int_equal(envd_pick_coding("gzip;q=0", false), ENVD_CODING_IDENTITY);
	assert_int_equal(envd_pick_coding("gzip; q=0.000", false), ENVD_CODING_IDENTITY);
	assert_int_equal(envd_pick_coding("*", false), ENVD_CODING_GZIP);
	assert_int_equal(envd_pick_coding("*;q=0", false), ENVD_CODING_NONE);
	assert_int_equal(envd_pick_coding("*;q=0, identity", false), ENVD_CODING_IDENTITY);
	assert_int_equal(envd_pick_coding("gzip;q=0, identity;q=0", false), ENVD_CODING_NONE);
	assert_int_equal(envd_pick_coding("br;q=1, identity;q=0", false), ENVD_CODING_NONE);
	/* ranged: identity or nothing */
	assert_int_equal(envd_pick_coding("gzip", true), ENVD_CODING_IDENTITY);
	assert_int_equal(envd_pick_coding("gzip; q=1,*; q=0", true), ENVD_CODING_NONE);
	assert_int_equal(envd_pick_coding("gzip, identity;q=0.1", true), ENVD_CODING_IDENTITY);
	/* junk parameters do not break parsing */
	assert_int_equal(envd_pick_coding(" , ;;, gzip;foo;q=x", false), ENVD_CODING_GZIP);
}

/* ---------------------------------------------------------------- multipart */

struct body {
	const char *p;
	size_t n, off, step; /* bytes per read (0 = all asked) */
};

static ssize_t body_read(void *ctx, void *buf, size_t n)
{
	struct body *b = ctx;
	size_t k = b->n - b->off;
	if (b->step && k > b->step)
		k = b->step;
	if (k > n)
		k = n;
	memcpy(buf, b->p + b->off, k);
	b->off += k;
	return (ssize_t)k;
}

struct parts {
	char log[2048];
	size_t len;
	int fail_at_begin; /* part number whose begin fails (1-based), 0 = none */
	int nparts;
};

static int p_begin(void *ud, const char *name, const char *filename)
{
	struct parts *p = ud;
	p->nparts++;
	p->len += (size_t)snprintf(p->log + p->len, sizeof(p->log) - p->len,
				   "[%s|%s:", name ? name : "-", filename ? filename : "-");
	return p->nparts == p->fail_at_begin ? -EPERM : 0;
}

static int p_data(void *ud, const void *d, size_t n)
{
	struct parts *p = ud;
	assert_true(n > 0);
	assert_true(p->len + n < sizeof(p->log));
	memcpy(p->log + p->len, d, n);
	p->len += n;
	p->log[p->len] = '\0';
	return 0;
}

static int p_end(void *ud)
{
	struct parts *p = ud;
	p->len += (size_t)snprintf(p->log + p->len, sizeof(p->log) - p->len, "]");
	return 0;
}

static int parse(const char *boundary, const char *body, size_t step, struct parts *out,
		 struct wr_err *err)
{
	struct body b = {.p = body, .n = strlen(body), .step = step};
	struct mp_ops ops = {p_begin, p_data, p_end};
	return multipart_parse(boundary, body_read, &b, &ops, out, err);
}

static void test_multipart(void **state)
{
	(void)state;
	char bd[128];
	assert_int_equal(multipart_boundary("multipart/form-data; boundary=XyZ", bd, sizeof(bd)),
			 0);
	assert_string_equal(bd, "XyZ");
	assert_int_equal(multipart_boundary("Multipart/Form-Data;charset=x; BOUNDARY=\"a b;c\"", bd,
					    sizeof(bd)),
			 0);
	assert_string_equal(bd, "a b;c");
	assert_int_equal(multipart_boundary("multipart/form-data", bd, sizeof(bd)), -EINVAL);
	assert_int_equal(multipart_boundary("multipart/form-data; boundary=", bd, sizeof(bd)),
			 -EINVAL);
	assert_int_equal(multipart_boundary("multipart/form-data; boundary=\"open", bd, sizeof(bd)),
			 -EINVAL);
	assert_int_equal(multipart_boundary("text/plain; boundary=x", bd, sizeof(bd)), -EINVAL);
	char longb[128];
	snprintf(longb, sizeof(longb), "multipart/form-data; boundary=%071d", 0);
	assert_int_equal(multipart_boundary(longb, bd, sizeof(bd)), -EINVAL); /* > 70 */

	const char *two =
		"preamble\r\n--B\r\n"
		"Content-Disposition: form-data; name=\"file\"; filename=\"/abs/dir/a.txt\"\r\n"
		"Content-Type: text/plain\r\n\r\n"
		"line1\r\n--C\r\n-B\r\n\r\n"
		"--B\r\n"
		"Content-Disposition: form-data; name=file; filename=\"q\\\"uote\"\r\n\r\n"
		"\r\n--B--\r\nepilogue";
	const char *want = "[file|/abs/dir/a.txt:line1\r\n--C\r\n-B\r\n][file|q\"uote:]";
	/* every read size: delimiters split at every position */
	for (size_t step = 0; step <= 20; step++) {
		struct parts p = {0};
		struct wr_err err = {0};
		if (parse("B", two, step, &p, &err) != 0)
			fail_msg("step %zu: %s", step, err.msg);
		assert_string_equal(p.log, want);
	}

	struct parts p = {0};
	struct wr_err err = {0};
	/* no headers at all in a part; empty body */
	assert_int_equal(parse("B", "--B\r\n\r\n\r\n--B--", 0, &p, &err), 0);
	assert_string_equal(p.log, "[-|-:]");
	/* ... and a body that starts with CRLF keeps it */
	struct parts p2 = {0};
	assert_int_equal(parse("B", "--B\r\n\r\n\r\nbody\r\n--B--", 0, &p2, &err), 0);
	assert_string_equal(p2.log, "[-|-:\r\nbody]");

	const char *bad[] = {
		"",					     /* nothing */
		"no boundary here",			     /* no delimiter */
		"--B--",				     /* no parts */
		"--Bxx\r\n",				     /* garbage after boundary */
		"--B\r\nContent-Disposition: form-data\r\n", /* truncated head */
		"--B\r\n\r\nabc",			     /* truncated body */
		"--B",					     /* truncated after boundary */
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct parts q = {0};
		wr_err_clear(&err);
		int r = parse("B", bad[i], 3, &q, &err);
		if (r != -EBADMSG)
			fail_msg("bad[%zu]: got %d (%s)", i, r, err.msg);
		assert_non_null(strstr(err.msg, "multipart"));
	}

	/* a part head over the limit */
	size_t big = 20000;
	char *hb = xmalloc(big + 64);
	int o = snprintf(hb, big + 64, "--B\r\nX: ");
	memset(hb + o, 'h', big);
	snprintf(hb + o + big, 64, "\r\n\r\nx\r\n--B--");
	struct parts q = {0};
	wr_err_clear(&err);
	assert_int_equal(parse("B", hb, 0, &q, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "too large"));
	free(hb);

	/* a callback error stops the parse with its value */
	struct parts f = {.fail_at_begin = 2};
	assert_int_equal(parse("B", two, 0, &f, &err), -EPERM);
	assert_int_equal(f.nparts, 2);

	/* repeated Content-Disposition: the last wins (and nothing leaks:
	 * found by fuzz-multipart) */
	struct parts d = {0};
	assert_int_equal(parse("B",
			       "--B\r\nContent-Disposition: form-data; filename=\"a\"\r\n"
			       "Content-Disposition: form-data; name=\"n\"; filename=\"b\"\r\n\r\n"
			       "x\r\n--B--",
			       0, &d, &err),
			 0);
	assert_string_equal(d.log, "[n|b:x]");
}

/* Part bodies across MP_PIECE: every byte arrives, in order, in pieces that start aligned and
 * are MP_PIECE long but for a part's last, whatever the read sizes and wherever a delimiter's
 * prefix sits against the piece boundary. */
struct big {
	unsigned char *got;
	size_t len, cap, pieces;
	int parts;
	bool short_seen; /* a piece under MP_PIECE came: it must be the part's last */
};

static int big_begin(void *ud, const char *name, const char *filename)
{
	(void)name;
	(void)filename;
	struct big *b = ud;
	b->parts++;
	b->short_seen = false;
	return 0;
}

static int big_data(void *ud, const void *d, size_t n)
{
	struct big *b = ud;
	assert_true(n > 0 && n <= MP_PIECE);
	assert_int_equal((uintptr_t)d % MP_ALIGN, 0);
	assert_false(b->short_seen);
	b->short_seen = n < MP_PIECE;
	assert_true(b->len + n <= b->cap);
	memcpy(b->got + b->len, d, n);
	b->len += n;
	b->pieces++;
	return 0;
}

static int big_end(void *ud)
{
	(void)ud;
	return 0;
}

static void test_multipart_pieces(void **state)
{
	(void)state;
	const char *bd = "----wrenn7MA4YWxkTrZu0gW", *pre = "\r\n------wrenn7MA4";
	size_t dl = strlen(bd) + 4; /* CRLF "--" boundary */
	const size_t lens[] = {0,
			       1,
			       MP_PIECE - dl,
			       MP_PIECE - 1,
			       MP_PIECE,
			       MP_PIECE + 1,
			       MP_PIECE + dl - 2,
			       MP_PIECE + dl - 1,
			       MP_PIECE + dl,
			       2 * MP_PIECE + 5,
			       3 * MP_PIECE + 12345};
	const size_t steps[] = {0, 65536, 7777};
	size_t max = 3 * MP_PIECE + 12345;
	unsigned char *data = xmalloc(max);
	for (size_t i = 0; i < max; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13);
	/* a delimiter's prefix (not the whole of it) just before each piece boundary */
	for (size_t at = MP_PIECE; at < max; at += MP_PIECE)
		memcpy(data + at - 5, pre, strlen(pre));
	char *body = xmalloc(max + 512);
	struct big b = {.got = xmalloc(max + 16), .cap = max + 16};
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++)
		for (size_t j = 0; j < ARRAY_SIZE(steps); j++) {
			size_t o = (size_t)sprintf(body,
						   "--%s\r\nContent-Disposition: form-data; "
						   "name=\"file\"; filename=\"x\"\r\n\r\n",
						   bd);
			memcpy(body + o, data, lens[i]);
			o += lens[i];
			o += (size_t)sprintf(body + o, "\r\n--%s\r\n\r\ntail\r\n--%s--\r\n", bd,
					     bd);
			struct body rd = {.p = body, .n = o, .step = steps[j]};
			struct mp_ops ops = {big_begin, big_data, big_end};
			struct wr_err err = {0};
			b.len = b.pieces = 0;
			b.parts = 0;
			if (multipart_parse(bd, body_read, &rd, &ops, &b, &err) != 0)
				fail_msg("len %zu step %zu: %s", lens[i], steps[j], err.msg);
			assert_int_equal(b.parts, 2);
			assert_int_equal(b.len, lens[i] + 4);
			assert_memory_equal(b.got, data, lens[i]);
			assert_memory_equal(b.got + lens[i], "tail", 4);
		}
	free(b.got);
	free(body);
	free(data);
}

/* --------------------------------------------------------------------- dio */

/* A file written through dio in pieces of `step` bytes (0: one write) holds exactly the data,
 * whatever the length against the block and chunk sizes; dio_copy copies it byte for byte. */
static void check_dio(const char *dir, const unsigned char *data, size_t len, size_t step)
{
	cleanup_free char *a = xasprintf("%s/a", dir), *b = xasprintf("%s/b", dir);
	bool direct;
	int fd = dio_open(a, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600, &direct);
	assert_true(fd >= 0);
	struct dio w;
	dio_init(&w, fd, direct);
	for (size_t o = 0; o < len;) {
		size_t k = step && step < len - o ? step : len - o;
		assert_int_equal(dio_write(&w, data + o, k), 0);
		o += k;
	}
	assert_int_equal(dio_flush(&w), 0);
	dio_done(&w);
	assert_int_equal(close(fd), 0);
	cleanup_free char *got = NULL;
	size_t n = 0;
	assert_int_equal(read_file(a, len + 1, &got, &n), 0);
	assert_int_equal(n, len);
	assert_memory_equal(got, data, len);

	/* copy: from an O_DIRECT reader when the filesystem has it, into a file that was longer */
	bool din, dout;
	int in = dio_open(a, O_RDONLY | O_CLOEXEC, 0, &din);
	assert_true(in >= 0);
	assert_int_equal(
		write_file_atomic(b, "previous content, longer than a tiny body", 41, 0600), 0);
	int out = dio_open(b, O_WRONLY | O_TRUNC | O_CLOEXEC, 0, &dout);
	assert_true(out >= 0);
	assert_int_equal(dio_copy(in, out, dout, (off_t)len), 0);
	close(in);
	close(out);
	cleanup_free char *got2 = NULL;
	assert_int_equal(read_file(b, len + 1, &got2, &n), 0);
	assert_int_equal(n, len);
	assert_memory_equal(got2, data, len);
	/* a source shorter than asked for is an error, not a silently short copy */
	in = open(a, O_RDONLY | O_CLOEXEC);
	out = open(b, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_int_equal(dio_copy(in, out, false, (off_t)len + 1), -EIO);
	close(in);
	close(out);
	unlink(a);
	unlink(b);
}

static void test_dio(void **state)
{
	(void)state;
	size_t max = 3 * DIO_CHUNK + 12345;
	unsigned char *data = xmalloc(max);
	for (size_t i = 0; i < max; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13);
	char dir[] = "/tmp/wrenn-test-dio.XXXXXX";
	assert_non_null(mkdtemp(dir));
	const size_t lens[] = {0,
			       1,
			       DIO_ALIGN - 1,
			       DIO_ALIGN,
			       DIO_ALIGN + 1,
			       DIO_CHUNK - 1,
			       DIO_CHUNK,
			       DIO_CHUNK + 1,
			       max};
	const size_t steps[] = {0, 1000, 65536, DIO_CHUNK + 7};
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++)
		for (size_t j = 0; j < ARRAY_SIZE(steps); j++)
			if (steps[j] != 1000 || lens[i] <= DIO_CHUNK + 1) /* keep it quick */
				check_dio(dir, data, lens[i], steps[j]);
	/* from aligned memory, whole blocks are written from where they are (no copy): pieces
	 * that keep the buffer empty (aligned, block multiples), pieces that fill it first, and
	 * an unaligned piece between aligned ones */
	unsigned char *adata = NULL;
	assert_int_equal(posix_memalign((void **)&adata, DIO_ALIGN, max), 0);
	memcpy(adata, data, max);
	const size_t asteps[] = {0, DIO_ALIGN, 65536, DIO_CHUNK, 5000};
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++)
		for (size_t j = 0; j < ARRAY_SIZE(asteps); j++)
			if (asteps[j] != DIO_ALIGN || lens[i] <= DIO_CHUNK + 1)
				check_dio(dir, adata, lens[i], asteps[j]);
	free(adata);
	/* a copy longer than dio_copy's 4 MiB step: whole steps, then the tail */
	size_t blen = 9 * DIO_CHUNK + 12345;
	unsigned char *bdata = xmalloc(blen);
	for (size_t i = 0; i < blen; i++)
		bdata[i] = (unsigned char)(i * 2246822519u >> 15);
	check_dio(dir, bdata, blen, 0);
	free(bdata);

	/* reads: a file dio wrote (not cached: O_DIRECT reads) and the same file once cached,
	 * from unaligned offsets and in odd sizes, give back the bytes */
	cleanup_free char *f = xasprintf("%s/r", dir);
	bool direct;
	int wfd = dio_open(f, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600, &direct);
	assert_true(wfd >= 0);
	struct dio dw;
	dio_init(&dw, wfd, direct);
	assert_int_equal(dio_write(&dw, data, max), 0);
	assert_int_equal(dio_flush(&dw), 0);
	dio_done(&dw);
	close(wfd);
	for (int pass = 0; pass < 2; pass++) {
		const off_t starts[] = {0, 1, DIO_ALIGN, DIO_CHUNK - 3, (off_t)max - 10};
		const size_t sizes[] = {1, 777, DIO_CHUNK, 3 * DIO_CHUNK};
		for (size_t i = 0; i < ARRAY_SIZE(starts); i++)
			for (size_t j = 0; j < ARRAY_SIZE(sizes); j++) {
				int rfd = open(f, O_RDONLY | O_CLOEXEC);
				assert_true(rfd >= 0);
				struct dio_reader rd;
				assert_int_equal(dio_reader_init(&rd, rfd, (off_t)max), 0);
				off_t at = starts[i];
				size_t left = sizes[j];
				while (left) {
					const char *b;
					ssize_t k = dio_reader_read(&rd, at, left, &b);
					assert_true(k >= 0);
					if (k == 0)
						break;
					assert_true((size_t)k <= left && (size_t)k <= DIO_CHUNK);
					assert_memory_equal(b, data + at, (size_t)k);
					at += k;
					left -= (size_t)k;
				}
				/* stops at EOF, not before */
				assert_int_equal((size_t)at, starts[i] + sizes[j] < max
								     ? starts[i] + sizes[j]
								     : max);
				dio_reader_done(&rd);
				close(rfd);
			}
		cleanup_free char *all = NULL; /* pass 2: the same, with the file in the cache */
		size_t n = 0;
		assert_int_equal(read_file(f, max + 1, &all, &n), 0);
		assert_int_equal(n, max);
	}
	unlink(f);

	/* a writer on an fd without O_DIRECT (a pipe: no offsets) writes it as it comes */
	int p[2];
	assert_int_equal(pipe(p), 0);
	struct dio w;
	dio_init(&w, p[1], false);
	assert_int_equal(dio_write(&w, "abc", 3), 0);
	assert_int_equal(dio_flush(&w), 0);
	dio_done(&w);
	char got[4] = {0};
	assert_int_equal(read(p[0], got, sizeof(got)), 3);
	assert_string_equal(got, "abc");
	close(p[0]);
	close(p[1]);
	rmdir(dir);
	free(data);
}

/* ------------------------------------------------------------------- users */

static void test_user_lookup(void **state)
{
	(void)state;
	char dir[] = "/tmp/test-envd.XXXXXX";
	assert_non_null(mkdtemp(dir));
	cleanup_free char *pw = xasprintf("%s/passwd", dir);
	cleanup_free char *gr = xasprintf("%s/group", dir);
	const char *pwd = "root:x:0:0:root:/root:/bin/bash\n"
			  "alice:x:1001:1001:Alice:/home/alice:/bin/sh\n"
			  "nohome:x:1002:1002:::\n";
	const char *grp = "root:x:0:\nalice:x:1001:\ndev:x:2000:bob,alice\nops:x:2001:alice\n"
			  "other:x:2002:bob\n";
	assert_int_equal(write_file_atomic(pw, pwd, strlen(pwd), 0644), 0);
	assert_int_equal(write_file_atomic(gr, grp, strlen(grp), 0644), 0);
	struct envd e = {.passwd_path = pw, .group_path = gr};
	struct envd_user u;
	struct wr_err err = {0};
	assert_int_equal(envd_user_lookup(&e, "alice", &u, &err), 0);
	assert_string_equal(u.name, "alice");
	assert_int_equal(u.uid, 1001);
	assert_int_equal(u.gid, 1001);
	assert_string_equal(u.home, "/home/alice");
	assert_string_equal(u.shell, "/bin/sh");
	assert_int_equal(u.ngroups, 3); /* primary, dev, ops */
	assert_int_equal(u.groups[0], 1001);
	assert_int_equal(u.groups[1], 2000);
	assert_int_equal(u.groups[2], 2001);

	assert_int_equal(envd_user_lookup(&e, "nohome", &u, &err), 0);
	assert_string_equal(u.home, "/");
	assert_string_equal(u.shell, "/bin/sh");
	char *r = envd_resolve_path("~/f", &u);
	assert_string_equal(r, "/f");
	free(r);

	assert_int_equal(envd_user_lookup(&e, "mallory", &u, &err), -EACCES);
	assert_non_null(strstr(err.msg, "no such user"));
	assert_int_equal(envd_user_lookup(&e, "", &u, &err), -EACCES);
	char longname[100];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(envd_user_lookup(&e, longname, &u, &err), -EACCES);

	struct envd missing = {.passwd_path = "/nonexistent/passwd", .group_path = gr};
	assert_int_equal(envd_user_lookup(&missing, "alice", &u, &err), -ENOENT);
	unlink(pw);
	unlink(gr);
	rmdir(dir);
}

static void test_hex_decode(void **state)
{
	(void)state;
	unsigned char out[ENVD_MAX_ENTROPY];
	size_t n = 99;
	struct wr_err err = {0};
	assert_int_equal(envd_hex_decode("", out, sizeof(out), &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(envd_hex_decode("00ff7Fa0", out, sizeof(out), &n, &err), 0);
	assert_int_equal(n, 4);
	assert_memory_equal(out, "\x00\xff\x7f\xa0", 4);
	/* exactly the maximum: 512 digits */
	char max[2 * ENVD_MAX_ENTROPY + 3];
	memset(max, 'e', 2 * ENVD_MAX_ENTROPY);
	max[2 * ENVD_MAX_ENTROPY] = '\0';
	assert_int_equal(envd_hex_decode(max, out, sizeof(out), &n, &err), 0);
	assert_int_equal(n, ENVD_MAX_ENTROPY);
	assert_int_equal(out[ENVD_MAX_ENTROPY - 1], 0xee);
	/* one byte more is refused, and nothing is written past out */
	strcpy(max + 2 * ENVD_MAX_ENTROPY, "ee");
	assert_int_equal(envd_hex_decode(max, out, sizeof(out), &n, &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "at most 512"));
	err = (struct wr_err){0};
	assert_int_equal(envd_hex_decode("abc", out, sizeof(out), &n, &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "odd"));
	err = (struct wr_err){0};
	assert_int_equal(envd_hex_decode("12zz", out, sizeof(out), &n, &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "offset 2"));
	err = (struct wr_err){0};
	assert_int_equal(envd_hex_decode("0x12", out, sizeof(out), &n, &err), -EINVAL);
	assert_int_equal(envd_hex_decode("12 3", out, sizeof(out), &n, &err), -EINVAL);
}

static void test_token_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/test-envd-token.XXXXXX";
	assert_non_null(mkdtemp(dir));
	cleanup_free char *sub = xasprintf("%s/run", dir);
	cleanup_free char *path = xasprintf("%s/run/envd-token", dir);
	struct wr_err err = {0};
	char *tok = (char *)"unset";
	/* none yet */
	assert_int_equal(envd_token_load(path, &tok, &err), 0);
	assert_null(tok);
	/* stored: directory 0700 (made tighter if it exists looser), file 0600 */
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(envd_token_store(path, "s3cret", &err), 0);
	struct stat st;
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(envd_token_load(path, &tok, &err), 0);
	assert_string_equal(tok, "s3cret");
	free(tok);
	/* replaced */
	assert_int_equal(envd_token_store(path, "other", &err), 0);
	assert_int_equal(envd_token_load(path, &tok, &err), 0);
	assert_string_equal(tok, "other");
	free(tok);
	/* a file others may read or write is refused, not trusted */
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(envd_token_load(path, &tok, &err), -EPERM);
	assert_non_null(strstr(wr_err_msg(&err), "mode 0640"));
	assert_int_equal(chmod(path, 0600), 0);
	/* a symlink is not followed */
	cleanup_free char *link = xasprintf("%s/link", dir);
	assert_int_equal(symlink(path, link), 0);
	err = (struct wr_err){0};
	assert_int_equal(envd_token_load(link, &tok, &err), -ELOOP);
	unlink(link);
	/* an empty token removes the file */
	assert_int_equal(envd_token_store(path, "", &err), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(envd_token_load(path, &tok, &err), 0);
	assert_null(tok);
	assert_int_equal(envd_token_store(path, NULL, &err), 0);
	rmdir(sub);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve_path),
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_env_layering),
		cmocka_unit_test(test_status_text),
		cmocka_unit_test(test_pick_coding),
		cmocka_unit_test(test_multipart),
		cmocka_unit_test(test_multipart_pieces),
		cmocka_unit_test(test_user_lookup),
		cmocka_unit_test(test_hex_decode),
		cmocka_unit_test(test_token_file),
		cmocka_unit_test(test_dio),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
