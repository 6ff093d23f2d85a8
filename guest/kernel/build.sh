#!/bin/bash
# Build the wrenn guest kernel (uncompressed PVH vmlinux) from Debian's linux-source-6.1
# plus guest/kernel/patches/*.patch (ours, each says why) and guest/kernel/wrenn.config,
# cached by content.
#
#   guest/kernel/build.sh OUTDIR      -> OUTDIR/vmlinux, OUTDIR/vmlinux.version
#
# Cache: ${WRENN_CACHE:-/var/cache/wrenn}/kernel/<key>/ where key = sha256 of (fragment,
# patches, source package version, this script, compiler version). An entry counts only if its
# .complete marker exists; entries are assembled in a temp dir and renamed into place, so a
# killed build never leaves a half-written entry that looks valid.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
cache=${WRENN_CACHE:-/var/cache/wrenn}/kernel
jobs=${WRENN_KERNEL_JOBS:-2}
src_tar=/usr/src/linux-source-6.1.tar.xz
fragment=$here/wrenn.config
shopt -s nullglob
patches=("$here"/patches/*.patch)
shopt -u nullglob

log() { printf '[kernel] %s\n' "$*" >&2; }
die() { printf '[kernel] error: %s\n' "$*" >&2; exit 1; }

[ -r "$src_tar" ] || die "$src_tar missing: apt-get install linux-source-6.1"
pkgver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null) ||
	die "linux-source-6.1 is not installed (dpkg-query)"
ccver=$(${CC:-gcc} --version | head -1)
patch_key=$(cat /dev/null "${patches[@]}" | sha256sum | cut -c1-16)
key=$( { cat "$fragment" "$0" "${patches[@]}"; printf '%s\n%s\n' "$pkgver" "$ccver"; } | sha256sum | cut -c1-16)
entry=$cache/$key

install_out() {
	mkdir -p "$out"
	# Copies, not symlinks: callers must not be able to write into the cache.
	# cp --reflink=auto is instant on xfs/btrfs and a plain copy elsewhere.
	for f in vmlinux vmlinux.version; do
		rm -f "$out/$f.tmp"
		cp --reflink=auto "$entry/$f" "$out/$f.tmp"
		mv -f "$out/$f.tmp" "$out/$f"
	done
	log "vmlinux $(cat "$out/vmlinux.version") -> $out"
}

mkdir -p "$cache"
exec 9>"$cache/.lock-$key"
flock 9
if [ -f "$entry/.complete" ]; then
	log "cache hit $key"
	install_out
	exit 0
fi
rm -rf "$entry"

# Extracted and patched source tree, shared by all keys of the same package version and
# patch set (read-only use: every build is out-of-tree with O=).
srcdir=$cache/src-$pkgver-$patch_key
if [ ! -f "$srcdir/.complete" ]; then
	log "extracting $src_tar (package $pkgver)"
	rm -rf "$srcdir" "$srcdir.tmp"
	mkdir -p "$srcdir.tmp"
	tar -xf "$src_tar" -C "$srcdir.tmp" --strip-components=1
	for p in "${patches[@]}"; do
		log "applying $(basename "$p")"
		patch -d "$srcdir.tmp" -p1 --forward --batch --quiet <"$p" >&2 ||
			die "$(basename "$p") does not apply to linux-source-6.1 $pkgver"
	done
	touch "$srcdir.tmp/.complete"
	mv "$srcdir.tmp" "$srcdir"
fi

work=$(mktemp -d "$cache/build-$key.XXXXXX")
trap 'rm -rf "$work"' EXIT
obj=$work/obj
mkdir -p "$obj"
kmake() {
	make -C "$srcdir" O="$obj" ARCH=x86_64 KBUILD_BUILD_USER=wrenn KBUILD_BUILD_HOST=wrenn \
		KBUILD_BUILD_TIMESTAMP="$pkgver" "$@"
}

log "configuring (tinyconfig + wrenn.config) in $obj"
kmake -s tinyconfig >/dev/null
"$srcdir/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$fragment" >/dev/null
kmake -s olddefconfig >/dev/null

# Every option the fragment asks for must be in the final config as asked.
bad=0
while IFS= read -r line; do
	case $line in
	CONFIG_*=*) want=$line; name=${line%%=*} ;;
	"# CONFIG_"*" is not set") name=${line#\# }; name=${name%% *}; want=$line ;;
	*) continue ;;
	esac
	got=$(grep -E "^($name=|# $name is not set)" "$obj/.config" || true)
	if [ "$got" != "$want" ]; then
		[ "$want" = "# $name is not set" ] && [ -z "$got" ] && continue
		log "config mismatch: want '$want', got '${got:-<absent>}'"
		bad=1
	fi
done <"$fragment"
[ "$bad" = 0 ] || die "wrenn.config does not apply cleanly (dependencies?)"

log "building vmlinux with -j$jobs (a cold build takes a few minutes)"
start=$(date +%s)
kmake -j"$jobs" vmlinux >"$work/build.log" 2>&1 || { tail -40 "$work/build.log" >&2; die "kernel build failed"; }
log "built in $(($(date +%s) - start)) s"

stage=$work/entry
mkdir -p "$stage"
cp "$obj/vmlinux" "$stage/vmlinux"
printf '%s\n' "$(kmake -s kernelrelease)" >"$stage/vmlinux.version"
cp "$obj/.config" "$stage/config"
printf 'source=linux-source-6.1 %s\ncompiler=%s\nkey=%s\n' "$pkgver" "$ccver" "$key" >"$stage/build-info"
touch "$stage/.complete"
mv "$stage" "$entry"
install_out
