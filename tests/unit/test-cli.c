/* SPDX-License-Identifier: MIT */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "cli/api.h"
#include "cli/args.h"
#include "cli/cli.h"
#include "cli/codec.h"
#include "cli/table.h"

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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
