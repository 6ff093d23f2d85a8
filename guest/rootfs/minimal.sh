#!/bin/bash
# Minimal template: busybox-static (applets as symlinks) + bash-static as /bin/bash, for fast tests.
#   guest/rootfs/minimal.sh --init wrenn-init --envd envd --out minimal.ext4
# shellcheck disable=SC2034 # used by lib.sh
ROOTFS_NAME=minimal
# shellcheck disable=SC2034
ROOTFS_SIZE_MB=${WRENN_MINIMAL_MB:-256}
ROOTFS_RECIPE=$(readlink -f "$0")
ROOTFS_LIB=$(dirname "$ROOTFS_RECIPE")/lib.sh
# shellcheck source=lib.sh
. "$ROOTFS_LIB"

BUSYBOX=/bin/busybox
BASH_STATIC=/bin/bash-static

rootfs_inputs() {
	dpkg-query -W -f='${Package} ${Version}\n' busybox-static bash-static
	sha256sum "$BUSYBOX" "$BASH_STATIC"
}

rootfs_populate() {
	local d=$1
	[ -x "$BUSYBOX" ] && file -L "$BUSYBOX" | grep -q 'statically linked' ||
		rootfs_die "$BUSYBOX is not a static busybox (apt-get install busybox-static)"
	[ -x "$BASH_STATIC" ] || rootfs_die "$BASH_STATIC missing (apt-get install bash-static)"
	rootfs_log "populating busybox + bash"
	mkdir -p "$d"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,dev,proc,sys,run,tmp,var/tmp,root,home,mnt}
	chmod 1777 "$d/tmp" "$d/var/tmp"
	install -m 0755 "$BUSYBOX" "$d/bin/busybox"
	install -m 0755 "$BASH_STATIC" "$d/bin/bash"
	local applet
	while read -r applet; do
		[ -e "$d/$applet" ] || [ -L "$d/$applet" ] && continue
		mkdir -p "$d/$(dirname "$applet")"
		ln -s /bin/busybox "$d/$applet"
	done < <("$BUSYBOX" --list-full)
	# /bin/sh stays busybox ash; bash-static is /bin/bash (the E2B SDK runs /bin/bash -l -c)
	rootfs_add_user "$d" /bin/bash
	echo 'tty:x:5:' >>"$d/etc/group"
	cat >"$d/etc/profile" <<'PROFILE'
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=${HOME:-/root}
PROFILE
}

rootfs_main "$@"
