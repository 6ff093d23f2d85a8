/* SPDX-License-Identifier: MIT */
/* The lifecycle state machine: which operation is allowed in which state. */
#include "runtime/runtime-internal.h"

#include <errno.h>

int rt_state_check(enum rt_op op, enum store_sb_state st, const char *id, struct wr_err *err)
{
	const char *name = store_sb_state_name(st);
	if (st == STORE_SB_KILLED)
		return wr_err_set(err, ENOENT, "sandbox %s was killed", id);
	switch (op) {
	case RT_OP_DESTROY:
		return 0;
	case RT_OP_PAUSE:
		if (st == STORE_SB_RUNNING)
			return 0;
		return wr_err_set(err, EBUSY,
				  "sandbox %s is %s, only a running sandbox can be paused", id,
				  name);
	case RT_OP_RESUME:
		if (st == STORE_SB_PAUSED)
			return 0;
		if (st == STORE_SB_RUNNING)
			return 1;
		return wr_err_set(err, EBUSY,
				  "sandbox %s is %s, only a paused sandbox can be resumed", id,
				  name);
	case RT_OP_CONNECT:
		if (st == STORE_SB_RUNNING)
			return 0;
		return wr_err_set(err, EBUSY, "sandbox %s is %s, not running", id, name);
	case RT_OP_SET_TIMEOUT:
		if (st == STORE_SB_RUNNING || st == STORE_SB_PAUSED)
			return 0;
		return wr_err_set(err, EBUSY, "sandbox %s is %s", id, name);
	}
	return wr_err_set(err, EINVAL, "unknown operation");
}

int64_t rt_now_ms(void)
{
	return store_now_ms();
}
