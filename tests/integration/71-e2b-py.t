#!/usr/bin/env bash
# The unmodified PyPI e2b SDK (tests/e2b-py: latest + 2.49.1, sync Sandbox and async
# AsyncSandbox) against a real wrenn-agent: one TAP line per pytest test (failure -> `not ok N`),
# then the agent is stopped and nothing may be left (no VMM, no namespace).  The agent runs on
# free ports with a scratch data dir and its own namespace prefix; only E2B_API_URL,
# E2B_SANDBOX_URL and E2B_API_KEY reach the SDK.  The venvs (`python3 -m venv`, every package
# pinned in requirements-*.txt) live under ~/.cache/wrenn/e2b-py; under CI a venv that cannot be
# made (no python3-venv, PyPI unreachable) fails the test.  Then test_envd_proto.py (latest
# venv) sends protobuf requests built with the SDK's generated classes to envd in a sandbox
# (Connect's application/proto and application/connect+proto codecs).  Budget: < 8 min under TCG.
# Template: WRENN_E2B_TEMPLATE, default minimal.
set -u
cd "$(dirname "$0")/../.." || exit 1
VERSIONS=(latest v249)
# Every version runs every test of test_sdk.py, then the protobuf tests:
# 1 + versions x (tests + 1) + (ptests + 1) + 2 lines.
tests=$(grep -c '^    def test_' tests/e2b-py/test_sdk.py)
ptests=$(grep -c '^def test_' tests/e2b-py/test_envd_proto.py)
N=$((1 + ${#VERSIONS[@]} * (tests + 1) + ptests + 1 + 2))
# shellcheck source=tests/lib/agent.sh
. tests/lib/agent.sh
echo "1..$N"
# shellcheck source=tests/lib/e2b.sh
. tests/lib/e2b.sh
# shellcheck source=tests/e2b-py/venv.sh
. tests/e2b-py/venv.sh

for c in python3 curl jq; do command -v "$c" >/dev/null || e2b_missing "needs $c"; done
[ -r "$IMAGES/vmlinux" ] && [ -r "$IMAGES/minimal.ext4" ] ||
	skip_rest "no guest images in $IMAGES (make guest-minimal, or set WRENN_GUEST)"

# The SDKs first (before any VM exists).
declare -A VENV
for v in "${VERSIONS[@]}"; do
	VENV[$v]=$(e2b_py_venv "$v" 2>"/tmp/wrenn-71-pip.$$") ||
		e2b_missing "venv for tests/e2b-py/requirements-$v.txt: $(cat "/tmp/wrenn-71-pip.$$"; rm -f "/tmp/wrenn-71-pip.$$")"
	rm -f "/tmp/wrenn-71-pip.$$"
done

SUITE=''
agent_start "wt71$$" --pool-size 1 --max-sandboxes 4
trap '[ -n "$SUITE" ] && kill -TERM "$SUITE" 2>/dev/null; agent_cleanup' EXIT
if [[ "$K" =~ ^e2b_[0-9a-f]{40}$ ]]; then
	ok "wrenn-agent started (scratch data dir, ns prefix $T-)"
else
	nok "wrenn-agent started" "$(tail -5 "$DATA/agent.err")"
	skip_rest "no agent"
fi
PA=${API##*:} PP=${PX##*:} KEY=$K

# --- the suite per SDK version: its flat lines become numbered TAP lines --------------------------
# run_suite NAME VENV FILE WANT: pytest FILE with VENV's python, its flat lines as TAP lines.
run_suite() {
	local t0 src
	t0=$(date +%s)
	: >"$DATA/suite-$1.out"
	(
		cd tests/e2b-py &&
			exec env -i PATH="$PATH" HOME="${HOME:-/root}" PYTHONDONTWRITEBYTECODE=1 \
				E2B_API_URL="http://127.0.0.1:$PA" E2B_SANDBOX_URL="http://127.0.0.1:$PP" E2B_API_KEY="$KEY" \
				WRENN_E2B_TEMPLATE="${WRENN_E2B_TEMPLATE:-minimal}" WRENN_E2B_FLAT="$DATA/suite-$1.out" \
				timeout 200 "$2/bin/python" -m pytest -p no:cacheprovider -q "$3"
	) >"$DATA/suite-$1.err" 2>&1 &
	SUITE=$!
	wait $SUITE; src=$?
	SUITE=
	e2b_tap "e2b-py $1 (pytest)" "$DATA/suite-$1.out" "$DATA/suite-$1.err" $src "$t0" "$4"
}
for v in "${VERSIONS[@]}"; do
	run_suite "$v" "${VENV[$v]}" test_sdk.py "$tests"
done
run_suite envd-proto "${VENV[latest]}" test_envd_proto.py "$ptests"

# --- nothing left ------------------------------------------------------------------------------
left=$(curl -s -H "X-API-Key: $KEY" "http://127.0.0.1:$PA/v1/sandboxes?state=creating,running,paused" | jq '.sandboxes | length')
if [ "$left" = 0 ]; then ok "the suites killed every sandbox they created"; else nok "the suites killed every sandbox they created" "$left left"; fi
kill -TERM "$APID"
for _ in $(seq 1 900); do kill -0 "$APID" 2>/dev/null || break; sleep 0.1; done
rc=timeout
kill -0 "$APID" 2>/dev/null || { wait "$APID"; rc=$?; APID=; }
vmms=$(pgrep -f "$DATA/" | wc -l)
qemus=$(pgrep -f "qemu-system.*$DATA" | wc -l)
nsl=$(ip netns list | grep -c "^$T-")
if [ "$rc" = 0 ] && [ "$vmms" = 0 ] && [ "$qemus" = 0 ] && [ "$nsl" = 0 ]; then
	ok "agent stopped: exit 0, no qemu process, no $T- namespace"
else
	nok "agent stopped: exit 0, no qemu process, no $T- namespace" "rc=$rc processes=$vmms qemu=$qemus namespaces=$nsl"
fi
exit $fail
