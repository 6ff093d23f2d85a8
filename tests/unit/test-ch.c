/* SPDX-License-Identifier: MIT */
/*
 * Cloud Hypervisor client against a local unix-socket server that records
 * every request and checks method, path and JSON body against CH's API
 * (reference/vmm.md §1.2-1.3): create -> boot -> pause -> snapshot ->
 * resume -> shutdown, plus ping, info, restore and an error reply.
 */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "vm/ch-api.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_REQ 16

struct rec {
	char method[8];
	char path[64];
	char *body;
};

struct server {
	int lfd;
	int n; /* requests to serve */
	struct rec req[MAX_REQ];
	const char *fail_path; /* answer 405 for this path */
};

static char *read_request(int fd, struct rec *r)
{
	size_t cap = 65536, len = 0;
	char *buf = xmalloc(cap + 1);
	char *end = NULL;
	while (!end && len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	if (!end) {
		free(buf);
		return NULL;
	}
	sscanf(buf, "%7s %63s", r->method, r->path);
	size_t clen = 0;
	const char *cl = strcasestr(buf, "\r\nContent-Length:");
	if (cl && cl < end)
		clen = strtoul(cl + 17, NULL, 10);
	size_t have = len - (size_t)(end + 4 - buf);
	char *body = xmalloc(clen + 1);
	memcpy(body, end + 4, have < clen ? have : clen);
	if (have < clen && read_full(fd, body + have, clen - have) < 0)
		clen = have;
	body[clen] = '\0';
	free(buf);
	return body;
}

static void *serve(void *arg)
{
	struct server *s = arg;
	for (int i = 0; i < s->n; i++) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			break;
		struct rec *r = &s->req[i];
		r->body = read_request(fd, r);
		const char *status = "200 OK", *body = NULL;
		if (s->fail_path && strstr(r->path, s->fail_path)) {
			status = "405 Method Not Allowed";
			body = "VM is not in the right state\n";
		} else if (!strcmp(r->path, "/api/v1/vmm.ping")) {
			body = "{\"build_version\":\"v53.0\",\"version\":\"53.0.0\",\"pid\":1}";
		} else if (!strcmp(r->path, "/api/v1/vm.info")) {
			body = "{\"config\":{},\"state\":\"Paused\"}";
		} else {
			status = "204 No Content";
		}
		char resp[512];
		if (body)
			snprintf(resp, sizeof(resp), "HTTP/1.1 %s\r\nContent-Length: %zu\r\n\r\n%s",
				 status, strlen(body), body);
		else
			snprintf(resp, sizeof(resp), "HTTP/1.1 %s\r\n\r\n", status);
		write_full(fd, resp, strlen(resp));
		close(fd);
	}
	return NULL;
}

struct fixture {
	char dir[64];
	char sock[96];
	struct server srv;
	pthread_t th;
};

static void start_server(struct fixture *f, int n, const char *fail)
{
	strcpy(f->dir, "/tmp/test-ch-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/api.sock", f->dir);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	strcpy(sa.sun_path, f->sock);
	f->srv = (struct server){.n = n, .fail_path = fail};
	f->srv.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->srv.lfd >= 0);
	assert_int_equal(bind(f->srv.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->srv.lfd, 8), 0);
	assert_int_equal(pthread_create(&f->th, NULL, serve, &f->srv), 0);
}

static void stop_server(struct fixture *f)
{
	pthread_join(f->th, NULL);
	close(f->srv.lfd);
	unlink(f->sock);
	rmdir(f->dir);
}

static void free_reqs(struct fixture *f)
{
	for (int i = 0; i < MAX_REQ; i++)
		free(f->srv.req[i].body);
}

static json_t *body_of(const struct rec *r)
{
	json_error_t je;
	json_t *j = json_loads(r->body, 0, &je);
	assert_non_null(j);
	return j;
}

static void assert_req(const struct rec *r, const char *method, const char *endpoint)
{
	char path[64];
	snprintf(path, sizeof(path), "/api/v1/%s", endpoint);
	assert_string_equal(r->method, method);
	assert_string_equal(r->path, path);
}

static const char *sget(json_t *o, const char *path)
{
	/* "a.b" -> o[a][b] */
	char buf[64];
	snprintf(buf, sizeof(buf), "%s", path);
	char *dot = strchr(buf, '.');
	if (dot) {
		*dot = '\0';
		o = json_object_get(o, buf);
		return json_string_value(json_object_get(o, dot + 1));
	}
	return json_string_value(json_object_get(o, buf));
}

static void test_lifecycle_sequence(void **state)
{
	(void)state;
	struct fixture f;
	start_server(&f, 9, NULL);
	struct ch_api a = {.socket_path = f.sock, .timeout_ms = 5000};
	struct wr_err err = {0};
	struct ch_vm_spec s = {
		.kernel = "/tmp/ch-vm-cl-1/vmlinux",
		.cmdline = "console=ttyS0 root=/dev/vda rw",
		.vcpus = 2,
		.memory_bytes = 512ull << 20,
		.shared_mem = true,
		.disk = "/tmp/ch-vm-cl-1/rootfs",
		.disk_format = "qcow2",
		.tap = "tap0",
		.mac = "02:FC:00:00:00:05",
		.serial_file = "/var/lib/wrenn/sandboxes/cl-1/serial.log",
	};
	assert_int_equal(ch_api_ping(&a, &err), 0);
	assert_int_equal(ch_api_create(&a, &s, &err), 0);
	assert_int_equal(ch_api_put(&a, "vm.boot", &err), 0);
	assert_int_equal(ch_api_put(&a, "vm.pause", &err), 0);
	cleanup_free char *st = NULL;
	assert_int_equal(ch_api_state(&a, &st, &err), 0);
	assert_string_equal(st, "Paused");
	assert_int_equal(ch_api_snapshot(&a, "/var/lib/wrenn/sandboxes/cl-1/snap", &err), 0);
	assert_int_equal(ch_api_put(&a, "vm.resume", &err), 0);
	assert_int_equal(ch_api_put(&a, "vm.shutdown", &err), 0);
	assert_int_equal(ch_api_put(&a, "vmm.shutdown", &err), 0);
	stop_server(&f);

	struct rec *r = f.srv.req;
	assert_req(&r[0], "GET", "vmm.ping");
	assert_req(&r[1], "PUT", "vm.create");
	json_t *c = body_of(&r[1]);
	assert_string_equal(sget(c, "payload.kernel"), "/tmp/ch-vm-cl-1/vmlinux");
	assert_string_equal(sget(c, "payload.cmdline"), "console=ttyS0 root=/dev/vda rw");
	json_t *cpus = json_object_get(c, "cpus");
	assert_int_equal(json_integer_value(json_object_get(cpus, "boot_vcpus")), 2);
	assert_int_equal(json_integer_value(json_object_get(cpus, "max_vcpus")), 2);
	json_t *mem = json_object_get(c, "memory");
	assert_int_equal(json_integer_value(json_object_get(mem, "size")), 512ll << 20);
	assert_true(json_is_true(json_object_get(mem, "shared")));
	json_t *disk = json_array_get(json_object_get(c, "disks"), 0);
	assert_string_equal(json_string_value(json_object_get(disk, "path")),
			    "/tmp/ch-vm-cl-1/rootfs");
	assert_string_equal(json_string_value(json_object_get(disk, "image_type")), "Qcow2");
	json_t *net = json_array_get(json_object_get(c, "net"), 0);
	assert_string_equal(json_string_value(json_object_get(net, "tap")), "tap0");
	assert_string_equal(json_string_value(json_object_get(net, "mac")), "02:FC:00:00:00:05");
	assert_int_equal(json_array_size(json_object_get(c, "net")), 1);
	assert_string_equal(sget(c, "rng.src"), "/dev/urandom");
	assert_string_equal(sget(c, "serial.mode"), "File");
	assert_string_equal(sget(c, "serial.file"), "/var/lib/wrenn/sandboxes/cl-1/serial.log");
	assert_string_equal(sget(c, "console.mode"), "Off");
	json_decref(c);
	assert_req(&r[2], "PUT", "vm.boot");
	assert_string_equal(r[2].body, "");
	assert_req(&r[3], "PUT", "vm.pause");
	assert_req(&r[4], "GET", "vm.info");
	assert_req(&r[5], "PUT", "vm.snapshot");
	json_t *sn = body_of(&r[5]);
	assert_string_equal(sget(sn, "destination_url"),
			    "file:///var/lib/wrenn/sandboxes/cl-1/snap");
	assert_int_equal(json_object_size(sn), 1);
	json_decref(sn);
	assert_req(&r[6], "PUT", "vm.resume");
	assert_req(&r[7], "PUT", "vm.shutdown");
	assert_req(&r[8], "PUT", "vmm.shutdown");
	free_reqs(&f);
}

static void test_restore_body_and_tty_serial(void **state)
{
	(void)state;
	struct fixture f;
	start_server(&f, 2, NULL);
	struct ch_api a = {.socket_path = f.sock};
	struct wr_err err = {0};
	assert_int_equal(ch_api_restore(&a, "/var/lib/wrenn/snap/t1", true, &err), 0);
	struct ch_vm_spec s = {.kernel = "/k",
			       .cmdline = "",
			       .vcpus = 1,
			       .memory_bytes = 1,
			       .disk = "/d",
			       .tap = "tap0",
			       .mac = "02:00:00:00:00:01"};
	assert_int_equal(ch_api_create(&a, &s, &err), 0);
	stop_server(&f);
	assert_req(&f.srv.req[0], "PUT", "vm.restore");
	json_t *b = body_of(&f.srv.req[0]);
	assert_string_equal(sget(b, "source_url"), "file:///var/lib/wrenn/snap/t1");
	assert_string_equal(sget(b, "memory_restore_mode"), "OnDemand");
	assert_true(json_is_true(json_object_get(b, "resume")));
	json_decref(b);
	json_t *c = body_of(&f.srv.req[1]);
	assert_string_equal(sget(c, "serial.mode"), "Tty");
	assert_false(json_is_true(json_object_get(json_object_get(c, "memory"), "shared")));
	assert_string_equal(json_string_value(json_object_get(
				    json_array_get(json_object_get(c, "disks"), 0), "image_type")),
			    "Raw");
	json_decref(c);
	free_reqs(&f);
}

static void test_error_reply_is_reported(void **state)
{
	(void)state;
	struct fixture f;
	start_server(&f, 1, "vm.pause");
	struct ch_api a = {.socket_path = f.sock};
	struct wr_err err = {0};
	assert_int_equal(ch_api_put(&a, "vm.pause", &err), -EIO);
	assert_non_null(strstr(wr_err_msg(&err), "HTTP 405"));
	assert_non_null(strstr(wr_err_msg(&err), "VM is not in the right state"));
	stop_server(&f);
	free_reqs(&f);
}

static void test_no_server(void **state)
{
	(void)state;
	struct ch_api a = {.socket_path = "/nonexistent/ch.sock"};
	struct wr_err err = {0};
	assert_int_equal(ch_api_ping(&a, &err), -ENOENT);
	assert_non_null(strstr(wr_err_msg(&err), "vmm.ping"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lifecycle_sequence),
		cmocka_unit_test(test_restore_body_and_tty_serial),
		cmocka_unit_test(test_error_reply_is_reported),
		cmocka_unit_test(test_no_server),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
