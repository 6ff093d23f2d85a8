/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * wrenn-init's console output: "[  0.532] wrenn-init: message" on /dev/console, the
 * timestamp being seconds since kernel boot (CLOCK_BOOTTIME), like the kernel's printk
 * time. This is deliberately not basic/log.h: PID 1 writes to the serial console that
 * tests and benchmarks parse, in the kernel's own line format.
 */

/* (Re)open /dev/console as stdin/stdout/stderr; keeps what is there if that fails. */
void console_setup(void);
void con_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
