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
runs=${BENCH_RUNS:-10} mb=${BENCH_UPLOAD_MB:-24}
# shellcheck source=bench/scaleout-lib.sh
. bench/scaleout-lib.sh
names="request link upload status"
na() {
	for x in $names; do
		echo "BENCH scaleout_tpl_${x}_direct NaN ms p95=NaN n=0"
		echo "BENCH scaleout_tpl_${x}_via_control NaN ms p95=NaN n=0"
	done
	exit 0
}
bso_setup scaleout-templates.sh bst 10.198.0.0 no
head -c $((mb * 1024 * 1024)) /dev/urandom >"$W/blob"
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
