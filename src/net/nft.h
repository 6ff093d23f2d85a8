/* SPDX-License-Identifier: MIT */
#pragma once
/* nftables through one `nft -f -` batch per change (atomic).  The nft binary
 * is $WRENN_NFT, else /usr/sbin/nft, else "nft" from PATH. */
#include "basic/err.h"

/* Run script through nft; nsfd >= 0 runs it inside that network namespace.
 * On failure err carries nft's own message. */
int nft_run(int nsfd, const char *script, struct wr_err *err);
