#!/bin/bash
# Boot time of the minimal image under TCG: wall time from starting QEMU to the serial line
# "wrenn-init: ready", median and p95 of N boots (the seed's kernel command line plus what the
# QEMU backend appends under TCG, the backend's CPU model; tap0 in a private netns so that ip=
# finds its device).
#   BENCH boot_to_init_tcg <median> ms p95=<x> n=<N>            machine with acpi=off (what tests use)
#   BENCH boot_to_init_tcg_acpi <median> ms p95=<x> n=<N> hangs=<k>   QEMU's default ACPI tables
# QEMU runs without transparent huge pages, as the product's QEMU does under TCG.
# Env: WRENN_GUEST (default build/guest), BENCH_RUNS (10), BENCH_ACPI=0 to skip the second line,
# WRENN_BUILD (build/release: its wrenn-vmctl prints the TCG arguments, host TSC rate included;
# without it the fixed part from src/vm/vmm.h), BENCH_KERNEL_EXTRA to override those arguments
# (set and empty: none), WRENN_TCG_CPU (Nehalem, the backend's default).
set -uo pipefail
# As the product launches an emulated guest's VMM (src/vm/vmm.c): without transparent huge pages.
# PR_SET_THP_DISABLE (41) is inherited by every QEMU this script starts.
if [ -z "${WRENN_BENCH_NO_THP:-}" ]; then
	exec env WRENN_BENCH_NO_THP=1 python3 -c 'import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).prctl(41, 1, 0, 0, 0) != 0:
    sys.exit("bench/boot.sh: prctl(PR_SET_THP_DISABLE) failed")
os.execvp("bash", ["bash"] + sys.argv[1:])' "$0" "$@"
fi
cd "$(dirname "$0")/.." || exit 1
guest=${WRENN_GUEST:-build/guest}
runs=${BENCH_RUNS:-10}
[ "$(id -u)" = 0 ] || { echo "bench/boot.sh: needs root (netns, TAP)" >&2; exit 1; }
for f in vmlinux minimal.ext4; do
	[ -r "$guest/$f" ] || { echo "bench/boot.sh: $guest/$f missing (make guest-minimal)" >&2; exit 1; }
done
command -v qemu-system-x86_64 >/dev/null || { echo "bench/boot.sh: qemu-system-x86_64 missing" >&2; exit 1; }

CMDLINE="console=ttyS0 root=/dev/vda rw reboot=k panic=1 quiet loglevel=1 init_on_free=1 clocksource=kvm-clock init=/usr/local/bin/wrenn-init ip=169.254.0.21::169.254.0.22:255.255.255.252:capsule:eth0:off"
vmctl=${WRENN_BUILD:-build/release}/bin/wrenn-vmctl
if [ -n "${BENCH_KERNEL_EXTRA+set}" ]; then
	extra=$BENCH_KERNEL_EXTRA
elif [ -x "$vmctl" ]; then
	extra=$("$vmctl" tcg-kernel-args)
else
	extra=$(sed -n 's/^#define VMM_TCG_KERNEL_ARGS "\(.*\)"$/\1/p' src/vm/vmm.h)
fi
CMDLINE="$CMDLINE${extra:+ $extra}"
cpu=${WRENN_TCG_CPU:-Nehalem}
echo "# kernel command line: $CMDLINE; -cpu $cpu"
ns=wrenn-bench-$$
scratch=$(mktemp -d /tmp/wrenn-bench.XXXXXX)
. tests/lib/guest-vm.sh
make_netns || exit 1

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# one_boot MACHINE TIMEOUT_MS: prints the ms to ready, or "hang"
one_boot() {
	local log=$scratch/serial.log
	cp --sparse=always "$guest/minimal.ext4" "$scratch/disk.ext4" && chmod 0644 "$scratch/disk.ext4"
	rm -f "$log"
	local t0
	t0=$(now_ms)
	ip netns exec "$ns" qemu-system-x86_64 -M "$1" -cpu "$cpu" -accel tcg -m 256 -smp 1 \
		-nodefaults -no-user-config -nographic -display none -serial "file:$log" \
		-kernel "$guest/vmlinux" -append "$CMDLINE" \
		-drive "id=root,file=$scratch/disk.ext4,format=raw,if=none" \
		-device virtio-blk-device,drive=root \
		-netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
		-device virtio-net-device,netdev=n0,mac=02:FC:00:00:00:05 >/dev/null 2>&1 &
	qpid=$!
	local res=hang
	while [ $(($(now_ms) - t0)) -lt "$2" ]; do
		if grep -aq 'wrenn-init: ready' "$log" 2>/dev/null; then
			res=$(($(now_ms) - t0))
			break
		fi
		sleep 0.01
	done
	stop_vm
	echo "$res"
}

# series NAME MACHINE TIMEOUT_MS
series() {
	local name=$1 machine=$2 timeout=$3 times=() hangs=0 t
	for _ in $(seq "$runs"); do
		t=$(one_boot "$machine" "$timeout")
		if [ "$t" = hang ]; then hangs=$((hangs + 1)); else times+=("$t"); fi
	done
	echo "# $name: ${times[*]} ms; hangs=$hangs (load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cpus)"
	if [ ${#times[@]} -eq 0 ]; then
		echo "BENCH $name NaN ms p95=NaN n=0${4:+ hangs=$hangs}"
		return
	fi
	local sorted k med p95
	mapfile -t sorted < <(printf '%s\n' "${times[@]}" | sort -n)
	k=${#sorted[@]}
	if [ $((k % 2)) -eq 1 ]; then med=${sorted[$((k / 2))]}; else med=$(((sorted[k / 2 - 1] + sorted[k / 2]) / 2)); fi
	p95=${sorted[$(((95 * k + 99) / 100 - 1))]}
	echo "BENCH $name $med ms p95=$p95 n=$k${4:+ hangs=$hangs}"
}

series boot_to_init_tcg microvm,x-option-roms=off,isa-serial=on,acpi=off 60000
if [ "${BENCH_ACPI:-1}" != 0 ]; then
	series boot_to_init_tcg_acpi microvm,x-option-roms=off,isa-serial=on 8000 hangs
fi
