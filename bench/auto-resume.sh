#!/usr/bin/env bash
# First proxied request to a paused sandbox created with E2B's lifecycle autoResume: the request
# waits while the proxy resumes the sandbox, then is answered by envd.  One sandbox, paused and
# woken BENCH_N times (default 10).  Uses the agent at WRENN_API_URL/WRENN_API_KEY (traffic:
# E2B_SANDBOX_URL) when set, else starts a private one (bench/cli-lib.sh).
# Prints: BENCH auto_resume_first_request <median> ms p95=<p95> n=<N>
#         (wall time of `GET /health` on envd's port through the proxy, from a paused sandbox)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=bench/cli-lib.sh
. bench/cli-lib.sh
for c in curl jq; do
	command -v $c >/dev/null || { echo "auto-resume: needs $c" >&2; exit 1; }
done
bench_agent auto-resume || exit 1
work=$(mktemp -d /tmp/wrenn-bench-ar.XXXXXX)
ID=''
done_() {
	[ -n "$ID" ] && curl -s -o /dev/null -X DELETE -H "X-API-Key: $WRENN_API_KEY" "$WRENN_API_URL/sandboxes/$ID"
	rm -rf "$work"
	bench_agent_stop
}
trap done_ EXIT
H=(-H "X-API-Key: $WRENN_API_KEY" -H 'Content-Type: application/json')
body=$(jq -nc --arg t "${BENCH_TEMPLATE:-base}" \
	'{templateID: $t, timeout: 600, autoPause: true, autoResume: {enabled: true}}')
ID=$(curl -s "${H[@]}" -d "$body" "$WRENN_API_URL/sandboxes" | jq -r '.sandboxID // empty')
if [ -z "$ID" ]; then
	echo "auto-resume: create failed" >&2
	exit 1
fi
echo "# command: [POST /sandboxes/$ID/pause; time GET $BENCH_SANDBOX_URL/health (E2b-Sandbox-Id, port 49983)] x${BENCH_N:-10}"
for _ in $(seq 1 "${BENCH_N:-10}"); do
	c=$(curl -s -o /dev/null -w '%{http_code}' -X POST "${H[@]}" "$WRENN_API_URL/sandboxes/$ID/pause")
	if [ "$c" != 204 ]; then
		echo "auto-resume: pause answered $c" >&2
		continue
	fi
	t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -H "E2b-Sandbox-Id: $ID" \
		-H 'E2b-Sandbox-Port: 49983' "$BENCH_SANDBOX_URL/health")
	if [ "${t%% *}" = 204 ]; then
		awk -v s="${t#* }" 'BEGIN { printf "%.0f\n", s * 1000 }' >>"$work/t"
	else
		echo "auto-resume: first request answered ${t%% *}" >&2
	fi
done
bench_stats auto_resume_first_request "$work/t"
