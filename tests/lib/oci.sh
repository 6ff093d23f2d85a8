# shellcheck shell=bash
# Shared by tests/integration/73-oci.t and bench/oci.sh (source it from the repo root): a
# registry (Debian's docker-registry) on a loopback port and a small OCI image built here from a
# busybox-static root filesystem. Nothing leaves the machine.

# oci_ci: missing tools fail instead of skipping (scripts/run-tests.sh exports WRENN_CI=1).
oci_ci() { [ -n "${WRENN_CI:-}" ] || { [ -n "${CI:-}" ] && [ "${CI:-}" != false ]; }; }

# oci_missing: the tools these tests need that are not installed (empty when all are).
oci_missing() {
	local t miss=""
	for t in skopeo umoci docker-registry busybox mkfs.ext4 debugfs htpasswd curl ss jq; do
		command -v "$t" >/dev/null || miss="$miss $t"
	done
	echo "$miss"
}

# oci_free_port: a TCP port nothing listens on (loopback).
oci_free_port() {
	local p i
	for i in $(seq 50); do
		p=$((20000 + (RANDOM + i) % 30000))
		if [ -z "$(ss -Htln "sport = :$p")" ]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# oci_registry_start DIR PORT [HTPASSWD]: a registry on 127.0.0.1:PORT keeping its data in DIR,
# with basic auth from HTPASSWD (bcrypt) when given. PIDs collect in OCI_REG_PIDS.
OCI_REG_PIDS=""
oci_registry_start() {
	local dir=$1 port=$2 htp=${3:-} i
	mkdir -p "$dir"
	{
		printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n'
		printf 'storage:\n  filesystem:\n    rootdirectory: %s/data\n' "$dir"
		printf 'http:\n  addr: 127.0.0.1:%s\n' "$port"
		if [ -n "$htp" ]; then
			printf 'auth:\n  htpasswd:\n    realm: wrenn-test\n    path: %s\n' "$htp"
		fi
	} >"$dir/config.yml"
	docker-registry serve "$dir/config.yml" >"$dir/log" 2>&1 &
	OCI_REG_PIDS="$OCI_REG_PIDS $!"
	for i in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$port/v2/" && return 0
		sleep 0.1
	done
	echo "# registry on port $port did not come up: $(head -c 500 "$dir/log")"
	return 1
}

oci_registry_stop() {
	local p
	for p in $OCI_REG_PIDS; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	OCI_REG_PIDS=""
}

# oci_image_build DIR [EXTRA_MB]: OCI layout DIR/layout, tag "test": busybox-static with its
# applets, /srv/hello.txt, EXTRA_MB of random bytes in /srv/blob, and an image config with
# ENV, WORKDIR, USER, ENTRYPOINT and CMD.
oci_image_build() {
	local dir=$1 extra=${2:-0} r=$1/rootfs a
	mkdir -p "$r/bin" "$r/etc" "$r/srv"
	cp /bin/busybox "$r/bin/busybox"
	for a in $("$r/bin/busybox" --list); do
		[ -e "$r/bin/$a" ] || ln -s busybox "$r/bin/$a"
	done
	echo 'root:x:0:0:root:/root:/bin/sh' >"$r/etc/passwd"
	echo 'root:x:0:' >"$r/etc/group"
	echo hello-oci >"$r/srv/hello.txt"
	if [ "$extra" -gt 0 ]; then
		head -c "${extra}M" /dev/urandom >"$r/srv/blob"
	fi
	umoci init --layout "$dir/layout" &&
		umoci new --image "$dir/layout:test" &&
		umoci insert --image "$dir/layout:test" "$r" / >/dev/null &&
		umoci config --image "$dir/layout:test" --config.env PATH=/usr/local/bin:/usr/bin:/bin \
			--config.env GREETING=hi --config.workingdir /srv --config.user root \
			--config.entrypoint /bin/sh --config.entrypoint -c --config.cmd 'echo started'
}

# oci_push DIR DEST [USER:PASS]: the layout's "test" image to docker://DEST (plain HTTP).
oci_push() {
	skopeo --insecure-policy copy --quiet --dest-tls-verify=false ${3:+--dest-creds "$3"} \
		"oci:$1/layout:test" "docker://$2"
}
