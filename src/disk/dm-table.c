/* SPDX-License-Identifier: MIT */
#include "disk/dm-table.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>

int dm_snapshot_params(char *buf, size_t n, dev_t origin, dev_t cow, struct wr_err *err)
{
	int k = snprintf(buf, n, "%u:%u %u:%u P 8", major(origin), minor(origin), major(cow),
			 minor(cow));
	if (k < 0 || (size_t)k >= n)
		return wr_err_set(err, ENOBUFS, "dm table parameters do not fit");
	return 0;
}

int dm_name_for(const char *dest, char *buf, size_t n, struct wr_err *err)
{
	const char *end = dest ? strrchr(dest, '/') : NULL;
	if (!end || end == dest)
		return wr_err_set(err, EINVAL, "cannot derive a dm name from '%s'",
				  dest ? dest : "");
	const char *start = end;
	while (start > dest && start[-1] != '/')
		start--;
	size_t len = (size_t)(end - start);
	if (len == 0 || (len == 1 && start[0] == '.') ||
	    (len == 2 && start[0] == '.' && start[1] == '.'))
		return wr_err_set(err, EINVAL, "cannot derive a dm name from '%s'", dest);
	for (size_t i = 0; i < len; i++) {
		char c = start[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return wr_err_set(err, EINVAL, "invalid character in dm name from '%s'",
					  dest);
	}
	int k = snprintf(buf, n, "wrenn-%.*s", (int)len, start);
	if (k < 0 || (size_t)k >= n)
		return wr_err_set(err, ENAMETOOLONG, "dm name from '%s' too long", dest);
	return 0;
}

uint64_t dm_cow_size(uint64_t origin_bytes)
{
	/* each 4 KiB chunk costs 16 bytes of exception metadata per 4 KiB
	 * metadata area; origin/8 over-provisions that comfortably */
	return origin_bytes + origin_bytes / 8 + (8u << 20);
}
