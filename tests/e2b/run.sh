#!/usr/bin/env bash
# E2B SDK end-to-end suite against a running wrenn-agent.  Starts nothing itself:
#   E2B_API_URL=http://127.0.0.1:3000 E2B_SANDBOX_URL=http://127.0.0.1:3002 \
#   E2B_API_KEY=e2b_... tests/e2b/run.sh [node --test args...]
# Optional: WRENN_E2B_TEMPLATE (default base), WRENN_E2B_REPORTER (default tap).
# Ends with node's test summary (# pass / # fail).
set -euo pipefail
cd "$(dirname "$0")"
for v in E2B_API_URL E2B_SANDBOX_URL E2B_API_KEY; do
	if [ -z "${!v:-}" ]; then
		echo "e2b: $v is not set (point it at a running wrenn-agent)" >&2
		exit 2
	fi
done
# Nothing else may steer the SDK: no debug mode, no domain tricks.
unset E2B_DEBUG E2B_DOMAIN E2B_ACCESS_TOKEN
if ! curl -s -o /dev/null --max-time 5 "$E2B_API_URL/health"; then
	echo "e2b: no wrenn-agent answers at $E2B_API_URL" >&2
	exit 1
fi
# `npm ci` only when node_modules does not match package-lock.json yet (the stamp is the lock
# file's hash); packages come from the npm cache when it has them.
stamp=node_modules/.wrenn-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
	npm ci --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null
	echo "$want" >"$stamp"
fi
files=("$@")
[ ${#files[@]} -eq 0 ] && files=(test/latest.test.mjs test/v24.test.mjs)
# WRENN_E2B_REPORTER=./lib/tap-flat.mjs: one flat line per SDK test (tests/integration/70-e2b.t).
exec node --test --test-concurrency=1 --test-reporter="${WRENN_E2B_REPORTER:-tap}" "${files[@]}"
