#!/usr/bin/env bash
# Cloud Hypervisor end to end: needs its binary and real KVM (not PVM).
# Elsewhere the CH client and backend are covered by tests/unit/test-ch.c
# against a fake CH server (tests/unit/fake-ch.c).
set -u
cd "$(dirname "$0")/../.."
B=${WRENN_BUILD:-build/asan}
G=$(realpath -m "${WRENN_GUEST:-build/guest}")
VMCTL=$B/bin/wrenn-vmctl
CH=${WRENN_CH_BIN:-/usr/local/bin/cloud-hypervisor}
echo "1..2"
skip_all() {
	echo "ok 1 # skip $1"
	echo "ok 2 # skip $1"
	exit 0
}
if [ ! -x "$CH" ] || ! "$VMCTL" probe 2>/dev/null | grep -q '^cloud-hypervisor kvm'; then
	skip_all "no cloud-hypervisor binary / no usable KVM"
fi
[ -r "$G/vmlinux" ] && [ -r "$G/minimal.ext4" ] || skip_all "no guest image in $G"
echo "# $("$CH" --version 2>&1 | head -1)"
id=cl-t31$$ ns=wrenn-t31-$$ work=$(mktemp -d /tmp/wrenn-t31.XXXXXX)
trap 'ip netns del $ns 2>/dev/null; rm -rf $work' EXIT
ip netns add "$ns" && ip -n "$ns" tuntap add dev tap0 mode tap &&
	ip -n "$ns" addr add 169.254.0.22/30 dev tap0 && ip -n "$ns" link set tap0 up
cp --reflink=auto "$G/minimal.ext4" "$work/disk.ext4"
mkdir -p "$work/snap"
p="sh:ip netns exec $ns ping -c1 -W5 169.254.0.21 >/dev/null"
sock=/tmp/ch-$id.sock
if WRENN_VMM=cloud-hypervisor timeout 300 "$VMCTL" --id "$id" --vmm-bin "$CH" --kernel "$G/vmlinux" \
	--rootfs "$work/disk.ext4" --netns "$ns" --log "$work/vmm.log" --memory 256 \
	start boot "wait-log:wrenn-init: ready:60" "$p" pause resume "snapshot:$work/snap" stop \
	"restore:$work/snap" "$p" stop >"$work/out" 2>&1 && [ ! -e "$sock" ] && [ ! -e "$sock.lock" ]; then
	echo "ok 1 - cloud-hypervisor boot, ping, pause/resume, snapshot/restore; socket and lock removed"
else
	echo "not ok 1 - cloud-hypervisor lifecycle"
	sed 's/^/# /' "$work/out"
	ls -l "$sock" "$sock.lock" 2>&1 | sed 's/^/# /'
fi
# A qcow2 overlay over the raw image (the disk backend on hosts without
# reflink): CH >= v51 opens its backing file only with backing_files.
if ! command -v qemu-img >/dev/null; then
	echo "ok 2 # skip no qemu-img"
	exit 0
fi
qemu-img create -q -f qcow2 -F raw -b "$G/minimal.ext4" "$work/overlay.qcow2"
if WRENN_VMM=cloud-hypervisor timeout 300 "$VMCTL" --id "$id" --vmm-bin "$CH" --kernel "$G/vmlinux" \
	--rootfs "$work/overlay.qcow2" --format qcow2 --netns "$ns" --log "$work/vmm2.log" \
	--memory 256 start boot "wait-log:wrenn-init: ready:60" "$p" stop >"$work/out2" 2>&1; then
	echo "ok 2 - cloud-hypervisor boots a qcow2 overlay"
else
	echo "not ok 2 - cloud-hypervisor qcow2 overlay"
	sed 's/^/# /' "$work/out2"
fi
