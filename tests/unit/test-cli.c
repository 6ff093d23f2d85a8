/* SPDX-License-Identifier: MIT */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "cli/api.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/build.h"
#include "cli/codec.h"
#include "cli/ctxtar.h"
#include "cli/table.h"

#include <archive.h>
#include <archive_entry.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void test_args(void **state)
{
	(void)state;
	struct wr_err err = {0};
	json_t *o = json_object();
	assert_int_equal(args_kv_into(o, "A=1", "--env", &err), 0);
	assert_int_equal(args_kv_into(o, "B==x=", "--env", &err), 0);
	assert_int_equal(args_kv_into(o, "C=", "--env", &err), 0);
	assert_string_equal(json_string_value(json_object_get(o, "A")), "1");
	assert_string_equal(json_string_value(json_object_get(o, "B")), "=x=");
	assert_string_equal(json_string_value(json_object_get(o, "C")), "");
	assert_int_equal(args_kv_into(o, "=1", "--env", &err), -EINVAL);
	assert_non_null(strstr(wr_err_msg(&err), "KEY=VALUE"));
	assert_int_equal(args_kv_into(o, "noeq", "--env", &err), -EINVAL);
	json_decref(o);

	char *id = NULL, *path = NULL;
	assert_int_equal(args_parse_remote("cl-abc:/tmp/x", &id, &path), 1);
	assert_string_equal(id, "cl-abc");
	assert_string_equal(path, "/tmp/x");
	free(id);
	free(path);
	assert_int_equal(args_parse_remote("abc:", &id, &path), 1);
	assert_string_equal(path, ".");
	free(id);
	free(path);
	assert_int_equal(args_parse_remote("./a:b", &id, &path), 0);
	assert_int_equal(args_parse_remote("/tmp/a:b", &id, &path), 0);
	assert_int_equal(args_parse_remote(":x", &id, &path), 0);
	assert_int_equal(args_parse_remote("plain.txt", &id, &path), 0);
	assert_int_equal(args_parse_remote("-", &id, &path), 0);

	long v;
	assert_int_equal(args_int("42", 1, 64, "n", &v, &err), 0);
	assert_int_equal(v, 42);
	assert_int_equal(args_int("0", 1, 64, "n", &v, &err), -EINVAL);
	assert_int_equal(args_int("4x", 1, 64, "n", &v, &err), -EINVAL);
	assert_int_equal(args_int("", 1, 64, "n", &v, &err), -EINVAL);
	assert_int_equal(args_int("99999999999999999999", 1, 64, "n", &v, &err), -EINVAL);

	char *a1[] = {"cl-1", "--", "ls", "-l"};
	const char *sid;
	char **cmd;
	int n;
	assert_int_equal(args_split_cmd(4, a1, true, &sid, &cmd, &n, &err), 0);
	assert_string_equal(sid, "cl-1");
	assert_int_equal(n, 2);
	assert_string_equal(cmd[0], "ls");
	char *a2[] = {"cl-1", "echo", "--", "x"};
	assert_int_equal(args_split_cmd(4, a2, true, &sid, &cmd, &n, &err), 0);
	assert_int_equal(n, 3); /* a later "--" belongs to the command */
	assert_string_equal(cmd[1], "--");
	char *a3[] = {"cl-1", "--"};
	assert_int_equal(args_split_cmd(2, a3, true, &sid, &cmd, &n, &err), -EINVAL);
	assert_int_equal(args_split_cmd(0, a3, true, &sid, &cmd, &n, &err), -EINVAL);
	char *a4[] = {"--", "echo", "hi"};
	assert_int_equal(args_split_cmd(3, a4, false, NULL, &cmd, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(cmd[0], "echo");

	cleanup_free char *j1 = args_join_basename("/tmp/", "/a/b.txt");
	assert_string_equal(j1, "/tmp/b.txt");
	cleanup_free char *j2 = args_join_basename("dir", "b.txt");
	assert_string_equal(j2, "dir/b.txt");
	cleanup_free char *j3 = args_join_basename("/x/", "/a/sub/");
	assert_string_equal(j3, "/x/sub");
}

static void test_base64(void **state)
{
	(void)state;
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {"",	      "Zg==",	  "Zm8=",    "Zm9v",
					  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (size_t i = 0; i < ARRAY_SIZE(plain); i++) {
		cleanup_free char *e = b64_encode(plain[i], strlen(plain[i]));
		assert_string_equal(e, enc[i]);
		uint8_t *d = NULL;
		size_t n = 0;
		assert_int_equal(b64_decode(enc[i], &d, &n), 0);
		assert_int_equal(n, strlen(plain[i]));
		assert_memory_equal(d, plain[i], n);
		free(d);
	}
	uint8_t bin[256];
	for (int i = 0; i < 256; i++)
		bin[i] = (uint8_t)i;
	cleanup_free char *e = b64_encode(bin, sizeof(bin));
	uint8_t *d = NULL;
	size_t n = 0;
	assert_int_equal(b64_decode(e, &d, &n), 0);
	assert_int_equal(n, 256);
	assert_memory_equal(d, bin, 256);
	free(d);
	assert_int_equal(b64_decode("Zm9", &d, &n), 0); /* unpadded */
	assert_int_equal(n, 2);
	free(d);
	assert_int_equal(b64_decode("Z", &d, &n), -EINVAL);
	assert_int_equal(b64_decode("Zm9v!A==", &d, &n), -EINVAL);
	assert_int_equal(b64_decode("Zg===", &d, &n), -EINVAL);
}

static char *slurp(int fd)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	buf[n < 0 ? 0 : n] = '\0';
	return xstrdup(buf);
}

static void test_ndjson_exec(void **state)
{
	(void)state;
	const char *stream = "{\"type\":\"start\",\"pid\":7}\n"
			     "{\"type\":\"stdout\",\"data\":\"aGVsbG8K\"}\n"
			     "\n"
			     "{\"type\":\"stderr\",\"data\":\"b29wcw==\"}\r\n"
			     "{\"type\":\"future\",\"x\":1}\n"
			     "{\"type\":\"stdout\",\"data\":\"d29ybGQ=\"}\n"
			     "{\"type\":\"exit\",\"exitCode\":3}";
	size_t len = strlen(stream);
	/* every split point of the stream into two chunks gives the same result */
	for (size_t cut = 0; cut <= len; cut += 1) {
		int po[2], pe[2];
		assert_int_equal(pipe2(po, O_CLOEXEC | O_NONBLOCK), 0);
		assert_int_equal(pipe2(pe, O_CLOEXEC | O_NONBLOCK), 0);
		struct ndjson nd = {0};
		struct exec_sink k = {.out_fd = po[1], .err_fd = pe[1], .exit_code = -1};
		struct wr_err err = {0};
		assert_int_equal(ndjson_feed(&nd, stream, cut, exec_event, &k, &err), 0);
		assert_int_equal(ndjson_feed(&nd, stream + cut, len - cut, exec_event, &k, &err),
				 0);
		assert_int_equal(ndjson_finish(&nd, exec_event, &k, &err), 0);
		assert_int_equal(k.exit_code, 3);
		assert_null(k.error);
		cleanup_free char *out = slurp(po[0]);
		cleanup_free char *er = slurp(pe[0]);
		assert_string_equal(out, "hello\nworld");
		assert_string_equal(er, "oops");
		ndjson_done(&nd);
		close(po[0]);
		close(po[1]);
		close(pe[0]);
		close(pe[1]);
	}
}

static void test_ndjson_errors(void **state)
{
	(void)state;
	struct ndjson nd = {0};
	struct exec_sink k = {.out_fd = -1, .err_fd = -1, .exit_code = -1};
	struct wr_err err = {0};
	assert_int_equal(ndjson_feed(&nd, "{\"type\":\"error\",\"message\":\"vm died\"}\n", 37,
				     exec_event, &k, &err),
			 0);
	assert_string_equal(k.error, "vm died");
	free(k.error);
	k.error = NULL;
	const char *bad[] = {"not json\n", "[1,2]\n", "{\"no\":\"type\"}\n",
			     "{\"type\":\"stdout\",\"data\":\"!!\"}\n", "{\"type\":\"exit\"}\n"};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		wr_err_clear(&err);
		assert_true(ndjson_feed(&nd, bad[i], strlen(bad[i]), exec_event, &k, &err) < 0);
		assert_true(strlen(wr_err_msg(&err)) > 0);
	}
	/* a line that never ends is bounded */
	char *big = xmalloc(1 << 20);
	memset(big, 'x', 1 << 20);
	int r = 0;
	for (int i = 0; i < 9 && r == 0; i++)
		r = ndjson_feed(&nd, big, 1 << 20, exec_event, &k, &err);
	assert_int_equal(r, -E2BIG);
	free(big);
	ndjson_done(&nd);
}

struct frames {
	int n;
	uint8_t types[16];
	char data[16][64];
	uint32_t lens[16];
};

static int collect(uint8_t type, const uint8_t *p, uint32_t len, void *ud)
{
	struct frames *f = ud;
	if (f->n >= 16 || len >= 64)
		return -ENOSPC;
	f->types[f->n] = type;
	memcpy(f->data[f->n], p, len);
	f->lens[f->n++] = len;
	return 0;
}

static void test_pty_frames(void **state)
{
	(void)state;
	uint8_t wire[256];
	size_t w = 0;
	pty_frame_put(wire + w, PTY_OUTPUT, "hi", 2);
	w += PTY_FRAME_HDR + 2;
	pty_frame_put(wire + w, 0x7f, NULL, 0); /* unknown type, empty */
	w += PTY_FRAME_HDR;
	uint8_t code[4] = {0, 0, 0, 42};
	pty_frame_put(wire + w, PTY_EXIT, code, 4);
	w += PTY_FRAME_HDR + 4;
	assert_int_equal(wire[0], 0);
	assert_int_equal(wire[4], 2);
	for (size_t step = 1; step <= w; step++) {
		struct pty_decoder d = {0};
		struct frames f = {0};
		for (size_t off = 0; off < w; off += step)
			assert_int_equal(pty_decoder_feed(&d, wire + off,
							  off + step > w ? w - off : step, collect,
							  &f),
					 0);
		assert_int_equal(f.n, 3);
		assert_int_equal(f.types[0], PTY_OUTPUT);
		assert_int_equal(f.lens[0], 2);
		assert_memory_equal(f.data[0], "hi", 2);
		assert_int_equal(f.types[1], 0x7f);
		assert_int_equal(f.lens[1], 0);
		assert_int_equal(f.types[2], PTY_EXIT);
		assert_int_equal((uint8_t)f.data[2][3], 42);
		pty_decoder_done(&d);
	}
	uint8_t rz[4];
	pty_resize_payload(rz, 300, 50);
	assert_int_equal(rz[0], 1);
	assert_int_equal(rz[1], 44);
	assert_int_equal(rz[2], 0);
	assert_int_equal(rz[3], 50);
	/* a frame claiming 16 MiB is a protocol error, not an allocation */
	uint8_t huge[5] = {0, 1, 0, 0, 0};
	struct pty_decoder d = {0};
	struct frames f = {0};
	assert_int_equal(pty_decoder_feed(&d, huge, 5, collect, &f), -EPROTO);
	pty_decoder_done(&d);
}

static void test_table(void **state)
{
	(void)state;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	static const char *const hdr[] = {"ID", "STATE", "AGE"};
	struct table t;
	table_init(&t, 3, hdr);
	const char *r1[] = {"cl-longer-id", "running", "5m"};
	const char *r2[] = {"cl-1", NULL, "12s"};
	table_add(&t, r1);
	table_add(&t, r2);
	table_print(&t, m);
	table_done(&t);
	fclose(m);
	assert_string_equal(buf, "ID            STATE    AGE\n"
				 "cl-longer-id  running  5m\n"
				 "cl-1          -        12s\n");
	free(buf);

	char d[16];
	fmt_duration(42, d, sizeof(d));
	assert_string_equal(d, "42s");
	fmt_duration(125, d, sizeof(d));
	assert_string_equal(d, "2m");
	fmt_duration(7300, d, sizeof(d));
	assert_string_equal(d, "2h");
	fmt_duration(200000, d, sizeof(d));
	assert_string_equal(d, "2d");
	fmt_duration(-1, d, sizeof(d));
	assert_string_equal(d, "-");
	fmt_bytes(512, d, sizeof(d));
	assert_string_equal(d, "512B");
	fmt_bytes(1536, d, sizeof(d));
	assert_string_equal(d, "1.5K");
	fmt_bytes(300LL << 20, d, sizeof(d));
	assert_string_equal(d, "300M");

	assert_int_equal(parse_rfc3339("1970-01-01T00:00:00Z"), 0);
	assert_int_equal(parse_rfc3339("2026-01-02T03:04:05.123456Z"), 1767323045);
	assert_int_equal(parse_rfc3339("2026-01-02T05:04:05+02:00"), 1767323045);
	assert_int_equal(parse_rfc3339("2026-01-02T03:04:05"), -1);
	assert_int_equal(parse_rfc3339("yesterday"), -1);
	assert_int_equal(parse_rfc3339(NULL), -1);
}

static void test_status_err(void **state)
{
	(void)state;
	struct wr_err err = {0};
	const char *b = "{\"code\":404,\"message\":\"sandbox cl-x not found\"}";
	assert_int_equal(api_status_err(404, b, strlen(b), &err), -ENOENT);
	assert_string_equal(wr_err_msg(&err), "sandbox cl-x not found (HTTP 404)");
	b = "{\"error\":{\"code\":\"conflict\",\"message\":\"already paused\"}}";
	assert_int_equal(api_status_err(409, b, strlen(b), &err), -EBUSY);
	assert_string_equal(wr_err_msg(&err), "already paused (HTTP 409)");
	b = "Bad Gateway";
	assert_int_equal(api_status_err(502, b, strlen(b), &err), -EIO);
	assert_string_equal(wr_err_msg(&err), "Bad Gateway (HTTP 502)");
	assert_int_equal(api_status_err(401, "", 0, &err), -EACCES);
	assert_string_equal(wr_err_msg(&err), "request failed (HTTP 401)");
	assert_int_equal(api_status_err(400, "{}", 2, &err), -EINVAL);
}

static void test_config(void **state)
{
	(void)state;
	char dir[] = "/tmp/test-cli-XXXXXX";
	assert_non_null(mkdtemp(dir));
	cleanup_free char *wdir = xasprintf("%s/wrenn", dir);
	cleanup_free char *kf = xasprintf("%s/wrenn/key", dir);
	assert_int_equal(mkdir_p(wdir, 0700), 0);
	assert_int_equal(write_file_atomic(kf, "  e2b_fromfile\n", 15, 0600), 0);
	setenv("XDG_CONFIG_HOME", dir, 1);
	unsetenv("WRENN_API_KEY");
	unsetenv("WRENN_API_URL");
	struct wr_err err = {0};

	struct cli c = {0};
	assert_int_equal(cli_resolve_config(&c, &err), 0);
	assert_string_equal(c.api_url, "http://127.0.0.1:3000");
	assert_string_equal(c.api_key, "e2b_fromfile");
	cli_done(&c);

	setenv("WRENN_API_KEY", "e2b_env", 1);
	setenv("WRENN_API_URL", "unix:/run/wrenn.sock", 1);
	assert_int_equal(cli_resolve_config(&c, &err), 0);
	assert_string_equal(c.api_key, "e2b_env");
	assert_string_equal(c.api_url, "unix:/run/wrenn.sock");
	cli_done(&c);

	char *argv[] = {"wrenn",  "--api-key", "e2b_flag", "--api-url=http://h:1",
			"--json", "-q",	       "ls",	   "--all"};
	assert_int_equal(cli_parse_globals(&c, 8, argv, &err), 6);
	assert_true(c.json);
	assert_true(c.quiet);
	assert_int_equal(cli_resolve_config(&c, &err), 0);
	assert_string_equal(c.api_key, "e2b_flag"); /* flag beats env */
	assert_string_equal(c.api_url, "http://h:1");
	cli_done(&c);
	char *bad[] = {"wrenn", "--bogus", "ls"};
	assert_int_equal(cli_parse_globals(&c, 3, bad, &err), -EINVAL);
	char *incomplete[] = {"wrenn", "--api-key"};
	assert_int_equal(cli_parse_globals(&c, 2, incomplete, &err), -EINVAL);
	cli_done(&c);

	unsetenv("WRENN_API_KEY");
	unlink(kf);
	assert_int_equal(cli_resolve_config(&c, &err), -EACCES);
	assert_non_null(strstr(wr_err_msg(&err), "WRENN_API_KEY"));
	cli_done(&c);
	unsetenv("WRENN_API_URL");
	unsetenv("XDG_CONFIG_HOME");
	rm_rf(dir);
}

static int run_main(int argc, char **argv)
{
	/* the CLI writes usage to stderr; keep the test output readable */
	int saved = dup(2);
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	dup2(null, 2);
	int rc = cli_main(argc, argv);
	dup2(saved, 2);
	close(saved);
	close(null);
	return rc;
}

static void test_usage_exit_codes(void **state)
{
	(void)state;
	setenv("WRENN_API_KEY", "e2b_x", 1);
	/* nothing listens on port 9 of loopback: network failures are exit 1 / 125 */
	setenv("WRENN_API_URL", "http://127.0.0.1:9", 1);
	char *a1[] = {"wrenn"};
	assert_int_equal(run_main(1, a1), CLI_EXIT_USAGE);
	char *a2[] = {"wrenn", "frobnicate"};
	assert_int_equal(run_main(2, a2), CLI_EXIT_USAGE);
	char *a3[] = {"wrenn", "exec", "cl-1"};
	assert_int_equal(run_main(3, a3), CLI_EXIT_USAGE);
	char *a4[] = {"wrenn", "run", "--vcpus", "x", "--", "true"};
	assert_int_equal(run_main(6, a4), CLI_EXIT_USAGE);
	char *a5[] = {"wrenn", "cp", "a", "b"};
	assert_int_equal(run_main(4, a5), CLI_EXIT_USAGE);
	char *a6[] = {"wrenn", "keys", "rm"};
	assert_int_equal(run_main(3, a6), CLI_EXIT_USAGE);
	char *a7[] = {"wrenn", "ls"};
	assert_int_equal(run_main(2, a7), CLI_EXIT_FAIL);
	char *a8[] = {"wrenn", "run", "--", "true"};
	assert_int_equal(run_main(4, a8), CLI_EXIT_INFRA);
	char *a9[] = {"wrenn", "timeout", "cl-1", "-5"};
	assert_int_equal(run_main(4, a9), CLI_EXIT_USAGE);
	unsetenv("WRENN_API_KEY");
	unsetenv("WRENN_API_URL");
}

/* run cli_main with stdout captured into *ret_out (malloc'd) and stderr discarded */
static int run_capture(int argc, char **argv, char **ret_out)
{
	char path[] = "/tmp/test-cli-out-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	fflush(stdout);
	int saved = dup(1);
	dup2(fd, 1);
	int rc = run_main(argc, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	char buf[65536];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	*ret_out = xstrdup(buf);
	close(fd);
	return rc;
}

/* docker's rule: options stop at the first operand; --opt=V and --opt V; -h anywhere before it */
static void test_getopt_rule(void **state)
{
	(void)state;
	const struct cli_cmd *exec = cli_find("exec"), *logs = cli_find("logs");
	assert_non_null(exec);
	assert_non_null(logs);
	int rc = -1;
	char *a1[] = {"exec", "-w", "/tmp", "-e", "A=b", "cl-1", "df", "-h"};
	optind = 0;
	assert_int_equal(cli_getopt(exec, 8, a1, &rc), 'w');
	assert_string_equal(optarg, "/tmp");
	assert_int_equal(cli_getopt(exec, 8, a1, &rc), 'e');
	assert_int_equal(cli_getopt(exec, 8, a1, &rc), -1);
	assert_int_equal(optind, 5); /* cl-1: "df -h" is left alone */
	assert_string_equal(a1[7], "-h");

	char *a2[] = {"logs", "--tail=5", "cl-1"};
	optind = 0;
	assert_int_equal(cli_getopt(logs, 3, a2, &rc), OPT_TAIL);
	assert_string_equal(optarg, "5");
	assert_int_equal(cli_getopt(logs, 3, a2, &rc), -1);
	assert_int_equal(optind, 2);
	char *a3[] = {"logs", "--tail", "7", "-f", "cl-1"};
	optind = 0;
	assert_int_equal(cli_getopt(logs, 5, a3, &rc), OPT_TAIL);
	assert_string_equal(optarg, "7");
	assert_int_equal(cli_getopt(logs, 5, a3, &rc), 'f');
	assert_int_equal(cli_getopt(logs, 5, a3, &rc), -1);
	assert_int_equal(optind, 4);

	int saved = dup(2), saved1 = dup(1), null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	dup2(null, 2);
	dup2(null, 1);
	char *a4[] = {"logs", "--bogus", "cl-1"};
	optind = 0;
	assert_int_equal(cli_getopt(logs, 3, a4, &rc), CLI_OPT_EXIT);
	assert_int_equal(rc, CLI_EXIT_USAGE);
	char *a5[] = {"logs", "--tail"};
	optind = 0;
	assert_int_equal(cli_getopt(logs, 2, a5, &rc), CLI_OPT_EXIT);
	assert_int_equal(rc, CLI_EXIT_USAGE);
	char *a6[] = {"logs", "-f", "--help", "cl-1"};
	optind = 0;
	assert_int_equal(cli_getopt(logs, 4, a6, &rc), 'f');
	assert_int_equal(cli_getopt(logs, 4, a6, &rc), CLI_OPT_EXIT);
	assert_int_equal(rc, CLI_EXIT_OK);
	fflush(stdout);
	dup2(saved, 2);
	dup2(saved1, 1);
	close(saved);
	close(saved1);
	close(null);

	/* every table: -h is reserved for help, long names unique, room for --help */
	for (const struct cli_cmd *c = cli_cmds; c->name; c++) {
		const struct cli_cmd *one[8] = {c};
		size_t n = 1;
		for (const struct cli_cmd *s = c->subs; s && s->name; s++)
			one[n++] = s;
		for (size_t k = 0; k < n; k++) {
			assert_null(strchr(one[k]->shortopts ? one[k]->shortopts : "", 'h'));
			size_t cnt = 0;
			for (const struct option *o = one[k]->longopts; o && o->name; o++, cnt++) {
				assert_string_not_equal(o->name, "help");
				for (const struct option *p = o + 1; p->name; p++)
					assert_string_not_equal(o->name, p->name);
			}
			assert_true(cnt < 22);
		}
	}
}

/* A usage form that names an option after an operand ("build NAME [--from T]") advertises
 * what the parser refuses: options stop at the first operand.  Each form of args (one per
 * line) is read up to a '(' remark; an operand is an upper-case word that is not an option's
 * value. */
static const char *usage_option_after_operand(const char *args)
{
	static char bad[128];
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", args);
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		char *w = strstr(line, "wrenn ");
		if (w) /* a further form: "       wrenn templates build NAME ..." */
			line = strchr(w + 6, ' ') ? strchr(w + 6, ' ') : line;
		char *paren = strchr(line, '(');
		if (paren)
			*paren = '\0';
		bool operand = false, prev_opt = false;
		for (char *save = NULL, *t = strtok_r(line, " ", &save); t;
		     t = strtok_r(NULL, " ", &save)) {
			const char *u = t + strspn(t, "[");
			if (*u == '-') {
				if (operand) {
					snprintf(bad, sizeof(bad), "%s after an operand", t);
					return bad;
				}
				prev_opt = !strchr(t, ']') && !strchr(t, '|');
				continue;
			}
			if (*u >= 'A' && *u <= 'Z' && !prev_opt)
				operand = true;
			prev_opt = false;
		}
	}
	return NULL;
}

static void test_usage_options_before_operands(void **state)
{
	(void)state;
	for (const struct cli_cmd *c = cli_cmds; c->name; c++) {
		const struct cli_cmd *one[8] = {c};
		size_t n = 1;
		for (const struct cli_cmd *s = c->subs; s && s->name; s++)
			one[n++] = s;
		for (size_t k = 0; k < n; k++) {
			const char *why = usage_option_after_operand(one[k]->args);
			if (why)
				fail_msg("usage of '%s' (%s): %s", one[k]->name, one[k]->args, why);
		}
	}
	assert_non_null(usage_option_after_operand("NAME [--from TEMPLATE]"));
	assert_null(usage_option_after_operand("-f DOCKERFILE -t NAME [--cpu N] [CONTEXT_DIR]"));
	assert_null(usage_option_after_operand("SRC DST   (one of them ID:/path; - is stdin)"));
}

static void test_cli_commands(void **state)
{
	(void)state;
	unsetenv("WRENN_API_KEY");
	setenv("HOME", "/nonexistent", 1);
	unsetenv("XDG_CONFIG_HOME");
	setenv("WRENN_API_URL", "http://127.0.0.1:9", 1);
	cleanup_free char *o1 = NULL, *o2 = NULL, *o3 = NULL, *o4 = NULL;
	char *v1[] = {"wrenn", "--version"};
	assert_int_equal(run_capture(2, v1, &o1), CLI_EXIT_OK);
	assert_string_equal(o1, "wrenn " CLI_VERSION "\n");
	char *v2[] = {"wrenn", "version"};
	assert_int_equal(run_capture(2, v2, &o2), CLI_EXIT_OK);
	assert_string_equal(o2, "wrenn " CLI_VERSION "\n");
	/* help needs no API key, wherever -h stands before the first operand */
	char *h1[] = {"wrenn", "exec", "-e", "A=b", "--help"};
	assert_int_equal(run_capture(5, h1, &o3), CLI_EXIT_OK);
	assert_non_null(strstr(o3, "usage: wrenn exec"));
	char *h2[] = {"wrenn", "snapshot", "create", "-h"};
	assert_int_equal(run_capture(4, h2, &o4), CLI_EXIT_OK);
	assert_non_null(strstr(o4, "usage: wrenn snapshot create"));

	setenv("WRENN_API_KEY", "e2b_x", 1);
	/* "-h" after the id belongs to the remote command: wrenn tries to run it (nothing
	 * listens on port 9: 125), it does not print usage and exit 0 */
	char *e1[] = {"wrenn", "exec", "cl-1", "df", "-h"};
	assert_int_equal(run_main(5, e1), CLI_EXIT_INFRA);
	char *e2[] = {"wrenn", "run", "-t", "base", "ls", "--help"};
	assert_int_equal(run_main(6, e2), CLI_EXIT_INFRA);
	char *e3[] = {"wrenn", "exec", "-u", "root", "-w", "/", "cl-1", "--", "df", "-h"};
	assert_int_equal(run_main(10, e3), CLI_EXIT_INFRA);
	/* both spellings of a value; -f; shell's options */
	char *l1[] = {"wrenn", "logs", "--tail=5", "cl-1"};
	assert_int_equal(run_main(4, l1), CLI_EXIT_FAIL);
	char *l2[] = {"wrenn", "logs", "--tail", "5", "cl-1"};
	assert_int_equal(run_main(5, l2), CLI_EXIT_FAIL);
	char *l3[] = {"wrenn", "logs", "-f", "--tail", "5", "cl-1"};
	assert_int_equal(run_main(6, l3), CLI_EXIT_FAIL);
	char *l4[] = {"wrenn", "logs", "--tail=x", "cl-1"};
	assert_int_equal(run_main(4, l4), CLI_EXIT_USAGE);
	char *l5[] = {"wrenn", "logs", "cl-1", "-f"}; /* options stop at the id */
	assert_int_equal(run_main(4, l5), CLI_EXIT_USAGE);
	char *s1[] = {"wrenn", "shell", "-u", "root", "--cwd=/tmp", "-e", "A=b", "cl-1"};
	assert_int_equal(run_main(8, s1), CLI_EXIT_FAIL);
	char *s2[] = {"wrenn", "shell", "-e", "novalue", "cl-1"};
	assert_int_equal(run_main(5, s2), CLI_EXIT_USAGE);
	char *k1[] = {"wrenn", "keys", "--json", "ls"};
	assert_int_equal(run_main(4, k1), CLI_EXIT_FAIL);
	char *k2[] = {"wrenn", "keys", "frob"};
	assert_int_equal(run_main(3, k2), CLI_EXIT_USAGE);
	char *r1[] = {"wrenn", "resume", "--timeout=30", "cl-1"};
	assert_int_equal(run_main(4, r1), CLI_EXIT_FAIL);
	char *r2[] = {"wrenn", "kill", "--force", "cl-1"};
	assert_int_equal(run_main(4, r2), CLI_EXIT_USAGE);
	char *t1[] = {"wrenn", "templates", "build", "-t", "x", "--from", "base"};
	assert_int_equal(run_main(7, t1), CLI_EXIT_USAGE);
	char *t2[] = {"wrenn", "templates", "build", "--no-cache", "x"};
	assert_int_equal(run_main(5, t2), CLI_EXIT_USAGE);
	char *t3[] = {"wrenn", "templates", "build", "-t", "x", "-f", "/nonexistent/Dockerfile"};
	assert_int_equal(run_main(7, t3), CLI_EXIT_FAIL);
	char *c1[] = {"wrenn", "completion", "fish"};
	assert_int_equal(run_main(3, c1), CLI_EXIT_USAGE);
	unsetenv("WRENN_API_KEY");
	unsetenv("WRENN_API_URL");
}

static void test_exec_exit_codes(void **state)
{
	(void)state;
	assert_int_equal(
		exec_failure_exit(
			"exec: exec: \"nope\": executable file not found in $PATH (HTTP 400)"),
		127);
	assert_int_equal(
		exec_failure_exit("exec: start /x/y: No such file or directory (HTTP 502)"), 127);
	assert_int_equal(exec_failure_exit("exec: start /etc/passwd: Permission denied (HTTP 502)"),
			 126);
	assert_int_equal(exec_failure_exit("exec: start /bin/x: Exec format error"), 126);
	assert_int_equal(exec_failure_exit("sandbox cl-1 not found (HTTP 404)"), 125);
	assert_int_equal(exec_failure_exit(NULL), 125);
}

/* the generated bash completion, driven the way bash drives it */
static char *complete_bash(const char *script, const char *line)
{
	cleanup_free char *cmd = xasprintf(
		"bash -c 'source %s; read -ra COMP_WORDS <<<\"%s\"; COMP_CWORD=${#COMP_WORDS[@]}; "
		"case \"%s\" in *\" \") COMP_WORDS+=(\"\") ;; *) COMP_CWORD=$((COMP_CWORD-1)) ;; "
		"esac; _wrenn; echo \"${COMPREPLY[*]}\"'",
		script, line, line);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char buf[4096] = "";
	size_t n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = '\0';
	if (n && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	assert_int_equal(pclose(p), 0);
	return xstrdup(buf);
}

static void test_completion(void **state)
{
	(void)state;
	char path[] = "/tmp/test-cli-compl-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	struct wr_err err = {0};
	assert_int_equal(cli_completion(f, "bash", &err), 0);
	fclose(f);
	static const struct {
		const char *line, *want;
	} cases[] = {
		{"wrenn ex", "exec"},
		{"wrenn l", "ls logs"},
		{"wrenn --api-url http://h:1 ve", "version"},
		{"wrenn exec --wo", "--workdir"},
		{"wrenn exec -w /tmp -e A=b --ti", "--timeout"},
		{"wrenn exec cl-1 df --", ""}, /* after the id: the remote command's own options */
		{"wrenn logs --t", "--tail"},
		{"wrenn logs --f", "--follow"},
		{"wrenn shell --c", "--cwd --command"},
		{"wrenn templates b", "build"},
		{"wrenn templates build --no", "--no-cache"},
		{"wrenn templates --json b", "build"},
		{"wrenn snapshot create --n", "--name"},
		{"wrenn completion ", "bash zsh"},
		{"wrenn --vers", "--version"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		cleanup_free char *got = complete_bash(path, cases[i].line);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("completing '%s': got '%s', want '%s'", cases[i].line, got,
				 cases[i].want);
	}
	unlink(path);
	/* zsh: the same walk over the words (zsh's syntax and word splitting), zsh's own hooks */
	char zpath[] = "/tmp/test-cli-zsh-XXXXXX";
	fd = mkstemp(zpath);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_int_equal(cli_completion(f, "zsh", &err), 0);
	fclose(f);
	cleanup_free char *zcmd = xasprintf(
		"zsh -f -c 'compdef() { :; }; source %s; "
		"_wrenn_walk templates; _wrenn_action b; _wrenn_walk exec; _wrenn_action --wo; "
		"_wrenn_walk exec cl-1 df; _wrenn_action -; _wrenn_walk logs --tail; _wrenn_action x; "
		"_wrenn_walk completion; _wrenn_action "
		"'",
		zpath);
	FILE *zp = popen(zcmd, "r");
	assert_non_null(zp);
	char zout[4096] = "";
	size_t zn = fread(zout, 1, sizeof(zout) - 1, zp);
	zout[zn] = '\0';
	assert_int_equal(pclose(zp), 0); /* zsh is a test dependency (scripts/install-deps.sh) */
	assert_string_equal(zout,
			    "words ls build\n"
			    "words -h --help --env --workdir --user --stdin --timeout -e -w -u -i\n"
			    "files\nfiles\nwords bash zsh\n");
	unlink(zpath);
	/* zsh: same table, zsh's own hooks */
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	assert_int_equal(cli_completion(m, "zsh", &err), 0);
	fclose(m);
	assert_non_null(strstr(buf, "#compdef wrenn"));
	assert_non_null(strstr(buf, "compdef _wrenn wrenn"));
	assert_non_null(strstr(buf, "'templates build') _o='-h --help --file --tag"));
	free(buf);
	assert_int_equal(cli_completion(stdout, "fish", &err), -EINVAL);
}

static void put(const char *dir, const char *rel, const char *text)
{
	cleanup_free char *p = xasprintf("%s/%s", dir, rel);
	cleanup_free char *d = xstrdup(p);
	*strrchr(d, '/') = '\0';
	assert_int_equal(mkdir_p(d, 0755), 0);
	assert_int_equal(write_file_atomic(p, text, strlen(text), 0644), 0);
}

/* names (and one file's body) of a tar archive in fd */
static char *tar_list(int fd, const char *want_name, char **ret_body)
{
	lseek(fd, 0, SEEK_SET);
	struct archive *ar = archive_read_new();
	archive_read_support_format_tar(ar);
	assert_int_equal(archive_read_open_fd(ar, fd, 4096), ARCHIVE_OK);
	char *names = xstrdup("");
	struct archive_entry *e;
	while (archive_read_next_header(ar, &e) == ARCHIVE_OK) {
		const char *n = archive_entry_pathname(e);
		char *nn = xasprintf("%s%s%s", names, *names ? " " : "", n);
		free(names);
		names = nn;
		if (archive_entry_filetype(e) == AE_IFLNK) {
			nn = xasprintf("%s->%s", names, archive_entry_symlink(e));
			free(names);
			names = nn;
		}
		if (ret_body && strcmp(n, want_name) == 0) {
			char b[256] = "";
			la_ssize_t r = archive_read_data(ar, b, sizeof(b) - 1);
			b[r > 0 ? r : 0] = '\0';
			*ret_body = xstrdup(b);
		}
	}
	archive_read_free(ar);
	return names;
}

static void test_context_tar(void **state)
{
	(void)state;
	struct ctx_ignore ig;
	ctx_ignore_parse(&ig, "# comment\n\n*.log\n/build/\nnode_modules\n**/*.tmp\n!keep.log\n"
			      "docs/*.md\n./secret\n");
	assert_true(ctx_ignore_match(&ig, "a.log"));
	assert_false(ctx_ignore_match(&ig, "keep.log"));
	assert_false(ctx_ignore_match(&ig, "sub/a.log")); /* '*' stays in one directory */
	assert_true(ctx_ignore_match(&ig, "build"));
	assert_true(ctx_ignore_match(&ig, "build/x/y.c")); /* below an ignored directory */
	assert_false(ctx_ignore_match(&ig, "src/build"));
	assert_true(ctx_ignore_match(&ig, "node_modules/a/b.js"));
	assert_true(ctx_ignore_match(&ig, "x.tmp"));
	assert_true(ctx_ignore_match(&ig, "a/b/c/x.tmp"));
	assert_true(ctx_ignore_match(&ig, "docs/a.md"));
	assert_false(ctx_ignore_match(&ig, "docs/sub/a.md"));
	assert_true(ctx_ignore_match(&ig, "secret"));
	assert_false(ctx_ignore_match(&ig, "src/main.c"));
	ctx_ignore_done(&ig);

	char dir[] = "/tmp/test-cli-ctx-XXXXXX";
	assert_non_null(mkdtemp(dir));
	cleanup_free char *ctx = xasprintf("%s/ctx", dir);
	put(ctx, "Dockerfile", "FROM base\nCOPY . /app\n");
	put(ctx, ".dockerignore", "**/*.log\nbuild\nDockerfile\n");
	put(ctx, "app/main.py", "print('hi')\n");
	put(ctx, "app/debug.log", "noise");
	put(ctx, "build/out.o", "obj");
	put(ctx, "b.txt", "b");
	cleanup_free char *ln = xasprintf("%s/link", ctx);
	assert_int_equal(symlink("app/main.py", ln), 0);
	put(dir, "other/Dockerfile.dev", "FROM base\nRUN true\n");
	struct wr_err err = {0};

	cleanup_free char *in = NULL, *out = NULL, *sub = NULL;
	cleanup_free char *df_in = xasprintf("%s/Dockerfile", ctx);
	assert_int_equal(ctx_dockerfile_path(ctx, df_in, &in, &err), 0);
	assert_string_equal(in, "Dockerfile");
	cleanup_free char *df_out = xasprintf("%s/other/Dockerfile.dev", dir);
	assert_int_equal(ctx_dockerfile_path(ctx, df_out, &out, &err), 0);
	assert_string_equal(out, CTX_OUTSIDE_DOCKERFILE);
	cleanup_free char *df_sub = xasprintf("%s/app/../app/main.py", ctx);
	assert_int_equal(ctx_dockerfile_path(ctx, df_sub, &sub, &err), 0);
	assert_string_equal(sub, "app/main.py");
	char *none = NULL;
	cleanup_free char *df_missing = xasprintf("%s/nope", ctx);
	assert_int_equal(ctx_dockerfile_path(ctx, df_missing, &none, &err), -ENOENT);
	assert_non_null(strstr(wr_err_msg(&err), "nope"));
	assert_int_equal(ctx_dockerfile_path(df_in, df_in, &none, &err), -ENOTDIR);

	char tpath[] = "/tmp/test-cli-tar-XXXXXX";
	int fd = mkstemp(tpath);
	assert_true(fd >= 0);
	unlink(tpath);
	size_t count = 0;
	/* inside: the Dockerfile is sent although .dockerignore names it (docker does too) */
	assert_int_equal(ctx_tar_write(ctx, df_in, in, fd, &count, &err), 0);
	cleanup_free char *body = NULL;
	cleanup_free char *names = tar_list(fd, "Dockerfile", &body);
	assert_string_equal(names,
			    ".dockerignore app/ app/main.py b.txt link->app/main.py Dockerfile");
	assert_int_equal(count, 6);
	assert_string_equal(body, "FROM base\nCOPY . /app\n");
	/* outside: added as .wrenn/Dockerfile */
	assert_int_equal(ftruncate(fd, 0), 0);
	lseek(fd, 0, SEEK_SET);
	assert_int_equal(ctx_tar_write(ctx, df_out, out, fd, &count, &err), 0);
	cleanup_free char *body2 = NULL;
	cleanup_free char *names2 = tar_list(fd, ".wrenn/Dockerfile", &body2);
	assert_string_equal(names2, ".dockerignore app/ app/main.py b.txt link->app/main.py "
				    ".wrenn/Dockerfile");
	assert_string_equal(body2, "FROM base\nRUN true\n");
	close(fd);
	rm_rf(dir);
}

static void test_build_client(void **state)
{
	(void)state;
	struct cli c = {.api_url = xstrdup("http://127.0.0.1:9"), .api_key = xstrdup("e2b_x")};
	struct api a;
	struct wr_err err = {0};
	assert_int_equal(api_open(&a, &c, &err), 0);
	struct tpl_build b = {.name = "my app", .cpu = -1, .memory_mb = -1};
	cleanup_free char *p1 = tpl_build_path(&a, &b, "Dockerfile");
	assert_string_equal(p1, "/v1/templates/my%20app/builds?force=false&dockerfile=Dockerfile");
	b.cpu = 2;
	b.memory_mb = 1024;
	b.no_cache = true;
	cleanup_free char *p2 = tpl_build_path(&a, &b, ".wrenn/Dockerfile");
	assert_string_equal(
		p2, "/v1/templates/my%20app/builds?force=true&dockerfile=.wrenn%2FDockerfile"
		    "&cpuCount=2&memoryMB=1024");
	api_close(&a);
	cli_done(&c);

	json_t *st = json_loads(
		"{\"templateID\":\"t\",\"buildID\":\"b\",\"status\":\"building\",\"logEntries\":["
		"{\"timestamp\":\"2026-01-01T00:00:00Z\",\"level\":\"info\",\"message\":\"[1/3] FROM "
		"base\\n\"},"
		"{\"timestamp\":\"2026-01-01T00:00:01Z\",\"level\":\"error\",\"message\":\"[2/3] RUN "
		"false\"}]}",
		0, NULL);
	assert_non_null(st);
	cleanup_free char *l1 =
		tpl_build_log_line(3.25, json_array_get(json_object_get(st, "logEntries"), 0));
	assert_string_equal(l1, "[   3.2s] [1/3] FROM base");
	cleanup_free char *l2 =
		tpl_build_log_line(12, json_array_get(json_object_get(st, "logEntries"), 1));
	assert_string_equal(l2, "[  12.0s] error: [2/3] RUN false");
	size_t printed = 5;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	tpl_build_print_logs(st, 1.0, &printed, m);
	fclose(m);
	assert_int_equal(printed, 7); /* the next logsOffset */
	assert_string_equal(buf, "[   1.0s] [1/3] FROM base\n[   1.0s] error: [2/3] RUN false\n");
	free(buf);
	json_decref(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_ndjson_exec),
		cmocka_unit_test(test_ndjson_errors),
		cmocka_unit_test(test_pty_frames),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_status_err),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_usage_exit_codes),
		cmocka_unit_test(test_getopt_rule),
		cmocka_unit_test(test_usage_options_before_operands),
		cmocka_unit_test(test_cli_commands),
		cmocka_unit_test(test_exec_exit_codes),
		cmocka_unit_test(test_completion),
		cmocka_unit_test(test_context_tar),
		cmocka_unit_test(test_build_client),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
