/* SPDX-License-Identifier: MIT */
#include "vm/tsc.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

/* A sample is kept only if the clock reads around the TSC read took at most this long (the
 * thread was not preempted in between): 2 us in a 10 ms window bounds the error by ~200 ppm,
 * what a good PIT calibration gets; typical brackets here are ~50 ns (~10 ppm). */
#define BRACKET_MAX_NS 2000
#define WINDOW_NS (10 * 1000 * 1000)
#define TRIES 5

static bool has_flag(const char *line, size_t len, const char *flag)
{
	size_t fl = strlen(flag);
	for (const char *p = line; p + fl <= line + len; p++) {
		if ((p == line || p[-1] == ' ' || p[-1] == '\t') && !memcmp(p, flag, fl) &&
		    (p + fl == line + len || p[fl] == ' ' || p[fl] == '\n'))
			return true;
	}
	return false;
}

bool vm_cpuinfo_tsc_stable(const char *cpuinfo)
{
	for (const char *l = cpuinfo; l && *l;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		if (!strncmp(l, "flags", 5) && (l[5] == '\t' || l[5] == ' ' || l[5] == ':'))
			return has_flag(l, len, "constant_tsc") && has_flag(l, len, "nonstop_tsc");
		l = nl ? nl + 1 : NULL;
	}
	return false;
}

unsigned vm_tsc_khz_from(uint64_t tsc0, uint64_t ns0, uint64_t tsc1, uint64_t ns1)
{
	if (ns1 <= ns0 || tsc1 <= tsc0)
		return 0;
	/* ticks per ms = kHz; 128-bit product: a TSC at 20 GHz overflows 64 bits in ~30 years */
	unsigned __int128 khz = (unsigned __int128)(tsc1 - tsc0) * 1000000u / (ns1 - ns0);
	if (khz < 100000 || khz > 20000000)
		return 0;
	return (unsigned)khz;
}

#if defined(__x86_64__)
static uint64_t ns_of(const struct timespec *t)
{
	return (uint64_t)t->tv_sec * 1000000000u + (uint64_t)t->tv_nsec;
}

/* One (tsc, ns) pair whose clock reads bracket the TSC read tightly; false if none did. */
static bool sample(uint64_t *tsc, uint64_t *ns)
{
	for (int i = 0; i < TRIES; i++) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC_RAW, &a);
		uint64_t t = __rdtsc();
		clock_gettime(CLOCK_MONOTONIC_RAW, &b);
		uint64_t na = ns_of(&a), nb = ns_of(&b);
		if (nb - na <= BRACKET_MAX_NS) {
			*tsc = t;
			*ns = na + (nb - na) / 2;
			return true;
		}
	}
	return false;
}

static unsigned measure(void)
{
	cleanup_free char *cpuinfo = NULL;
	if (read_file("/proc/cpuinfo", 4 << 20, &cpuinfo, NULL) < 0 ||
	    !vm_cpuinfo_tsc_stable(cpuinfo))
		return 0;
	uint64_t t0, n0, t1, n1;
	if (!sample(&t0, &n0))
		return 0;
	struct timespec w = {.tv_nsec = WINDOW_NS};
	while (nanosleep(&w, &w) < 0) {
	}
	if (!sample(&t1, &n1))
		return 0;
	return vm_tsc_khz_from(t0, n0, t1, n1);
}
#else
static unsigned measure(void)
{
	return 0;
}
#endif

static unsigned host_khz;
static void measure_once(void)
{
	host_khz = measure();
	if (host_khz)
		log_debug("host TSC %u kHz (TCG guests get tsc_early_khz=)", host_khz);
	else
		log_debug("host TSC rate unknown: TCG guests calibrate theirs");
}

unsigned vm_host_tsc_khz(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, measure_once);
	return host_khz;
}
