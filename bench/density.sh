#!/usr/bin/env bash
# Density: BENCH_DENSITY_N (default 300) idle sandboxes (minimal template, 256 MiB guests) up at
# once behind one wrenn-agent, then:
#   BENCH idle_300_private_mib <MiB> n=<up> total=<MiB>   host private memory per idle sandbox
#                               (Private_Clean + Private_Dirty of each VMM, smaps_rollup)
#   BENCH idle_300_cpu_pct <pct of one core> n=<up>       idle CPU per sandbox over 20 s (VMM
#                               utime + stime)
#   BENCH idle_300_exec_max <ms> p50=<ms> n=<ok>           an exec (`true` through the agent's
#                               /v1 exec) in every sandbox while all are up: the slowest, the median
# (the names keep "300" whatever N is; n= says how many were up).  Uses a private agent
# (bench/cli-lib.sh) with --max-sandboxes N+8 and the default warm pool.
# Env: BENCH_DENSITY_N, BENCH_DENSITY_PAR (parallel creates, default 4), WRENN_BUILD, WRENN_GUEST.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
N=${BENCH_DENSITY_N:-300}
PAR=${BENCH_DENSITY_PAR:-4}
# shellcheck source=bench/cli-lib.sh
. bench/cli-lib.sh
for c in curl jq xargs; do
	command -v $c >/dev/null || { echo "density: needs $c" >&2; exit 1; }
done
unset WRENN_API_URL # always a private agent: it must hold N sandboxes and nothing else
BENCH_MAX_SANDBOXES=$((N + 8)) bench_agent density || exit 1
work=$(mktemp -d /tmp/wrenn-bench-density.XXXXXX)
trap 'rm -rf "$work"; bench_agent_stop' EXIT
H=(-H "X-API-Key: $WRENN_API_KEY")
export WRENN_API_URL WRENN_API_KEY
create_one() {
	curl -s -H "X-API-Key: $WRENN_API_KEY" -H 'Content-Type: application/json' \
		-d '{"template":"minimal","memoryMB":256,"timeout":3600}' "$WRENN_API_URL/v1/sandboxes" |
		jq -r '.id // .sandboxID // empty'
}
export -f create_one
# steady state: the 256 MiB automatic snapshot exists before the burst (a create that boots
# touches all its RAM; restored ones share the snapshot's clean pages)
id=$(create_one)
[ -n "$id" ] && curl -s -o /dev/null -X DELETE "${H[@]}" "$WRENN_API_URL/v1/sandboxes/$id"
for _ in $(seq 1 240); do
	grep -q 'auto snapshot auto-minimal-1c-256m.* ready' "$BENCH_DATA/agent.err" && break
	sleep 0.5
done
grep -o 'auto snapshot .*' "$BENCH_DATA/agent.err" | sed 's/^/# /'
t0=$(date +%s)
seq 1 "$N" | xargs -P "$PAR" -I{} bash -c create_one >"$work/ids" 2>/dev/null
up=$(grep -c '^cl-' "$work/ids")
echo "# create paths: $(grep -o 'MiB, [a-z]* path' "$BENCH_DATA/agent.err" | sort | uniq -c | tr -s ' ' | paste -sd,)"
echo "# command: $N x POST /v1/sandboxes {template: minimal, memoryMB: 256} ($PAR at once): $up up in $(($(date +%s) - t0)) s"
sleep 10
pids=$(pgrep -f -- "$BENCH_DATA/agent/sandboxes/")
tot=0 cnt=0
for p in $pids; do
	kb=$(awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s + 0}' "/proc/$p/smaps_rollup" 2>/dev/null)
	[ -n "$kb" ] && tot=$((tot + kb)) cnt=$((cnt + 1))
done
cpu_ticks() {
	local t=0 s p
	for p in $pids; do
		s=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) && t=$((t + s))
	done
	echo "$t"
}
c0=$(cpu_ticks)
sleep 20
c1=$(cpu_ticks)
echo "# command: sum Private_* of /proc/<vmm>/smaps_rollup; VMM utime+stime over 20 s idle"
if [ "$cnt" -gt 0 ]; then
	echo "BENCH idle_300_private_mib $(awk -v t="$tot" -v c="$cnt" 'BEGIN {printf "%.1f", t / c / 1024}') n=$cnt total=$((tot / 1024))"
	echo "BENCH idle_300_cpu_pct $(awk -v d=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v c="$cnt" 'BEGIN {printf "%.3f", d / hz / 20 * 100 / c}') n=$cnt"
else
	echo "BENCH idle_300_private_mib NaN n=0"
	echo "BENCH idle_300_cpu_pct NaN n=0"
fi
: >"$work/t"
while read -r id; do
	r=$(curl -s -o "$work/x" -w '%{http_code} %{time_total}' "${H[@]}" -d '{"cmd":["true"]}' \
		"$WRENN_API_URL/v1/sandboxes/$id/exec")
	[ "${r%% *}" = 200 ] && awk -v s="${r#* }" 'BEGIN { printf "%.0f\n", s * 1000 }' >>"$work/t"
done <"$work/ids"
echo "# command: POST /v1/sandboxes/<id>/exec {cmd: [true]} in each, one after another, all up"
sort -n "$work/t" | awk '{v[NR]=$1} END {
	if (NR == 0) { print "BENCH idle_300_exec_max NaN ms p50=NaN n=0"; exit }
	m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
	printf "BENCH idle_300_exec_max %d ms p50=%.0f n=%d\n", v[NR], m, NR }'
xargs -P 8 -I{} curl -s -o /dev/null -X DELETE "${H[@]}" "$WRENN_API_URL/v1/sandboxes/{}" <"$work/ids"
exit 0
