/* SPDX-License-Identifier: MIT */
#include "net/nft.h"

#include "basic/spawn.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "net/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *nft_path(void)
{
	const char *e = getenv("WRENN_NFT");
	if (e && *e)
		return e;
	if (access("/usr/sbin/nft", X_OK) == 0)
		return "/usr/sbin/nft";
	return "nft";
}

static int run_host(const char *script, struct wr_err *err)
{
	const char *path = nft_path();
	char *argv[] = {(char *)path, "-f", "-", NULL};
	char out[1024];
	int st, r = spawn_capture(argv, script, out, sizeof(out), &st, err);
	if (r < 0)
		return r;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return wr_err_set(err, EIO, "nft failed (status %d): %s", st,
				  out[0] ? out : "no output");
	return 0;
}

static int ns_fn(void *arg, struct wr_err *err)
{
	/* posix_spawn from this thread: the child inherits the thread's
	 * network namespace. */
	return run_host(arg, err);
}

int nft_run(int nsfd, const char *script, struct wr_err *err)
{
	if (nsfd < 0)
		return run_host(script, err);
	return netns_run(nsfd, ns_fn, (void *)script, err);
}
