#!/bin/bash
# Debian template (the default users get, `base`): debootstrap bookworm minbase + what code written
# for E2B's base template assumes: bash coreutils procps ca-certificates, sudo (passwordless for
# `user`), curl, git (the SDK's git module shells out to it), python3 + pip + the `python` alias,
# node + npm; user `user` (uid 1000, /home/user).
#   guest/rootfs/debian.sh --init wrenn-init --envd envd --out debian.ext4
# The mirror is the one this machine's apt uses (WRENN_DEBIAN_MIRROR overrides).
# shellcheck disable=SC2034 # used by lib.sh
ROOTFS_NAME=debian
# shellcheck disable=SC2034
ROOTFS_SIZE_MB=${WRENN_DEBIAN_MB:-1536}
ROOTFS_RECIPE=$(readlink -f "$0")
ROOTFS_LIB=$(dirname "$ROOTFS_RECIPE")/lib.sh
# shellcheck source=lib.sh
. "$ROOTFS_LIB"

SUITE=bookworm
PACKAGES=bash,coreutils,procps,ca-certificates,python3
# Installed with apt inside the bootstrapped tree: debootstrap's own resolver does not follow
# virtual packages (npm's dependencies need them).
EXTRA=(sudo curl git python3-pip python-is-python3 nodejs npm)

# First non-security URI that serves $SUITE, from deb822 .sources files or one-line lists.
apt_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk -v suite="$SUITE" '
			function flush() {
				if (uris != "" && types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " "))
					{ split(uris, u, " "); print u[1]; found = 1; exit }
				uris = ""; suites = ""; types = ""
			}
			/^[ \t]*$/ { flush(); next }
			/^URIs:/ { sub(/^URIs:[ \t]*/, ""); uris = $0 }
			/^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
			/^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
			END { if (!found) flush() }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -r "$f" ] || continue
		sed -n -E "s/^deb[ \t]+(\[[^]]*\][ \t]+)?([^ \t]+)[ \t]+${SUITE}[ \t].*/\2/p" "$f"
	done
}

MIRROR=${WRENN_DEBIAN_MIRROR:-$(apt_mirror | head -1)}

rootfs_inputs() {
	echo "mirror=$MIRROR suite=$SUITE packages=$PACKAGES extra=${EXTRA[*]}"
	dpkg-query -W -f='${Package} ${Version}\n' debootstrap
}

# debootstrap's I:/W:/E: lines, minus the per-package "Validating" noise.
debootstrap_progress() {
	local line
	while IFS= read -r line; do
		case $line in
		"I: Validating "*) ;;
		I:* | E:* | W:*) rootfs_log "$line" ;;
		esac
	done
}

# The debootstrapped tree is cached by itself (as a tar, keyed on mirror, suite, packages and this
# recipe) so that a new envd or wrenn-init only repacks the image instead of bootstrapping again.
debian_base() {
	local tree=$1 out=$2
	[ -n "$MIRROR" ] || rootfs_die "no Debian mirror for $SUITE in /etc/apt/sources.list{,.d} (set WRENN_DEBIAN_MIRROR)"
	command -v debootstrap >/dev/null || rootfs_die "debootstrap missing (apt-get install debootstrap)"
	local debs=${WRENN_CACHE:-/var/cache/wrenn}/rootfs/debs
	mkdir -p "$debs"
	rootfs_log "debootstrap $SUITE (minbase + $PACKAGES) from $MIRROR; progress follows"
	# A private mount namespace: whatever debootstrap mounts inside the target (proc, sys)
	# disappears with it, even if it is killed.
	if ! unshare --mount --propagation private \
		debootstrap --variant=minbase --include="$PACKAGES" --cache-dir="$debs" \
		"$SUITE" "$tree" "$MIRROR" 2>&1 | debootstrap_progress; then
		rootfs_die "debootstrap failed (messages above; log: $tree/debootstrap/debootstrap.log)"
	fi
	rootfs_log "apt-get install ${EXTRA[*]}"
	# Same private mount namespace trick; the .deb cache is shared with debootstrap's.  No
	# service may start inside the build (policy-rc.d), nothing is recommended beyond the list.
	mkdir -p "$debs/partial" "$tree/usr/sbin"
	printf '#!/bin/sh\nexit 101\n' >"$tree/usr/sbin/policy-rc.d"
	chmod 0755 "$tree/usr/sbin/policy-rc.d"
	if ! unshare --mount --propagation private sh -ec '
		root=$1
		mount -t proc proc "$root/proc"
		mount --bind "$2" "$root/var/cache/apt/archives"
		shift 2
		chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			sh -ec "apt-get -qq update && apt-get -qq install -y --no-install-recommends $*"
	' - "$tree" "$debs" "${EXTRA[@]}" >"$out.apt.log" 2>&1; then
		tail -20 "$out.apt.log" >&2
		rootfs_die "apt-get install in the bootstrapped tree failed (log: $out.apt.log)"
	fi
	rm -f "$tree/usr/sbin/policy-rc.d" "$out.apt.log"
	local tool
	for tool in bash python3 python pip3 sudo curl git node npm; do
		[ -x "$tree/usr/bin/$tool" ] || rootfs_die "debootstrap finished but /usr/bin/$tool is missing"
	done
	rm -rf "$tree"/var/cache/apt/archives/*.deb "$tree"/var/lib/apt/lists/* "$tree"/debootstrap
	rootfs_log "saving the bootstrapped tree"
	tar --numeric-owner --xattrs -cf "$out" -C "$tree" .
}

rootfs_populate() {
	local d=$1
	local cache=${WRENN_CACHE:-/var/cache/wrenn}/rootfs
	local basekey
	basekey=$( { rootfs_inputs; sed -n '/^debian_base()/,/^}/p' "$ROOTFS_RECIPE"; } | sha256sum | cut -c1-16)
	local base=$cache/debian-base-$basekey
	if [ ! -f "$base/.complete" ]; then
		# The mirror is the network: a transient failure to fetch (seen in CI: "Couldn't download
		# .../Packages") gets two more tries from a clean tree before the build fails.
		local try
		for try in 1 2 3; do
			rm -rf "$base" "$base.tmp"
			mkdir -p "$base.tmp/tree"
			(debian_base "$base.tmp/tree" "$base.tmp/base.tar") && break
			[ "$try" -lt 3 ] || rootfs_die "bootstrapping the Debian tree failed 3 times (messages above)"
			rootfs_log "bootstrap attempt $try failed; retrying in $((try * 10)) s"
			sleep $((try * 10))
		done
		rm -rf "$base.tmp/tree"
		touch "$base.tmp/.complete"
		mv "$base.tmp" "$base"
	else
		rootfs_log "bootstrapped tree cached ($basekey)"
	fi
	tar --numeric-owner --xattrs -xf "$base/base.tar" -C "$d"
	rootfs_add_user "$d" /bin/bash
	# E2B's convention: `user` may become root without a password (the sandbox is the boundary,
	# not the guest's own accounts).  sudo refuses a sudoers.d file that is not 0440 root.
	mkdir -p "$d/etc/sudoers.d"
	echo 'user ALL=(ALL:ALL) NOPASSWD: ALL' >"$d/etc/sudoers.d/90-wrenn-user"
	chmod 0440 "$d/etc/sudoers.d/90-wrenn-user"
	if [ -d "$d/etc/skel" ]; then
		cp -a "$d/etc/skel/." "$d/home/user/"
		chown -R 1000:1000 "$d/home/user"
	fi
}

rootfs_main "$@"
