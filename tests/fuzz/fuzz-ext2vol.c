/* SPDX-License-Identifier: MIT */
/*
 * Volume content access (src/disk/ext2vol.c) on file systems a guest damaged: the input is a
 * list of 4-byte patches (3 bytes little-endian offset, 1 byte value) applied to a small ext4
 * image made once per process (mkfs.ext4 + debugfs: directories, files, a symlink; no
 * metadata checksums, as a guest that writes its own block device can always compute them).
 * Each patched image is opened read-write and walked: list, stat, read every file, then
 * mkdir, write, chmod and a recursive remove.  Errors are fine; crashes, leaks and hangs are not.
 */
#include "disk/ext2vol.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char *base;
static size_t base_len;
static char dir[64];

static void cleanup(void)
{
	char cmd[96];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "fuzz-ext2vol: could not remove %s\n", dir);
}

static void make_base(void)
{
	snprintf(dir, sizeof(dir), "/tmp/fuzz-ext2vol-XXXXXX");
	if (!mkdtemp(dir))
		abort();
	atexit(cleanup);
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "cd %s && truncate -s 256K base && "
		 "mkfs.ext4 -q -F -b 1024 -N 64 -m 0 -O ^has_journal,^metadata_csum,^resize_inode "
		 "base && echo hello > f && "
		 "printf 'mkdir /d\\nmkdir /d/e\\nwrite f /d/f\\nwrite f /d/e/g\\n"
		 "symlink /d/l /etc\\nsymlink /d/e/up ..\\nwrite f /top\\n' > s && "
		 "debugfs -w -f s base >/dev/null 2>&1",
		 dir);
	if (system(cmd) != 0)
		abort();
	char path[96];
	snprintf(path, sizeof(path), "%s/base", dir);
	FILE *f = fopen(path, "rb");
	if (!f)
		abort();
	base = malloc(256 * 1024);
	base_len = fread(base, 1, 256 * 1024, f);
	fclose(f);
}

/* A guest may leave a file of any size (sparse): stop after 1 MiB, as a client may. */
static int sink(void *ud, const void *buf, size_t n)
{
	size_t *got = ud;
	(void)buf;
	*got += n;
	return *got > (1u << 20) ? -EPIPE : 0;
}

static ssize_t src(void *ud, void *buf, size_t n)
{
	int *left = ud;
	size_t k = n < (size_t)*left ? n : (size_t)*left;
	memset(buf, 'x', k);
	*left -= (int)k;
	return (ssize_t)k;
}

static void walk(struct ext2vol *v)
{
	struct ext2vol_stat *rows = NULL;
	size_t n = 0;
	struct wr_err err = {0};
	if (ext2vol_list(v, "/", 4, &rows, &n, &err) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct ext2vol_stat st = {0};
			if (ext2vol_stat(v, rows[i].path, &st, &err) == 0)
				ext2vol_stat_done(&st);
			size_t got = 0;
			if (rows[i].type == EXT2VOL_FILE)
				ext2vol_read(v, rows[i].path, sink, &got, &err);
		}
		ext2vol_stat_list_free(rows, n);
	}
	int left = 5000;
	ext2vol_mkdir(v, "/fz/a", true, 1000, 1000, 0700, &err);
	ext2vol_write(v, "/fz/a/b", src, &left, 1 << 20, -1, -1, -1, &err);
	ext2vol_setattr(v, "/d/f", 1, 2, 0600, &err);
	ext2vol_remove(v, "/d", &err);
	ext2vol_remove(v, "/fz", &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!base)
		make_base();
	if (size > 4 * 256)
		return 0;
	unsigned char *img = malloc(base_len);
	memcpy(img, base, base_len);
	for (size_t i = 0; i + 4 <= size; i += 4) {
		size_t off =
			(data[i] | (size_t)data[i + 1] << 8 | (size_t)data[i + 2] << 16) % base_len;
		img[off] = data[i + 3];
	}
	char path[96];
	snprintf(path, sizeof(path), "%s/img", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, img, base_len) != (ssize_t)base_len)
		abort();
	close(fd);
	free(img);
	struct ext2vol *v = NULL;
	struct wr_err err = {0};
	if (ext2vol_open(path, true, &v, &err) == 0) {
		walk(v);
		ext2vol_close(v, &err);
	}
	unlink(path);
	return 0;
}
