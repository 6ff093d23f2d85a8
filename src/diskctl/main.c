/* SPDX-License-Identifier: MIT */
/*
 * wrenn-diskctl: drives src/disk from test scripts.
 *   wrenn-diskctl detect DATA_DIR [auto|auto+dm|dm|reflink|qcow2]  -> backend name
 *   wrenn-diskctl clone BACKEND TEMPLATE DEST   -> "<format> <path> [<dm-name>]"
 *   wrenn-diskctl remove BACKEND PATH [DM_NAME]  (dm: PATH is the CoW file)
 */
#include "basic/err.h"
#include "basic/log.h"
#include "disk/disk.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	log_init("wrenn-diskctl");
	struct wr_err err = {0};
	if (argc >= 3 && !strcmp(argv[1], "detect")) {
		const struct disk_ops *o;
		if (disk_detect(argv[2], argc > 3 ? argv[3] : NULL, &o, &err) < 0) {
			fprintf(stderr, "wrenn-diskctl: %s\n", wr_err_msg(&err));
			return 1;
		}
		printf("%s\n", o->name);
		return 0;
	}
	if (argc >= 4) {
		const struct disk_ops *o = disk_ops_by_name(argv[2]);
		if (!o) {
			fprintf(stderr, "wrenn-diskctl: unknown backend %s\n", argv[2]);
			return 2;
		}
		if (!strcmp(argv[1], "clone") && argc == 5) {
			struct disk_result d;
			if (o->clone(argv[3], argv[4], &d, &err) < 0) {
				fprintf(stderr, "wrenn-diskctl: %s\n", wr_err_msg(&err));
				return 1;
			}
			printf("%s %s%s%s\n", disk_format_name(d.format), d.path,
			       d.dm_name[0] ? " " : "", d.dm_name);
			return 0;
		}
		if (!strcmp(argv[1], "remove") && (argc == 4 || argc == 5)) {
			struct disk_result d = {0};
			int n = snprintf(!strcmp(o->name, "dm") ? d.cow : d.path, sizeof(d.path),
					 "%s", argv[3]);
			if (argc == 5)
				snprintf(d.dm_name, sizeof(d.dm_name), "%s", argv[4]);
			if (n >= (int)sizeof(d.path) || o->remove(&d, &err) < 0) {
				fprintf(stderr, "wrenn-diskctl: %s\n",
					err.code ? wr_err_msg(&err) : "path too long");
				return 1;
			}
			return 0;
		}
	}
	fprintf(stderr,
		"usage: %s detect DATA_DIR [auto|auto+dm|dm|reflink|qcow2]\n"
		"       %s clone BACKEND TEMPLATE DEST\n"
		"       %s remove BACKEND PATH [DM_NAME]\n",
		argv[0], argv[0], argv[0]);
	return 2;
}
