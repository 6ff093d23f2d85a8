/* SPDX-License-Identifier: MIT */
#include "daemon/setup.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int setup_admin_key(const struct agent_config *cfg, struct store *st, FILE *out, struct wr_err *err)
{
	int n = store_key_count(st, err);
	if (n < 0)
		return n;
	if (n > 0)
		return 0;
	/* File first, row second: a crash in between leaves a key file whose
	 * key was never valid (the next start mints a new one and replaces the
	 * file), never a valid admin key that nobody can read. */
	char plain[STORE_KEY_LEN + 1];
	int r = store_key_mint(plain, err);
	if (r < 0)
		return wr_err_prefix(err, r, "create the admin API key");
	cleanup_free char *path = cfg->admin_key_file ? xstrdup(cfg->admin_key_file)
						      : xasprintf("%s/admin-key", cfg->data_dir);
	cleanup_free char *line = xasprintf("%s\n", plain);
	r = write_file_atomic(path, line, strlen(line), 0600);
	if (r < 0) {
		explicit_bzero(plain, sizeof(plain));
		explicit_bzero(line, strlen(line));
		return wr_err_errno(err, -r, "write %s", path);
	}
	r = store_key_import(st, "admin", plain, err);
	if (r < 0) {
		unlink(path);
		explicit_bzero(plain, sizeof(plain));
		explicit_bzero(line, strlen(line));
		return wr_err_prefix(err, r, "store the admin API key");
	}
	fprintf(out,
		"wrenn-agent: first run: admin API key created (shown once; also saved to %s, "
		"mode 0600):\n%s\n",
		path, plain);
	fflush(out);
	explicit_bzero(plain, sizeof(plain));
	explicit_bzero(line, strlen(line));
	return 1;
}

int setup_images_present(const char *dir)
{
	cleanup_free char *k = xasprintf("%s/vmlinux", dir);
	if (access(k, R_OK) != 0)
		return 0;
	cleanup_closedir DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l > 5 && !strcmp(e->d_name + l - 5, ".ext4"))
			return 1;
	}
	return 0;
}

char *setup_images_dir(const struct agent_config *cfg, const char *exe)
{
	if (cfg->images_dir)
		return xstrdup(cfg->images_dir);
	char *own = xasprintf("%s/images", cfg->data_dir);
	if (setup_images_present(own))
		return own;
	char real[PATH_MAX];
	if (exe && realpath(exe, real)) {
		/* build/<mode>/bin/wrenn-agent -> build/guest */
		cleanup_free char *cand = xasprintf("%s/../../guest", dirname(real));
		char r2[PATH_MAX];
		if (realpath(cand, r2) && setup_images_present(r2)) {
			free(own);
			return xstrdup(r2);
		}
	}
	char cwd[PATH_MAX];
	if (getcwd(cwd, sizeof(cwd))) {
		cleanup_free char *cand = xasprintf("%s/build/guest", cwd);
		if (setup_images_present(cand)) {
			free(own);
			return TAKE_PTR(cand);
		}
	}
	return own;
}
