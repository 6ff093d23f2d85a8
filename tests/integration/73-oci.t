#!/usr/bin/env bash
# OCI images as a template base (src/build/oci.c) against registries on loopback only: an image
# built here (busybox-static root, a file, ENV/WORKDIR/USER/ENTRYPOINT/CMD) is pushed to Debian's
# docker-registry, then oci_image_prepare (through the test-oci driver) pulls, unpacks and turns it
# into an ext4 with wrenn-init, envd and the `user` account; the second prepare is a cache hit;
# unknown images, unreachable registries and missing/wrong credentials give errors naming the
# registry; the image boots under wrenn-rtctl and answers a command through envd.
set -u
cd "$(dirname "$0")/../.."
PLAN=10
# shellcheck source=tests/lib/rt.sh
. tests/lib/rt.sh
# shellcheck source=tests/lib/oci.sh
. tests/lib/oci.sh
GUEST=${WRENN_GUEST:-$GUEST}
DRIVER=$B/tests/test-oci
BINS=${WRENN_STATIC_BIN:-$(dirname "$B")/static/bin}
rt_init "wt73$$" 73oci data
oci_cleanup() {
	oci_registry_stop
	rt_cleanup
}
trap oci_cleanup EXIT
OUT=$WORK/out ERR=$WORK/err
echo "1..$PLAN"

[ "$(id -u)" = 0 ] || skip_rest "needs root (umoci unpack keeps owners, mkfs.ext4 -d)"
missing=$(oci_missing)
[ -x "$DRIVER" ] || missing="$missing $DRIVER(make unit-bins)"
[ -x "$BINS/envd" ] && [ -x "$BINS/wrenn-init" ] || missing="$missing $BINS/{envd,wrenn-init}(make guest-bins)"
if [ -n "$missing" ]; then
	if oci_ci; then
		echo "not ok 1 - missing:$missing"
		exit 1
	fi
	skip_rest "missing:$missing"
fi

# 1: an image of our own, in a plain registry and in one with basic auth.
PORT=$(oci_free_port)
PPORT=$(oci_free_port)
DEAD=$(oci_free_port)
htpasswd -Bbn alice 's3cret!' >"$WORK/htpasswd" 2>/dev/null
if oci_image_build "$WORK/img" >"$OUT" 2>"$ERR" &&
	oci_registry_start "$WORK/reg" "$PORT" && oci_registry_start "$WORK/preg" "$PPORT" "$WORK/htpasswd" &&
	oci_push "$WORK/img" "127.0.0.1:$PORT/test:1" >>"$OUT" 2>>"$ERR" &&
	oci_push "$WORK/img" "127.0.0.1:$PPORT/priv:1" 'alice:s3cret!' >>"$OUT" 2>>"$ERR"; then
	ok "image built (umoci) and pushed to registries on 127.0.0.1:$PORT and :$PPORT (auth)"
else
	nok "image build and push" "$(cat "$OUT" "$ERR")"
	skip_rest "no image"
fi

prepare() { "$DRIVER" prepare "$1" "$2" "$BINS" 0 --insecure "${@:3}"; }
jq_() { jq -r "$1"; }

# 2: a fresh pull: config as the image has it.
CACHE=$WORK/cache
if prepare "127.0.0.1:$PORT/test:1" "$CACHE" >"$OUT" 2>"$ERR" &&
	[ "$(jq_ .hit <"$OUT")" = false ] &&
	[ "$(jq -cS .config <"$OUT")" = \
		'{"Cmd":["echo started"],"Entrypoint":["/bin/sh","-c"],"Env":["PATH=/usr/local/bin:/usr/bin:/bin","GREETING=hi"],"User":"root","WorkingDir":"/srv"}' ] &&
	grep -q '"digest":"sha256:[0-9a-f]\{64\}"' "$OUT"; then
	ok "pulled and converted: $(jq_ '.digest[:19]' <"$OUT")..., config Env/WorkingDir/User/Entrypoint/Cmd returned"
else
	nok "fresh prepare" "$(cat "$OUT" "$ERR")"
fi
IMG=$(jq_ .rootfs <"$OUT" 2>/dev/null)

# 3: what the ext4 holds (read with debugfs: no mount).
dbg() { debugfs -R "$1" "$IMG" 2>/dev/null; }
check_ext4() {
	local f
	[ -f "$IMG" ] || { echo "no image $IMG"; return 1; }
	e2fsck -fn "$IMG" >/dev/null 2>&1 || { echo "e2fsck found errors"; return 1; }
	for f in wrenn-init envd; do
		dbg "dump /usr/local/bin/$f $WORK/$f.out" >/dev/null
		cmp -s "$WORK/$f.out" "$BINS/$f" || { echo "/usr/local/bin/$f differs"; return 1; }
		dbg "stat /usr/local/bin/$f" | grep -q 'Mode:  0755' || { echo "$f mode"; return 1; }
	done
	dbg 'cat /etc/passwd' | grep -qx 'user:x:1000:1000:user:/home/user:/bin/sh' || { echo "passwd: $(dbg 'cat /etc/passwd')"; return 1; }
	dbg 'cat /etc/group' | grep -qx 'user:x:1000:' || { echo "group"; return 1; }
	dbg 'stat /home/user' | grep -q 'User:  1000   Group:  1000' || { echo "home: $(dbg 'stat /home/user' | head -3)"; return 1; }
	[ "$(dbg 'cat /srv/hello.txt')" = hello-oci ] || { echo "hello.txt"; return 1; }
	[ "$(dbg 'cat /etc/hostname')" = capsule ] || { echo "hostname"; return 1; }
	dbg 'ls /' | grep -q proc || { echo "no /proc"; return 1; }
}
if msg=$(check_ext4); then
	ok "ext4: wrenn-init and envd (0755, same bytes), user 1000 in passwd/group, /home/user owned by it, image files, fsck clean"
else
	nok "ext4 contents" "$msg"
fi

# 4: the second prepare is a cache hit; no temp dirs left.
t0=$(date +%s%N)
if prepare "127.0.0.1:$PORT/test:1" "$CACHE" >"$OUT" 2>"$ERR" && [ "$(jq_ .hit <"$OUT")" = true ] &&
	[ "$(jq_ .rootfs <"$OUT")" = "$IMG" ] && [ -z "$(find "$CACHE" -maxdepth 1 -name '.tmp-*')" ] &&
	[ "$(find "$CACHE" -mindepth 1 -maxdepth 1 | wc -l)" = 1 ]; then
	ok "second prepare is a cache hit ($(( ($(date +%s%N) - t0) / 1000000 )) ms), one entry, no temp dirs"
else
	nok "cache hit" "$(cat "$OUT" "$ERR"; ls -la "$CACHE")"
fi

# 5: an image the registry does not have.
if ! prepare "127.0.0.1:$PORT/nope:1" "$CACHE" >"$OUT" 2>"$ERR" &&
	grep -q "^pull 127.0.0.1:$PORT/nope:1 from registry 127.0.0.1:$PORT: .*manifest unknown" "$ERR" &&
	[ "$(find "$CACHE" -mindepth 1 -maxdepth 1 | wc -l)" = 1 ]; then
	ok "unknown image: $(cat "$ERR")"
else
	nok "unknown image error" "$(cat "$OUT" "$ERR")"
fi

# 6: a registry nobody answers for.
if ! prepare "127.0.0.1:$DEAD/x:1" "$CACHE" >"$OUT" 2>"$ERR" &&
	grep -q "^pull 127.0.0.1:$DEAD/x:1 from registry 127.0.0.1:$DEAD: .*connection refused" "$ERR"; then
	ok "unreachable registry: $(cat "$ERR")"
else
	nok "unreachable registry error" "$(cat "$OUT" "$ERR")"
fi

# 7-8: credentials: refused without or with wrong ones, pulled with the right ones.
PCACHE=$WORK/pcache
if ! prepare "127.0.0.1:$PPORT/priv:1" "$PCACHE" >"$OUT" 2>"$ERR" &&
	grep -q "^pull 127.0.0.1:$PPORT/priv:1 from registry 127.0.0.1:$PPORT: .*unauthorized" "$ERR" &&
	! prepare "127.0.0.1:$PPORT/priv:1" "$PCACHE" --creds 'alice:wrong' >>"$OUT" 2>"$WORK/err2" &&
	grep -q "unauthorized" "$WORK/err2"; then
	ok "private registry: no credentials and wrong ones refused ($(cat "$ERR"))"
else
	nok "private registry refusal" "$(cat "$OUT" "$ERR" "$WORK/err2" 2>/dev/null)"
fi
if prepare "127.0.0.1:$PPORT/priv:1" "$PCACHE" --creds 'alice:s3cret!' >"$OUT" 2>"$ERR" &&
	[ "$(jq_ .hit <"$OUT")" = false ] && [ -f "$(jq_ .rootfs <"$OUT")" ]; then
	ok "private registry: pulled with credentials"
else
	nok "private registry pull" "$(cat "$OUT" "$ERR")"
fi

# 9: the same image again, 0 MiB meaning "fits the tree": small images stay small.
size=$(stat -c %s "$IMG" 2>/dev/null || echo 0)
if [ "$size" -gt $((64 << 20)) ] && [ "$size" -lt $((512 << 20)) ]; then
	ok "automatic size: $((size >> 20)) MiB (sparse, $(du -m "$IMG" | cut -f1) MiB used) for a ~2 MiB image"
else
	nok "automatic size" "size=$size"
fi

# 10: the produced image boots (wrenn-rtctl, QEMU) and runs a command through envd.
if [ ! -x "$RTCTL" ] || ! command -v qemu-system-x86_64 >/dev/null || [ ! -r "$GUEST/vmlinux" ]; then
	if oci_ci; then
		nok "boot" "needs $RTCTL, qemu-system-x86_64 and $GUEST/vmlinux"
	else
		skip "boot needs $RTCTL, qemu-system-x86_64 and $GUEST/vmlinux"
	fi
else
	# The runtime boots <images>/<built-in name>.ext4: the OCI image stands in as "minimal".
	mkdir -p "$DATA/images"
	ln -s "$IMG" "$DATA/images/minimal.ext4"
	ln -s "$(realpath "$GUEST/vmlinux")" "$DATA/images/vmlinux"
	rt_cmd --envd-timeout 120000 --no-reaper
	if timeout 600 $RT create -t minimal + exec @ /bin/cat /srv/hello.txt + exec @ /bin/sh -c 'id user; stat -c %u /home/user' \
		+ destroy @ >"$OUT" 2>"$ERR" && grep -qx hello-oci "$OUT" && grep -q '^uid=1000(user) gid=1000(user)' "$OUT" &&
		grep -qx 1000 "$OUT"; then
		ok "the OCI image boots and answers through envd ($(head -1 "$OUT"))"
	else
		nok "boot of the OCI image" "$(cat "$OUT" "$ERR" | tail -20)"
	fi
fi
exit $fail
