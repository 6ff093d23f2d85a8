#!/usr/bin/env bash
# The PyPI e2b SDK suite (test_sdk.py, sync and async APIs) against a running wrenn-agent, once
# per pinned SDK version.  Starts nothing itself:
#   E2B_API_URL=http://127.0.0.1:3000 E2B_SANDBOX_URL=http://127.0.0.1:3002 \
#   E2B_API_KEY=e2b_... tests/e2b-py/run.sh [latest|v249 ...] [-- pytest args...]
# Optional: WRENN_E2B_TEMPLATE (default minimal).
set -euo pipefail
cd "$(dirname "$0")"
for v in E2B_API_URL E2B_SANDBOX_URL E2B_API_KEY; do
	if [ -z "${!v:-}" ]; then
		echo "e2b-py: $v is not set (point it at a running wrenn-agent)" >&2
		exit 2
	fi
done
unset E2B_DEBUG E2B_DOMAIN E2B_ACCESS_TOKEN
export PYTHONDONTWRITEBYTECODE=1
# shellcheck source=tests/e2b-py/venv.sh
. ./venv.sh
versions=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do versions+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
[ ${#versions[@]} -eq 0 ] && versions=(latest v249)
rc=0
for v in "${versions[@]}"; do
	venv=$(e2b_py_venv "$v")
	"$venv/bin/python" -m pytest -p no:cacheprovider -q test_sdk.py "$@" || rc=1
done
exit $rc
