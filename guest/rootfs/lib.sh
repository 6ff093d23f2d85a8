# shellcheck shell=bash
# Shared by the root filesystem recipes (sourced, not executed).
#
# Each recipe defines rootfs_inputs (prints what the image depends on, hashed into the cache
# key) and rootfs_populate DIR (fills the staging directory). rootfs_main then handles the
# cache: ${WRENN_CACHE:-/var/cache/wrenn}/rootfs/<name>-<key>/image.ext4, valid only with its
# .complete marker; entries are staged in a temp dir and renamed into place.
#
# Usage of a recipe:  guest/rootfs/<name>.sh --init PATH --envd PATH --out FILE.ext4

set -euo pipefail

rootfs_log() { printf '[rootfs %s] %s\n' "$ROOTFS_NAME" "$*" >&2; }
rootfs_die() { printf '[rootfs %s] error: %s\n' "$ROOTFS_NAME" "$*" >&2; exit 1; }

# The wrenn binaries every image carries at fixed paths.
rootfs_install_wrenn() {
	local dir=$1
	install -D -m 0755 "$ROOTFS_INIT" "$dir/usr/local/bin/wrenn-init"
	install -D -m 0755 "$ROOTFS_ENVD" "$dir/usr/local/bin/envd"
}

# passwd/group/shadow entries for root and `user` (uid 1000, E2B's default user).
rootfs_add_user() {
	local dir=$1 shell=$2
	mkdir -p "$dir/etc" "$dir/root" "$dir/home/user"
	touch "$dir/etc/passwd" "$dir/etc/group" "$dir/etc/shadow"
	grep -q '^root:' "$dir/etc/passwd" || echo "root:x:0:0:root:/root:$shell" >>"$dir/etc/passwd"
	grep -q '^root:' "$dir/etc/group" || echo "root:x:0:" >>"$dir/etc/group"
	grep -q '^root:' "$dir/etc/shadow" || echo "root:*:19000:0:99999:7:::" >>"$dir/etc/shadow"
	grep -q '^user:' "$dir/etc/passwd" ||
		echo "user:x:1000:1000:user:/home/user:$shell" >>"$dir/etc/passwd"
	grep -q '^user:' "$dir/etc/group" || echo "user:x:1000:" >>"$dir/etc/group"
	grep -q '^user:' "$dir/etc/shadow" || echo "user:*:19000:0:99999:7:::" >>"$dir/etc/shadow"
	chmod 0644 "$dir/etc/passwd" "$dir/etc/group"
	chmod 0640 "$dir/etc/shadow"
	chmod 0700 "$dir/root"
	chown 1000:1000 "$dir/home/user"
	chmod 0755 "$dir/home/user"
}

# Files no template may inherit from the build host.
rootfs_scrub() {
	local dir=$1
	# never carry the build host's resolvers: wrenn-init writes resolv.conf from wrenn.dns=
	rm -f "$dir/etc/resolv.conf"
	: >"$dir/etc/resolv.conf"
	echo capsule >"$dir/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\tcapsule\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' \
		>"$dir/etc/hosts"
	rm -f "$dir/etc/machine-id"
	: >"$dir/etc/machine-id"
}

rootfs_main() {
	local out="" size_mb=$ROOTFS_SIZE_MB
	ROOTFS_INIT="" ROOTFS_ENVD=""
	while [ $# -gt 0 ]; do
		case $1 in
		--init) ROOTFS_INIT=$2; shift 2 ;;
		--envd) ROOTFS_ENVD=$2; shift 2 ;;
		--out) out=$2; shift 2 ;;
		*) rootfs_die "unknown argument $1" ;;
		esac
	done
	[ -n "$out" ] || rootfs_die "--out FILE missing"
	[ -n "$ROOTFS_INIT" ] && [ -x "$ROOTFS_INIT" ] || rootfs_die "wrenn-init binary missing: '${ROOTFS_INIT}' (build it: make MODE=static guest-bins)"
	[ -n "$ROOTFS_ENVD" ] && [ -x "$ROOTFS_ENVD" ] || rootfs_die "envd binary missing: '${ROOTFS_ENVD}' (build it: make MODE=static guest-bins)"
	command -v mkfs.ext4 >/dev/null || rootfs_die "mkfs.ext4 missing (apt-get install e2fsprogs)"

	local key
	key=$( {
		cat "$ROOTFS_RECIPE" "$ROOTFS_LIB"
		sha256sum <"$ROOTFS_INIT"
		sha256sum <"$ROOTFS_ENVD"
		echo "size=$size_mb"
		mkfs.ext4 -V 2>&1 | head -1
		rootfs_inputs
	} | sha256sum | cut -c1-16)
	local cache=${WRENN_CACHE:-/var/cache/wrenn}/rootfs
	local entry=$cache/$ROOTFS_NAME-$key
	mkdir -p "$cache"
	exec 8>"$cache/.lock-$ROOTFS_NAME-$key"
	flock 8

	if [ -f "$entry/.complete" ]; then
		rootfs_log "cache hit $key"
	else
		rm -rf "$entry"
		local work
		work=$(mktemp -d "$cache/build-$ROOTFS_NAME-$key.XXXXXX")
		# shellcheck disable=SC2064
		trap "rm -rf '$work'" EXIT
		mkdir "$work/root" "$work/entry"
		local start=$SECONDS
		rootfs_populate "$work/root"
		rootfs_install_wrenn "$work/root"
		rootfs_scrub "$work/root"
		rootfs_log "making ${size_mb} MiB ext4 image (mkfs.ext4 -d, no mount)"
		truncate -s "${size_mb}M" "$work/entry/image.ext4"
		mkfs.ext4 -q -F -L wrenn-root -m 0 -E root_owner=0:0 -d "$work/root" \
			"$work/entry/image.ext4"
		e2fsck -fn "$work/entry/image.ext4" >/dev/null 2>&1 || rootfs_die "e2fsck found errors in the new image"
		printf 'name=%s\nkey=%s\n' "$ROOTFS_NAME" "$key" >"$work/entry/build-info"
		touch "$work/entry/.complete"
		mv "$work/entry" "$entry"
		rm -rf "$work"
		trap - EXIT
		rootfs_log "built in $((SECONDS - start)) s"
	fi

	# A copy (reflink where the filesystem can), not a link: disks are cloned from this file
	# and nothing may write into the cache through it. Skipped when out already is this key.
	if [ -f "$out" ] && [ "$(cat "$out.key" 2>/dev/null)" = "$key" ]; then
		rootfs_log "$out up to date"
		return 0
	fi
	mkdir -p "$(dirname "$out")"
	rm -f "$out.tmp" "$out.key"
	cp --reflink=auto --sparse=always "$entry/image.ext4" "$out.tmp"
	chmod 0444 "$out.tmp"
	mv -f "$out.tmp" "$out"
	echo "$key" >"$out.key"
	rootfs_log "$out ($(du -h --apparent-size "$out" | cut -f1) apparent, $(du -h "$out" | cut -f1) used)"
}
