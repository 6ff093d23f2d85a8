# Shared by the wrenn-rtctl tests and benchmarks (source it from the repo root).
# Sets: ROOT B RTCTL GUEST; TAP helpers ok nok skip skip_rest (plan: $PLAN).
# rt_init sets T NSP WORK DATA and the cleanup trap; rt_cmd sets RT.
# Everything of a run carries its prefix $T, so cleanup never touches others'.
ROOT=$PWD
B=${B:-${WRENN_BUILD:-build/asan}}
case $B in /*) ;; *) B=$ROOT/$B ;; esac
RTCTL=$B/bin/wrenn-rtctl
GUEST=${WRENN_GUEST_DIR:-$(dirname "$B")/guest}
n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); fail=1; echo "not ok $n - $1"; [ -n "${2:-}" ] && echo "# $2" | head -c 2000; }
skip() { n=$((n + 1)); echo "ok $n # skip $1"; }
skip_rest() { while [ "$n" -lt "$PLAN" ]; do skip "$1"; done; exit 0; }

# VMMs of this run (their argv names our data dir); RT_VMM_DIR narrows or widens it.
qemu_pids() { pgrep -f -- "$DATA/${RT_VMM_DIR-sandboxes/}" 2>/dev/null | grep -v "^$$\$" || true; }

# BG: a background wrenn-rtctl of the caller, killed first.
BG=
rt_cleanup() {
	[ -n "$BG" ] && kill -9 "$BG" 2>/dev/null
	for p in $(qemu_pids); do kill -9 "$p" 2>/dev/null; done
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NSP"); do ip netns del "$ns"; done
	for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep "^${T}v-"); do ip link del "$l"; done
	nft delete table inet "$T" 2>/dev/null
	mountpoint -q "$DATA" && umount -l "$DATA"
	[ -n "${LOOP:-}" ] && losetup -d "$LOOP" 2>/dev/null
	rm -rf "$WORK"
}

# rt_init T WORKNAME [DATA_SUBDIR]: scratch dir /tmp/wrenn-WORKNAME.*, data dir in it.
rt_init() {
	T=$1
	NSP=${T}n-
	WORK=$(mktemp -d "/tmp/wrenn-$2.XXXXXX")
	DATA=$WORK${3:+/$3}
	trap rt_cleanup EXIT
	trap 'exit 1' INT TERM
}

rt_require() {
	[ "$(id -u)" = 0 ] || skip_rest "needs root"
	[ -x "$RTCTL" ] || skip_rest "$RTCTL not built"
	command -v qemu-system-x86_64 >/dev/null || skip_rest "qemu-system-x86_64 absent"
	[ -r "$GUEST/minimal.ext4" ] && [ -r "$GUEST/vmlinux" ] || skip_rest "no guest image in $GUEST (make guest-minimal)"
}

# The minimal guest as the data dir's images, linked (no copy).
rt_images_link() {
	mkdir -p "$DATA/images"
	ln -s "$(realpath "$GUEST/minimal.ext4")" "$DATA/images/minimal.ext4"
	ln -s "$(realpath "$GUEST/vmlinux")" "$DATA/images/vmlinux"
}

# Scratch xfs (reflink) holding data dir and template: FICLONE needs one filesystem.
rt_images_xfs() {
	mkdir -p "$DATA"
	truncate -s 3G "$WORK/xfs.img"
	if mkfs.xfs -q -m reflink=1 "$WORK/xfs.img" && LOOP=$(losetup -f --show "$WORK/xfs.img") &&
		mount "$LOOP" "$DATA"; then
		:
	else
		echo "# no xfs scratch; running on $(stat -f -c %T "$WORK")"
	fi
	mkdir -p "$DATA/images"
	cp --sparse=always "$GUEST/minimal.ext4" "$DATA/images/minimal.ext4"
	cp "$GUEST/vmlinux" "$DATA/images/vmlinux"
}

# rt_cmd [extra rtctl options...]: RT is the wrenn-rtctl command line of this run.
rt_cmd() {
	RT="$RTCTL --data $DATA --ns-prefix $NSP --veth-prefix ${T}v- --nft-table $T $*"
	OUT=$WORK/out ERR=$WORK/err
}

# Nothing of ours left: namespaces, VMMs, per-sandbox files; RT_LEFT adds
# "links" (veths), "slots" (slot claims), "host" (loop devices, mounts).
leftovers() {
	local l="" extra=" ${RT_LEFT:-} "
	l+=$(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$NSP" | tr '\n' ' ')
	[[ $extra == *" links "* ]] && l+=$(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | grep "^${T}v-" | tr '\n' ' ')
	l+=$(qemu_pids | tr '\n' ' ')
	l+=$(ls -A "$DATA/sandboxes" "$DATA/vm" 2>/dev/null | grep -v ':$' | grep . | tr '\n' ' ')
	[[ $extra == *" slots "* ]] && l+=$(ls -A "$DATA/slots" 2>/dev/null | tr '\n' ' ')
	if [[ $extra == *" host "* ]]; then
		l+=$(losetup -a 2>/dev/null | grep -F "$DATA/" | tr '\n' ' ')
		l+=$(grep -F "$DATA/" /proc/mounts | tr '\n' ' ')
	fi
	echo "$l"
}
check_clean() {
	local l
	l=$(leftovers)
	if [ -z "$l" ]; then ok "$1: nothing left"; else nok "$1: nothing left" "left: $l"; fi
}

# stats NAME FILE: the BENCH line (median, p95, count) of FILE's numbers.
stats() {
	sort -n "$2" | awk -v name="$1" '{v[NR]=$1} END {
		if (NR == 0) { print "BENCH " name " NaN ms p95=NaN n=0"; exit }
		m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
		i = int(NR * 0.95 + 0.999); if (i > NR) i = NR
		printf "BENCH %s %.0f ms p95=%.0f n=%d\n", name, m, v[i], NR }'
}
