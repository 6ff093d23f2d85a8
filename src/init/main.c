/* SPDX-License-Identifier: MIT */
/*
 * wrenn-init: PID 1 of a wrenn guest. Sets up the API filesystems, hostname, network fallback
 * and DNS, starts envd and keeps it running, reaps zombies, and powers the VM off cleanly on
 * SIGTERM (reboot), SIGUSR1 (halt), SIGUSR2 (poweroff), SIGINT (ctrl-alt-del) or SIGPWR.
 * Static, no NSS: it relies on nothing in the root filesystem but the kernel ABI.
 */
#include "basic/cleanup.h"
#include "basic/fdio.h"
#include "basic/xalloc.h"
#include "init/cmdline.h"
#include "init/console.h"
#include "init/mounts.h"
#include "init/netcfg.h"
#include "init/supervise.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define ENVD_PATH "/usr/local/bin/envd"
#define HOSTNAME "capsule"
#define SHUTDOWN_GRACE_MS 3000

static void setup_hostname(void)
{
	if (sethostname(HOSTNAME, strlen(HOSTNAME)) < 0)
		con_log("warning: sethostname: %s", strerror(errno));
}

static void setup_network(const char *cmdline)
{
	struct wr_err err = {0};
	if (net_link_up("lo", &err) < 0)
		con_log("error: loopback: %s", wr_err_msg(&err));

	cleanup_free char *val = NULL;
	int r = cmdline_get(cmdline, "ip", &val);
	if (r < 0) {
		con_log("error: kernel command line has an unterminated quote; network not configured");
		return;
	}
	if (r == 0) {
		con_log("warning: no ip= on the kernel command line; eth0 not configured");
		return;
	}
	struct init_ip ip;
	if (ip_parse(val, &ip, &err) < 0) {
		con_log("error: bad ip= argument '%s': %s; eth0 not configured", val,
			wr_err_msg(&err));
		return;
	}
	const char *dev = ip.device[0] ? ip.device : "eth0";
	r = net_has_ipv4(dev, &err);
	if (r < 0) {
		con_log("error: %s%s", wr_err_msg(&err),
			err.code == ENODEV ? " (no such network device: is virtio-net attached?)"
					   : "");
		return;
	}
	if (r > 0)
		return; /* the kernel's IP_PNP did it */
	if (net_apply(&ip, &err) < 0) {
		con_log("error: configuring %s from ip=: %s", dev, wr_err_msg(&err));
		return;
	}
	char a[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &ip.client, a, sizeof(a));
	inet_ntop(AF_INET, &ip.gateway, g, sizeof(g));
	con_log("configured %s %s via %s from ip= (kernel without IP_PNP)", dev, a, g);
}

static void setup_dns(const char *cmdline)
{
	cleanup_free char *val = NULL;
	if (cmdline_get(cmdline, "wrenn.dns", &val) <= 0)
		return; /* the host passed no resolvers: leave the image's resolv.conf alone */
	struct wr_err err = {0};
	cleanup_free char *conf = NULL;
	if (dns_parse(val, &conf, &err) < 0) {
		con_log("error: bad wrenn.dns= argument: %s; /etc/resolv.conf not written",
			wr_err_msg(&err));
		return;
	}
	/* resolv.conf may be a dangling symlink (systemd-resolved images): replace it */
	struct stat st;
	if (lstat("/etc/resolv.conf", &st) == 0 && S_ISLNK(st.st_mode))
		unlink("/etc/resolv.conf");
	int r = write_file_atomic("/etc/resolv.conf", conf, strlen(conf), 0644);
	if (r < 0)
		con_log("error: writing /etc/resolv.conf: %s%s", strerror(-r),
			r == -ENOSPC ? " (root filesystem is full)" : "");
}

static int make_signalfd(sigset_t *mask)
{
	sigemptyset(mask);
	int sigs[] = {SIGCHLD, SIGTERM, SIGUSR1, SIGUSR2, SIGINT, SIGPWR, SIGHUP};
	for (size_t i = 0; i < ARRAY_SIZE(sigs); i++)
		sigaddset(mask, sigs[i]);
	sigprocmask(SIG_BLOCK, mask, NULL);
	return signalfd(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

static void arm_timer(int tfd, unsigned ms)
{
	struct itimerspec its = {
		.it_value = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L}};
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	timerfd_settime(tfd, 0, &its, NULL);
}

static void reap(struct svc *envd, int tfd)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		long delay = svc_exited(envd, pid, status);
		if (delay >= 0)
			arm_timer(tfd, (unsigned)delay);
	}
}

static void try_start(struct svc *envd, int tfd, bool *ready)
{
	struct wr_err err = {0};
	if (svc_start(envd, &err) < 0) {
		envd->failures++;
		unsigned delay = svc_backoff_ms(envd->failures);
		con_log("error: %s; the sandbox agent is not running, retrying in %u ms",
			wr_err_msg(&err), delay);
		arm_timer(tfd, delay);
		return;
	}
	if (!*ready) {
		*ready = true;
		con_log("ready");
	} else {
		con_log("%s restarted (pid %d)", envd->name, envd->pid);
	}
}

/* Never returns: PID 1 exiting panics the kernel. */
static void __attribute__((noreturn)) shutdown_now(int sfd, const char *why)
{
	con_log("powering off (%s)", why);
	kill(-1, SIGTERM);
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		int status;
		while (waitpid(-1, &status, WNOHANG) > 0) {
		}
		if (waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD)
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms = (now.tv_sec - start.tv_sec) * 1000L +
			  (now.tv_nsec - start.tv_nsec) / 1000000L;
		if (ms >= SHUTDOWN_GRACE_MS) {
			con_log("processes still running after %d ms: killing them",
				SHUTDOWN_GRACE_MS);
			kill(-1, SIGKILL);
			while (waitpid(-1, &status, 0) > 0) {
			}
			break;
		}
		struct pollfd pfd = {.fd = sfd, .events = POLLIN};
		poll(&pfd, 1, 50);
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		}
	}
	sync();
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0)
		con_log("warning: remounting / read-only: %s", strerror(errno));
	sync();
	if (access("/sys/firmware/acpi", F_OK) == 0) {
		reboot(RB_POWER_OFF);
		con_log("error: reboot(RB_POWER_OFF): %s", strerror(errno));
	}
	/* Without ACPI there is no way to power off: a reset is what ends the VM (QEMU with
	 * -no-reboot exits on it; Firecracker and Cloud Hypervisor treat it as shutdown). */
	con_log("no ACPI power-off: resetting instead");
	reboot(RB_AUTOBOOT);
	con_log("error: reboot(RB_AUTOBOOT): %s; halting here", strerror(errno));
	for (;;)
		pause();
}

int main(void)
{
	console_setup();
	if (getpid() != 1)
		con_log("warning: not running as PID 1 (pid %d)", getpid());
	/* ctrl-alt-del becomes SIGINT to us instead of an immediate reboot */
	reboot(RB_DISABLE_CAD);
	umask(022);

	sigset_t mask;
	int sfd = make_signalfd(&mask);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (sfd < 0 || tfd < 0)
		con_log("error: signalfd/timerfd: %s; zombies will not be reaped", strerror(errno));

	mounts_setup();
	console_setup(); /* devtmpfs is there now, if the kernel had not opened a console */
	mounts_check_root_space();

	cleanup_free char *cmdline = NULL;
	int r = read_file("/proc/cmdline", 64 * 1024, &cmdline, NULL);
	if (r < 0) {
		con_log("error: reading /proc/cmdline: %s", strerror(-r));
		cmdline = xstrdup("");
	}
	setup_hostname();
	setup_network(cmdline ? cmdline : "");
	setup_dns(cmdline ? cmdline : "");
	mounts_volumes(cmdline ? cmdline : "");

	struct svc envd = {.name = "envd", .path = ENVD_PATH};
	bool ready = false;
	try_start(&envd, tfd, &ready);

	for (;;) {
		struct pollfd pfds[2] = {{.fd = sfd, .events = POLLIN},
					 {.fd = tfd, .events = POLLIN}};
		if (poll(pfds, 2, -1) < 0) {
			if (errno != EINTR)
				pause();
			continue;
		}
		if (pfds[1].revents & POLLIN) {
			uint64_t expirations;
			if (read(tfd, &expirations, sizeof(expirations)) > 0 && envd.pid == 0)
				try_start(&envd, tfd, &ready);
		}
		if (!(pfds[0].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			switch (si.ssi_signo) {
			case SIGCHLD:
				reap(&envd, tfd);
				break;
			case SIGHUP:
				break;
			default:
				shutdown_now(sfd, strsignal((int)si.ssi_signo));
			}
		}
	}
}
