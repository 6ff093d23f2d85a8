#!/usr/bin/env bash
# What the control plane adds (issue #15): a throwaway PostgreSQL (tests/lib/pg.sh), a control
# plane and one host agent on loopback; the same requests straight to the host and through the
# control plane (admin key, scheduling, placement in PostgreSQL, forwarding):
#   BENCH scaleout_get_direct <p50> ms p95=<x> n=<N>         GET /sandboxes/{id} on the host
#   BENCH scaleout_get_via_control <p50> ms p95=<x> n=<N>    the same through the control plane
#   BENCH scaleout_create_direct <p50> ms p95=<x> n=<N>      E2B create (minimal, boot path)
#   BENCH scaleout_create_via_control <p50> ms p95=<x> n=<N>
#   BENCH scaleout_create_overhead_ms <p50> ms p95=<x> n=<N>  per create through the control
#         plane: what the client waited minus the host's part (its Server-Timing host;dur=),
#         i.e. admin key, scheduling, placement in PostgreSQL, the relay; exact per create where
#         the difference of create medians drowns in TCG boot noise
#   BENCH scaleout_envd_direct <p50> ms ...           envd GET /health via the host's proxy
#   BENCH scaleout_envd_via_control <p50> ms ...      the same via the control plane's proxy
#   BENCH scaleout_proxy_overhead_ms <d> ms n=<N>     difference of those two medians
# Env: WRENN_BUILD (build/release), WRENN_GUEST, BENCH_RUNS (creates, 6), BENCH_GETS (50).
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${BENCH_RUNS:-6} gets=${BENCH_GETS:-50}
# shellcheck source=bench/scaleout-lib.sh
. bench/scaleout-lib.sh
na() {
	for x in get_direct get_via_control create_direct create_via_control create_overhead_ms \
		envd_direct envd_via_control proxy_overhead_ms; do
		echo "BENCH scaleout_$x NaN ms p95=NaN n=0"
	done
	exit 0
}
bso_setup scaleout.sh bso 10.199.0.0 yes
create() { # api key file-for-ms [file-for-overhead-ms] -> sandbox id
	local t host
	t=$(curl -s -o "$W/out" -D "$W/hdr" -w '%{time_total}' -H "X-API-Key: $2" -H 'Content-Type: application/json' \
		-d '{"templateID":"minimal","timeout":300}' "$1/sandboxes")
	awk -v t="$t" 'BEGIN {print t * 1000}' >>"$3"
	host=$(sed -n 's/^[Ss]erver-[Tt]iming: host;dur=\([0-9.]*\).*/\1/p' "$W/hdr")
	[ -n "${4:-}" ] && [ -n "$host" ] && awk -v t="$t" -v h="$host" 'BEGIN {print t * 1000 - h}' >>"$4"
	jq -r '.sandboxID // empty' "$W/out"
}
: >"$W/cd"; : >"$W/cc"; : >"$W/co"
for _ in $(seq 1 "$runs"); do # alternate, so both see the same machine load
	s=$(create "$HA" "$HK" "$W/cd"); [ -n "$s" ] && curl -s -o /dev/null -X DELETE -H "X-API-Key: $HK" "$HA/sandboxes/$s"
	s=$(create "$CP" "$AK" "$W/cc" "$W/co"); [ -n "$s" ] && curl -s -o /dev/null -X DELETE -H "X-API-Key: $AK" "$CP/sandboxes/$s"
done
S=$(create "$CP" "$AK" /dev/null)
: >"$W/gd"; : >"$W/gc"; : >"$W/ed"; : >"$W/ec"
for _ in $(seq 1 "$gets"); do
	curl -s -o /dev/null -w '%{time_total}\n' -H "X-API-Key: $HK" "$HA/sandboxes/$S" | awk '{print $1 * 1000}' >>"$W/gd"
	curl -s -o /dev/null -w '%{time_total}\n' -H "X-API-Key: $AK" "$CP/sandboxes/$S" | awk '{print $1 * 1000}' >>"$W/gc"
	# a proxied envd request, straight to the host's proxy and through the control plane's
	curl -s -o /dev/null -w '%{time_total}\n' -H "E2b-Sandbox-Id: $S" "http://127.0.0.1:$PP/health" | awk '{print $1 * 1000}' >>"$W/ed"
	curl -s -o /dev/null -w '%{time_total}\n' -H "E2b-Sandbox-Id: $S" "http://127.0.0.1:$PCX/health" | awk '{print $1 * 1000}' >>"$W/ec"
done
echo "# $runs creates each way (alternating), $gets GETs each way; build $B"
stats scaleout_get_direct "$W/gd"
stats scaleout_get_via_control "$W/gc"
stats scaleout_create_direct "$W/cd"
stats scaleout_create_via_control "$W/cc"
stats scaleout_create_overhead_ms "$W/co"
stats scaleout_envd_direct "$W/ed"
stats scaleout_envd_via_control "$W/ec"
med() { sort -n "$1" | awk '{v[NR]=$1} END {if (NR) print v[int((NR + 1) / 2)]; else print "NaN"}'; }
awk -v a="$(med "$W/ec")" -v b="$(med "$W/ed")" -v n="$(wc -l <"$W/ec")" \
	'BEGIN {if (a == "NaN" || b == "NaN") print "BENCH scaleout_proxy_overhead_ms NaN ms n=0"; else printf "BENCH scaleout_proxy_overhead_ms %.2f ms n=%d\n", a - b, n}' 
