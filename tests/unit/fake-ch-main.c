/* SPDX-License-Identifier: MIT */
/*
 * The fake Cloud Hypervisor API server (fake-ch.c) as a program, for tests
 * that run it where the real binary would run: through the launcher and the
 * jail (test-ch-jail.c).  It takes what the backend passes CH:
 *   --api-socket fd=N | path=P
 * and answers vmm.ping with version 53.0.0, or NN.0.0 when its file name ends
 * in -vNN (a link named fake-cloud-hypervisor-v51 plays v51).  Each request
 * goes to stderr (the VMM log) for the test to read.  It serves until
 * vmm.shutdown.  Built without sanitizers: they read /proc, which the jail
 * does not show.
 */
#include "fake-ch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	const char *api = NULL;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--api-socket") && i + 1 < argc)
			api = argv[++i];
	char version[16] = "53.0.0";
	const char *v = argc > 0 ? strrchr(argv[0], '-') : NULL;
	if (v && v[1] == 'v' && atoi(v + 2) > 0)
		snprintf(version, sizeof(version), "%d.0.0", atoi(v + 2));
	struct fake_ch *f = NULL;
	if (api && !strncmp(api, "fd=", 3))
		f = fake_ch_new_fd(atoi(api + 3), version, NULL);
	else if (api && !strncmp(api, "path=", 5))
		f = fake_ch_new(api + 5, version, NULL);
	if (!f) {
		fprintf(stderr, "fake-cloud-hypervisor: cannot serve --api-socket %s\n",
			api ? api : "(none)");
		return 1;
	}
	fake_ch_set_log(f);
	fprintf(stderr, "fake-cloud-hypervisor %s: serving %s\n", version, api);
	fake_ch_serve(f);
	fake_ch_free(f);
	return 0;
}
