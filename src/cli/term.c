/* SPDX-License-Identifier: MIT */
#include "cli/term.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

static struct termios saved;
static int saved_fd = -1;

void term_restore(void)
{
	if (saved_fd < 0)
		return;
	/* TCSADRAIN, not TCSAFLUSH: input typed after the shell ended belongs to the next program */
	tcsetattr(saved_fd, TCSADRAIN, &saved);
	saved_fd = -1;
}

int term_raw(int fd)
{
	struct termios t;
	if (tcgetattr(fd, &t) < 0)
		return -errno;
	saved = t;
	static bool registered;
	if (!registered) {
		atexit(term_restore);
		registered = true;
	}
	cfmakeraw(&t);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	/* TCSANOW keeps type-ahead: keys pressed while the sandbox shell was starting are sent */
	if (tcsetattr(fd, TCSANOW, &t) < 0)
		return -errno;
	saved_fd = fd;
	return 0;
}

void term_size(int fd, unsigned *cols, unsigned *rows)
{
	struct winsize ws;
	if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
		*cols = ws.ws_col;
		*rows = ws.ws_row;
	} else {
		*cols = 80;
		*rows = 24;
	}
}
