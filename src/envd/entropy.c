/* SPDX-License-Identifier: MIT */
/* /init "entropy": host randomness credited to the guest kernel's pool, then
 * a CRNG reseed.  Clones restored from one snapshot start with the same RNG
 * state; without this they would hand out the same "random" bytes. */
#include "envd/envd.h"

#include "basic/cleanup.h"
#include "basic/hex.h"
#include "basic/log.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int envd_hex_decode(const char *hex, unsigned char *out, size_t cap, size_t *ret_len,
		    struct wr_err *err)
{
	size_t n = strlen(hex);
	if (n % 2)
		return wr_err_set(err, -EINVAL, "odd number of hex digits (%zu)", n);
	if (n / 2 > cap)
		return wr_err_set(err, -EINVAL, "%zu hex digits, at most %zu allowed", n, 2 * cap);
	for (size_t i = 0; i < n; i += 2) {
		int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
		if (hi < 0 || lo < 0)
			return wr_err_set(err, -EINVAL, "not a hex digit at offset %zu",
					  hi < 0 ? i : i + 1);
		out[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	*ret_len = n / 2;
	return 0;
}

/* EPERM: envd runs unprivileged (a host process in tests); the guest's envd is
 * root.  ENOTTY/EINVAL: a kernel without the ioctl. */
static bool expected_failure(int e)
{
	return e == EPERM || e == ENOTTY || e == EINVAL;
}

int envd_add_entropy(const unsigned char *buf, size_t len)
{
	if (len == 0)
		return 0;
	cleanup_close int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		log_warn("init: entropy: /dev/urandom: %s", strerror(errno));
		return -errno;
	}
	cleanup_free struct rand_pool_info *pool = xcalloc(1, sizeof(*pool) + len);
	pool->entropy_count = (int)(len * 8);
	pool->buf_size = (int)len;
	memcpy(pool->buf, buf, len);
	int r = 0;
	if (ioctl(fd, RNDADDENTROPY, pool) < 0) {
		r = -errno;
		if (expected_failure(errno))
			log_debug("init: entropy: RNDADDENTROPY: %s (not root?), skipped",
				  strerror(errno));
		else
			log_warn("init: entropy: RNDADDENTROPY: %s", strerror(errno));
		/* The pool did not change: a reseed would gain nothing. */
		explicit_bzero(pool->buf, len);
		return r;
	}
	explicit_bzero(pool->buf, len);
#ifdef RNDRESEEDCRNG
	if (ioctl(fd, RNDRESEEDCRNG) < 0) {
		if (expected_failure(errno))
			log_debug("init: entropy: RNDRESEEDCRNG: %s (ignored)", strerror(errno));
		else
			log_warn("init: entropy: RNDRESEEDCRNG: %s", strerror(errno));
	}
#endif
	log_debug("init: entropy: %zu bytes added to the kernel pool", len);
	return 0;
}
