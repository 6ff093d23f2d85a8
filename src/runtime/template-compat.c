/* SPDX-License-Identifier: MIT */
/*
 * What a snapshot template taken here depends on, for templates fetched from other hosts
 * (daemon/tplmanifest.h's compatibility rule): the VMM and accelerator, the VMM's version (its
 * migration stream), the guest kernel's bytes (in the snapshot's RAM) and, under KVM, the host
 * CPU model (the guest saw its features).  Computed per call: the kernel is hashed each time
 * (tens of MB, a few ms), so a replaced kernel is never described by a stale digest.
 */
#include "runtime/runtime-internal.h"

#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/hex.h"
#include "basic/spawn.h"
#include "basic/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int file_sha256(const char *path, char out[65])
{
	cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		abort();
	cleanup_free uint8_t *buf = xmalloc(1 << 20);
	ssize_t k;
	while ((k = read(fd, buf, 1 << 20)) > 0)
		EVP_DigestUpdate(ctx, buf, (size_t)k);
	int r = k < 0 ? -errno : 0;
	uint8_t md[32];
	unsigned n = 0;
	EVP_DigestFinal_ex(ctx, md, &n);
	EVP_MD_CTX_free(ctx);
	hex_encode(md, 32, out);
	out[64] = '\0';
	return r;
}

static char *host_cpu_model(void)
{
	cleanup_free char *text = NULL;
	if (read_file("/proc/cpuinfo", 1 << 20, &text, NULL) < 0)
		return xstrdup("?");
	const char *p = strstr(text, "model name");
	if (!p || !(p = strchr(p, ':')))
		return xstrdup("?");
	p += strspn(p + 1, " \t") + 1;
	return xstrndup(p, strcspn(p, "\n"));
}

json_t *runtime_host_compat(struct runtime *rt, const char *kernel_path)
{
	bool qemu = rt->vmm.kind == VMM_KIND_QEMU;
	char ver[256] = "?";
	const char *bin =
		qemu ? "qemu-system-x86_64" : (rt->vmm_bin ? rt->vmm_bin : VM_DEFAULT_VMM_BIN);
	char *argv[] = {(char *)bin, "--version", NULL};
	int st = 0;
	if (spawn_capture(argv, NULL, ver, sizeof(ver), &st, NULL) < 0 || st != 0)
		snprintf(ver, sizeof(ver), "?");
	char ksha[65] = "?";
	const char *k = kernel_path ? kernel_path : rt->kernel_path;
	if (!k || file_sha256(k, ksha) < 0)
		snprintf(ksha, sizeof(ksha), "?");
	cleanup_free char *cpu = host_cpu_model();
	return json_pack("{s:s,s:s,s:s,s:s,s:s}", "backend", qemu ? "qemu" : "cloud-hypervisor",
			 "accel", vm_accel_name(rt->vmm.accel), "qemuVersion", ver, "kernelSha256",
			 ksha, "hostCpu", cpu);
}
