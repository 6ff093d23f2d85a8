/* SPDX-License-Identifier: MIT */
/*
 * The VMM jail: planning in the parent, building and dropping in the child.
 * See jail.h for what the jail holds and why.
 */
#include "vm/jail.h"

#include "basic/cleanup.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

enum op_kind { OP_MKDIR, OP_FILE, OP_BIND, OP_SYMLINK };

/* Mount flags after the bind: data never executes or carries set-uid bits
 * or device nodes; /usr must execute; device nodes must stay devices. */
#define FL_DATA (MS_NOSUID | MS_NODEV | MS_NOEXEC)
#define FL_EXEC (MS_NOSUID | MS_NODEV)
#define FL_DEV (MS_NOSUID | MS_NOEXEC)

struct op {
	enum op_kind k;
	char *a; /* MKDIR/FILE: path; BIND: source; SYMLINK: target */
	char *b; /* BIND: destination; SYMLINK: link */
	unsigned long flags;
	bool ro;
};

struct jail_plan {
	struct op *ops;
	size_t n, cap;
	char *root;
	uid_t uid;
	gid_t gid, shared_gid;
};

static void add(struct jail_plan *p, enum op_kind k, char *a, char *b, unsigned long fl, bool ro)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 32;
		p->ops = xrealloc(p->ops, p->cap * sizeof(*p->ops));
	}
	p->ops[p->n++] = (struct op){.k = k, .a = a, .b = b, .flags = fl, .ro = ro};
}

/* Directories root + every ancestor of path (not path itself). */
static void add_parents(struct jail_plan *p, const char *path)
{
	cleanup_free char *copy = xstrdup(path);
	for (char *s = strchr(copy + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		add(p, OP_MKDIR, xasprintf("%s%s", p->root, copy), NULL, 0, false);
		*s = '/';
	}
}

static int add_bind(struct jail_plan *p, const char *path, unsigned long fl, bool ro,
		    struct wr_err *err)
{
	struct stat st;
	if (path[0] != '/' || strstr(path, "/../") || strstr(path, "/./"))
		return wr_err_set(err, EINVAL, "jail: path \"%s\" is not absolute and clean", path);
	if (stat(path, &st) < 0)
		return wr_err_errno(err, errno, "jail: %s", path);
	add_parents(p, path);
	add(p, S_ISDIR(st.st_mode) ? OP_MKDIR : OP_FILE, xasprintf("%s%s", p->root, path), NULL, 0,
	    false);
	/* A disk that is a block device (the dm backend) must stay a device. */
	if (S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode))
		fl = (fl & ~MS_NODEV) | MS_NOEXEC;
	add(p, OP_BIND, xstrdup(path), xasprintf("%s%s", p->root, path), fl, ro);
	return 0;
}

/* fchown/fchmod through an fd opened without following a final symlink. */
static int grant(const char *path, uid_t uid, gid_t gid, mode_t set, mode_t clear,
		 struct wr_err *err)
{
	/* The file a link names (images/vmlinux, /dev/mapper/<name>) is what the VMM opens. */
	cleanup_free char *real = realpath(path, NULL);
	if (!real)
		return wr_err_errno(err, errno, "jail: %s", path);
	cleanup_close int fd = open(real, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return wr_err_errno(err, errno, "jail: open %s", path);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return wr_err_errno(err, errno, "jail: stat %s", path);
	if ((uid != (uid_t)-1 && st.st_uid != uid) || (gid != (gid_t)-1 && st.st_gid != gid))
		if (fchown(fd, uid, gid) < 0)
			return wr_err_errno(err, errno, "jail: chown %s", path);
	mode_t m = ((st.st_mode & 07777) | set) & ~clear;
	if (m != (st.st_mode & 07777) && fchmod(fd, m) < 0)
		return wr_err_errno(err, errno, "jail: chmod %s", path);
	return 0;
}

/* A merged-/usr host has /bin -> usr/bin etc.: the same links in the jail. */
static void add_top_links(struct jail_plan *p)
{
	static const char *const tops[] = {"/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"};
	for (size_t i = 0; i < ARRAY_SIZE(tops); i++) {
		char target[256];
		ssize_t n = readlink(tops[i], target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		add(p, OP_SYMLINK, xstrdup(target), xasprintf("%s%s", p->root, tops[i]), 0, false);
	}
}

int jail_plan_new(const struct jail_spec *j, const char *root_dir, const char *exe,
		  struct jail_plan **ret, struct wr_err *err)
{
	if (j->uid == 0 || j->gid == 0)
		return wr_err_set(err, EINVAL, "jail: uid and gid must not be 0");
	struct jail_plan *p = xcalloc(1, sizeof(*p));
	p->root = xstrdup(root_dir);
	p->uid = j->uid;
	p->gid = j->gid;
	p->shared_gid = j->shared_gid;
	int r = 0;
	/* The binary and its libraries; /usr holds no secrets and is read-only. */
	add_top_links(p);
	r = add_bind(p, "/usr", FL_EXEC, true, err);
	/* A binary outside /usr (resolved: /bin/sh is /usr/bin/dash here) is shown too. */
	cleanup_free char *real = realpath(exe, NULL);
	if (r >= 0 && !real)
		r = wr_err_errno(err, errno, "jail: %s", exe);
	if (r >= 0 && strncmp(real, "/usr/", 5))
		r = add_bind(p, exe, FL_EXEC, true, err);
	/* The dynamic loader finds libraries faster with its cache; nothing else of /etc. */
	if (r >= 0 && access("/etc/ld.so.cache", R_OK) == 0)
		r = add_bind(p, "/etc/ld.so.cache", FL_DATA, true, err);
	/* Device nodes: nothing the VMM does not open. */
	const char *devs[] = {"/dev/null", "/dev/urandom", j->kvm ? "/dev/kvm" : NULL};
	for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(devs); i++)
		if (devs[i])
			r = add_bind(p, devs[i], FL_DEV, false, err);
	for (const char *const *f = j->ro; r >= 0 && f && *f; f++) {
		struct stat st;
		/* Template files are written 0600/0640 by root: the VMM group may read. */
		if (stat(*f, &st) == 0 && !(st.st_mode & S_IROTH) && j->shared_gid &&
		    strncmp(*f, "/usr/", 5))
			r = grant(*f, (uid_t)-1, j->shared_gid,
				  S_IRGRP | (S_ISDIR(st.st_mode) ? S_IXGRP : 0), 0, err);
		if (r >= 0)
			r = add_bind(p, *f, FL_DATA, true, err);
	}
	for (const char *const *f = j->rw; r >= 0 && f && *f; f++) {
		/* Its own disk and RAM file: only this uid (and root) may touch them. */
		r = grant(*f, j->uid, j->gid, S_IRUSR | S_IWUSR, S_IRWXO, err);
		if (r >= 0)
			r = add_bind(p, *f, FL_DATA, false, err);
	}
	for (const char *const *f = j->shared_rw; r >= 0 && f && *f; f++) {
		r = grant(*f, 0, j->shared_gid, S_IRGRP | S_IWGRP, S_IRWXO, err);
		if (r >= 0)
			r = add_bind(p, *f, FL_DATA, false, err);
	}
	for (const char *const *l = j->links; r >= 0 && l && l[0] && l[1]; l += 2) {
		add_parents(p, l[1]);
		add(p, OP_SYMLINK, xstrdup(l[0]), xasprintf("%s%s", p->root, l[1]), 0, false);
	}
	if (r < 0) {
		jail_plan_free(p);
		return r;
	}
	*ret = p;
	return 0;
}

void jail_plan_free(struct jail_plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->ops[i].a);
		free(p->ops[i].b);
	}
	free(p->ops);
	free(p->root);
	free(p);
}

#define FAIL(what)                                                                                 \
	do {                                                                                       \
		*ret_step = what;                                                                  \
		return -errno;                                                                     \
	} while (0)

int jail_build_root(const struct jail_plan *p, const char **ret_step)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct op *o = &p->ops[i];
		int fd;
		switch (o->k) {
		case OP_MKDIR:
			if (mkdir(o->a, 0755) < 0 && errno != EEXIST)
				FAIL("jail: mkdir");
			break;
		case OP_FILE:
			fd = open(o->a, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
			if (fd < 0 && errno != EEXIST && errno != EROFS)
				FAIL("jail: create mount point");
			if (fd >= 0)
				close(fd);
			break;
		case OP_SYMLINK:
			if (symlink(o->a, o->b) < 0 && errno != EEXIST)
				FAIL("jail: symlink");
			break;
		case OP_BIND:
			if (mount(o->a, o->b, NULL, MS_BIND | MS_REC, NULL) < 0)
				FAIL("jail: bind mount");
			if (mount(NULL, o->b, NULL,
				  MS_REMOUNT | MS_BIND | o->flags | (o->ro ? MS_RDONLY : 0),
				  NULL) < 0)
				FAIL("jail: remount bind");
			break;
		}
	}
	/* pivot_root(".", ".") stacks the old root on the new one; detaching it
	 * leaves the jail as the whole file system of this mount namespace. */
	if (chdir(p->root) < 0)
		FAIL("jail: chdir root");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		FAIL("jail: pivot_root");
	if (umount2(".", MNT_DETACH) < 0)
		FAIL("jail: detach old root");
	if (chdir("/") < 0)
		FAIL("jail: chdir /");
	/* The tmpfs itself (directories and mount points) becomes read-only. */
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | FL_DATA, NULL) < 0)
		FAIL("jail: remount / read-only");
	return 0;
}

int jail_drop(const struct jail_plan *p, const char **ret_step)
{
	/* Raw syscalls: glibc's set*id broadcast to all threads is not needed
	 * (the child has one) and not async-signal-safe after fork. */
	gid_t groups[1] = {p->shared_gid};
	if (syscall(SYS_setgroups, p->shared_gid ? 1 : 0, groups) < 0)
		FAIL("jail: setgroups");
	if (syscall(SYS_setresgid, p->gid, p->gid, p->gid) < 0)
		FAIL("jail: setresgid");
	/* Locked: the uid change below must clear the capabilities (no
	 * KEEP_CAPS, setuid fixup on), and uid 0 must never mean privilege. */
	if (prctl(PR_SET_SECUREBITS,
		  SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED |
			  SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
			  SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED,
		  0, 0, 0) < 0)
		FAIL("jail: securebits");
	for (int cap = 0; cap <= 63; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			FAIL("jail: drop bounding capability");
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		FAIL("jail: clear ambient capabilities");
	if (syscall(SYS_setresuid, p->uid, p->uid, p->uid) < 0)
		FAIL("jail: setresuid");
	/* The uid change cleared permitted and effective; inheritable too. */
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {{0}};
	if (syscall(SYS_capset, &h, d) < 0)
		FAIL("jail: capset");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		FAIL("jail: no_new_privs");
	/* Verify rather than trust: any capability left is a failed launch. */
	if (syscall(SYS_capget, &h, d) < 0)
		FAIL("jail: capget");
	for (int i = 0; i < 2; i++)
		if (d[i].effective || d[i].permitted || d[i].inheritable) {
			errno = EPERM;
			FAIL("jail: capabilities left after the drop");
		}
	uid_t ru, eu, su;
	if (getresuid(&ru, &eu, &su) < 0 || !ru || !eu || !su) {
		errno = EPERM;
		FAIL("jail: still uid 0 after the drop");
	}
	return 0;
}

int jail_check_range(uid_t base, unsigned count, struct wr_err *err)
{
	if (base == 0 || (uint64_t)base + count > 0xfffffffeULL)
		return wr_err_set(err, EINVAL, "jail uid range %u..%u is not valid", (unsigned)base,
				  (unsigned)base + count);
	char buf[4096];
	for (unsigned i = 0; i <= count; i++) {
		struct passwd pw, *pr = NULL;
		struct group gr, *gres = NULL;
		uid_t id = base + i;
		if (getpwuid_r(id, &pw, buf, sizeof(buf), &pr) == 0 && pr)
			return wr_err_set(err, EEXIST,
					  "jail uid range %u..%u collides with user %s (uid %u); "
					  "choose another base",
					  (unsigned)base, (unsigned)base + count, pw.pw_name,
					  (unsigned)id);
		if (getgrgid_r((gid_t)id, &gr, buf, sizeof(buf), &gres) == 0 && gres)
			return wr_err_set(err, EEXIST,
					  "jail gid range %u..%u collides with group %s (gid %u); "
					  "choose another base",
					  (unsigned)base, (unsigned)base + count, gr.gr_name,
					  (unsigned)id);
	}
	return 0;
}
