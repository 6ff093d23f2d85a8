/* SPDX-License-Identifier: MIT */
/* wrenn shell ID: interactive PTY over the wrenn-pty upgrade (docs/openapi.yaml). */
#include "basic/cleanup-json.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "cli/args.h"
#include "cli/codec.h"
#include "cli/term.h"
#include "cli/util.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct shell {
	int sock;
	bool tty;      /* stdin is a terminal (put into raw mode) */
	int exit_code; /* -1 until EXIT */
	char *error;
};

static int on_frame(uint8_t type, const uint8_t *p, uint32_t n, void *ud)
{
	struct shell *sh = ud;
	switch (type) {
	case PTY_OUTPUT: {
		int r = write_full(STDOUT_FILENO, p, n);
		return r == -EPIPE ? 0 : r;
	}
	case PTY_EXIT:
		if (n == 4)
			sh->exit_code = (int)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
					      (uint32_t)p[2] << 8 | p[3]);
		else
			sh->exit_code = 255;
		return 0;
	case PTY_ERROR:
		free(sh->error);
		sh->error = xstrndup((const char *)p, n);
		return 0;
	default:
		return 0; /* unknown types are ignored (forward compatibility) */
	}
}

static int send_frame(int fd, uint8_t type, const void *payload, uint32_t n)
{
	uint8_t buf[PTY_FRAME_HDR + 4096];
	if (n > sizeof(buf) - PTY_FRAME_HDR)
		return -EINVAL;
	pty_frame_put(buf, type, payload, n);
	return write_full(fd, buf, PTY_FRAME_HDR + n);
}

static int send_resize(int sock)
{
	unsigned cols, rows;
	term_size(STDIN_FILENO, &cols, &rows);
	uint8_t p[4];
	pty_resize_payload(p, cols, rows);
	return send_frame(sock, PTY_RESIZE, p, 4);
}

static int loop(struct shell *sh, int sigfd, const char *extra, size_t extra_len,
		struct wr_err *err)
{
	struct pty_decoder dec = {0};
	int r = extra_len ? pty_decoder_feed(&dec, extra, extra_len, on_frame, sh) : 0;
	bool stdin_open = true;
	char buf[4096];
	while (r >= 0 && sh->exit_code < 0 && !sh->error) {
		struct pollfd p[3] = {
			{.fd = sh->sock, .events = POLLIN},
			{.fd = sigfd, .events = POLLIN},
			{.fd = stdin_open ? STDIN_FILENO : -1, .events = POLLIN},
		};
		/* Piped input (`echo cmds | wrenn shell ID`) ends the way a terminal user
		 * would end it: ^D, sent whenever the remote side has been quiet for a second
		 * after our stdin ended, so the remote shell exits instead of waiting forever.
		 * (Not at once: a ^D that arrives before the shell reads its terminal is lost.)
		 * A terminal's own ^D already arrives as input. */
		bool eof_pending = !stdin_open && !sh->tty;
		int pr = poll(p, 3, eof_pending ? 1000 : -1);
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			r = wr_err_errno(err, errno, "poll");
			break;
		}
		if (pr == 0 && eof_pending) {
			r = send_frame(sh->sock, PTY_INPUT, "\x04", 1);
			if (r < 0) {
				wr_err_errno(err, -r, "send");
				break;
			}
			continue;
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGWINCH) {
					send_resize(sh->sock);
				} else {
					r = wr_err_set(err, EINTR, "terminated by signal %u",
						       si.ssi_signo);
					break;
				}
			}
		}
		if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n > 0) {
				r = send_frame(sh->sock, PTY_INPUT, buf, (uint32_t)n);
				if (r < 0) {
					wr_err_errno(err, -r, "send");
					break;
				}
			} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
				/* keep reading output until the remote side exits */
				stdin_open = false;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(sh->sock, buf, sizeof(buf));
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0) {
				if (sh->exit_code < 0)
					r = wr_err_set(err, ECONNRESET,
						       "connection closed without an exit status");
				break;
			}
			r = pty_decoder_feed(&dec, buf, (size_t)n, on_frame, sh);
			if (r == -EPROTO)
				wr_err_set(err, EPROTO, "bad frame from server");
			else if (r < 0)
				wr_err_errno(err, -r, "write stdout");
		}
	}
	pty_decoder_done(&dec);
	return r;
}

int cmd_shell(struct cli *c, const struct cli_cmd *cmd, int argc, char **argv)
{
	const char *user = NULL, *shcmd = NULL, *cwd = NULL;
	struct wr_err err = {0};
	cleanup_json json_t *env = json_object();
	int o, rc = CLI_EXIT_OK;
	optind = 0;
	while ((o = cli_getopt(cmd, argc, argv, &rc)) >= 0) {
		if (o == 'u')
			user = optarg;
		else if (o == 'c')
			shcmd = optarg;
		else if (o == 'w')
			cwd = optarg;
		else if (o == 'e' && args_kv_into(env, optarg, "--env", &err) < 0)
			return cli_usage(cmd, "%s", wr_err_msg(&err));
	}
	if (o == CLI_OPT_EXIT)
		return rc;
	if (optind >= argc)
		return cli_usage(cmd, "missing sandbox ID");
	if (optind + 1 < argc)
		return cli_usage(cmd, "unexpected argument '%s'", argv[optind + 1]);
	const char *id = argv[optind];
	struct api a;
	if (api_open(&a, c, &err) < 0)
		return cli_fail(&err);
	unsigned cols, rows;
	term_size(STDIN_FILENO, &cols, &rows);
	cleanup_free char *base = sandbox_path(&a, id, "/pty");
	cleanup_free char *path = xasprintf("%s?cols=%u&rows=%u", base, cols, rows);
	if (user)
		query_add(&a, &path, "user", user);
	if (shcmd)
		query_add(&a, &path, "cmd", shcmd);
	if (cwd)
		query_add(&a, &path, "cwd", cwd);
	if (json_object_size(env)) {
		cleanup_free char *e = json_dumps(env, JSON_COMPACT);
		query_add(&a, &path, "env", e);
	}
	signal(SIGPIPE, SIG_IGN);
	/* signals arrive through a signalfd in the poll loop, so the terminal is always restored */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGWINCH);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	cleanup_close int sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sigfd < 0) {
		wr_err_errno(&err, errno, "signalfd");
		api_close(&a);
		return cli_fail(&err);
	}
	struct shell sh = {.sock = -1, .exit_code = -1};
	cleanup_free char *extra = NULL;
	size_t extra_len = 0;
	int r = api_upgrade(&a, path, "wrenn-pty", &sh.sock, &extra, &extra_len, &err);
	if (r >= 0) {
		sh.tty = isatty(STDIN_FILENO);
		if (sh.tty && term_raw(STDIN_FILENO) < 0)
			sh.tty = false;
		r = loop(&sh, sigfd, extra, extra_len, &err);
		term_restore();
	}
	if (sh.error) {
		fprintf(stderr, "wrenn: shell: %s\n", sh.error);
		rc = CLI_EXIT_FAIL;
	} else if (r < 0) {
		rc = cli_fail(&err);
	} else {
		rc = sh.exit_code & 0xff;
	}
	free(sh.error);
	api_close(&a); /* closes the socket (curl owns it) */
	return rc;
}
