#!/usr/bin/env bash
# Install every Debian package wrenn needs to build, test and run.
# Idempotent; silent when everything is already present.
set -euo pipefail

PKGS=(
	# toolchain and checks
	build-essential pkg-config clang-format cppcheck perl
	# host libraries (see docs/ARCHITECTURE.md "Dependencies")
	libjansson-dev libsqlite3-dev libmnl-dev libcurl4-openssl-dev libcmocka-dev node-llhttp
	libssl-dev zlib1g-dev util-linux libarchive-dev libprotobuf-c-dev protobuf-c-compiler libext2fs-dev
	# scale-out control plane: PostgreSQL client library; tests start a throwaway cluster
	postgresql libpq-dev
	# VMM and host tools
	qemu-system-x86 qemu-utils nftables iproute2 e2fsprogs xfsprogs util-linux
	# test tools
	curl jq iputils-ping zsh python3-venv chromium chromium-driver nginx-light
	# custom templates: OCI images (pull, unpack), the local test registry and its htpasswd
	skopeo umoci docker-registry apache2-utils
	# guest image: kernel build + root filesystems
	linux-source-6.1 patch bc bison flex libelf-dev libssl-dev cpio xz-utils kmod
	busybox-static bash-static debootstrap
)
# E2B SDK end-to-end suite: Node.js and npm (the machine's own, else Debian's)
command -v npm >/dev/null 2>&1 || PKGS+=(nodejs npm)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]} (run as root)" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
