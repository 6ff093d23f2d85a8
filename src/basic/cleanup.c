/* SPDX-License-Identifier: MIT */
#include "basic/cleanup.h"

#include <errno.h>
#include <unistd.h>

void cleanup_free_fn(void *p)
{
	free(*(void **)p);
}

void cleanup_close_fn(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
		*fd = -1;
	}
}

void cleanup_fclose_fn(FILE **f)
{
	if (*f) {
		fclose(*f);
		*f = NULL;
	}
}

void cleanup_closedir_fn(DIR **d)
{
	if (*d) {
		closedir(*d);
		*d = NULL;
	}
}
