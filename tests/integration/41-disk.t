#!/usr/bin/env bash
# src/disk for real (root): reflink on a loop-mounted xfs image made here,
# qcow2 overlay on ext4/tmpfs, auto-detection, dm-snapshot where the kernel has
# device-mapper (skipped with the reason otherwise).  Everything is removed by
# the EXIT trap and verified at the end.
set -u
cd "$(dirname "$0")/../.."
B=${WRENN_BUILD:-build/asan}
DC=$B/bin/wrenn-diskctl
W=$(mktemp -d /tmp/wrenn-41disk.XXXXXX)
IMG=$W/xfs.img XFS=$W/xfs TMPFS=$W/tmpfs EXT=$W/ext
n=0 fail=0
echo "1..16"
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); fail=1; echo "not ok $n - $1"; [ -n "${2:-}" ] && echo "# $2"; }
check() { local d=$1; shift; if "$@" >/dev/null 2>&1; then ok "$d"; else nok "$d"; fi; }
skip() { n=$((n + 1)); echo "ok $n # skip $1"; }

cleanup() {
	mountpoint -q "$XFS" && umount "$XFS"
	mountpoint -q "$TMPFS" && umount "$TMPFS"
	[ -f "$IMG" ] && losetup -j "$IMG" | cut -d: -f1 | xargs -r -n1 losetup -d
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [ "$(id -u)" -ne 0 ] || [ ! -x "$DC" ] || ! command -v mkfs.xfs >/dev/null || ! command -v qemu-img >/dev/null; then
	for i in $(seq 1 16); do skip "needs root, mkfs.xfs, qemu-img and $DC"; done
	exit 0
fi
mkdir -p "$XFS" "$TMPFS" "$EXT"

# --- reflink on xfs ---------------------------------------------------------
truncate -s 320M "$IMG"
# the loop device is attached explicitly, so this test owns and detaches it
if mkfs.xfs -q -m reflink=1 "$IMG" && LOOP=$(losetup --find --show "$IMG") && mount "$LOOP" "$XFS"; then
	ok "xfs image with reflink=1 mounted"
else
	nok "xfs image mounted"
fi
mkdir -p "$XFS/sandboxes/cl-a"
head -c 16M /dev/urandom >"$XFS/tpl.img"
SUM=$(sha256sum <"$XFS/tpl.img")
R=$("$DC" detect "$XFS" 2>&1)
[ "$R" = reflink ] && ok "auto-detect on xfs: reflink" || nok "auto-detect on xfs: reflink" "$R"
R=$("$DC" clone reflink "$XFS/tpl.img" "$XFS/sandboxes/cl-a/rootfs.img" 2>&1)
[ "$R" = "raw $XFS/sandboxes/cl-a/rootfs.img" ] && ok "reflink clone -> raw file" || nok "reflink clone" "$R"
check "clone content equals template" cmp "$XFS/tpl.img" "$XFS/sandboxes/cl-a/rootfs.img"
check "clone shares extents with the template (filefrag: shared)" bash -c \
	"filefrag -v '$XFS/sandboxes/cl-a/rootfs.img' | grep -q shared"
printf 'guest-write' | dd of="$XFS/sandboxes/cl-a/rootfs.img" bs=1 seek=4096 conv=notrunc status=none
if [ "$(sha256sum <"$XFS/tpl.img")" = "$SUM" ] && ! cmp -s "$XFS/tpl.img" "$XFS/sandboxes/cl-a/rootfs.img"; then
	ok "write to clone leaves template unchanged"
else
	nok "write to clone leaves template unchanged"
fi
R=$("$DC" clone reflink "$XFS/tpl.img" "$XFS/sandboxes/cl-a/rootfs.img" 2>&1)
[[ $? -ne 0 && "$R" == *"File exists"* ]] && ok "clone onto an existing file refused: $R" || nok "existing destination refused" "$R"
"$DC" remove reflink "$XFS/sandboxes/cl-a/rootfs.img" && [ ! -e "$XFS/sandboxes/cl-a/rootfs.img" ] &&
	ok "remove deletes the clone" || nok "remove deletes the clone"

# --- qcow2 on ext4 and tmpfs ------------------------------------------------
head -c 4M /dev/urandom >"$EXT/tpl.img"
SUM2=$(sha256sum <"$EXT/tpl.img")
fs=$(stat -f -c %T "$EXT")
R=$("$DC" detect "$EXT" 2>&1)
[ "$R" = qcow2 ] && ok "auto-detect on $fs: qcow2" || nok "auto-detect on $fs: qcow2" "$R"
R=$("$DC" clone reflink "$EXT/tpl.img" "$EXT/x.img" 2>&1)
[[ $? -ne 0 && "$R" == *"does not support reflinks"* && ! -e "$EXT/x.img" ]] &&
	ok "forced reflink on $fs: clear error, nothing left ($R)" || nok "forced reflink on $fs" "$R"
R=$("$DC" clone qcow2 "$EXT/tpl.img" "$EXT/ov.qcow2" 2>&1)
info=$(qemu-img info "$EXT/ov.qcow2" 2>&1)
if [ "$R" = "qcow2 $EXT/ov.qcow2" ] && grep -q "backing file: $EXT/tpl.img" <<<"$info" && grep -q "backing file format: raw" <<<"$info"; then
	ok "qcow2 overlay with absolute raw backing file"
else
	nok "qcow2 overlay" "$R / $info"
fi
if qemu-io -f qcow2 -c 'write -P 0xab 0 64k' "$EXT/ov.qcow2" >/dev/null && qemu-io -f qcow2 -c 'read -P 0xab 0 64k' "$EXT/ov.qcow2" | grep -q 'read 65536' &&
	[ "$(sha256sum <"$EXT/tpl.img")" = "$SUM2" ]; then
	ok "write through overlay lands in the overlay, template unchanged"
else
	nok "write through overlay"
fi
"$DC" remove qcow2 "$EXT/ov.qcow2" && [ ! -e "$EXT/ov.qcow2" ] && ok "qcow2 remove" || nok "qcow2 remove"

mount -t tmpfs -o size=64M wrenn-41 "$TMPFS"
R=$("$DC" detect "$TMPFS" 2>&1)
[ "$R" = qcow2 ] && ok "auto-detect on tmpfs: qcow2" || nok "auto-detect on tmpfs" "$R"

# --- dm-snapshot --------------------------------------------------------------
if [ ! -e /dev/mapper/control ]; then
	skip "dm-snapshot: /dev/mapper/control absent (kernel $(uname -r) has no device-mapper)"
else
	mkdir -p "$EXT/sandboxes/cl-dm"
	R=$("$DC" clone dm "$EXT/tpl.img" "$EXT/sandboxes/cl-dm/rootfs.cow" 2>&1)
	dev=$(awk '{print $2}' <<<"$R")
	if [[ "$R" == "raw /dev/dm-"*" wrenn-cl-dm" ]] && [ -b "$dev" ] && cmp -n 4194304 "$dev" "$EXT/tpl.img" &&
		printf 'x' | dd of="$dev" bs=1 seek=100 conv=notrunc status=none && [ "$(sha256sum <"$EXT/tpl.img")" = "$SUM2" ] &&
		"$DC" remove dm "$EXT/sandboxes/cl-dm/rootfs.cow" wrenn-cl-dm && [ -z "$(losetup -j "$EXT/tpl.img")" ]; then
		ok "dm-snapshot clone, write, template unchanged, removed with its loops"
	else
		nok "dm-snapshot" "$R"
	fi
fi

# --- nothing left ---------------------------------------------------------------
umount "$XFS" && umount "$TMPFS" && losetup -d "$LOOP"
for i in $(seq 30); do [ -z "$(losetup -j "$IMG")" ] && break; sleep 0.1; done
if ! mountpoint -q "$XFS" && ! mountpoint -q "$TMPFS" && [ -z "$(losetup -j "$IMG")" ] && ! grep -q "$W" /proc/mounts; then
	ok "no mount or loop device left"
else
	nok "no mount or loop device left" "$(losetup -j "$IMG"; grep "$W" /proc/mounts)"
fi
exit $fail
