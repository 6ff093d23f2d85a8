#!/usr/bin/env bash
# What the control plane adds to E2B's template build API (issue #15): a throwaway PostgreSQL
# (tests/lib/pg.sh), a control plane and one host agent on loopback; the same calls straight to
# the host (its admin key) and through the control plane (admin key, template row in PostgreSQL,
# signed forward), alternating so both see the same machine load.  No VM runs: a requested
# build stays waiting.
#   BENCH scaleout_tpl_request_direct <p50> ms p95=<x> n=<N>     POST /v3/templates
#   BENCH scaleout_tpl_request_via_control <p50> ms ...          (+ name claimed, build recorded)
#   BENCH scaleout_tpl_link_direct <p50> ms ...                  GET /templates/{id}/files/{hash}
#   BENCH scaleout_tpl_link_via_control <p50> ms ...             (+ link rewritten, token recorded)
#   BENCH scaleout_tpl_upload_direct <p50> ms ...                PUT of BENCH_UPLOAD_MB to the link
#   BENCH scaleout_tpl_upload_via_control <p50> ms ...           (+ token taken, body relayed)
#   BENCH scaleout_tpl_status_direct <p50> ms ...                GET .../builds/{id}/status
#   BENCH scaleout_tpl_status_via_control <p50> ms ...
# Env: WRENN_BUILD (build/release), WRENN_GUEST, BENCH_RUNS (10), BENCH_UPLOAD_MB (24).
set -uo pipefail
cd "$(dirname "$0")/.."
B=${WRENN_BUILD:-build/release}
A=$B/bin/wrenn-agent
IMAGES=${WRENN_GUEST:-$(dirname "$B")/guest}
runs=${BENCH_RUNS:-10} mb=${BENCH_UPLOAD_MB:-24}
. tests/lib/pg.sh
names="request link upload status"
na() {
	for x in $names; do
		echo "BENCH scaleout_tpl_${x}_direct NaN ms p95=NaN n=0"
		echo "BENCH scaleout_tpl_${x}_via_control NaN ms p95=NaN n=0"
	done
	exit 0
}
if [ "$(id -u)" != 0 ] || [ ! -x "$A" ] || [ ! -r "$IMAGES/minimal.ext4" ]; then
	echo "# scaleout-templates.sh: needs root, $A and $IMAGES/minimal.ext4" >&2
	na
fi
W=$(mktemp -d /tmp/wrenn-bst.XXXXXX)
CPID= HPID=
cleanup() {
	for p in $HPID $CPID; do kill -TERM "$p" 2>/dev/null; done
	for p in $HPID $CPID; do
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
	done
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^bst-'); do ip netns del "$ns"; done
	rm -rf "$W"
	pg_stop
}
trap cleanup EXIT
pg_start || { echo "# scaleout-templates.sh: no PostgreSQL" >&2; na; }
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PC=$(port) PA=$(port) PP=$(port)
CP=http://127.0.0.1:$PC HA=http://127.0.0.1:$PA
mkdir -p "$W/c" "$W/h"
"$A" --role control --database "$PGURL" --api-listen "127.0.0.1:$PC" --proxy-listen "" \
	--data-dir "$W/c" --log-level warn >/dev/null 2>"$W/c/err" &
CPID=$!
for _ in $(seq 1 100); do curl -sf "$CP/health" >/dev/null && break; sleep 0.1; done
AK=$(cat "$W/c/admin-key")
j=$(curl -s -H "X-API-Key: $AK" -d '{"name":"bench"}' "$CP/v1/hosts")
ID=$(jq -r .id <<<"$j"); jq -r .credential <<<"$j" >"$W/cred"
"$A" --role host --control "$CP" --host-id "$ID" --host-credential-file "$W/cred" --data-dir "$W/h" \
	--images-dir "$IMAGES" --api-listen "127.0.0.1:$PA" --proxy-listen "127.0.0.1:$PP" \
	--ns-prefix bst- --veth-prefix bstv- --nft-table bst --egress-base 10.198.0.0 \
	--default-internet=false --auto-snapshot=false --warm-pool 0 --log-level warn \
	>/dev/null 2>"$W/h/err" &
HPID=$!
for _ in $(seq 1 100); do
	[ "$(curl -s -H "X-API-Key: $AK" "$CP/v1/hosts/$ID" | jq -r .state)" = ready ] && break
	sleep 0.2
done
HK=$(cat "$W/h/admin-key")
head -c $((mb * 1024 * 1024)) /dev/urandom >"$W/blob"
stats() { # name file(ms per line)
	sort -n "$2" | awk -v name="$1" '{v[NR]=$1} END {
		if (NR == 0) { printf "BENCH %s NaN ms p95=NaN n=0\n", name; exit }
		p50 = v[int((NR + 1) / 2)]; i = int(NR * 0.95 + 0.5); if (i < 1) i = 1; if (i > NR) i = NR
		printf "BENCH %s %.2f ms p95=%.2f n=%d\n", name, p50, v[i], NR }'
}
ms() { awk '{print $1 * 1000}'; }
one() { # api key suffix: a request, a files link, an upload, a status poll
	local t bid hash url
	t=$(curl -s -o "$W/out" -w '%{time_total}' -H "X-API-Key: $2" -d "{\"name\":\"bst-$3\"}" "$1/v3/templates")
	echo "$t" | ms >>"$W/request_$4"
	bid=$(jq -r '.buildID // empty' "$W/out")
	hash=$(head -c 32 /dev/urandom | sha256sum | cut -d' ' -f1)
	curl -s -o "$W/out" -w '%{time_total}\n' -H "X-API-Key: $2" "$1/templates/bst-$3/files/$hash" | ms >>"$W/link_$4"
	url=$(jq -r '.url // empty' "$W/out")
	[ -n "$url" ] && curl -s -o /dev/null -w '%{time_total}\n' -X PUT -H 'Expect:' --data-binary @"$W/blob" "$url" |
		ms >>"$W/upload_$4"
	curl -s -o /dev/null -w '%{time_total}\n' -H "X-API-Key: $2" "$1/templates/bst-$3/builds/$bid/status" | ms >>"$W/status_$4"
}
for x in $names; do : >"$W/${x}_direct"; : >"$W/${x}_via"; done
for i in $(seq 1 "$runs"); do
	one "$HA" "$HK" "d$i" direct
	one "$CP" "$AK" "c$i" via
done
echo "# $runs rounds each way (alternating), uploads of $mb MiB, load $(cut -d' ' -f1-3 /proc/loadavg); build $B"
for x in $names; do
	stats "scaleout_tpl_${x}_direct" "$W/${x}_direct"
	stats "scaleout_tpl_${x}_via_control" "$W/${x}_via"
done
