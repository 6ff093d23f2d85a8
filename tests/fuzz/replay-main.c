/* SPDX-License-Identifier: MIT */
/*
 * Replay driver for the fuzz targets without libFuzzer (gcc, ASan+UBSan):
 * every argument is a file, or a directory whose files are all replayed in
 * name order.  A crash aborts the process (non-zero exit); a file that
 * cannot be read fails the run too.
 */
#include "basic/fdio.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	int r = read_file(path, 16 << 20, &buf, &len);
	if (r < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(-r));
		return r;
	}
	/* An exactly sized copy: ASan then sees reads past the input. */
	uint8_t *data = malloc(len ? len : 1);
	memcpy(data, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return 0;
}

static int cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
	unsigned n = 0, failed = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			failed++;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			failed += replay_file(argv[i]) < 0;
			n++;
			continue;
		}
		struct dirent **ents;
		int k = scandir(argv[i], &ents, NULL, cmp);
		if (k < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i], strerror(errno));
			failed++;
			continue;
		}
		for (int j = 0; j < k; j++) {
			char p[4096];
			snprintf(p, sizeof(p), "%s/%s", argv[i], ents[j]->d_name);
			if (ents[j]->d_name[0] != '.' && stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
				failed += replay_file(p) < 0;
				n++;
			}
			free(ents[j]);
		}
		free(ents);
	}
	printf("%s: %u inputs replayed, %u unreadable\n", argc > 0 ? argv[0] : "replay", n, failed);
	return failed || n == 0 ? 1 : 0;
}
