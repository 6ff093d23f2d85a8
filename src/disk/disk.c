/* SPDX-License-Identifier: MIT */
#include "disk/disk.h"

#include <errno.h>
#include <string.h>

const char *disk_format_name(enum disk_format f)
{
	return f == DISK_FORMAT_QCOW2 ? "qcow2" : "raw";
}

const struct disk_ops *disk_ops_by_name(const char *name)
{
	static const struct disk_ops *all[] = {&disk_dm_ops, &disk_reflink_ops, &disk_qcow2_ops};
	for (size_t i = 0; name && i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(all[i]->name, name))
			return all[i];
	return NULL;
}

const char *disk_choose(const struct disk_probe_result *p)
{
	if (p->dm_enabled && p->dm_ok)
		return "dm";
	if (p->reflink_ok)
		return "reflink";
	if (p->qcow2_ok)
		return "qcow2";
	return NULL;
}

int disk_detect(const char *data_dir, const char *want, const struct disk_ops **ret,
		struct wr_err *err)
{
	if (!data_dir)
		data_dir = DISK_DATA_DIR_DEFAULT;
	bool autodetect = !want || !strcmp(want, "auto") || !strcmp(want, "auto+dm");
	if (!autodetect) {
		const struct disk_ops *o = disk_ops_by_name(want);
		if (!o)
			return wr_err_set(err, EINVAL, "unknown disk backend '%s'", want);
		int r = o->probe(data_dir, err);
		if (r < 0)
			return r;
		if (r == 0)
			return wr_err_prefix(err, EOPNOTSUPP, "disk backend %s", want);
		*ret = o;
		return 0;
	}
	struct disk_probe_result p = {.dm_enabled = want && !strcmp(want, "auto+dm")};
	struct wr_err why_reflink = {0}, why_qcow2 = {0};
	int r;
	if (p.dm_enabled) {
		r = disk_dm_ops.probe(data_dir, NULL);
		p.dm_ok = r > 0;
	}
	r = disk_reflink_ops.probe(data_dir, &why_reflink);
	if (r < 0) {
		if (err)
			*err = why_reflink;
		return wr_err_prefix(err, r, "probe reflink in %s", data_dir);
	}
	p.reflink_ok = r > 0;
	if (!p.reflink_ok) {
		r = disk_qcow2_ops.probe(data_dir, &why_qcow2);
		p.qcow2_ok = r > 0;
	}
	const char *name = disk_choose(&p);
	if (!name)
		return wr_err_set(err, EOPNOTSUPP,
				  "no copy-on-write disk backend for %s (reflink: %s; qcow2: %s); "
				  "a full copy is not made implicitly",
				  data_dir, wr_err_msg(&why_reflink), wr_err_msg(&why_qcow2));
	*ret = disk_ops_by_name(name);
	return 0;
}
