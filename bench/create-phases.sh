#!/usr/bin/env bash
# Where a pool-missing create's time goes (QEMU TCG, warm pool off), median of BENCH_RUNS (20) creates
# from the automatic snapshot template of `minimal`, each in its own wrenn-rtctl process, read from
# the create's log line ("created ID from T (...) in N ms: prep a, slot b, disk c, vmm d, restore e,
# envd f, init g", src/runtime/create.c):
#   BENCH create_phase_total <p50> ms p95=<x> n=<N>      runtime_create, first step -> running
#   BENCH create_phase_<prep|slot|disk|vmm|restore|envd|init> <p50> ms p95=<x> n=<N>
#   BENCH create_phase_first_echo <p50> ms p95=<x> n=<N> create start -> first `echo` result via envd
# Env: WRENN_BUILD (build/release), WRENN_GUEST_DIR, BENCH_RUNS (20).
set -uo pipefail
cd "$(dirname "$0")/.."
B=${WRENN_BUILD:-build/release}
# shellcheck source=tests/lib/rt.sh
. tests/lib/rt.sh
runs=${BENCH_RUNS:-20}
phases="prep slot disk vmm restore envd init"
if [ "$(id -u)" != 0 ] || [ ! -x "$RTCTL" ] || [ ! -r "$GUEST/minimal.ext4" ]; then
	echo "# create-phases.sh: needs root, $RTCTL and $GUEST/minimal.ext4" >&2
	echo "BENCH create_phase_total NaN ms p95=NaN n=0"
	exit 0
fi
rt_init "wbp$$" bench-phases
rt_images_link
rt_cmd --no-reaper
export WRENN_LOG=info
$RT prewarm minimal >/dev/null 2>>"$WORK/err" || echo "# prewarm failed: $(tail -1 "$WORK/err")" >&2
: >"$WORK/log"
: >"$WORK/echo"
for _ in $(seq 1 "$runs"); do
	out=$($RT --warm -1 create -t minimal --first-echo + destroy @ 2>>"$WORK/log") || continue
	echo "$out" | awk 'NR==1 && $3=="snapshot" {sub("echo=","",$4); print $4}' >>"$WORK/echo"
done
echo "# command: WRENN_LOG=info $RT --warm -1 create -t minimal --first-echo + destroy @   (x$runs)"
# "... in 312 ms: prep 1, slot 3, ..." -> one file per phase
grep -E 'created cl-[a-z0-9]+ from minimal \(.*snapshot path\) in ' "$WORK/log" >"$WORK/lines"
[ -s "$WORK/lines" ] || echo "# no create log line; last error: $(tail -1 "$WORK/log")" >&2
sed -E 's/.* in ([0-9]+) ms: .*/\1/' "$WORK/lines" >"$WORK/total"
stats create_phase_total "$WORK/total"
for p in $phases; do
	sed -nE "s/.*[:,] $p ([0-9]+)(,.*|$)/\\1/p" "$WORK/lines" >"$WORK/ph-$p"
	stats "create_phase_$p" "$WORK/ph-$p"
done
stats create_phase_first_echo "$WORK/echo"
