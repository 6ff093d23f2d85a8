/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * Ownership idiom: a local that owns a resource is declared with a cleanup
 * attribute and released on every exit path.  Ownership is handed out with
 * TAKE_PTR / TAKE_FD, which return the value and reset the local so its
 * cleanup does nothing.  Destructors accept "empty" (NULL / -1).
 *
 *     cleanup_free char *buf = xstrdup(s);
 *     cleanup_close int fd = open(p, O_RDONLY | O_CLOEXEC);
 *     ...
 *     *ret_fd = TAKE_FD(fd);
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

void cleanup_free_fn(void *p);
void cleanup_close_fn(int *fd);
void cleanup_fclose_fn(FILE **f);
void cleanup_closedir_fn(DIR **d);

#define cleanup_(fn) __attribute__((cleanup(fn)))
#define cleanup_free cleanup_(cleanup_free_fn)
#define cleanup_close cleanup_(cleanup_close_fn)
#define cleanup_fclose cleanup_(cleanup_fclose_fn)
#define cleanup_closedir cleanup_(cleanup_closedir_fn)

#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tp = (p);                                                           \
		(p) = NULL;                                                                        \
		_tp;                                                                               \
	})
#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _tf = (fd);                                                                    \
		(fd) = -1;                                                                         \
		_tf;                                                                               \
	})

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
