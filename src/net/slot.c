/* SPDX-License-Identifier: MIT */
#include "net/slot.h"
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "net/addr.h"
#include "net/claim.h"
#include "net/nl.h"
#include "net/tap.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum slot_state { SLOT_NONE = 0, SLOT_IDLE, SLOT_USED, SLOT_PREPARING };

struct slot_entry {
	enum slot_state state;
	int claim_fd;
	bool egress;
};

struct slot_pool {
	char *data_dir, *claims_dir, *ns_prefix;
	char *veth_prefix, *nft_table, *egress_base;
	struct egress_config egress;
	unsigned int first, last, pool_size;
	struct slot_entry *slots; /* indexed by n - first */
	pthread_mutex_t lock;
};

static struct slot_entry *entry(struct slot_pool *p, unsigned int n)
{
	if (n < p->first || n > p->last)
		return NULL;
	return &p->slots[n - p->first];
}

void slot_pool_ns_name(const struct slot_pool *p, unsigned int n, char buf[NETNS_NAME_MAX])
{
	snprintf(buf, NETNS_NAME_MAX, "%s%u", p->ns_prefix, n);
}

static bool ident_ok(const char *s, bool table)
{
	if (!*s || strlen(s) > 32 || (table && !isalpha((unsigned char)*s)))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && (table || *s != '-'))
			return false;
	return true;
}

int slot_pool_new(const struct slot_pool_config *cfg, struct slot_pool **ret, struct wr_err *err)
{
	const char *dd = cfg->data_dir ? cfg->data_dir : "/var/lib/wrenn";
	const char *nsp = cfg->ns_prefix ? cfg->ns_prefix : "wrenn-ns-";
	unsigned int first = cfg->first ? cfg->first : 1;
	unsigned int last = cfg->last ? cfg->last : 1024;
	struct egress_config eg = cfg->egress;
	egress_config_defaults(&eg);
	if (first > last)
		return wr_err_set(err, EINVAL, "slot range %u..%u is empty", first, last);
	if (last > NET_EGRESS_SLOT_MAX)
		return wr_err_set(err, ERANGE, "slot %u above maximum %u", last,
				  NET_EGRESS_SLOT_MAX);
	char name[NETNS_NAME_MAX + 16];
	snprintf(name, sizeof(name), "%s%u", nsp, last);
	if (!netns_name_valid(name))
		return wr_err_set(err, EINVAL, "invalid namespace prefix '%s'", nsp);
	/* Both names are pasted into nft scripts and link names: letters, digits, '_' and '-'
	 * only, so a setting can never inject a rule or name another link. */
	if (!ident_ok(eg.veth_prefix, false))
		return wr_err_set(err, EINVAL,
				  "invalid veth prefix '%s' (letters, digits, _ and -)",
				  eg.veth_prefix);
	if (!ident_ok(eg.nft_table, true))
		return wr_err_set(err, EINVAL,
				  "invalid nft table name '%s' (a letter, then letters, digits, _)",
				  eg.nft_table);
	char ifn[IFNAMSIZ];
	int r = net_ifname(ifn, eg.veth_prefix, last, err);
	if (r < 0)
		return r;
	struct egress_addrs a;
	r = net_egress_addrs(eg.base, last, &a, err);
	if (r < 0)
		return r;
	cleanup_free char *claims = xasprintf("%s/slots", dd);
	/* 0700 and claim files 0600: a claim is locked by the agent that owns
	 * the slot, and the startup sweep treats a locked claim as another
	 * agent's.  If other users could open a claim they could hold a lock on
	 * it (flock needs only a read fd) and make the next agent start give up
	 * slots of running sandboxes.  Only root can open them now; an older
	 * agent's directory is tightened. */
	r = mkdir_p(claims, 0700);
	if (r < 0)
		return wr_err_errno(err, -r, "create %s", claims);
	if (chmod(claims, 0700) < 0)
		return wr_err_errno(err, errno, "chmod 0700 %s", claims);

	struct slot_pool *p = xcalloc(1, sizeof(*p));
	p->data_dir = xstrdup(dd);
	p->claims_dir = TAKE_PTR(claims);
	p->ns_prefix = xstrdup(nsp);
	p->veth_prefix = xstrdup(eg.veth_prefix);
	p->nft_table = xstrdup(eg.nft_table);
	p->egress_base = xstrdup(eg.base);
	p->egress = (struct egress_config){
		.veth_prefix = p->veth_prefix, .nft_table = p->nft_table, .base = p->egress_base};
	p->first = first;
	p->last = last;
	p->pool_size = cfg->pool_size;
	p->slots = xcalloc(last - first + 1, sizeof(*p->slots));
	for (unsigned int i = 0; i <= last - first; i++)
		p->slots[i].claim_fd = -1;
	pthread_mutex_init(&p->lock, NULL);
	*ret = p;
	return 0;
}

/* Delete namespace + host link of slot n (best effort, for undo paths). */
static void slot_teardown(struct slot_pool *p, unsigned int n, bool egress)
{
	char ns[NETNS_NAME_MAX];
	slot_pool_ns_name(p, n, ns);
	if (egress)
		egress_disable(&p->egress, n, ns, NULL);
	if (netns_exists(ns))
		netns_delete(ns, NULL);
}

/* No slot claim file left in dir (other files do not count). */
static bool claims_none(const char *dir)
{
	cleanup_closedir DIR *d = opendir(dir);
	if (!d)
		return false;
	bool none = true;
	struct dirent *de;
	unsigned int n;
	while (none && (de = readdir(d)))
		none = net_parse_slot_name(de->d_name, "", &n) < 0;
	return none;
}

void slot_pool_free(struct slot_pool *p)
{
	if (!p)
		return;
	for (unsigned int n = p->first; n <= p->last; n++) {
		struct slot_entry *e = entry(p, n);
		if (e->state == SLOT_IDLE) {
			slot_teardown(p, n, false);
			claim_release(p->claims_dir, n, e->claim_fd);
		} else if (e->claim_fd >= 0) {
			close(e->claim_fd);
		}
	}
	/* The host's egress table goes with the last user of this data dir: no slot of ours holds
	 * egress any more (a sandbox left running keeps its claim) and no other agent claims a
	 * slot.  Else the next start's sweep removes it. */
	if (claims_none(p->claims_dir))
		egress_shutdown(&p->egress, NULL);
	pthread_mutex_destroy(&p->lock);
	free(p->slots);
	free(p->data_dir);
	free(p->claims_dir);
	free(p->ns_prefix);
	free(p->veth_prefix);
	free(p->nft_table);
	free(p->egress_base);
	free(p);
}

/* Claim a free slot number and mark it PREPARING (lock held by caller). */
static int claim_any_locked(struct slot_pool *p, unsigned int *ret, struct wr_err *err)
{
	for (unsigned int n = p->first; n <= p->last; n++) {
		struct slot_entry *e = entry(p, n);
		if (e->state != SLOT_NONE)
			continue;
		int fd;
		int r = claim_take(p->claims_dir, n, &fd, err);
		if (r == -EBUSY)
			continue;
		if (r < 0)
			return r;
		e->state = SLOT_PREPARING;
		e->claim_fd = fd;
		*ret = n;
		return 0;
	}
	return wr_err_set(err, ENOSPC, "no free network slot in %u..%u", p->first, p->last);
}

/* Build the namespace of a claimed slot; a leftover namespace of the same
 * name (crash of a previous owner) is replaced. */
static int prepare(struct slot_pool *p, unsigned int n, struct wr_err *err)
{
	char ns[NETNS_NAME_MAX];
	slot_pool_ns_name(p, n, ns);
	char ifn[IFNAMSIZ];
	cleanup_nl struct nl nl = {0};
	if (net_ifname(ifn, p->veth_prefix, n, NULL) >= 0 && nl_open(&nl, NULL) >= 0)
		nl_link_delete(&nl, ifn, NULL);
	if (netns_exists(ns))
		netns_delete(ns, NULL);
	int r = netns_create(ns, err);
	if (r < 0)
		return wr_err_prefix(err, r, "slot %u", n);
	cleanup_close int fd = -1;
	r = netns_open(ns, &fd, err);
	if (r >= 0)
		r = net_ns_setup(fd, err);
	if (r < 0) {
		netns_delete(ns, NULL);
		return wr_err_prefix(err, r, "slot %u", n);
	}
	return 0;
}

static void unclaim(struct slot_pool *p, unsigned int n)
{
	pthread_mutex_lock(&p->lock);
	struct slot_entry *e = entry(p, n);
	claim_release(p->claims_dir, n, e->claim_fd);
	*e = (struct slot_entry){.claim_fd = -1};
	pthread_mutex_unlock(&p->lock);
}

static int prepare_one(struct slot_pool *p, enum slot_state final, unsigned int *ret,
		       struct wr_err *err)
{
	unsigned int n = 0;
	pthread_mutex_lock(&p->lock);
	int r = claim_any_locked(p, &n, err);
	pthread_mutex_unlock(&p->lock);
	if (r < 0)
		return r;
	r = prepare(p, n, err);
	if (r < 0) {
		unclaim(p, n);
		return r;
	}
	pthread_mutex_lock(&p->lock);
	entry(p, n)->state = final;
	pthread_mutex_unlock(&p->lock);
	if (ret)
		*ret = n;
	return 0;
}

unsigned int slot_pool_idle(struct slot_pool *p)
{
	unsigned int k = 0;
	pthread_mutex_lock(&p->lock);
	for (unsigned int n = p->first; n <= p->last; n++)
		k += entry(p, n)->state == SLOT_IDLE;
	pthread_mutex_unlock(&p->lock);
	return k;
}

int slot_pool_fill(struct slot_pool *p, struct wr_err *err)
{
	while (slot_pool_idle(p) < p->pool_size) {
		int r = prepare_one(p, SLOT_IDLE, NULL, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int slot_pool_acquire(struct slot_pool *p, unsigned int *ret_slot, struct wr_err *err)
{
	pthread_mutex_lock(&p->lock);
	for (unsigned int n = p->first; n <= p->last; n++) {
		struct slot_entry *e = entry(p, n);
		if (e->state == SLOT_IDLE) {
			e->state = SLOT_USED;
			pthread_mutex_unlock(&p->lock);
			*ret_slot = n;
			return 0;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return prepare_one(p, SLOT_USED, ret_slot, err);
}

int slot_pool_reserve(struct slot_pool *p, unsigned int n, struct wr_err *err)
{
	char ns[NETNS_NAME_MAX];
	slot_pool_ns_name(p, n, ns);
	pthread_mutex_lock(&p->lock);
	struct slot_entry *e = entry(p, n);
	int r;
	if (!e) {
		r = wr_err_set(err, ERANGE, "slot %u outside %u..%u", n, p->first, p->last);
	} else if (e->state != SLOT_NONE) {
		r = wr_err_set(err, EBUSY, "slot %u already in use here", n);
	} else if (!netns_exists(ns)) {
		r = wr_err_set(err, ENOENT, "slot %u: namespace %s does not exist", n, ns);
	} else {
		int fd;
		r = claim_take(p->claims_dir, n, &fd, err);
		if (r == -EBUSY)
			r = wr_err_set(err, EBUSY, "slot %u is claimed by another live process", n);
		if (r >= 0) {
			e->state = SLOT_USED;
			e->claim_fd = fd;
			/* re-attached slot: whether egress is on is read from
			 * the host link, the one fact that survives a crash */
			char ifn[IFNAMSIZ];
			cleanup_nl struct nl nl = {0};
			int idx;
			if (net_ifname(ifn, p->veth_prefix, n, NULL) >= 0 &&
			    nl_open(&nl, NULL) >= 0 && nl_link_index(&nl, ifn, &idx, NULL) >= 0)
				e->egress = true;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return r;
}

int slot_pool_egress(struct slot_pool *p, unsigned int n, bool on, struct wr_err *err)
{
	pthread_mutex_lock(&p->lock);
	struct slot_entry *e = entry(p, n);
	bool used = e && e->state == SLOT_USED;
	bool was = used && e->egress;
	pthread_mutex_unlock(&p->lock);
	if (!used)
		return wr_err_set(err, EINVAL, "slot %u is not in use", n);
	if (was == on)
		return 0;
	char ns[NETNS_NAME_MAX];
	slot_pool_ns_name(p, n, ns);
	int r = on ? egress_enable(&p->egress, n, ns, err) : egress_disable(&p->egress, n, ns, err);
	if (r < 0)
		return r;
	pthread_mutex_lock(&p->lock);
	e->egress = on;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int slot_pool_release(struct slot_pool *p, unsigned int n, struct wr_err *err)
{
	pthread_mutex_lock(&p->lock);
	struct slot_entry *e = entry(p, n);
	if (!e || e->state != SLOT_USED) {
		pthread_mutex_unlock(&p->lock);
		return wr_err_set(err, EINVAL, "slot %u is not in use", n);
	}
	e->state = SLOT_PREPARING;
	bool egress = e->egress;
	pthread_mutex_unlock(&p->lock);

	char ns[NETNS_NAME_MAX];
	slot_pool_ns_name(p, n, ns);
	int r = 0;
	if (egress)
		r = egress_disable(&p->egress, n, ns, err);
	bool keep = r >= 0 && slot_pool_idle(p) < p->pool_size;
	if (keep) {
		cleanup_close int fd = -1;
		struct wr_err ignored = {0};
		/* a namespace that fails the reset is not reused */
		keep = netns_open(ns, &fd, &ignored) >= 0 && net_ns_reset(fd, &ignored) >= 0;
	}
	if (keep) {
		pthread_mutex_lock(&p->lock);
		*e = (struct slot_entry){.state = SLOT_IDLE, .claim_fd = e->claim_fd};
		pthread_mutex_unlock(&p->lock);
		return 0;
	}
	int dr = 0;
	if (netns_exists(ns))
		dr = netns_delete(ns, r < 0 ? NULL : err);
	unclaim(p, n);
	return r < 0 ? r : dr;
}

static bool ours_or_live(struct slot_pool *p, unsigned int n)
{
	struct slot_entry *e = entry(p, n);
	if (!e)
		return true; /* outside our range: not ours to judge */
	if (e->state != SLOT_NONE)
		return true;
	return claim_probe(p->claims_dir, n) == CLAIM_LIVE;
}

int slot_pool_sweep(struct slot_pool *p, struct slot_sweep_stats *ret_stats, struct wr_err *err)
{
	struct slot_sweep_stats st = {0};
	int ret = 0;
	pthread_mutex_lock(&p->lock);

	/* 1. host links (egress veths) of dead slots */
	cleanup_nl struct nl nl = {0};
	int r = nl_open(&nl, err);
	if (r < 0) {
		pthread_mutex_unlock(&p->lock);
		return r;
	}
	char **links = NULL;
	r = nl_link_list(&nl, p->veth_prefix, &links, err);
	if (r < 0) {
		pthread_mutex_unlock(&p->lock);
		return r;
	}
	bool live_egress = false;
	for (char **l = links; *l; l++) {
		unsigned int n = 0;
		if (net_parse_slot_name(*l, p->veth_prefix, &n) < 0)
			continue;
		if (ours_or_live(p, n)) {
			live_egress = true;
			continue;
		}
		if (nl_link_delete(&nl, *l, NULL) >= 0)
			st.links++;
	}
	netns_list_free(links);

	/* 2. namespaces of dead slots */
	char **names = NULL;
	r = netns_list(p->ns_prefix, &names, err);
	if (r < 0) {
		pthread_mutex_unlock(&p->lock);
		return r;
	}
	for (char **s = names; *s; s++) {
		unsigned int n = 0;
		if (net_parse_slot_name(*s, p->ns_prefix, &n) < 0 || ours_or_live(p, n))
			continue;
		r = netns_delete(*s, ret < 0 ? NULL : err);
		if (r < 0 && ret == 0)
			ret = r;
		else if (r >= 0)
			st.namespaces++;
	}
	netns_list_free(names);

	/* 3. stale claim files (and leftovers of interrupted claims) */
	cleanup_closedir DIR *d = opendir(p->claims_dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		unsigned int n = 0;
		if (!strncmp(de->d_name, ".claim-", 7)) {
			long pid = strtol(de->d_name + 7, NULL, 10);
			if (pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
				cleanup_free char *t =
					xasprintf("%s/%s", p->claims_dir, de->d_name);
				unlink(t);
			}
			continue;
		}
		if (net_parse_slot_name(de->d_name, "", &n) < 0 || ours_or_live(p, n))
			continue;
		if (claim_remove_stale(p->claims_dir, n) >= 0)
			st.claims++;
	}

	/* 4. nft: with no live egress at all the whole table goes; otherwise
	 * the dead slots' links are gone, which is what their elements match */
	if (!live_egress) {
		for (unsigned int n = p->first; n <= p->last; n++)
			if (entry(p, n)->egress)
				live_egress = true;
	}
	if (!live_egress) {
		r = egress_shutdown(&p->egress, ret < 0 ? NULL : err);
		if (r < 0 && ret == 0)
			ret = r;
		st.table = r >= 0;
	}
	pthread_mutex_unlock(&p->lock);
	if (ret_stats)
		*ret_stats = st;
	return ret;
}

const struct egress_config *slot_pool_egress_config(const struct slot_pool *p)
{
	return &p->egress;
}
