/* SPDX-License-Identifier: MIT */
/* wrenn logs [-f] [--tail BYTES] ID: the VMM / serial console log, streamed to stdout; -f polls
 * for new bytes (GET .../logs?offset=N) until the sandbox is gone or Ctrl-C. */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "cli/args.h"
#include "cli/util.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FOLLOW_POLL_MS 500

struct logs_out {
	struct wr_err *err;
	int64_t written; /* bytes received (the next offset when following) */
	char *buf;	 /* when set: collect instead of printing (--tail with -f) */
	size_t len, cap;
};

static int to_stdout(const char *data, size_t n, void *ud)
{
	struct logs_out *o = ud;
	o->written += (int64_t)n;
	if (o->cap) {
		if (o->len + n > o->cap) {
			o->cap = (o->len + n) * 2;
			o->buf = xrealloc(o->buf, o->cap);
		}
		memcpy(o->buf + o->len, data, n);
		o->len += n;
		return 0;
	}
	int r = write_full(1, data, n);
	return r < 0 ? wr_err_errno(o->err, -r, "write stdout") : 0;
}

static int get(struct api *a, const char *path, struct logs_out *o)
{
	struct api_req rq = API_REQ_INIT;
	rq.method = "GET";
	rq.path = path;
	rq.sink = to_stdout;
	rq.sink_ud = o;
	struct api_resp resp = {0};
	int r = api_do(a, &rq, &resp, o->err);
	/* The agent names the offset to go on from (logs rotate: offsets are logical). */
	char *end = NULL;
	long long next = resp.next_token ? strtoll(resp.next_token, &end, 10) : -1;
	if (r >= 0 && end && !*end && next >= 0)
		o->written = next;
	api_resp_done(&resp);
	return r;
}

static int follow(struct api *a, const char *base, long tail, struct wr_err *err)
{
	struct logs_out o = {.err = err};
	if (tail) {
		/* the absolute end is needed to go on: read it all, print the last bytes */
		o.cap = 65536;
		o.buf = xmalloc(o.cap);
	}
	int r = get(a, base, &o);
	if (r >= 0 && tail) {
		size_t skip = o.len > (size_t)tail ? o.len - (size_t)tail : 0;
		r = write_full(1, o.buf + skip, o.len - skip);
		if (r < 0)
			wr_err_errno(err, -r, "write stdout");
	}
	free(o.buf);
	o.buf = NULL;
	o.cap = o.len = 0;
	while (r >= 0 && !api_interrupted) {
		struct timespec ts = {0, FOLLOW_POLL_MS * 1000000L};
		nanosleep(&ts, NULL);
		if (api_interrupted)
			break;
		cleanup_free char *path = xasprintf("%s?offset=%lld", base, (long long)o.written);
		r = get(a, path, &o);
		if (r == -ENOENT)
			return 0; /* the sandbox is gone: the log has ended */
	}
	if (api_interrupted)
		return -EINTR;
	return r;
}

int cmd_logs(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	long tail = 0;
	bool fol = false;
	struct wr_err err = {0};
	int o, rc = CLI_EXIT_OK;
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, &rc)) >= 0) {
		if (o == 'f')
			fol = true;
		else if (o == OPT_TAIL && args_int(optarg, 1, 1L << 40, "--tail", &tail, &err) < 0)
			return cli_usage(cmd, "%s", wr_err_msg(&err));
	}
	if (o == CLI_OPT_EXIT)
		return rc;
	if (optind >= argc)
		return cli_usage(cmd, "missing sandbox ID");
	if (optind + 1 < argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind + 1]);
	const char *id = argv[optind];
	if (fol)
		install_interrupt_handlers();
	else
		signal(SIGPIPE, SIG_IGN);
	struct api a;
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	cleanup_free char *base = sandbox_path(&a, id, "/logs");
	int r;
	if (fol) {
		r = follow(&a, base, tail, &err);
	} else {
		cleanup_free char *path =
			tail ? xasprintf("%s?tail=%ld", base, tail) : xstrdup(base);
		struct logs_out lo = {.err = &err};
		r = get(&a, path, &lo);
	}
	api_close(&a);
	if (r == -EPIPE)
		return CLI_EXIT_OK;
	if (r == -EINTR)
		return 130;
	return r < 0 ? cli_fail(&err) : CLI_EXIT_OK;
}
