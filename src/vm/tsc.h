/* SPDX-License-Identifier: MIT */
#pragma once
/*
 * The host's TSC rate, for TCG guests.
 *
 * Under TCG a guest's RDTSC returns the host's own counter (QEMU's cpu_get_ticks() without
 * icount is cpu_get_host_ticks()), so the guest's TSC rate is the host's.  A guest kernel left
 * to find it calibrates against the emulated PIT, which on a loaded host often fails: then it
 * runs on jiffies (a boot of 3-12 s instead of ~1 s, and an idle guest that needs the periodic
 * tick).  The QEMU backend passes the rate measured here as tsc_early_khz= (see vmm.h).
 */
#include <stdbool.h>
#include <stdint.h>

/* kHz, measured once per process (~10 ms, the first call) against CLOCK_MONOTONIC_RAW; 0 when
 * the host is not x86-64, its TSC is not constant and nonstop (/proc/cpuinfo), or the
 * measurement did not settle (the guest then calibrates as before). */
unsigned vm_host_tsc_khz(void);

/* Pure parts, for tests. */
/* Whether a /proc/cpuinfo text's first "flags" line has constant_tsc and nonstop_tsc. */
bool vm_cpuinfo_tsc_stable(const char *cpuinfo);
/* kHz from two (tsc, ns) samples; 0 unless ns advanced and the rate is 100 MHz..20 GHz. */
unsigned vm_tsc_khz_from(uint64_t tsc0, uint64_t ns0, uint64_t tsc1, uint64_t ns1);
