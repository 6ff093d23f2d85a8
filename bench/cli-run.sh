#!/usr/bin/env bash
# `wrenn run -- echo hi` end to end (create, exec, destroy) against a running wrenn-agent.
#   WRENN_API_URL (default http://127.0.0.1:3000), WRENN_API_KEY (or ~/.config/wrenn/key),
#   BENCH_N runs (default 10), WRENN_BUILD (default build/release), WRENN_TEMPLATE (optional).
# Prints: BENCH cli-run-echo <median> ms p95=<p95> n=<N>
set -uo pipefail
cd "$(dirname "$0")/.."
wrenn=${WRENN_BUILD:-build/release}/bin/wrenn
n=${BENCH_N:-10}
url=${WRENN_API_URL:-http://127.0.0.1:3000}
if [ ! -x "$wrenn" ]; then
	echo "cli-run: $wrenn is not built (make ${WRENN_BUILD:-build/release}/bin/wrenn)" >&2
	exit 1
fi
health=$url/health
curl_unix=()
if [[ $url == unix:* ]]; then
	curl_unix=(--unix-socket "${url#unix:}")
	health=http://localhost/health
fi
if ! curl -s -o /dev/null --max-time 5 "${curl_unix[@]}" "$health"; then
	echo "cli-run: no wrenn-agent answers at $url (start one: scripts/run-agent.sh)" >&2
	exit 1
fi
tpl=()
[ -n "${WRENN_TEMPLATE:-}" ] && tpl=(-t "$WRENN_TEMPLATE")
times=()
for ((i = 0; i < n; i++)); do
	t0=$(date +%s%N)
	out=$("$wrenn" -q run "${tpl[@]}" -- echo hi 2>/tmp/cli-run.$$.err)
	rc=$?
	t1=$(date +%s%N)
	if [ $rc -ne 0 ] || [ "$out" != hi ]; then
		echo "cli-run: run $i failed (exit $rc, stdout '$out'): $(cat /tmp/cli-run.$$.err)" >&2
		rm -f /tmp/cli-run.$$.err
		exit 1
	fi
	times+=($(((t1 - t0) / 1000000)))
done
rm -f /tmp/cli-run.$$.err
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(sed -n "$(((n + 1) / 2))p" <<<"$sorted")
p95=$(sed -n "$(((n * 95 + 99) / 100))p" <<<"$sorted")
echo "BENCH cli-run-echo $median ms p95=$p95 n=$n"
