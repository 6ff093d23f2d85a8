/* SPDX-License-Identifier: MIT */
/*
 * wrenn-vmctl: drive one VM through the VMM interface, step by step, for
 * tests and benchmarks. Every step prints "step <name> ok <ms>" or fails
 * with the error and exit status 1; the VM is always stopped at exit.
 *
 *   wrenn-vmctl probe
 *   wrenn-vmctl [options] STEP...
 *
 * Steps: start boot pause resume info stop sleep:MS
 *        wait-log:TEXT[:SECONDS]   wait until the VMM log contains TEXT
 *        state:NAME                vmm_info must report NAME
 *        snapshot:DIR              snapshot into DIR (VM paused afterwards)
 *        restore:DIR               stop the current VMM, restore a new one from DIR
 *        sh:COMMAND                run COMMAND with /bin/sh; must exit 0
 */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/log.h"
#include "basic/xalloc.h"
#include "vm/kvm.h"
#include "vm/tsc.h"
#include "vm/vmm.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int wait_log(const char *path, const char *text, int seconds, struct wr_err *err)
{
	long long deadline = now_us() + (long long)seconds * 1000000;
	for (;;) {
		cleanup_free char *buf = NULL;
		if (read_file(path, 64 << 20, &buf, NULL) == 0 && strstr(buf, text))
			return 0;
		if (now_us() > deadline)
			return wr_err_set(err, ETIMEDOUT, "\"%s\" not in %s after %d s", text, path,
					  seconds);
		nanosleep(&(struct timespec){.tv_nsec = 5 * 1000 * 1000}, NULL);
	}
}

static void usage(void)
{
	fprintf(stderr,
		"usage: wrenn-vmctl probe\n"
		"       wrenn-vmctl tcg-kernel-args\n"
		"       wrenn-vmctl --id ID --kernel PATH --rootfs PATH --netns NS --log PATH\n"
		"                   [--socket PATH] [--sandbox-dir PATH] [--memory MB] [--vcpus N]\n"
		"                   [--mem-file PATH] [--restore-mem-file PATH] [--format raw|qcow2]\n"
		"                   [--init PATH] [--cgroup DIR|auto] [--vmm-bin PATH]\n"
		"                   [--jail-uid UID] STEP...\n"
		"  --jail-uid UID  run the VMM jailed (jail.h) as UID:UID, template files\n"
		"                  readable by group UID-1\n");
}

int main(int argc, char **argv)
{
	log_init("vmctl");
	if (argc == 2 && !strcmp(argv[1], "probe")) {
		struct vmm_choice ch;
		struct wr_err err = {0};
		if (vmm_choose(VM_DEFAULT_VMM_BIN, false, &ch, &err) < 0) {
			fprintf(stderr, "vmctl: %s\n", wr_err_msg(&err));
			return 1;
		}
		printf("%s %s %s\n", vmm_kind_name(ch.kind), vm_accel_name(ch.accel), ch.reason);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "tcg-kernel-args")) {
		/* what the QEMU backend appends to the seed's command line under TCG (bench/boot.sh) */
		cleanup_free char *a = vmm_tcg_kernel_args("", vm_host_tsc_khz());
		printf("%s\n", a + 1);
		return 0;
	}
	struct vm_config cfg = {0};
	struct vmm_params p = {.cfg = &cfg};
	const char *restore_mem = NULL, *ch_bin = NULL;
	static const struct option opts[] = {
		{"id", required_argument, NULL, 'i'},
		{"kernel", required_argument, NULL, 'k'},
		{"rootfs", required_argument, NULL, 'r'},
		{"netns", required_argument, NULL, 'n'},
		{"log", required_argument, NULL, 'l'},
		{"socket", required_argument, NULL, 's'},
		{"sandbox-dir", required_argument, NULL, 'd'},
		{"memory", required_argument, NULL, 'm'},
		{"vcpus", required_argument, NULL, 'c'},
		{"mem-file", required_argument, NULL, 'f'},
		{"restore-mem-file", required_argument, NULL, 'F'},
		{"format", required_argument, NULL, 'o'},
		{"init", required_argument, NULL, 'I'},
		{"cgroup", required_argument, NULL, 'g'},
		{"vmm-bin", required_argument, NULL, 'b'},
		{"jail-uid", required_argument, NULL, 'u'},
		{0},
	};
	int o;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'i':
			vm_config_set(&cfg.sandbox_id, optarg);
			break;
		case 'k':
			vm_config_set(&cfg.kernel_path, optarg);
			break;
		case 'r':
			vm_config_set(&cfg.rootfs_path, optarg);
			break;
		case 'n':
			vm_config_set(&cfg.network_namespace, optarg);
			break;
		case 'l':
			p.log_path = optarg;
			break;
		case 's':
			vm_config_set(&cfg.socket_path, optarg);
			break;
		case 'd':
			vm_config_set(&cfg.sandbox_dir, optarg);
			break;
		case 'm':
			cfg.memory_mb = atoi(optarg);
			break;
		case 'c':
			cfg.vcpus = atoi(optarg);
			break;
		case 'f':
			p.mem_file = optarg;
			break;
		case 'F':
			restore_mem = optarg;
			break;
		case 'o':
			p.rootfs_format = optarg;
			break;
		case 'I':
			vm_config_set(&cfg.init_path, optarg);
			break;
		case 'g':
			p.cgroup_parent = optarg;
			break;
		case 'b':
			ch_bin = optarg;
			break;
		case 'u':
			p.jail_uid = (uid_t)atoi(optarg);
			p.jail_gid = (gid_t)p.jail_uid;
			p.jail_shared_gid = (gid_t)p.jail_uid - 1;
			if (p.jail_uid < 2) {
				usage();
				return 2;
			}
			break;
		default:
			usage();
			return 2;
		}
	}
	if (optind >= argc) {
		usage();
		return 2;
	}
	vm_config_set(&cfg.guest_ip, VM_GUEST_IP);
	vm_config_set(&cfg.gateway_ip, VM_GATEWAY_IP);
	vm_config_set(&cfg.net_mask, VM_NET_MASK);
	if (ch_bin)
		vm_config_set(&cfg.vmm_bin, ch_bin);
	vm_config_apply_defaults(&cfg);

	struct wr_err err = {0};
	struct vmm_choice ch;
	int rc = 1;
	struct vmm *v = NULL;
	if (vmm_choose(cfg.vmm_bin, false, &ch, &err) < 0)
		goto out;
	p.kind = ch.kind;
	p.accel = ch.accel;
	p.shared_mem = true; /* the seed's CH memory mode */
	printf("backend %s %s\n", vmm_kind_name(ch.kind), vm_accel_name(ch.accel));
	if (vmm_new(&p, &v, &err) < 0)
		goto out;

	for (int i = optind; i < argc; i++) {
		const char *step = argv[i];
		const char *arg = strchr(step, ':') ? strchr(step, ':') + 1 : NULL;
		long long t0 = now_us();
		int r;
		enum vmm_state st;
		if (!strcmp(step, "start"))
			r = vmm_start(v, &err);
		else if (!strcmp(step, "boot"))
			r = vmm_boot(v, &err);
		else if (!strcmp(step, "pause"))
			r = vmm_pause(v, &err);
		else if (!strcmp(step, "resume"))
			r = vmm_resume(v, &err);
		else if (!strcmp(step, "stop"))
			r = vmm_stop(v, 5000, &err);
		else if (!strcmp(step, "info")) {
			r = vmm_info(v, &st, &err);
			if (r >= 0)
				printf("state %s\n", vmm_state_name(st));
		} else if (!strncmp(step, "state:", 6)) {
			r = vmm_info(v, &st, &err);
			if (r >= 0 && strcmp(vmm_state_name(st), arg))
				r = wr_err_set(&err, EINVAL, "state is %s, expected %s",
					       vmm_state_name(st), arg);
		} else if (!strncmp(step, "sleep:", 6)) {
			usleep((useconds_t)atoi(arg) * 1000);
			r = 0;
		} else if (!strncmp(step, "wait-log:", 9)) {
			cleanup_free char *text = xstrdup(arg);
			char *colon = strrchr(text, ':');
			int secs = 60;
			if (colon && colon[1] &&
			    strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
				secs = atoi(colon + 1);
				*colon = '\0';
			}
			r = wait_log(p.log_path, text, secs, &err);
		} else if (!strncmp(step, "snapshot:", 9)) {
			r = vmm_snapshot(v, arg, &err);
		} else if (!strncmp(step, "restore:", 8)) {
			vmm_free(v);
			v = NULL;
			struct vmm_params rp = p;
			rp.mem_file = restore_mem;
			r = vmm_new(&rp, &v, &err);
			if (r >= 0)
				r = vmm_restore(v, arg, true, &err);
		} else if (!strncmp(step, "sh:", 3)) {
			int s = system(arg);
			r = s == 0 ? 0
				   : wr_err_set(&err, EIO, "command failed (status %d): %s",
						WIFEXITED(s) ? WEXITSTATUS(s) : -1, arg);
		} else {
			r = wr_err_set(&err, EINVAL, "unknown step \"%s\"", step);
		}
		if (r < 0) {
			wr_err_prefix(&err, r, "step %s", step);
			goto out;
		}
		printf("step %s ok %.1f ms\n", step, (double)(now_us() - t0) / 1000.0);
		fflush(stdout);
	}
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "vmctl: %s\n", wr_err_msg(&err));
	vmm_free(v);
	vm_config_done(&cfg);
	return rc;
}
