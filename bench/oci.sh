#!/usr/bin/env bash
# Pull + convert of an OCI base image (src/build/oci.c through the test-oci driver): a ~30 MB image
# (busybox-static root + 28 MB of random bytes, so compression cannot shrink it) in a registry on
# loopback; each run starts from an empty cache: skopeo inspect + copy, umoci raw unpack, user and
# guest binaries injected, mkfs.ext4 -d. Then one cache hit.
#   BENCH oci_pull_convert <median> ms p95=<max> n=<N>
#   BENCH oci_cache_hit <ms> ms p95=<ms> n=1
# Env: WRENN_BUILD (default build/release; its tests/test-oci is built when missing),
# WRENN_STATIC_BIN (default <build>/../static/bin), BENCH_RUNS (3), BENCH_MB (28).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
B=${WRENN_BUILD:-build/release}
case $B in /*) ;; *) B=$PWD/$B ;; esac
BINS=${WRENN_STATIC_BIN:-$(dirname "$B")/static/bin}
runs=${BENCH_RUNS:-3}
mb=${BENCH_MB:-28}
# shellcheck source=tests/lib/oci.sh
. tests/lib/oci.sh
[ "$(id -u)" = 0 ] || { echo "bench/oci.sh: needs root (umoci unpack keeps owners)" >&2; exit 1; }
missing=$(oci_missing)
[ -z "$missing" ] || { echo "bench/oci.sh: missing:$missing" >&2; exit 1; }
[ -x "$BINS/envd" ] && [ -x "$BINS/wrenn-init" ] || { echo "bench/oci.sh: $BINS/{envd,wrenn-init} missing (make guest-bins)" >&2; exit 1; }
DRIVER=$B/tests/test-oci
if [ ! -x "$DRIVER" ]; then
	make -s --no-print-directory O="$(dirname "$B")" MODE="$(basename "$B")" "$DRIVER" >/dev/null || exit 1
fi

scratch=$(mktemp -d /var/tmp/wrenn-bench-oci.XXXXXX)
cleanup() {
	oci_registry_stop
	rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

port=$(oci_free_port) || exit 1
oci_image_build "$scratch/img" "$mb" >/dev/null || { echo "bench/oci.sh: image build failed" >&2; exit 1; }
oci_registry_start "$scratch/reg" "$port" || exit 1
oci_push "$scratch/img" "127.0.0.1:$port/bench:1" || { echo "bench/oci.sh: push failed" >&2; exit 1; }
size=$(du -sm "$scratch/img/layout" | cut -f1)

now_ms() { echo $(($(date +%s%N) / 1000000)); }
: >"$scratch/times"
for i in $(seq "$runs"); do
	rm -rf "$scratch/cache"
	sync
	t0=$(now_ms)
	if ! "$DRIVER" prepare "127.0.0.1:$port/bench:1" "$scratch/cache" "$BINS" 0 --insecure >"$scratch/out" 2>&1; then
		echo "bench/oci.sh: run $i: $(cat "$scratch/out")" >&2
		exit 1
	fi
	echo $(($(now_ms) - t0)) >>"$scratch/times"
done
sort -n "$scratch/times" | awk -v size="$size" '{ v[NR] = $1 }
	END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
	      printf "BENCH oci_pull_convert %.0f ms p95=%d n=%d image=%sMB\n", m, v[NR], NR, size }'
t0=$(now_ms)
"$DRIVER" prepare "127.0.0.1:$port/bench:1" "$scratch/cache" "$BINS" 0 --insecure >"$scratch/out" 2>&1 &&
	grep -q '"hit":true' "$scratch/out" || { echo "bench/oci.sh: no cache hit: $(cat "$scratch/out")" >&2; exit 1; }
t=$(($(now_ms) - t0))
echo "BENCH oci_cache_hit $t ms p95=$t n=1"
