#!/usr/bin/env bash
# Cloud Hypervisor end to end: needs its binary and real KVM (not PVM).
# Elsewhere the CH client is covered by tests/unit/test-ch.c.
set -u
cd "$(dirname "$0")/../.."
B=${WRENN_BUILD:-build/asan}
G=$(realpath -m "${WRENN_GUEST:-build/guest}")
VMCTL=$B/bin/wrenn-vmctl
CH=${WRENN_CH_BIN:-/usr/local/bin/cloud-hypervisor}
echo "1..1"
if [ ! -x "$CH" ] || ! "$VMCTL" probe 2>/dev/null | grep -q '^cloud-hypervisor kvm'; then
	echo "ok 1 # skip no cloud-hypervisor binary / no usable KVM"
	exit 0
fi
[ -r "$G/vmlinux" ] && [ -r "$G/minimal.ext4" ] || { echo "ok 1 # skip no guest image in $G"; exit 0; }
id=cl-t31$$ ns=wrenn-t31-$$ work=$(mktemp -d /tmp/wrenn-t31.XXXXXX)
trap 'ip netns del $ns 2>/dev/null; rm -rf $work' EXIT
ip netns add "$ns" && ip -n "$ns" tuntap add dev tap0 mode tap &&
	ip -n "$ns" addr add 169.254.0.22/30 dev tap0 && ip -n "$ns" link set tap0 up
cp --reflink=auto "$G/minimal.ext4" "$work/disk.ext4"
mkdir -p "$work/snap"
p="sh:ip netns exec $ns ping -c1 -W5 169.254.0.21 >/dev/null"
if WRENN_VMM=cloud-hypervisor timeout 300 "$VMCTL" --id "$id" --vmm-bin "$CH" --kernel "$G/vmlinux" \
	--rootfs "$work/disk.ext4" --netns "$ns" --log "$work/vmm.log" --memory 256 \
	start boot "wait-log:wrenn-init: ready:60" "$p" pause resume "snapshot:$work/snap" stop \
	"restore:$work/snap" "$p" stop >"$work/out" 2>&1; then
	echo "ok 1 - cloud-hypervisor boot, ping, pause/resume, snapshot/restore"
else
	echo "not ok 1 - cloud-hypervisor lifecycle"
	sed 's/^/# /' "$work/out"
fi
