#!/usr/bin/env bash
# QEMU backend end to end (TCG here): boot the minimal guest through the
# launcher inside a network namespace made here, ping it, pause/resume,
# snapshot + restore into a fresh VMM (guest still answers), stop; then
# nothing may be left: process, mount, socket, sandbox dir, cgroup.
# The VMM runs jailed (--jail-uid: own uid, no capabilities, seccomp, pivoted
# root) in a per-VM cgroup (--cgroup auto), as the runtime runs it.
set -u
cd "$(dirname "$0")/../.."
B=${WRENN_BUILD:-build/asan}
G=$(realpath -m "${WRENN_GUEST:-build/guest}")
VMCTL=$B/bin/wrenn-vmctl
echo "1..8"
skip_all() { for i in 1 2 3 4 5 6 7 8; do echo "ok $i # skip $1"; done; exit 0; }
[ -x "$VMCTL" ] || skip_all "no $VMCTL (make MODE=asan host)"
[ -r "$G/vmlinux" ] && [ -r "$G/minimal.ext4" ] || skip_all "no guest image in $G (make guest-minimal)"
command -v qemu-system-x86_64 >/dev/null || skip_all "no qemu-system-x86_64"
[ "$(id -u)" = 0 ] || skip_all "needs root (namespaces, tap)"

id=cl-t30$$
ns=wrenn-t30-$$
work=$(mktemp -d /tmp/wrenn-t30.XXXXXX)
sock=/tmp/wrenn-t30-$$.sock
sbdir=/tmp/wrenn-t30-vm-$$
cleanup() {
	# only processes inside the namespace this test made (a leaked VMM)
	for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p"; done
	ip netns del "$ns" 2>/dev/null
	rm -rf "$work" "$sock"
	rmdir "$sbdir" 2>/dev/null
}
trap cleanup EXIT

ip netns add "$ns" &&
	ip -n "$ns" link set lo up &&
	ip -n "$ns" tuntap add dev tap0 mode tap &&
	ip -n "$ns" addr add 169.254.0.22/30 dev tap0 &&
	ip -n "$ns" link set tap0 up || { echo "Bail out! cannot create netns/tap"; exit 1; }
cp --reflink=auto "$G/minimal.ext4" "$work/disk.ext4" && chmod u+w "$work/disk.ext4"

ping_guest="sh:ip netns exec $ns ping -c1 -W5 169.254.0.21 >/dev/null"
juid=$((63000 + $$ % 900))
# the running VMM: jail uid, no_new_privs, seccomp filter, no effective capability; under TCG
# no transparent huge pages (src/vm/vmm.c)
jailed="sh:p=\$(pgrep -f '^qemu-system-x86_64 -name wrenn-$id '); grep -q '^Uid:.$juid' /proc/\$p/status \
	&& grep -q '^NoNewPrivs:.1' /proc/\$p/status && grep -q '^Seccomp:.2' /proc/\$p/status \
	&& grep -q '^CapEff:.0000000000000000' /proc/\$p/status && grep wrenn.slice/$id /proc/\$p/cgroup >$work/cgroups \
	&& { ! tr '\\0' ' ' </proc/\$p/cmdline | grep -q ' -accel tcg' || grep -q '^THP_enabled:.0' /proc/\$p/status; }"
rm -rf "$work/snap" "$work/vmm.log"
mkdir -p "$work/snap"
timeout 300 "$VMCTL" --id "$id" --kernel "$G/vmlinux" --rootfs "$work/disk.ext4" --netns "$ns" \
	--log "$work/vmm.log" --socket "$sock" --sandbox-dir "$sbdir" --memory 256 \
	--mem-file "$work/snap/memory" --jail-uid "$juid" --cgroup auto \
	start "$jailed" boot "wait-log:wrenn-init: ready:40" "$ping_guest" \
	pause state:paused "sh:! ip netns exec $ns ping -c1 -W1 169.254.0.21 >/dev/null" \
	resume state:running "$ping_guest" \
	"snapshot:$work/snap" state:paused stop \
	"restore:$work/snap" state:running "$ping_guest" "$jailed" stop >"$work/out" 2>&1
rc=$?
step() { grep -qF "step $1" "$work/out"; } # a printed step succeeded
report() { if "$@"; then echo "ok $n - $desc"; else echo "not ok $n - $desc"; fail=1; fi; n=$((n + 1)); }
n=1 fail=0
desc="boot to 'wrenn-init: ready' under $(grep -o 'backend.*' "$work/out" | head -1)"
report step "wait-log"
desc="guest answers ping from the namespace"
report step "sh:ip netns exec $ns ping"
desc="pause stops the guest (no ping while paused), resume brings it back"
report eval 'step "sh:! ip" && [ "$(grep -c "^step sh:ip netns exec .* ping .*ok" "$work/out")" -ge 2 ]'
desc="snapshot writes state, memory and metadata"
report eval 'step "snapshot" && [ -s "$work/snap/state" ] && [ -s "$work/snap/memory" ] && [ -s "$work/snap/wrenn-vmm.json" ]'
desc="restored VM runs and answers ping"
report eval 'step "restore" && [ "$(grep -c "^step sh:ip netns exec .* ping .*ok" "$work/out")" -ge 3 ]'
desc="VMM jailed (uid $juid, NoNewPrivs, Seccomp 2, CapEff 0, own cgroup; no THP under TCG) at boot and after restore"
report eval '[ "$(grep -c "^step sh:p=.* ok" "$work/out")" = 2 ]'
desc="driver exited 0"
report test "$rc" = 0
left=""
pgrep -f -- "-name wrenn-$id " >/dev/null && left="$left process"
grep -q " $sbdir " /proc/mounts && left="$left mount"
[ -e "$sbdir" ] && left="$left sandbox-dir"
[ -e "$sock" ] && left="$left socket"
ip netns pids "$ns" 2>/dev/null | grep -q . && left="$left netns-process"
while IFS=: read -r _ ctl path; do
	d=$(if [ -z "$ctl" ]; then awk '$3=="cgroup2"{print $2; exit}' /proc/mounts; else echo "/sys/fs/cgroup/${ctl%%,*}"; fi)$path
	[ -d "$d" ] && left="$left cgroup:$d"
done <"$work/cgroups"
desc="nothing left behind${left:+ (left:$left)}"
report test -z "$left"
if [ $fail = 1 ]; then
	sed 's/^/# /' "$work/out"
	tail -20 "$work/vmm.log" | sed 's/^/# log: /'
fi
exit 0
