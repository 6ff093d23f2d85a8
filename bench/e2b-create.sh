#!/usr/bin/env bash
# E2B SDK (npm e2b, tests/e2b) Sandbox.create -> first commands.run result, one at a time.  Uses
# the agent at WRENN_API_URL/WRENN_API_KEY (sandbox traffic: E2B_SANDBOX_URL, default
# http://127.0.0.1:3002) when set, else starts a private one (bench/cli-lib.sh).
# Env: BENCH_N runs (default 10), WRENN_BUILD (default build/release), WRENN_GUEST,
# WRENN_TEMPLATE (private agent: minimal; else the SDK's default).
# BENCH_POOL: pool size of the private agent (default 0: cold creates).
# Prints: BENCH e2b-create-first-cmd <median> ms p95=<p95> n=<N>
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=bench/cli-lib.sh
. bench/cli-lib.sh
for c in node npm curl; do
	command -v $c >/dev/null || { echo "e2b-create: needs $c" >&2; exit 1; }
done
(cd tests/e2b && want=$(sha256sum package-lock.json | cut -d' ' -f1) &&
	{ [ "$(cat node_modules/.wrenn-lock.sha256 2>/dev/null)" = "$want" ] ||
		{ npm ci --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null &&
			echo "$want" >node_modules/.wrenn-lock.sha256; }; }) ||
	{ echo "e2b-create: npm ci in tests/e2b failed" >&2; exit 1; }
bench_agent e2b-create || exit 1
if [ -z "${WRENN_API_KEY:-}" ]; then
	echo "e2b-create: set WRENN_API_KEY for the agent at $WRENN_API_URL" >&2
	exit 1
fi
work=$(mktemp -d /tmp/wrenn-bench-e2b.XXXXXX)
trap 'rm -rf "$work"; bench_agent_stop' EXIT
if ! (cd tests/e2b && env -i PATH="$PATH" HOME="${HOME:-/root}" BENCH_N="${BENCH_N:-10}" \
	E2B_API_URL="$WRENN_API_URL" E2B_SANDBOX_URL="$BENCH_SANDBOX_URL" E2B_API_KEY="$WRENN_API_KEY" \
	WRENN_E2B_TEMPLATE="$BENCH_TEMPLATE" timeout 600 node bench-create.mjs) >"$work/t" 2>"$work/err"; then
	echo "e2b-create: $(tail -5 "$work/err")" >&2
	exit 1
fi
bench_stats e2b-create-first-cmd "$work/t"
