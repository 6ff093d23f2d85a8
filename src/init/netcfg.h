/* SPDX-License-Identifier: MIT */
#pragma once
#include "basic/err.h"
#include "init/cmdline.h"

/* Bring an interface up (for "lo"). */
int net_link_up(const char *ifname, struct wr_err *err);
/* 1 if the interface has an IPv4 address, 0 if not. */
int net_has_ipv4(const char *ifname, struct wr_err *err);
/* Static IPv4 configuration from ip=: address, mask, up, default route via the gateway. */
int net_apply(const struct init_ip *ip, struct wr_err *err);
