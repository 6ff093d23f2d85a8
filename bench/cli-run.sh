#!/usr/bin/env bash
# `wrenn run -- echo hi` end to end (create, exec, destroy), one at a time.  Uses the agent at
# WRENN_API_URL (+ WRENN_API_KEY or ~/.config/wrenn/key) when set, else starts a private one
# (bench/cli-lib.sh).  Env: BENCH_N runs (default 10), WRENN_BUILD (default build/release),
# WRENN_GUEST, WRENN_TEMPLATE (private agent: minimal; else the server's default).
# BENCH_POOL: pool size of the private agent (default 0: cold creates).
# Prints: BENCH cli-run-echo <median> ms p95=<p95> n=<N>
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=bench/cli-lib.sh
. bench/cli-lib.sh
wrenn=${WRENN_BUILD:-build/release}/bin/wrenn
n=${BENCH_N:-10}
if [ ! -x "$wrenn" ]; then
	echo "cli-run: $wrenn is not built (make ${WRENN_BUILD:-build/release}/bin/wrenn)" >&2
	exit 1
fi
bench_agent cli-run || exit 1
health=$WRENN_API_URL/health
curl_unix=()
if [[ $WRENN_API_URL == unix:* ]]; then
	curl_unix=(--unix-socket "${WRENN_API_URL#unix:}")
	health=http://localhost/health
fi
if ! curl -s -o /dev/null --max-time 5 "${curl_unix[@]}" "$health"; then
	echo "cli-run: no wrenn-agent answers at $WRENN_API_URL" >&2
	exit 1
fi
tpl=()
[ -n "$BENCH_TEMPLATE" ] && tpl=(-t "$BENCH_TEMPLATE")
work=$(mktemp -d /tmp/wrenn-bench-cli-run.XXXXXX)
trap 'rm -rf "$work"; bench_agent_stop' EXIT
for ((i = 0; i < n; i++)); do
	t0=$(date +%s%N)
	out=$("$wrenn" -q run "${tpl[@]}" -- echo hi 2>"$work/err")
	rc=$?
	t1=$(date +%s%N)
	if [ $rc -ne 0 ] || [ "$out" != hi ]; then
		echo "cli-run: run $i failed (exit $rc, stdout '$out'): $(cat "$work/err")" >&2
		exit 1
	fi
	echo $(((t1 - t0) / 1000000)) >>"$work/t"
done
bench_stats cli-run-echo "$work/t"
