/* SPDX-License-Identifier: MIT */
#pragma once
/* Sandbox namespace contents: lo up, persistent TAP tap0 169.254.0.22/30 up.
 * The TAP is created without IFF_VNET_HDR: the VMM attaches with its own
 * flags (QEMU's tap netdev probes and sets IFF_VNET_HDR on its queue). */
#include "basic/err.h"

/* Create a persistent IFF_TAP|IFF_NO_PI device in the CALLING THREAD's
 * network namespace. */
int tap_create_persistent(const char *name, struct wr_err *err);
/* Configure a fresh sandbox namespace (lo, tap0, address, txqueuelen). */
int net_ns_setup(int nsfd, struct wr_err *err);
/* Check that nsfd still holds a usable tap0 (exists) and no other links
 * besides lo; removes extra links. */
int net_ns_reset(int nsfd, struct wr_err *err);
