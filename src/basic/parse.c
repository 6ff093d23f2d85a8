/* SPDX-License-Identifier: MIT */
#include "basic/parse.h"

#include <errno.h>
#include <stdlib.h>

bool parse_positive_i64(const char *s, int64_t *ret)
{
	if (!s || *s < '0' || *s > '9') /* strtoll would take blanks and a sign */
		return false;
	char *end = NULL;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v <= 0)
		return false;
	*ret = v;
	return true;
}
