#!/usr/bin/env bash
# QEMU snapshot and restore times (TCG on machines without usable KVM).
# Per run: boot a fresh guest (file-backed RAM), wait for wrenn-init, then
#   snapshot  = QMP stop + x-ignore-shared migration of device state to a file
#   restore   = new VMM process (same command line, RAM file mapped private,
#               -incoming defer) + migrate-incoming + cont, until QMP says running
#   first ping = restore done -> first ICMP echo reply from the guest
# Prints: BENCH <name> <median> ms p95=<x> n=<runs>
set -u
cd "$(dirname "$0")/.."
B=${WRENN_BUILD:-build/release}
G=$(realpath -m "${WRENN_GUEST:-build/guest}")
RUNS=${RUNS:-5}
MEM=${MEM:-512}
VMCTL=$B/bin/wrenn-vmctl
if [ ! -x "$VMCTL" ] || [ ! -r "$G/vmlinux" ] || [ ! -r "$G/minimal.ext4" ]; then
	echo "# vm-snapshot: skipped (need $VMCTL and $G/{vmlinux,minimal.ext4})"
	exit 0
fi
ns=wrenn-bench-snap-$$
work=$(mktemp -d /tmp/wrenn-bench-snap.XXXXXX)
trap 'for p in $(ip netns pids $ns 2>/dev/null); do kill -9 $p; done; ip netns del $ns 2>/dev/null; rm -rf $work' EXIT
ip netns add "$ns" && ip -n "$ns" link set lo up && ip -n "$ns" tuntap add dev tap0 mode tap &&
	ip -n "$ns" addr add 169.254.0.22/30 dev tap0 && ip -n "$ns" link set tap0 up || exit 1
ping_step="sh:ip netns exec $ns ping -c1 -W5 169.254.0.21 >/dev/null"
: >"$work/snap.ms"; : >"$work/restore.ms"; : >"$work/ping.ms"
for i in $(seq "$RUNS"); do
	d=$work/snap$i
	mkdir -p "$d"
	# a fresh private disk per run: the previous VM was killed, not shut down
	cp --reflink=auto "$G/minimal.ext4" "$work/disk.ext4" && chmod u+w "$work/disk.ext4"
	for attempt in 1 2 3; do # early-boot hangs of the guest under TCG: retry the boot
	"$VMCTL" --id "cl-bench$i" --kernel "$G/vmlinux" --rootfs "$work/disk.ext4" --netns "$ns" \
		--log "$work/vmm$i.log" --memory "$MEM" --mem-file "$d/memory" \
		start boot "wait-log:wrenn-init: ready:40" "snapshot:$d" stop "restore:$d" "$ping_step" stop \
		>"$work/out$i" 2>&1 && break
	grep -q 'step wait-log.*not in' "$work/out$i" || break
	echo "# run $i: guest boot hung (attempt $attempt), retrying"
	cp --reflink=auto "$G/minimal.ext4" "$work/disk.ext4" && chmod u+w "$work/disk.ext4"
	done
	if ! grep -q '^step stop ok' "$work/out$i" || [ "$(grep -c '^step stop ok' "$work/out$i")" -lt 2 ]; then
		echo "# vm-snapshot: run $i failed:"; sed 's/^/#   /' "$work/out$i"
		tail -15 "$work/vmm$i.log" | sed 's/^/#   log: /'; exit 1
	fi
	awk '/^step snapshot:/ {print $(NF-1)}' "$work/out$i" >>"$work/snap.ms"
	awk '/^step restore:/ {print $(NF-1)}' "$work/out$i" >>"$work/restore.ms"
	awk '/^step sh:ip netns exec/ {print $(NF-1)}' "$work/out$i" >>"$work/ping.ms"
	rm -rf "$d"
done
accel=$(awk '/^backend/ {print $2 "-" $3; exit}' "$work/out1")
stat() { # name file
	sort -n "$2" | awk -v name="$1" '{a[NR]=$1} END {
		m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2
		p = a[int(NR*0.95 + 0.999)]; if (p == "") p = a[NR]
		printf "BENCH %s %.1f ms p95=%.1f n=%d\n", name, m, p, NR }'
}
stat "vm-snapshot-$accel-${MEM}M" "$work/snap.ms"
stat "vm-restore-to-running-$accel-${MEM}M" "$work/restore.ms"
stat "vm-restore-first-ping-$accel-${MEM}M" "$work/ping.ms"
