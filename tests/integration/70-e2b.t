#!/usr/bin/env bash
# The unmodified npm e2b SDK (tests/e2b: latest + a 2.4x release on the v1 paths) against a real
# wrenn-agent: one TAP line per SDK test (node's skip -> `ok N # skip reason`, failure ->
# `not ok N`), then the agent is stopped and nothing may be left (no VMM, no namespace).
# The agent runs on free ports with a scratch data dir and its own namespace prefix; only
# E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY reach the SDK.  Budget: < 10 min under TCG.
# Template: WRENN_E2B_TEMPLATE, default minimal (like 80-agent.t; "base" would pick the debian
# image when build/guest has one, which is slower to boot under TCG).
set -u
cd "$(dirname "$0")/../.." || exit 1
# Both SDK versions run every it() of lib/suite.mjs: 1 + 2 x its + 3 lines.
its=$(grep -c "^    it('" tests/e2b/lib/suite.mjs)
N=$((1 + 2 * its + 3))
# shellcheck source=tests/lib/agent.sh
. tests/lib/agent.sh
echo "1..$N"
# shellcheck source=tests/lib/e2b.sh
. tests/lib/e2b.sh

e2b_need_tools node npm curl jq python3
[ -r "$IMAGES/vmlinux" ] && [ -r "$IMAGES/minimal.ext4" ] ||
	skip_rest "no guest images in $IMAGES (make guest-minimal, or set WRENN_GUEST)"

# The SDK first (before any VM exists).
e2b_npm_ci 70e2b

SUITE=''
agent_start "wt70$$" --pool-size 1 --max-sandboxes 6
trap '[ -n "$SUITE" ] && kill -TERM "$SUITE" 2>/dev/null; agent_cleanup' EXIT
if [[ "$K" =~ ^e2b_[0-9a-f]{40}$ ]]; then
	ok "wrenn-agent started (scratch data dir, ns prefix $T-)"
else
	nok "wrenn-agent started" "$(tail -5 "$DATA/agent.err")"
	skip_rest "no agent"
fi
PA=${API##*:} PP=${PX##*:} KEY=$K

# --- the suite: its flat lines become numbered TAP lines ---------------------------------------
t0=$(date +%s)
e2b_suite_run "$DATA/suite.out" "$DATA/suite.err" "http://127.0.0.1:$PA" "http://127.0.0.1:$PP" "$KEY" \
	test/latest.test.mjs test/v24.test.mjs
SUITE=$E2B_SUITE_PID
wait $SUITE; src=$?
SUITE=
e2b_tap e2b "$DATA/suite.out" "$DATA/suite.err" $src "$t0" $((2 * its))

# --- nothing left ------------------------------------------------------------------------------
left=$(curl -s -H "X-API-Key: $KEY" "http://127.0.0.1:$PA/v1/sandboxes?state=creating,running,paused" | jq '.sandboxes | length')
if [ "$left" = 0 ]; then ok "the suite killed every sandbox it created"; else nok "the suite killed every sandbox it created" "$left left"; fi
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
