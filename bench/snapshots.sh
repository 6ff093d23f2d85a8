#!/usr/bin/env bash
# Snapshot create path under QEMU TCG (this 2-core machine), median of BENCH_RUNS (20):
#   BENCH snap_create_first_echo <p50> ms p95=<x> n=<N>  create from the automatic snapshot
#                                                        template -> first `echo` result via envd,
#                                                        warm pool of 2 (the agent's default; one
#                                                        long-lived runtime, pool refilled between
#                                                        creates as an agent does when idle)
#   BENCH snap_create_first_echo_nowarm ...              same, pool off: every create restores
#   BENCH snap_create_20_concurrent <total> ms n=<ok> cpu=<VMM CPU ms>  20 creates at once, wall
#                                                        time, pool off (CPU: user+sys of the VMMs)
#   BENCH snap_create_20_concurrent_warm2 / _warm20      same with a full warm pool of 2 / 20
#   BENCH snap_create_20_concurrent_second <total> ms n=<ok> first=<ms> refill=<ms>  the agent's
#                                                        default pool (floor 2, adaptive): a first
#                                                        burst of 20 (first=, mostly restores),
#                                                        the pool grows to the burst and refills
#                                                        (refill=), then a second burst of 20
#   BENCH pause_512m / resume_512m <p50> ms p95=<x>        (pause includes the guest sync quiesce)
#   BENCH idle_private_mib <per-sandbox MiB> n=<N> mem=<MiB>  Private_Clean+Private_Dirty of each
#                                                        VMM (smaps_rollup) with N idle sandboxes up
# Env: WRENN_BUILD (build/release), WRENN_GUEST_DIR, BENCH_RUNS (20), BENCH_IDLE_N (50),
#      BENCH_IDLE_MEM (256 MiB guests for the idle test: 50 TCG VMs on 2 cores).
set -uo pipefail
cd "$(dirname "$0")/.."
B=${WRENN_BUILD:-build/release}
# shellcheck source=tests/lib/rt.sh
. tests/lib/rt.sh
runs=${BENCH_RUNS:-20}
idle_n=${BENCH_IDLE_N:-50}
idle_mem=${BENCH_IDLE_MEM:-256}
if [ "$(id -u)" != 0 ] || [ ! -x "$RTCTL" ] || [ ! -r "$GUEST/minimal.ext4" ]; then
	echo "# snapshots.sh: needs root, $RTCTL and $GUEST/minimal.ext4" >&2
	echo "BENCH snap_create_first_echo NaN ms p95=NaN n=0"
	exit 0
fi
rt_init "wbs$$" bench-snap
rt_images_link
rt_cmd --no-reaper --max 128
vmm_cpu_ms() { # user+sys of the live VMMs
	local t=0 s p
	for p in $(pgrep -f -- "$WORK/sandboxes/"); do
		s=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) && t=$((t + s))
	done
	echo $((t * 1000 / $(getconf CLK_TCK)))
}
$RT prewarm minimal >/dev/null 2>>"$WORK/err" || echo "# prewarm failed: $(tail -1 "$WORK/err")" >&2

# Warm pool (agent default 2): one runtime; each create finds the pool refilled.
chain=""
for _ in $(seq 1 "$runs"); do chain="$chain + warm-wait 2 60 + create -t minimal --first-echo + destroy @"; done
$RT --warm 2 prewarm minimal $chain 2>>"$WORK/err" |
	awk '/^cl-/ && $3=="snapshot" {sub("echo=","",$4); print $4}' >"$WORK/w"
echo "# command: $RT --warm 2 prewarm minimal + [warm-wait 2 60 + create -t minimal --first-echo + destroy @] x$runs"
stats snap_create_first_echo "$WORK/w"

: >"$WORK/e" ; : >"$WORK/p" ; : >"$WORK/r"
for _ in $(seq 1 "$runs"); do
	out=$($RT --warm -1 create -t minimal --first-echo + pause-resume @ + destroy @ 2>>"$WORK/err") || continue
	echo "$out" | awk 'NR==1 && $3=="snapshot" {sub("echo=","",$4); print $4}' >>"$WORK/e"
	echo "$out" | awk '$1=="paused" {print $2}' >>"$WORK/p"
	echo "$out" | awk '$1=="resumed" {print $2}' >>"$WORK/r"
done
echo "# command: $RT --warm -1 create -t minimal --first-echo + pause-resume @ + destroy @   (x$runs)"
stats snap_create_first_echo_nowarm "$WORK/e"
stats pause_512m "$WORK/p"
stats resume_512m "$WORK/r"

out=$($RT --warm -1 create -n 20 -t minimal --total 2>>"$WORK/err")
cpu=$(vmm_cpu_ms)
ids=$(echo "$out" | awk '/^cl-/ {print $1}')
echo "# command: $RT --warm -1 create -n 20 -t minimal --total   (cpu: user+sys of the 20 VMMs after it)"
echo "BENCH snap_create_20_concurrent $(echo "$out" | awk '/^created/ {print $6}') ms n=$(echo "$ids" | grep -c '^cl-') cpu=$cpu"
[ -n "$ids" ] && $RT destroy $ids >/dev/null 2>&1
for w in 2 20; do
	out=$($RT --warm $w prewarm minimal + warm-wait $w 120 + create -n 20 -t minimal --total 2>>"$WORK/err")
	ids=$(echo "$out" | awk '/^cl-/ {print $1}')
	echo "# command: $RT --warm $w prewarm minimal + warm-wait $w 120 + create -n 20 -t minimal --total"
	echo "BENCH snap_create_20_concurrent_warm$w $(echo "$out" | awk '/^created/ {print $6}') ms n=$(echo "$ids" | grep -c '^cl-')"
	[ -n "$ids" ] && $RT destroy $ids >/dev/null 2>&1
done

# Adaptive pool, agent defaults: the first burst raises the target, the second finds it ready.
out=$($RT --warm 2 prewarm minimal + warm-wait 2 120 + create -n 20 -t minimal --total \
	+ warm-wait target 180 + create -n 20 -t minimal --total 2>>"$WORK/err")
ids=$(echo "$out" | awk '/^cl-/ {print $1}')
echo "# command: $RT --warm 2 prewarm minimal + warm-wait 2 120 + create -n 20 -t minimal --total + warm-wait target 180 + create -n 20 -t minimal --total"
echo "BENCH snap_create_20_concurrent_second $(echo "$out" | awk '/^created/ {print $6}' | sed -n 2p) ms n=$(echo "$out" | awk '/^created/ {print $2}' | sed -n 2p) first=$(echo "$out" | awk '/^created/ {print $6}' | sed -n 1p) refill=$(echo "$out" | awk '/^warm / {print $3}' | sed -n 2p)"
[ -n "$ids" ] && $RT destroy $ids >/dev/null 2>&1
[ "$idle_n" -gt 0 ] || exit 0
$RT prewarm minimal 1 "$idle_mem" >/dev/null 2>>"$WORK/err"
ids=$($RT create -n "$idle_n" -t minimal -m "$idle_mem" 2>>"$WORK/err" | awk '/^cl-/ {print $1}')
sleep 5
tot=0 cnt=0
for p in $(pgrep -f -- "$WORK/sandboxes/"); do
	kb=$(awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s + 0}' "/proc/$p/smaps_rollup" 2>/dev/null)
	[ -n "$kb" ] && tot=$((tot + kb)) cnt=$((cnt + 1))
done
echo "# command: $RT create -n $idle_n -t minimal -m $idle_mem; sum Private_* of /proc/<vmm>/smaps_rollup"
if [ "$cnt" -gt 0 ]; then
	echo "BENCH idle_private_mib $(awk -v t="$tot" -v c="$cnt" 'BEGIN {printf "%.1f", t / c / 1024}') n=$cnt mem=$idle_mem"
else
	echo "BENCH idle_private_mib NaN n=0 mem=$idle_mem"
fi
[ -n "$ids" ] && $RT destroy $ids >/dev/null 2>&1
[ -s "$WORK/err" ] && grep -v ' info \| debug ' "$WORK/err" | sed 's/^/# /' | tail -5 >&2
exit 0
