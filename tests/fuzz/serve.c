/* SPDX-License-Identifier: MIT */
#include "serve.h"

#include "basic/fdio.h"
#include "http/msg.h"
#include "http/server-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

void fuzz_serve(const uint8_t *data, size_t size, http_handler_fn handler, unsigned max_requests)
{
	if (size > FUZZ_SERVE_MAX)
		return;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	int big = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	if (size && write_full(sv[0], data, size) < 0)
		abort();
	shutdown(sv[0], SHUT_WR);

	/* Small limits so the limit paths are reachable with small inputs. */
	struct http_server_config cfg = {.max_header_bytes = 4096,
					 .max_headers = 16,
					 .max_body_bytes = 8192,
					 .idle_timeout_ms = 1000};
	struct http_server *srv = http_server_new(&cfg, handler, NULL);
	struct http_msg m;
	http_msg_init(&m, sv[1], HTTP_REQUEST);
	m.timeout_ms = cfg.idle_timeout_ms;
	m.max_head = cfg.max_header_bytes;
	m.max_headers = cfg.max_headers;
	for (unsigned i = 0; i < max_requests; i++) {
		if (http_msg_read_head(&m) < 0)
			break;
		bool taken = false;
		bool keep = http_serve_one(srv, &cfg, &m, "fuzz", handler, NULL, &taken);
		if (taken) {
			sv[1] = -1; /* the handler owns (and closed) it */
			break;
		}
		http_msg_reset_head(&m);
		if (!keep)
			break;
	}
	http_msg_done(&m);
	http_server_free(srv);
	if (sv[1] >= 0)
		close(sv[1]);
	close(sv[0]);
}
