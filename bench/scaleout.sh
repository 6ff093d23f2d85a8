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
B=${WRENN_BUILD:-build/release}
A=$B/bin/wrenn-agent
IMAGES=${WRENN_GUEST:-$(dirname "$B")/guest}
runs=${BENCH_RUNS:-6} gets=${BENCH_GETS:-50}
. tests/lib/pg.sh
na() {
	for x in get_direct get_via_control create_direct create_via_control create_overhead_ms \
		envd_direct envd_via_control proxy_overhead_ms; do
		echo "BENCH scaleout_$x NaN ms p95=NaN n=0"
	done
	exit 0
}
if [ "$(id -u)" != 0 ] || [ ! -x "$A" ] || [ ! -r "$IMAGES/minimal.ext4" ]; then
	echo "# scaleout.sh: needs root, $A and $IMAGES/minimal.ext4" >&2
	na
fi
W=$(mktemp -d /tmp/wrenn-bso.XXXXXX)
CPID= HPID=
cleanup() {
	for p in $HPID $CPID; do kill -TERM "$p" 2>/dev/null; done
	for p in $HPID $CPID; do
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	pkill -KILL -f "$W/" 2>/dev/null
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^bso-'); do ip netns del "$ns"; done
	rm -rf "$W"
	pg_stop
}
trap cleanup EXIT
pg_start || { echo "# scaleout.sh: no PostgreSQL" >&2; na; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PC=$(port) PCX=$(port) PA=$(port) PP=$(port)
CP=http://127.0.0.1:$PC HA=http://127.0.0.1:$PA
mkdir -p "$W/c" "$W/h"
"$A" --role control --database "$PGURL" --api-listen "127.0.0.1:$PC" --proxy-listen "127.0.0.1:$PCX" \
	--data-dir "$W/c" --log-level warn >/dev/null 2>"$W/c/err" &
CPID=$!
for _ in $(seq 1 100); do curl -sf "$CP/health" >/dev/null && break; sleep 0.1; done
AK=$(cat "$W/c/admin-key")
j=$(curl -s -H "X-API-Key: $AK" -d '{"name":"bench"}' "$CP/v1/hosts")
ID=$(jq -r .id <<<"$j"); jq -r .credential <<<"$j" >"$W/cred"
"$A" --role host --control "$CP" --host-id "$ID" --host-credential-file "$W/cred" --data-dir "$W/h" \
	--images-dir "$IMAGES" --api-listen "127.0.0.1:$PA" --proxy-listen "127.0.0.1:$PP" \
	--ns-prefix bso- --veth-prefix bsov- --nft-table bso --egress-base 10.199.0.0 \
	--default-internet=false --auto-snapshot=false --warm-pool 0 --log-level warn \
	>/dev/null 2>"$W/h/err" &
HPID=$!
for _ in $(seq 1 100); do
	[ "$(curl -s -H "X-API-Key: $AK" "$CP/v1/hosts/$ID" | jq -r .state)" = ready ] && break
	sleep 0.2
done
HK=$(cat "$W/h/admin-key")
stats() { # name file(ms per line)
	sort -n "$2" | awk -v name="$1" '{v[NR]=$1} END {
		if (NR == 0) { printf "BENCH %s NaN ms p95=NaN n=0\n", name; exit }
		p50 = v[int((NR + 1) / 2)]; i = int(NR * 0.95 + 0.5); if (i < 1) i = 1; if (i > NR) i = NR
		printf "BENCH %s %.2f ms p95=%.2f n=%d\n", name, p50, v[i], NR }'
}
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
