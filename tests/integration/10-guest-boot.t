#!/bin/bash
# Guest image smoke test: boot the minimal image under QEMU (microvm, TCG unless told otherwise)
# with the seed's exact kernel command line and network addresses, on tap0 in a network
# namespace this test creates; check that wrenn-init reports ready and that the guest answers
# ping at 169.254.0.21. Then boot a scratch copy without envd and with a bad wrenn.dns= and
# check that the serial log says so. Everything created is removed, and that is checked too.
set -u
cd "$(dirname "$0")/../.." || exit 1

guest=${WRENN_GUEST:-$(dirname "${WRENN_BUILD:-build/asan}")/guest}
plan=9
echo "1..$plan"
skip_all() {
	for i in $(seq 1 $plan); do echo "ok $i # skip $1"; done
	exit 0
}
[ "$(id -u)" = 0 ] || skip_all "needs root (network namespaces, TAP)"
for t in qemu-system-x86_64 ip ping debugfs; do
	command -v "$t" >/dev/null || skip_all "$t not installed"
done
for f in vmlinux minimal.ext4; do
	[ -r "$guest/$f" ] || skip_all "$guest/$f missing (run: make guest-minimal)"
done

# The seed's kernel command line (src/vm/vmconfig.c, vm_config_kernel_args) and addresses.
CMDLINE="console=ttyS0 root=/dev/vda rw reboot=k panic=1 quiet loglevel=1 init_on_free=1 clocksource=kvm-clock init=/usr/local/bin/wrenn-init ip=169.254.0.21::169.254.0.22:255.255.255.252:capsule:eth0:off"
# Under TCG the machine's ACPI tables route the PIT's IRQ 0 to the wrong IOAPIC pin (no interrupt
# source override), so a guest whose TSC calibration fails (common on a loaded host) hangs for
# good; with acpi=off the kernel uses the MP table and boots either way. See guest/README.md.
MACHINE=${WRENN_QEMU_MACHINE:-microvm,x-option-roms=off,isa-serial=on,acpi=off}
BOOT_TIMEOUT=${WRENN_BOOT_TIMEOUT:-60}

ns=wrenn-test-$$
scratch=$(mktemp -d /tmp/wrenn-guest-test.XXXXXX)
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }
. tests/lib/guest-vm.sh

# boot DISK LOG [EXTRA_CMDLINE]
boot() {
	ip netns exec "$ns" qemu-system-x86_64 -M "$MACHINE" -cpu max -accel tcg -m 256 -smp 1 \
		-nodefaults -no-user-config -nographic -display none -serial "file:$2" \
		-kernel "$guest/vmlinux" -append "$CMDLINE${3:+ $3}" \
		-drive "id=root,file=$1,format=raw,if=none" -device virtio-blk-device,drive=root \
		-netdev tap,id=n0,ifname=tap0,script=no,downscript=no \
		-device virtio-net-device,netdev=n0,mac=02:FC:00:00:00:05 \
		>"$scratch/qemu.out" 2>&1 &
	qpid=$!
}

# wait_for LOG PATTERN: until the pattern shows up, QEMU dies, or BOOT_TIMEOUT passes.
wait_for() {
	local deadline=$((SECONDS + BOOT_TIMEOUT))
	while [ $SECONDS -lt $deadline ]; do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		kill -0 "$qpid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# --- 1-4: a normal boot -------------------------------------------------------------------
if ! make_netns; then
	nok "create netns $ns with tap0 169.254.0.22/30"
	for i in $(seq 2 $plan); do echo "not ok $i - skipped: no netns"; done
	exit 1
fi
ok "create netns $ns with tap0 169.254.0.22/30"
cp --sparse=always "$guest/minimal.ext4" "$scratch/disk.ext4" && chmod 0644 "$scratch/disk.ext4"
log=$scratch/serial.log
start=$SECONDS
boot "$scratch/disk.ext4" "$log"
if wait_for "$log" 'wrenn-init: ready'; then
	ok "minimal image boots to 'wrenn-init: ready' ($((SECONDS - start)) s)"
else
	nok "minimal image boots to 'wrenn-init: ready' within ${BOOT_TIMEOUT}s" \
		"serial: $(tail -c 2000 "$log" 2>/dev/null | tr '\n' '|')" "qemu: $(tr '\n' '|' <"$scratch/qemu.out")"
fi
if ip netns exec "$ns" ping -c 1 -W 5 169.254.0.21 >/dev/null 2>&1; then
	ok "guest answers ping at 169.254.0.21 over tap0"
else
	nok "guest answers ping at 169.254.0.21 over tap0"
fi
errs=$(grep -a 'wrenn-init: error' "$log")
check "wrenn-init logged no error on a clean boot${errs:+: $errs}" test -z "$errs"

# --- 5-6: guest-side failures are visible on the serial console ------------------------------
stop_vm
cp --sparse=always "$guest/minimal.ext4" "$scratch/broken.ext4" && chmod 0644 "$scratch/broken.ext4"
debugfs -w -R "rm /usr/local/bin/envd" "$scratch/broken.ext4" >/dev/null 2>&1
log2=$scratch/serial-broken.log
boot "$scratch/broken.ext4" "$log2" "wrenn.dns=not-an-address"
if wait_for "$log2" 'wrenn-init: error: cannot execute envd /usr/local/bin/envd: No such file'; then
	ok "missing envd is reported on the serial console"
else
	nok "missing envd is reported on the serial console" "serial: $(tail -c 2000 "$log2" | tr '\n' '|')"
fi
if grep -aq "wrenn-init: error: bad wrenn.dns= argument: wrenn.dns= entry 'not-an-address' is not an IP address" "$log2" &&
	! grep -aq 'wrenn-init: ready' "$log2"; then
	ok "bad wrenn.dns= is reported and 'ready' is not claimed without envd"
else
	nok "bad wrenn.dns= is reported and 'ready' is not claimed without envd" "serial: $(tail -c 2000 "$log2" | tr '\n' '|')"
fi

# --- 7-9: teardown leaves nothing behind ------------------------------------------------------
pid=$qpid
guest_vm_cleanup
check "QEMU process $pid is gone" test ! -d "/proc/$pid"
if ip netns list | grep -qw "$ns" || ip link show tap0 >/dev/null 2>&1; then
	nok "netns $ns and tap0 are gone"
else
	ok "netns $ns and tap0 are gone"
fi
check "scratch files are gone" test ! -e "$scratch"
