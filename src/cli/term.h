/* SPDX-License-Identifier: MIT */
#pragma once
/* Raw terminal mode for `wrenn shell`, restored on every exit path. */
#include <stdbool.h>

/* Put fd (a tty) into raw mode; the previous mode is restored by term_restore() and at exit. */
int term_raw(int fd);
void term_restore(void);
/* Window size of fd, or 80x24 when it is not a terminal. */
void term_size(int fd, unsigned *cols, unsigned *rows);
