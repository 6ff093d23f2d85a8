#!/usr/bin/env bash
# Cold create -> envd ready (runtime_create returns after envd accepted
# /init), one at a time, QEMU under TCG here; prints
#   BENCH create_cold_tcg <median> ms p95=<x> n=<N>
#   BENCH pause_512m <median> ms p95=<x> n=<N>     (pause = snapshot + VMM stop)
#   BENCH resume_512m <median> ms p95=<x> n=<N>    (restore + envd /init)
#   BENCH create_snapshot_tcg <median> ms p95=<x> n=<N>  (snapshot template -> envd /init accepted)
#   BENCH create_snapshot_20_concurrent <total> ms          (20 creates at once, wall time)
# Env: WRENN_BUILD (default build/release), WRENN_GUEST_DIR (default <build>/../guest), BENCH_RUNS (10).
set -uo pipefail
cd "$(dirname "$0")/.."
B=${WRENN_BUILD:-build/release}
# shellcheck source=tests/lib/rt.sh
. tests/lib/rt.sh
runs=${BENCH_RUNS:-10}
if [ "$(id -u)" != 0 ] || [ ! -x "$RTCTL" ] || [ ! -r "$GUEST/minimal.ext4" ]; then
	echo "# create.sh: needs root, $RTCTL and $GUEST/minimal.ext4" >&2
	echo "BENCH create_cold_tcg NaN ms p95=NaN n=0"
	exit 0
fi
rt_init "wb$$" bench-create
rt_images_link
rt_cmd --no-reaper --no-auto-snapshot
: >"$WORK/c" ; : >"$WORK/p" ; : >"$WORK/r"
for _ in $(seq 1 "$runs"); do
	# one process per round: create (timed inside runtime_create), pause, resume, destroy
	out=$($RT create -t minimal + pause-resume @ + destroy @ 2>>"$WORK/err") || continue
	echo "$out" | awk 'NR==1 {print $2}' >>"$WORK/c"
	echo "$out" | awk '$1=="paused" {print $2}' >>"$WORK/p"
	echo "$out" | awk '$1=="resumed" {print $2}' >>"$WORK/r"
done
: >"$WORK/s"
if $RT template-build bsnap minimal >/dev/null 2>>"$WORK/err"; then
	for _ in $(seq 1 "$runs"); do
		$RT create -t bsnap + destroy @ 2>>"$WORK/err" | awk 'NR==1 {print $2}' >>"$WORK/s"
	done
	t0=$(date +%s%N)
	ids=$($RT create -n 20 -t bsnap 2>>"$WORK/err" | awk '/^cl-/ {print $1}')
	t1=$(date +%s%N)
	nc=$(echo "$ids" | grep -c '^cl-')
	$RT destroy $ids >/dev/null 2>&1
	$RT template-delete bsnap 2>>"$WORK/err"
fi
[ -s "$WORK/err" ] && sed 's/^/# /' "$WORK/err" | tail -5 >&2
echo "# command: $RT create -t minimal + pause-resume @ + destroy @   (x$runs)"
stats create_cold_tcg "$WORK/c"
stats pause_512m "$WORK/p"
stats resume_512m "$WORK/r"
echo "# command: $RT template-build bsnap minimal; $RT create -t bsnap + destroy @   (x$runs)"
stats create_snapshot_tcg "$WORK/s"
if [ -n "${t1:-}" ]; then
	echo "BENCH create_snapshot_20_concurrent $(((t1 - t0) / 1000000)) ms n=$nc"
fi
