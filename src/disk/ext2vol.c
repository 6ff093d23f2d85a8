/* SPDX-License-Identifier: MIT */
#include "disk/ext2vol.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <ext2fs/ext2fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct ext2vol {
	ext2_filsys fs;
	bool rw;
};

void ext2vol_stat_done(struct ext2vol_stat *st)
{
	if (!st)
		return;
	free(st->name);
	free(st->path);
	free(st->target);
	*st = (struct ext2vol_stat){0};
}

void ext2vol_stat_list_free(struct ext2vol_stat *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		ext2vol_stat_done(&v[i]);
	free(v);
}

const char *ext2vol_type_name(enum ext2vol_type t)
{
	switch (t) {
	case EXT2VOL_FILE:
		return "file";
	case EXT2VOL_DIR:
		return "directory";
	case EXT2VOL_SYMLINK:
		return "symlink";
	default:
		return "unknown";
	}
}

/* A libext2fs error code as -errno and a message. */
static int fail(struct wr_err *err, errcode_t e, const char *what, const char *path)
{
	int code = EUCLEAN; /* the file system is not what it should be */
	switch (e) {
	case EXT2_ET_FILE_NOT_FOUND:
		code = ENOENT;
		break;
	case EXT2_ET_DIR_NO_SPACE:
	case EXT2_ET_BLOCK_ALLOC_FAIL:
	case EXT2_ET_INODE_ALLOC_FAIL:
	case EXT2_ET_EA_NO_SPACE:
		code = ENOSPC;
		break;
	case EXT2_ET_NO_MEMORY:
		code = ENOMEM;
		break;
	case EXT2_ET_RO_FILSYS:
		code = EROFS;
		break;
	case EXT2_ET_UNIMPLEMENTED:
	case EXT2_ET_UNSUPP_FEATURE:
	case EXT2_ET_RO_UNSUPP_FEATURE:
		code = ENOTSUP;
		break;
	default:
		if (e > 0 && e < 256) /* a plain errno from the unix I/O manager */
			code = (int)e;
		break;
	}
	return wr_err_set(err, code, "%s %s: %s", what, path, error_message(e));
}

int ext2vol_path_norm(const char *path, char **ret, struct wr_err *err)
{
	if (!path || !*path)
		return wr_err_set(err, EINVAL, "path is required");
	size_t n = strlen(path);
	if (n > EXT2VOL_PATH_MAX)
		return wr_err_set(err, EINVAL, "path is longer than %d bytes", EXT2VOL_PATH_MAX);
	char *out = xmalloc(n + 2);
	size_t o = 0;
	for (const char *s = path; *s;) {
		while (*s == '/')
			s++;
		size_t l = strcspn(s, "/");
		if (!l)
			break;
		if ((l == 1 && s[0] == '.') || (l == 2 && s[0] == '.' && s[1] == '.')) {
			free(out);
			return wr_err_set(err, EINVAL,
					  "path %s: . and .. components are not allowed", path);
		}
		if (l > 255) {
			free(out);
			return wr_err_set(err, EINVAL,
					  "path %s: a component is longer than 255 bytes", path);
		}
		for (size_t i = 0; i < l; i++)
			if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) {
				free(out);
				return wr_err_set(err, EINVAL, "path has a control character");
			}
		out[o++] = '/';
		memcpy(out + o, s, l);
		o += l;
		s += l;
	}
	if (!o)
		out[o++] = '/';
	out[o] = '\0';
	*ret = out;
	return 0;
}

int ext2vol_open(const char *image, bool rw, struct ext2vol **ret, struct wr_err *err)
{
	ext2_filsys fs = NULL;
	int flags = EXT2_FLAG_64BITS | (rw ? EXT2_FLAG_RW : 0);
	errcode_t e = ext2fs_open2(image, NULL, flags, 0, 0, unix_io_manager, &fs);
	if (e)
		return wr_err_set(err, e == ENOENT ? ENOENT : EUCLEAN,
				  "volume image %s: not a usable ext2/3/4 file system: %s", image,
				  error_message(e));
	if (ext2fs_has_feature_journal_needs_recovery(fs->super)) {
		ext2fs_close_free(&fs);
		return wr_err_set(err, EUCLEAN,
				  "volume file system needs journal recovery (attach it to a "
				  "sandbox once to replay it)");
	}
	/* The superblock is the guest's: a file system that claims more blocks (or inodes) than its
	 * image can hold would have libext2fs size its tables after the claim. */
	/* s_first_data_block is 1 with 1 KiB blocks, else 0; another value overflows a heap
	 * buffer in libext2fs's bitmap reader (found by tests/fuzz/fuzz-ext2vol.c) */
	if (fs->super->s_first_data_block != (EXT2_BLOCK_SIZE(fs->super) == 1024 ? 1u : 0u)) {
		ext2fs_close_free(&fs);
		return wr_err_set(err, EUCLEAN, "volume file system has a bad first data block");
	}
	struct stat st;
	uint64_t blocks = ext2fs_blocks_count(fs->super);
	if (stat(image, &st) < 0 || blocks > (uint64_t)st.st_size / EXT2_BLOCK_SIZE(fs->super) ||
	    fs->super->s_inodes_count > blocks * 8) {
		ext2fs_close_free(&fs);
		return wr_err_set(err, EUCLEAN,
				  "volume file system claims more blocks or inodes than its image "
				  "holds");
	}
	if ((e = ext2fs_read_bitmaps(fs))) {
		int r = fail(err, e, "read bitmaps of", image);
		ext2fs_close_free(&fs);
		return r;
	}
	struct ext2vol *v = xcalloc(1, sizeof(*v));
	v->fs = fs;
	v->rw = rw;
	*ret = v;
	return 0;
}

int ext2vol_close(struct ext2vol *v, struct wr_err *err)
{
	if (!v)
		return 0;
	errcode_t e = ext2fs_close_free(&v->fs);
	free(v);
	if (e)
		return wr_err_set(err, EIO, "close volume file system: %s", error_message(e));
	return 0;
}

/* Look up a normalised path without following links: ret_ino, and the parent's inode and last
 * component (pointer into norm) when wanted.  -ENOENT when a component is missing (then
 * *ret_parent and *ret_name still name where it would go if only the last one is missing:
 * returns -ENOENT with *ret_missing_last = true). */
struct lookup {
	ext2_ino_t ino, parent;
	const char *name; /* last component in the normalised path */
	bool missing_last;
};

static int lookup(struct ext2vol *v, const char *norm, struct lookup *l, struct wr_err *err)
{
	*l = (struct lookup){.ino = EXT2_ROOT_INO, .parent = EXT2_ROOT_INO, .name = ""};
	const char *s = norm;
	while (*s == '/' && s[1]) {
		s++;
		size_t n = strcspn(s, "/");
		struct ext2_inode in;
		errcode_t e = ext2fs_read_inode(v->fs, l->ino, &in);
		if (e)
			return fail(err, e, "read inode of", norm);
		if (LINUX_S_ISLNK(in.i_mode))
			return wr_err_set(err, ELOOP,
					  "%s: a symbolic link on the way is not followed", norm);
		if (!LINUX_S_ISDIR(in.i_mode))
			return wr_err_set(err, ENOTDIR, "%s: a component is not a directory", norm);
		ext2_ino_t next = 0;
		e = ext2fs_lookup(v->fs, l->ino, s, (int)n, NULL, &next);
		l->parent = l->ino;
		l->name = s;
		s += n;
		if (e == EXT2_ET_FILE_NOT_FOUND) {
			l->missing_last = !*s;
			return wr_err_set(err, ENOENT, "%s not found", norm);
		}
		if (e)
			return fail(err, e, "look up", norm);
		if (next < EXT2_ROOT_INO || next > v->fs->super->s_inodes_count)
			return wr_err_set(err, EUCLEAN, "%s: directory entry with a bad inode",
					  norm);
		l->ino = next;
	}
	return 0;
}

static enum ext2vol_type type_of(uint16_t mode)
{
	return LINUX_S_ISREG(mode)   ? EXT2VOL_FILE
	       : LINUX_S_ISDIR(mode) ? EXT2VOL_DIR
	       : LINUX_S_ISLNK(mode) ? EXT2VOL_SYMLINK
				     : EXT2VOL_UNKNOWN;
}

static char *link_text(struct ext2vol *v, ext2_ino_t ino, struct ext2_inode *in)
{
	uint64_t size = EXT2_I_SIZE(in);
	if (size > EXT2VOL_LINK_MAX)
		size = EXT2VOL_LINK_MAX;
	if (ext2fs_is_fast_symlink(in)) {
		size_t max = sizeof(in->i_block);
		return xstrndup((const char *)in->i_block, size < max ? size : max);
	}
	ext2_file_t f = NULL;
	if (ext2fs_file_open(v->fs, ino, 0, &f))
		return NULL;
	char *buf = xcalloc(1, size + 1);
	unsigned got = 0;
	if (ext2fs_file_read(f, buf, (unsigned)size, &got))
		got = 0;
	buf[got] = '\0';
	ext2fs_file_close(f);
	return buf;
}

static int fill_stat(struct ext2vol *v, ext2_ino_t ino, const char *path, const char *name,
		     struct ext2vol_stat *ret, struct wr_err *err)
{
	struct ext2_inode in;
	errcode_t e = ext2fs_read_inode(v->fs, ino, &in);
	if (e)
		return fail(err, e, "read inode of", path);
	struct ext2vol_stat st = {
		.name = xstrdup(name),
		.path = xstrdup(path),
		.type = type_of(in.i_mode),
		.mode = in.i_mode,
		.uid = inode_uid(in),
		.gid = inode_gid(in),
		.size = (int64_t)(EXT2_I_SIZE(&in) & INT64_MAX),
		.atime = in.i_atime,
		.mtime = in.i_mtime,
		.ctime = in.i_ctime,
	};
	if (st.type == EXT2VOL_SYMLINK)
		st.target = link_text(v, ino, &in);
	*ret = st;
	return 0;
}

int ext2vol_stat(struct ext2vol *v, const char *path, struct ext2vol_stat *ret, struct wr_err *err)
{
	cleanup_free char *norm = NULL;
	struct lookup l;
	int r = ext2vol_path_norm(path, &norm, err);
	if (r < 0 || (r = lookup(v, norm, &l, err)) < 0)
		return r;
	const char *slash = strrchr(norm, '/');
	return fill_stat(v, l.ino, norm, slash[1] ? slash + 1 : "", ret, err);
}

/* --- listing ------------------------------------------------------------------------------ */

struct entry {
	ext2_ino_t ino;
	char *name;
};
struct dir_acc {
	struct entry *v;
	size_t n, cap, max;
	bool overflow;
	ext2_ino_t max_ino;
	bool bad;
};

static int dir_cb(ext2_ino_t dir, int entry, struct ext2_dir_entry *d, int offset, int blocksize,
		  char *buf, void *priv)
{
	(void)dir;
	(void)entry;
	(void)offset;
	(void)blocksize;
	(void)buf;
	struct dir_acc *a = priv;
	int nl = ext2fs_dirent_name_len(d);
	if (!d->inode || (nl == 1 && d->name[0] == '.') ||
	    (nl == 2 && d->name[0] == '.' && d->name[1] == '.'))
		return 0;
	if (d->inode > a->max_ino || memchr(d->name, '/', (size_t)nl) ||
	    memchr(d->name, '\0', (size_t)nl)) {
		a->bad = true;
		return DIRENT_ABORT;
	}
	if (a->n == a->max) {
		a->overflow = true;
		return DIRENT_ABORT;
	}
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n].ino = d->inode;
	a->v[a->n].name = xstrndup(d->name, (size_t)nl);
	a->n++;
	return 0;
}

static void entries_free(struct dir_acc *a)
{
	for (size_t i = 0; i < a->n; i++)
		free(a->v[i].name);
	free(a->v);
}

static int entry_cmp(const void *x, const void *y)
{
	return strcmp(((const struct entry *)x)->name, ((const struct entry *)y)->name);
}

/* The entries of directory ino (no . and ..), sorted by name, at most max. */
static int read_dir(struct ext2vol *v, ext2_ino_t ino, const char *path, size_t max,
		    struct dir_acc *a, struct wr_err *err)
{
	*a = (struct dir_acc){.max = max, .max_ino = v->fs->super->s_inodes_count};
	errcode_t e = ext2fs_dir_iterate2(v->fs, ino, 0, NULL, dir_cb, a);
	if (e) {
		entries_free(a);
		return fail(err, e, "read directory", path);
	}
	if (a->bad) {
		entries_free(a);
		return wr_err_set(err, EUCLEAN, "directory %s has a damaged entry", path);
	}
	if (a->v)
		qsort(a->v, a->n, sizeof(*a->v), entry_cmp);
	return 0;
}

struct list_acc {
	struct ext2vol_stat *v;
	size_t n, cap;
};

/* A guest can hard-link a directory into itself: the directories on the way down are checked
 * (anc[0..nanc)), so a cycle is an error instead of a walk until a limit. */
static bool on_path(const ext2_ino_t *anc, int nanc, ext2_ino_t ino)
{
	for (int i = 0; i < nanc; i++)
		if (anc[i] == ino)
			return true;
	return false;
}

static int list_rec(struct ext2vol *v, ext2_ino_t ino, const char *path, int depth, ext2_ino_t *anc,
		    int nanc, struct list_acc *out, struct wr_err *err)
{
	anc[nanc++] = ino;
	struct dir_acc a;
	int r = read_dir(v, ino, path, EXT2VOL_LIST_MAX - out->n, &a, err);
	if (r < 0)
		return r;
	if (a.overflow)
		r = wr_err_set(err, E2BIG, "listing %s has more than %d entries", path,
			       EXT2VOL_LIST_MAX);
	for (size_t i = 0; r >= 0 && i < a.n; i++) {
		cleanup_free char *p =
			xasprintf("%s%s%s", path, strcmp(path, "/") ? "/" : "", a.v[i].name);
		if (out->n == out->cap) {
			out->cap = out->cap ? out->cap * 2 : 16;
			out->v = xrealloc(out->v, out->cap * sizeof(*out->v));
		}
		r = fill_stat(v, a.v[i].ino, p, a.v[i].name, &out->v[out->n], err);
		if (r < 0)
			break;
		bool dir = out->v[out->n].type == EXT2VOL_DIR;
		out->n++;
		if (dir && depth > 1) {
			if (out->n >= EXT2VOL_LIST_MAX)
				r = wr_err_set(err, E2BIG, "listing %s has more than %d entries",
					       path, EXT2VOL_LIST_MAX);
			else if (on_path(anc, nanc, a.v[i].ino))
				r = wr_err_set(err, EUCLEAN, "%s: a directory cycle", p);
			else
				r = list_rec(v, a.v[i].ino, p, depth - 1, anc, nanc, out, err);
		}
	}
	entries_free(&a);
	return r;
}

int ext2vol_list(struct ext2vol *v, const char *path, int depth, struct ext2vol_stat **ret,
		 size_t *ret_n, struct wr_err *err)
{
	if (depth < 1 || depth > EXT2VOL_DEPTH_MAX)
		return wr_err_set(err, EINVAL, "depth must be 1..%d", EXT2VOL_DEPTH_MAX);
	cleanup_free char *norm = NULL;
	struct lookup l;
	int r = ext2vol_path_norm(path, &norm, err);
	if (r < 0 || (r = lookup(v, norm, &l, err)) < 0)
		return r;
	struct ext2_inode in;
	errcode_t e = ext2fs_read_inode(v->fs, l.ino, &in);
	if (e)
		return fail(err, e, "read inode of", norm);
	if (LINUX_S_ISLNK(in.i_mode))
		return wr_err_set(err, ELOOP, "%s is a symbolic link (not followed)", norm);
	if (!LINUX_S_ISDIR(in.i_mode))
		return wr_err_set(err, ENOTDIR, "%s is not a directory", norm);
	struct list_acc out = {0};
	ext2_ino_t anc[EXT2VOL_DEPTH_MAX + 1];
	r = list_rec(v, l.ino, norm, depth, anc, 0, &out, err);
	if (r < 0) {
		ext2vol_stat_list_free(out.v, out.n);
		return r;
	}
	*ret = out.v;
	*ret_n = out.n;
	return 0;
}

/* --- files -------------------------------------------------------------------------------- */

static int regular(struct ext2vol *v, const char *path, char **ret_norm, ext2_ino_t *ret_ino,
		   struct wr_err *err)
{
	cleanup_free char *norm = NULL;
	struct lookup l;
	int r = ext2vol_path_norm(path, &norm, err);
	if (r < 0 || (r = lookup(v, norm, &l, err)) < 0)
		return r;
	struct ext2_inode in;
	errcode_t e = ext2fs_read_inode(v->fs, l.ino, &in);
	if (e)
		return fail(err, e, "read inode of", norm);
	if (LINUX_S_ISLNK(in.i_mode))
		return wr_err_set(err, ELOOP, "%s is a symbolic link (not followed)", norm);
	if (LINUX_S_ISDIR(in.i_mode))
		return wr_err_set(err, EISDIR, "%s is a directory", norm);
	if (!LINUX_S_ISREG(in.i_mode))
		return wr_err_set(err, EINVAL, "%s is not a regular file", norm);
	*ret_ino = l.ino;
	if (ret_norm)
		*ret_norm = TAKE_PTR(norm);
	return 0;
}

int ext2vol_file_size(struct ext2vol *v, const char *path, int64_t *ret, struct wr_err *err)
{
	ext2_ino_t ino;
	int r = regular(v, path, NULL, &ino, err);
	if (r < 0)
		return r;
	struct ext2_inode in;
	errcode_t e = ext2fs_read_inode(v->fs, ino, &in);
	if (e)
		return fail(err, e, "read inode of", path);
	*ret = (int64_t)(EXT2_I_SIZE(&in) & INT64_MAX);
	return 0;
}

int ext2vol_read(struct ext2vol *v, const char *path,
		 int (*sink)(void *ud, const void *buf, size_t n), void *ud, struct wr_err *err)
{
	ext2_ino_t ino;
	cleanup_free char *norm = NULL;
	int r = regular(v, path, &norm, &ino, err);
	if (r < 0)
		return r;
	ext2_file_t f = NULL;
	errcode_t e = ext2fs_file_open(v->fs, ino, 0, &f);
	if (e)
		return fail(err, e, "open", norm);
	cleanup_free char *buf = xmalloc(65536);
	for (;;) {
		unsigned got = 0;
		if ((e = ext2fs_file_read(f, buf, 65536, &got))) {
			r = fail(err, e, "read", norm);
			break;
		}
		if (!got)
			break;
		if ((r = sink(ud, buf, got)) < 0) {
			wr_err_set(err, -r, "send %s", norm);
			break;
		}
	}
	ext2fs_file_close(f);
	return r < 0 ? r : 0;
}

static void now_times(struct ext2_inode *in)
{
	uint32_t t = (uint32_t)time(NULL);
	in->i_atime = in->i_mtime = in->i_ctime = t;
}

/* Link a new inode `ino` as name in dir, growing the directory when it is full. */
static errcode_t link_in(ext2_filsys fs, ext2_ino_t dir, const char *name, ext2_ino_t ino,
			 int ftype)
{
	errcode_t e = ext2fs_link(fs, dir, name, ino, ftype);
	if (e == EXT2_ET_DIR_NO_SPACE) {
		if ((e = ext2fs_expand_dir(fs, dir)))
			return e;
		e = ext2fs_link(fs, dir, name, ino, ftype);
	}
	return e;
}

static int set_owner_mode(struct ext2vol *v, ext2_ino_t ino, int64_t uid, int64_t gid, int64_t mode,
			  const char *path, struct wr_err *err)
{
	struct ext2_inode in;
	errcode_t e = ext2fs_read_inode(v->fs, ino, &in);
	if (e)
		return fail(err, e, "read inode of", path);
	if (uid >= 0) {
		in.i_uid = (uint16_t)uid;
		ext2fs_set_i_uid_high(in, (uint32_t)uid >> 16);
	}
	if (gid >= 0) {
		in.i_gid = (uint16_t)gid;
		ext2fs_set_i_gid_high(in, (uint32_t)gid >> 16);
	}
	if (mode >= 0)
		in.i_mode = (uint16_t)((in.i_mode & LINUX_S_IFMT) | (mode & 07777));
	in.i_ctime = (uint32_t)time(NULL);
	if ((e = ext2fs_write_inode(v->fs, ino, &in)))
		return fail(err, e, "write inode of", path);
	return 0;
}

static int check_ids(int64_t uid, int64_t gid, int64_t mode, struct wr_err *err)
{
	if (uid > UINT32_MAX - 1 || gid > UINT32_MAX - 1)
		return wr_err_set(err, EINVAL, "uid and gid must be 0..4294967294");
	if (mode > 07777)
		return wr_err_set(err, EINVAL, "mode must be 0..07777");
	return 0;
}

static int mkdir_one(struct ext2vol *v, ext2_ino_t parent, const char *name, int64_t uid,
		     int64_t gid, int64_t mode, const char *path, ext2_ino_t *ret,
		     struct wr_err *err)
{
	errcode_t e = ext2fs_mkdir(v->fs, parent, 0, name);
	if (e == EXT2_ET_DIR_NO_SPACE) {
		if ((e = ext2fs_expand_dir(v->fs, parent)))
			return fail(err, e, "grow the directory of", path);
		e = ext2fs_mkdir(v->fs, parent, 0, name);
	}
	if (e)
		return fail(err, e, "mkdir", path);
	ext2_ino_t ino = 0;
	if ((e = ext2fs_lookup(v->fs, parent, name, (int)strlen(name), NULL, &ino)))
		return fail(err, e, "look up new directory", path);
	int r = set_owner_mode(v, ino, uid < 0 ? 0 : uid, gid < 0 ? 0 : gid, mode < 0 ? 0755 : mode,
			       path, err);
	if (r < 0)
		return r;
	*ret = ino;
	return 0;
}

/* Make the directories of norm (a normalised path) that are missing: all components when
 * last, else all but the last. */
static int mkdirs(struct ext2vol *v, const char *norm, bool last, int64_t uid, int64_t gid,
		  int64_t mode, ext2_ino_t *ret, struct wr_err *err)
{
	ext2_ino_t cur = EXT2_ROOT_INO;
	cleanup_free char *name = NULL;
	for (const char *s = norm; *s == '/' && s[1];) {
		s++;
		size_t n = strcspn(s, "/");
		if (!last && !s[n])
			break;
		free(name);
		name = xstrndup(s, n);
		s += n;
		ext2_ino_t next = 0;
		errcode_t e = ext2fs_lookup(v->fs, cur, name, (int)n, NULL, &next);
		if (e == EXT2_ET_FILE_NOT_FOUND) {
			int r = mkdir_one(v, cur, name, uid, gid, mode, norm, &next, err);
			if (r < 0)
				return r;
		} else if (e) {
			return fail(err, e, "look up", norm);
		} else {
			struct ext2_inode in;
			if (next < EXT2_ROOT_INO || next > v->fs->super->s_inodes_count)
				return wr_err_set(err, EUCLEAN, "%s: bad directory entry", norm);
			if ((e = ext2fs_read_inode(v->fs, next, &in)))
				return fail(err, e, "read inode of", norm);
			if (LINUX_S_ISLNK(in.i_mode))
				return wr_err_set(err, ELOOP,
						  "%s: a symbolic link on the way is not followed",
						  norm);
			if (!LINUX_S_ISDIR(in.i_mode))
				return wr_err_set(err, ENOTDIR, "%s: %s is not a directory", norm,
						  name);
		}
		cur = next;
	}
	*ret = cur;
	return 0;
}

int ext2vol_mkdir(struct ext2vol *v, const char *path, bool parents, int64_t uid, int64_t gid,
		  int64_t mode, struct wr_err *err)
{
	cleanup_free char *norm = NULL;
	struct lookup l;
	int r = ext2vol_path_norm(path, &norm, err);
	if (r < 0 || (r = check_ids(uid, gid, mode, err)) < 0)
		return r;
	struct wr_err e2 = {0};
	r = lookup(v, norm, &l, &e2);
	if (r == 0) {
		struct ext2_inode in;
		errcode_t e = ext2fs_read_inode(v->fs, l.ino, &in);
		if (e)
			return fail(err, e, "read inode of", norm);
		if (parents && LINUX_S_ISDIR(in.i_mode))
			return 0;
		return wr_err_set(err, EEXIST, "%s already exists", norm);
	}
	if (r != -ENOENT) {
		*err = e2;
		return r;
	}
	if (!l.missing_last && !parents)
		return wr_err_set(err, ENOENT, "%s: parent directory not found", norm);
	ext2_ino_t ino;
	return mkdirs(v, norm, true, uid, gid, mode, &ino, err);
}

static int new_file(struct ext2vol *v, ext2_ino_t parent, const char *name, const char *path,
		    int64_t uid, int64_t gid, int64_t mode, ext2_ino_t *ret, struct wr_err *err)
{
	ext2_filsys fs = v->fs;
	ext2_ino_t ino = 0;
	errcode_t e = ext2fs_new_inode(fs, parent, 010755, NULL, &ino);
	if (e)
		return fail(err, e, "allocate an inode for", path);
	if ((e = link_in(fs, parent, name, ino, EXT2_FT_REG_FILE)))
		return fail(err, e, "link", path);
	ext2fs_inode_alloc_stats2(fs, ino, +1, 0);
	struct ext2_inode in;
	memset(&in, 0, sizeof(in));
	in.i_mode = (uint16_t)(LINUX_S_IFREG | (mode < 0 ? 0644 : (mode & 07777)));
	in.i_links_count = 1;
	now_times(&in);
	if (ext2fs_has_feature_extents(fs->super)) {
		ext2_extent_handle_t h = NULL;
		if ((e = ext2fs_extent_open2(fs, ino, &in, &h)))
			return fail(err, e, "set up extents of", path);
		ext2fs_extent_free(h);
	}
	if ((e = ext2fs_write_new_inode(fs, ino, &in)))
		return fail(err, e, "write inode of", path);
	int r = set_owner_mode(v, ino, uid < 0 ? 0 : uid, gid < 0 ? 0 : gid, -1, path, err);
	if (r < 0)
		return r;
	*ret = ino;
	return 0;
}

int ext2vol_write(struct ext2vol *v, const char *path,
		  ssize_t (*src)(void *ud, void *buf, size_t n), void *ud, int64_t max, int64_t uid,
		  int64_t gid, int64_t mode, struct wr_err *err)
{
	cleanup_free char *norm = NULL;
	int r = ext2vol_path_norm(path, &norm, err);
	if (r < 0 || (r = check_ids(uid, gid, mode, err)) < 0)
		return r;
	if (!strcmp(norm, "/"))
		return wr_err_set(err, EISDIR, "/ is a directory");
	ext2_ino_t parent, ino = 0;
	if ((r = mkdirs(v, norm, false, uid, gid, -1, &parent, err)) < 0)
		return r;
	const char *name = strrchr(norm, '/') + 1;
	errcode_t e = ext2fs_lookup(v->fs, parent, name, (int)strlen(name), NULL, &ino);
	if (e == EXT2_ET_FILE_NOT_FOUND) {
		if ((r = new_file(v, parent, name, norm, uid, gid, mode, &ino, err)) < 0)
			return r;
	} else if (e) {
		return fail(err, e, "look up", norm);
	} else {
		if ((r = regular(v, norm, NULL, &ino, err)) < 0)
			return r;
		if ((uid >= 0 || gid >= 0 || mode >= 0) &&
		    (r = set_owner_mode(v, ino, uid, gid, mode, norm, err)) < 0)
			return r;
	}
	ext2_file_t f = NULL;
	if ((e = ext2fs_file_open(v->fs, ino, EXT2_FILE_WRITE, &f)))
		return fail(err, e, "open", norm);
	if ((e = ext2fs_file_set_size2(f, 0))) {
		ext2fs_file_close(f);
		return fail(err, e, "truncate", norm);
	}
	cleanup_free char *buf = xmalloc(65536);
	int64_t total = 0;
	for (;;) {
		ssize_t n = src(ud, buf, 65536);
		if (n < 0) {
			r = wr_err_set(err, (int)-n, "read the upload for %s", norm);
			break;
		}
		if (n == 0)
			break;
		if (total + n > max) {
			r = wr_err_set(err, EFBIG, "%s: more than %lld bytes", norm,
				       (long long)max);
			break;
		}
		unsigned done = 0;
		if ((e = ext2fs_file_write(f, buf, (unsigned)n, &done)) || done != (unsigned)n) {
			r = e ? fail(err, e, "write", norm)
			      : wr_err_set(err, EIO, "write %s: short write", norm);
			break;
		}
		total += n;
	}
	if ((e = ext2fs_file_close(f)) && r >= 0)
		r = fail(err, e, "close", norm);
	if (r >= 0) {
		struct ext2_inode in;
		if (!ext2fs_read_inode(v->fs, ino, &in)) {
			now_times(&in);
			ext2fs_write_inode(v->fs, ino, &in);
		}
	}
	return r < 0 ? r : 0;
}

/* Drop one link of ino (unlinked from its directory already): free it at 0. */
static int drop_inode(struct ext2vol *v, ext2_ino_t ino, bool dir, const char *path,
		      struct wr_err *err)
{
	struct ext2_inode in;
	errcode_t e = ext2fs_read_inode(v->fs, ino, &in);
	if (e)
		return fail(err, e, "read inode of", path);
	if (dir || in.i_links_count <= 1)
		in.i_links_count = 0;
	else
		in.i_links_count--;
	if (in.i_links_count == 0) {
		if (ext2fs_inode_has_valid_blocks2(v->fs, &in) &&
		    (e = ext2fs_punch(v->fs, ino, &in, NULL, 0, ~0ULL)))
			return fail(err, e, "free the blocks of", path);
		in.i_dtime = (uint32_t)time(NULL);
		ext2fs_inode_alloc_stats2(v->fs, ino, -1, dir);
	}
	if ((e = ext2fs_write_inode(v->fs, ino, &in)))
		return fail(err, e, "write inode of", path);
	return 0;
}

struct rm_walk {
	ext2_ino_t anc[EXT2VOL_DEPTH_MAX + 1]; /* directories on the way down from the target */
	const ext2_ino_t *above;	       /* the directories above the target, from the root */
	int nabove;
	size_t visited; /* entries so far: at most EXT2VOL_REMOVE_MAX */
};

static int remove_rec(struct ext2vol *v, ext2_ino_t parent, const char *name, ext2_ino_t ino,
		      const char *path, int depth, struct rm_walk *w, struct wr_err *err)
{
	if (++w->visited > EXT2VOL_REMOVE_MAX)
		return wr_err_set(err, E2BIG, "removing more than %d entries", EXT2VOL_REMOVE_MAX);
	struct ext2_inode in;
	errcode_t e = ext2fs_read_inode(v->fs, ino, &in);
	if (e)
		return fail(err, e, "read inode of", path);
	bool dir = LINUX_S_ISDIR(in.i_mode);
	if (dir) {
		if (depth >= EXT2VOL_DEPTH_MAX)
			return wr_err_set(err, E2BIG, "%s: more than %d levels deep", path,
					  EXT2VOL_DEPTH_MAX);
		/* a directory linked back to one above would take the rest of the volume */
		if (on_path(w->anc, depth, ino) || on_path(w->above, w->nabove, ino))
			return wr_err_set(err, EUCLEAN, "%s: a directory cycle", path);
		w->anc[depth] = ino;
		struct dir_acc a;
		int r = read_dir(v, ino, path, EXT2VOL_LIST_MAX, &a, err);
		if (r < 0)
			return r;
		if (a.overflow)
			r = wr_err_set(err, E2BIG, "%s has more than %d entries", path,
				       EXT2VOL_LIST_MAX);
		for (size_t i = 0; r >= 0 && i < a.n; i++) {
			cleanup_free char *p = xasprintf("%s/%s", path, a.v[i].name);
			r = remove_rec(v, ino, a.v[i].name, a.v[i].ino, p, depth + 1, w, err);
		}
		entries_free(&a);
		if (r < 0)
			return r;
	}
	if ((e = ext2fs_unlink(v->fs, parent, name, ino, 0)))
		return fail(err, e, "unlink", path);
	int r = drop_inode(v, ino, dir, path, err);
	if (r < 0 || !dir)
		return r;
	/* the parent loses the child's ".." link */
	if ((e = ext2fs_read_inode(v->fs, parent, &in)))
		return fail(err, e, "read inode of the parent of", path);
	if (in.i_links_count > 2)
		in.i_links_count--;
	if ((e = ext2fs_write_inode(v->fs, parent, &in)))
		return fail(err, e, "write inode of the parent of", path);
	return 0;
}

int ext2vol_remove(struct ext2vol *v, const char *path, struct wr_err *err)
{
	cleanup_free char *norm = NULL;
	struct lookup l;
	int r = ext2vol_path_norm(path, &norm, err);
	if (r < 0 || (r = lookup(v, norm, &l, err)) < 0)
		return r;
	if (l.ino == EXT2_ROOT_INO)
		return wr_err_set(err, EINVAL, "the volume's root directory cannot be removed");
	cleanup_free char *name = xstrdup(strrchr(norm, '/') + 1);
	/* the inodes of the directories above the target: root, then each prefix of norm */
	size_t ncomp = 0;
	for (const char *c = norm; *c; c++)
		ncomp += *c == '/';
	cleanup_free ext2_ino_t *above = xcalloc(ncomp + 1, sizeof(*above));
	int nabove = 0;
	above[nabove++] = EXT2_ROOT_INO;
	cleanup_free char *prefix = xstrdup(norm);
	for (char *c = strchr(prefix + 1, '/'); c; c = strchr(c + 1, '/')) {
		*c = '\0';
		struct lookup pl;
		if ((r = lookup(v, prefix, &pl, err)) < 0)
			return r;
		above[nabove++] = pl.ino;
		*c = '/';
	}
	struct rm_walk w = {.above = above, .nabove = nabove};
	return remove_rec(v, l.parent, name, l.ino, norm, 0, &w, err);
}

int ext2vol_setattr(struct ext2vol *v, const char *path, int64_t uid, int64_t gid, int64_t mode,
		    struct wr_err *err)
{
	cleanup_free char *norm = NULL;
	struct lookup l;
	int r = ext2vol_path_norm(path, &norm, err);
	if (r < 0 || (r = check_ids(uid, gid, mode, err)) < 0 || (r = lookup(v, norm, &l, err)) < 0)
		return r;
	return set_owner_mode(v, l.ino, uid, gid, mode, norm, err);
}

int ext2vol_chmod_root(const char *image, unsigned mode, struct wr_err *err)
{
	struct ext2vol *v = NULL;
	int r = ext2vol_open(image, true, &v, err);
	if (r < 0)
		return r;
	r = set_owner_mode(v, EXT2_ROOT_INO, -1, -1, mode & 07777, "/", err);
	int r2 = ext2vol_close(v, r < 0 ? NULL : err);
	return r < 0 ? r : r2;
}
