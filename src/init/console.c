/* SPDX-License-Identifier: MIT */
#include "init/console.h"

#include "basic/fdio.h"
#include "basic/log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

void console_setup(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return; /* keep the fds the kernel gave us (it opened the console before init) */
	for (int i = 0; i < 3; i++)
		if (fd != i)
			dup2(fd,
			     i); /* dup2 clears O_CLOEXEC on the copies: children inherit them */
	if (fd > 2)
		close(fd);
}

void con_log(const char *fmt, ...)
{
	char line[1024];
	struct timespec ts;
	clock_gettime(CLOCK_BOOTTIME, &ts);
	int n = snprintf(line, sizeof(line), "[%3lld.%03ld] wrenn-init: ", (long long)ts.tv_sec,
			 ts.tv_nsec / 1000000);
	va_list ap;
	va_start(ap, fmt);
	size_t len = log_line_finish(line, sizeof(line), n, fmt, ap);
	va_end(ap);
	/* one write per line so lines from envd and init do not interleave mid-line */
	(void)write_full(STDERR_FILENO, line, len);
}
