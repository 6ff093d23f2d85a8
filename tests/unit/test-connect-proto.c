/* SPDX-License-Identifier: MIT */
/* http/connect-proto: protobuf <-> JSON transcoding with envd's descriptors (wire bytes
 * written out by hand from the protobuf encoding rules). */
#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "envd/proto/filesystem.pb-c.h"
#include "envd/proto/process.pb-c.h"
#include "http/connect-proto.h"
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

static json_t *parse(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, 0, &e);
	if (!j)
		fail_msg("bad test JSON %s: %s", s, e.text);
	return j;
}

/* JSON text -> proto bytes, compared with want[0..n). */
static void encodes_to(const ProtobufCMessageDescriptor *d, const char *js, const uint8_t *want,
		       size_t n)
{
	cleanup_json json_t *j = parse(js);
	cleanup_free uint8_t *b = NULL;
	size_t len = 99;
	struct wr_err err = {0};
	int r = connect_proto_from_json(d, j, &b, &len, &err);
	if (r < 0)
		fail_msg("encode %s: %s", js, wr_err_msg(&err));
	assert_int_equal(len, n);
	if (n)
		assert_memory_equal(b, want, n);
}

/* proto bytes -> JSON, compared with the JSON text want. */
static void decodes_to(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t n,
		       const char *want)
{
	cleanup_json json_t *j = NULL;
	struct wr_err err = {0};
	int r = connect_proto_to_json(d, buf, n, &j, &err);
	if (r < 0)
		fail_msg("decode: %s", wr_err_msg(&err));
	cleanup_json json_t *w = parse(want);
	if (!json_equal(j, w)) {
		cleanup_free char *got = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
		fail_msg("decoded %s, want %s", got, want);
	}
}

/* JSON -> proto -> JSON gives the same JSON back. */
static void round_trip(const ProtobufCMessageDescriptor *d, const char *js)
{
	cleanup_json json_t *j = parse(js);
	cleanup_free uint8_t *b = NULL;
	size_t len = 0;
	struct wr_err err = {0};
	if (connect_proto_from_json(d, j, &b, &len, &err) < 0)
		fail_msg("encode %s: %s", js, wr_err_msg(&err));
	decodes_to(d, b, len, js);
}

static void refuses(const ProtobufCMessageDescriptor *d, const char *js, const char *why)
{
	cleanup_json json_t *j = parse(js);
	cleanup_free uint8_t *b = NULL;
	size_t len = 0;
	struct wr_err err = {0};
	assert_int_equal(connect_proto_from_json(d, j, &b, &len, &err), -EINVAL);
	assert_null(b);
	if (!strstr(wr_err_msg(&err), why))
		fail_msg("error for %s is '%s', want it to name '%s'", js, wr_err_msg(&err), why);
}

static void test_nested_oneof_wire(void **state)
{
	(void)state;
	/* StartResponse{event: ProcessEvent{start: StartEvent{pid: 42}}} */
	static const uint8_t start[] = {0x0a, 0x04, 0x0a, 0x02, 0x08, 0x2a};
	encodes_to(&process__start_response__descriptor, "{\"event\":{\"start\":{\"pid\":42}}}",
		   start, sizeof(start));
	decodes_to(&process__start_response__descriptor, start, sizeof(start),
		   "{\"event\":{\"start\":{\"pid\":42}}}");
	/* data.stdout is bytes: base64 in JSON ("aGkK" = "hi\n") */
	static const uint8_t data[] = {0x0a, 0x07, 0x12, 0x05, 0x0a, 0x03, 'h', 'i', '\n'};
	encodes_to(&process__start_response__descriptor,
		   "{\"event\":{\"data\":{\"stdout\":\"aGkK\"}}}", data, sizeof(data));
	decodes_to(&process__start_response__descriptor, data, sizeof(data),
		   "{\"event\":{\"data\":{\"stdout\":\"aGkK\"}}}");
	/* end: sint32 -1 zigzags to 1; an empty keepalive message is still present */
	static const uint8_t end[] = {0x0a, 0x06, 0x1a, 0x04, 0x08, 0x01, 0x10, 0x01};
	encodes_to(&process__start_response__descriptor,
		   "{\"event\":{\"end\":{\"exitCode\":-1,\"exited\":true}}}", end, sizeof(end));
	static const uint8_t ka[] = {0x0a, 0x02, 0x22, 0x00};
	encodes_to(&process__start_response__descriptor, "{\"event\":{\"keepalive\":{}}}", ka,
		   sizeof(ka));
	decodes_to(&process__start_response__descriptor, ka, sizeof(ka),
		   "{\"event\":{\"keepalive\":{}}}");
}

static void test_request_decoding(void **state)
{
	(void)state;
	/* ListDirRequest{path: "/tmp", depth: 2}, then an unknown field 15 (varint 7): ignored,
	 * as every protobuf reader does */
	static const uint8_t ls[] = {0x0a, 0x04, '/', 't', 'm', 'p', 0x10, 0x02, 0x78, 0x07};
	decodes_to(&filesystem__list_dir_request__descriptor, ls, sizeof(ls),
		   "{\"path\":\"/tmp\",\"depth\":2}");
	/* an empty message: no fields at all, not zero values */
	decodes_to(&filesystem__list_dir_request__descriptor, ls, 0, "{}");
	/* an explicit zero is kept (the handler sees what was sent) */
	static const uint8_t zero[] = {0x10, 0x00};
	decodes_to(&filesystem__list_dir_request__descriptor, zero, sizeof(zero), "{\"depth\":0}");
	/* SendSignalRequest{process: {pid: 7}, signal: SIGKILL (9)}: enum by name */
	static const uint8_t sig[] = {0x0a, 0x02, 0x08, 0x07, 0x10, 0x09};
	decodes_to(&process__send_signal_request__descriptor, sig, sizeof(sig),
		   "{\"process\":{\"pid\":7},\"signal\":\"SIGNAL_SIGKILL\"}");
	/* StartRequest with a map (envs) and a repeated string (args) */
	static const uint8_t st[] = {0x0a, 0x12, 0x0a, 0x02, 's', 'h',	0x12, 0x02, '-', 'c',
				     0x1a, 0x08, 0x0a, 0x01, 'A', 0x12, 0x03, 'b',  'c', 'd'};
	decodes_to(&process__start_request__descriptor, st, sizeof(st),
		   "{\"process\":{\"cmd\":\"sh\",\"args\":[\"-c\"],\"envs\":{\"A\":\"bcd\"}}}");
}

static void test_round_trips(void **state)
{
	(void)state;
	round_trip(&process__start_request__descriptor,
		   "{\"process\":{\"cmd\":\"/bin/bash\",\"args\":[\"-i\",\"-l\"],"
		   "\"envs\":{\"TERM\":\"xterm\",\"LANG\":\"C.UTF-8\"},\"cwd\":\"/tmp\"},"
		   "\"pty\":{\"size\":{\"cols\":80,\"rows\":24}},\"tag\":\"t1\",\"stdin\":true}");
	/* EntryInfo: int64 size as a string (also above 2^53), enum names, a timestamp, a
	 * map, the optional symlink target */
	round_trip(&filesystem__stat_response__descriptor,
		   "{\"entry\":{\"name\":\"a\",\"type\":\"FILE_TYPE_SYMLINK\",\"path\":\"/a\","
		   "\"size\":\"9007199254740993\",\"mode\":420,\"permissions\":\"-rw-r--r--\","
		   "\"owner\":\"root\",\"group\":\"root\","
		   "\"modifiedTime\":\"2024-01-02T03:04:05.123456789Z\",\"symlinkTarget\":\"/b\","
		   "\"metadata\":{\"k\":\"v\"},\"isSymlink\":true}}");
	round_trip(&filesystem__get_watcher_events_response__descriptor,
		   "{\"events\":[{\"name\":\"x\",\"type\":\"EVENT_TYPE_CREATE\"},"
		   "{\"name\":\"y\",\"type\":\"EVENT_TYPE_REMOVE\"}]}");
	round_trip(&process__list_response__descriptor,
		   "{\"processes\":[{\"config\":{\"cmd\":\"sleep\",\"args\":[\"9\"]},"
		   "\"pid\":12,\"tag\":\"x\"}]}");
}

static void test_accepted_json_forms(void **state)
{
	(void)state;
	/* numbers for int64, strings for 32-bit ints, proto names beside JSON names, enum
	 * numbers, RFC 3339 offsets: all accepted, all give the canonical form back */
	cleanup_json json_t *j =
		parse("{\"entry\":{\"size\":12,\"mode\":\"420\",\"is_symlink\":true,"
		      "\"type\":2,\"modified_time\":\"2024-01-02T05:04:05+02:00\"}}");
	cleanup_free uint8_t *b = NULL;
	size_t n = 0;
	struct wr_err err = {0};
	assert_int_equal(
		connect_proto_from_json(&filesystem__stat_response__descriptor, j, &b, &n, &err),
		0);
	decodes_to(&filesystem__stat_response__descriptor, b, n,
		   "{\"entry\":{\"size\":\"12\",\"mode\":420,\"isSymlink\":true,"
		   "\"type\":\"FILE_TYPE_DIRECTORY\",\"modifiedTime\":\"2024-01-02T03:04:05Z\"}}");
	/* null is the default: the field is left out */
	encodes_to(&filesystem__list_dir_request__descriptor, "{\"path\":null}", NULL, 0);
}

static void test_refusals(void **state)
{
	(void)state;
	const ProtobufCMessageDescriptor *st = &filesystem__stat_response__descriptor;
	refuses(st, "{\"entry\":{\"nope\":1}}", "entry.nope");
	refuses(st, "{\"entry\":{\"mode\":\"x\"}}", "entry.mode");
	refuses(st, "{\"entry\":{\"mode\":-1}}", "entry.mode");
	refuses(st, "{\"entry\":{\"mode\":4294967296}}", "entry.mode");
	refuses(st, "{\"entry\":{\"type\":\"FILE_TYPE_SOCKET\"}}", "FILE_TYPE_SOCKET");
	refuses(st, "{\"entry\":{\"name\":5}}", "entry.name");
	refuses(st, "{\"entry\":{\"isSymlink\":1}}", "entry.isSymlink");
	refuses(st, "{\"entry\":{\"modifiedTime\":\"yesterday\"}}", "entry.modifiedTime");
	refuses(st, "{\"entry\":{\"metadata\":[]}}", "entry.metadata");
	refuses(st, "{\"entry\":[]}", "entry");
	refuses(&process__start_response__descriptor,
		"{\"event\":{\"start\":{\"pid\":1},\"keepalive\":{}}}", "oneof");
	refuses(&process__start_response__descriptor,
		"{\"event\":{\"data\":{\"stdout\":\"not base64!\"}}}", "event.data.stdout");
	refuses(&process__list_response__descriptor, "{\"processes\":[{\"pid\":1},{\"pid\":true}]}",
		"processes[1].pid");
	/* a truncated or malformed wire message */
	static const uint8_t bad[] = {0x0a, 0x09, '/', 't'};
	cleanup_json json_t *j = NULL;
	struct wr_err err = {0};
	assert_int_equal(connect_proto_to_json(&filesystem__list_dir_request__descriptor, bad,
					       sizeof(bad), &j, &err),
			 -EINVAL);
	assert_null(j);
	assert_non_null(strstr(wr_err_msg(&err), "filesystem.ListDirRequest"));
	/* wire type mismatch: field 1 (a string) sent as a varint */
	static const uint8_t wt[] = {0x08, 0x01};
	assert_int_equal(connect_proto_to_json(&filesystem__list_dir_request__descriptor, wt,
					       sizeof(wt), &j, &err),
			 -EINVAL);
}

static void test_codec_vtable(void **state)
{
	(void)state;
	assert_string_equal(connect_proto_codec.name, "proto");
	cleanup_json json_t *in = parse("{\"path\":\"/x\"}");
	cleanup_free uint8_t *b = NULL;
	size_t n = 0;
	assert_int_equal(
		connect_proto_codec.encode(&filesystem__stat_request__descriptor, in, &b, &n, NULL),
		0);
	static const uint8_t want[] = {0x0a, 0x02, '/', 'x'};
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(b, want, n);
	cleanup_json json_t *out = NULL;
	assert_int_equal(
		connect_proto_codec.decode(&filesystem__stat_request__descriptor, b, n, &out, NULL),
		0);
	assert_true(json_equal(in, out));
}

/* ------------------------------------------ the codec hook of http/connect.c, over HTTP */

/* A Connect handler like envd's: JSON inside, the codec named from the Content-Type.
 * /unary: Stat-like (reads {path}, answers an entry); /stream: ListDir-like (reads {path},
 * streams two answers); /bad: streams a message the answer type cannot hold. */
static void rpc_handler(struct http_req *req, void *ud)
{
	(void)ud;
	const char *path = http_req_path(req);
	bool unary = !strcmp(path, "/unary");
	char name[32];
	bool stream = false;
	const char *codec = connect_content_codec(req, name, sizeof(name), &stream);
	if (codec && !strcmp(codec, "proto"))
		connect_use_codec(req, &connect_proto_codec,
				  unary ? &filesystem__stat_request__descriptor
					: &filesystem__list_dir_request__descriptor,
				  unary ? &filesystem__stat_response__descriptor
					: &filesystem__list_dir_response__descriptor);
	struct wr_err err = {0};
	enum connect_code code;
	cleanup_json json_t *msg = NULL;
	if (!connect_content_type_ok(req, !unary)) {
		http_resp_text(req, 415, "text/plain", "content type\n");
	} else if (unary) {
		if (connect_read_json(req, 4096, &msg, &code, &err) < 0) {
			connect_reply_error(req, code, "%s", wr_err_msg(&err));
		} else {
			cleanup_json json_t *o = json_pack("{s:{s:s}}", "entry", "size", "5");
			json_t *pathv = json_object_get(msg, "path");
			if (pathv)
				json_object_set(json_object_get(o, "entry"), "name", pathv);
			connect_reply_json(req, o);
		}
	} else if (connect_read_env_json(req, 4096, &msg, &code, &err) < 0) {
		if (connect_stream_begin(req) == 0)
			connect_stream_end(req, code, wr_err_msg(&err));
	} else {
		connect_stream_begin(req);
		cleanup_json json_t *a =
			json_pack("{s:[{s:O}]}", "entries", "name", json_object_get(msg, "path"));
		cleanup_json json_t *b = !strcmp(path, "/bad") ? json_pack("{s:i}", "nope", 1)
							       : json_pack("{s:[]}", "entries");
		if (connect_stream_send(req, a) == 0 && connect_stream_send(req, b) == 0)
			connect_stream_end(req, CONNECT_OK, NULL);
	}
	connect_use_codec(req, NULL, NULL, NULL);
}

struct server {
	struct http_server *srv;
	int lfd, port;
	pthread_t thr;
};

static void *serve(void *arg)
{
	struct server *f = arg;
	http_server_run(f->srv, f->lfd);
	return NULL;
}

static int server_up(void **state)
{
	struct server *f = xcalloc(1, sizeof(*f));
	struct http_server_config cfg = {.idle_timeout_ms = 5000};
	struct wr_err err = {0};
	assert_int_equal(http_listen_tcp("127.0.0.1:0", &f->lfd, &f->port, &err), 0);
	f->srv = http_server_new(&cfg, rpc_handler, NULL);
	assert_int_equal(pthread_create(&f->thr, NULL, serve, f), 0);
	*state = f;
	return 0;
}

static int server_down(void **state)
{
	struct server *f = *state;
	http_server_stop(f->srv, 1000);
	pthread_join(f->thr, NULL);
	http_server_free(f->srv);
	close(f->lfd);
	free(f);
	return 0;
}

struct answer {
	char head[2048];
	uint8_t body[4096];
	size_t len;
};

/* POST body to path with content type ct ("Connection: close"); the answer's head and its
 * (de-chunked) body. */
static void post(struct server *f, const char *path, const char *ct, const void *body, size_t n,
		 struct answer *a)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	struct timeval tv = {.tv_sec = 5};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	char req[512];
	int k = snprintf(req, sizeof(req),
			 "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 path, ct, n);
	assert_int_equal(write_full(fd, req, (size_t)k), 0);
	if (n)
		assert_int_equal(write_full(fd, body, n), 0);
	static char raw[16384];
	size_t len = 0;
	ssize_t r;
	while ((r = read(fd, raw + len, sizeof(raw) - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	raw[len] = '\0';
	char *end = strstr(raw, "\r\n\r\n");
	assert_non_null(end);
	size_t hl = (size_t)(end - raw);
	assert_true(hl < sizeof(a->head));
	memcpy(a->head, raw, hl);
	a->head[hl] = '\0';
	const char *p = end + 4, *stop = raw + len;
	a->len = 0;
	if (!strstr(a->head, "chunked")) {
		a->len = (size_t)(stop - p);
		memcpy(a->body, p, a->len);
		a->body[a->len] = 0;
		return;
	}
	for (;;) {
		char *e;
		unsigned long c = strtoul(p, &e, 16);
		p = strstr(e, "\r\n") + 2;
		if (!c)
			break;
		memcpy(a->body + a->len, p, c);
		a->len += c;
		p += c + 2;
	}
	a->body[a->len] = 0;
}

static void test_codec_over_http(void **state)
{
	struct server *f = *state;
	struct answer a;
	/* unary: StatRequest{path: "/x"} -> StatResponse{entry: {name: "/x", size: 5}} */
	static const uint8_t stat[] = {0x0a, 0x02, '/', 'x'};
	post(f, "/unary", "application/proto", stat, sizeof(stat), &a);
	assert_non_null(strstr(a.head, " 200 "));
	assert_non_null(strstr(a.head, "Content-Type: application/proto\r"));
	static const uint8_t entry[] = {0x0a, 0x06, 0x0a, 0x02, '/', 'x', 0x20, 0x05};
	assert_int_equal(a.len, sizeof(entry));
	assert_memory_equal(a.body, entry, sizeof(entry));
	/* the same handler in JSON, and an empty proto body (all fields absent) */
	const char *js = "{\"path\":\"/y\"}";
	post(f, "/unary", "application/json", js, strlen(js), &a);
	assert_non_null(strstr(a.head, "Content-Type: application/json\r"));
	assert_non_null(strstr((char *)a.body, "\"name\":\"/y\""));
	post(f, "/unary", "application/proto", "", 0, &a);
	assert_non_null(strstr(a.head, " 200 "));
	static const uint8_t noname[] = {0x0a, 0x02, 0x20, 0x05};
	assert_int_equal(a.len, sizeof(noname));
	assert_memory_equal(a.body, noname, sizeof(noname));
	/* a bad proto body: a Connect error, JSON as the protocol has it */
	post(f, "/unary", "application/proto", "\x0a\x09/t", 4, &a);
	assert_non_null(strstr(a.head, " 400 "));
	assert_non_null(strstr(a.head, "Content-Type: application/json\r"));
	assert_non_null(strstr((char *)a.body, "invalid_argument"));
	/* the streaming form of the codec on a unary call */
	post(f, "/unary", "application/connect+proto", stat, sizeof(stat), &a);
	assert_non_null(strstr(a.head, " 415 "));

	/* server streaming: two proto messages, then the JSON end-of-stream message */
	static const uint8_t ls[] = {0, 0, 0, 0, 4, 0x0a, 0x02, '/', 'd'};
	post(f, "/stream", "application/connect+proto", ls, sizeof(ls), &a);
	assert_non_null(strstr(a.head, "Content-Type: application/connect+proto\r"));
	static const uint8_t frames[] = {0, 0, 0, 0, 6, 0x0a, 0x04, 0x0a, 0x02, '/', 'd', 0,
					 0, 0, 0, 0, 2, 0,    0,    0,	  2,	'{', '}'};
	assert_int_equal(a.len, sizeof(frames));
	assert_memory_equal(a.body, frames, sizeof(frames));
	/* an answer the type cannot hold: the stream ends with an internal error naming it */
	post(f, "/bad", "application/connect+proto", ls, sizeof(ls), &a);
	assert_int_equal(a.body[11], CONNECT_FLAG_END);
	assert_non_null(strstr((char *)a.body + 16, "\"code\":\"internal\""));
	assert_non_null(strstr((char *)a.body + 16, "nope"));
	/* a bad request envelope: an end-of-stream error (the JSON stream keeps its JSON) */
	post(f, "/stream", "application/connect+proto", "\0\0\0\0\2\x0a\x09", 7, &a);
	assert_int_equal(a.body[0], CONNECT_FLAG_END);
	assert_non_null(strstr((char *)a.body + 5, "invalid_argument"));
	static const char jenv[] = "\0\0\0\0\x0d{\"path\":\"/e\"}";
	post(f, "/stream", "application/connect+json", jenv, sizeof(jenv) - 1, &a);
	assert_non_null(strstr(a.head, "Content-Type: application/connect+json\r"));
	assert_non_null(strstr((char *)a.body + 5, "{\"entries\":[{\"name\":\"/e\"}]}"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_codec_over_http, server_up, server_down),
		cmocka_unit_test(test_nested_oneof_wire),
		cmocka_unit_test(test_request_decoding),
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_accepted_json_forms),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_codec_vtable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
