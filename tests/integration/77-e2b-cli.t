#!/usr/bin/env bash
# The unmodified E2B CLI (npm @e2b/cli, pinned in tests/e2b-cli) pointed at a real wrenn-agent
# with E2B_API_KEY / E2B_API_URL / E2B_SANDBOX_URL: `e2b sandbox list`, `metrics`, `logs`, `kill`
# (docs/E2B-COMPAT.md).  Its `auth login` (a browser to e2b.dev) has no meaning here.
set -u
cd "$(dirname "$0")/../.." || exit 1
N=7
# shellcheck source=tests/lib/agent.sh
. tests/lib/agent.sh
echo "1..$N"
# shellcheck source=tests/lib/e2b.sh
. tests/lib/e2b.sh
e2b_need_tools node npm curl jq
[ -r "$IMAGES/vmlinux" ] && [ -r "$IMAGES/minimal.ext4" ] ||
	skip_rest "no guest images in $IMAGES (make guest-minimal, or set WRENN_GUEST)"
e2b_npm_ci 77cli tests/e2b-cli

agent_start "wt77$$" --pool-size 1 --max-sandboxes 2
H=(-H "X-API-Key: $K")
ID=$(curl -s "${H[@]}" -H 'Content-Type: application/json' -d '{"templateID":"minimal","timeout":300}' \
	"$API/sandboxes" | jq -r '.sandboxID // empty')
[ -n "$ID" ] && ok "sandbox created for the CLI ($ID)" || { nok "sandbox created" "$(tail -5 "$DATA/agent.err")"; skip_rest "no sandbox"; }
# only the CLI's own variables; a scratch HOME so no user config is read or written
e2bcli() {
	(cd tests/e2b-cli && env -i PATH="$PATH" HOME="$DATA/home" NO_COLOR=1 E2B_API_KEY="$K" \
		E2B_API_URL="$API" E2B_SANDBOX_URL="$PX" timeout 60 node_modules/.bin/e2b "$@" 2>&1)
}
has() { case "$2" in *"$3"*) ok "$1" ;; *) nok "$1" "got: $2" ;; esac; }
mkdir -p "$DATA/home"
out=$(e2bcli sandbox list)
has "e2b sandbox list shows it running" "$(grep "$ID" <<<"$out")" "Running"
# the sampler takes a point every 5 s: wait for the first one
for _ in $(seq 1 30); do
	[ "$(curl -s "${H[@]}" "$API/sandboxes/$ID/metrics" | jq 'length' 2>/dev/null)" -gt 0 ] 2>/dev/null && break
	sleep 0.5
done
out=$(e2bcli sandbox metrics "$ID")
has "e2b sandbox metrics prints a sample" "$out" "Memory:"
out=$(e2bcli sandbox logs "$ID")
has "e2b sandbox logs prints the console (wrenn-init ready)" "$out" "wrenn-init: ready"
out=$(e2bcli sandbox kill "$ID")
has "e2b sandbox kill" "$out" "has been killed"
is "the agent has it killed" "$(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" "$API/sandboxes/$ID")" 404
out=$(e2bcli sandbox list)
has "e2b sandbox list: none left" "$out" "No sandboxes found"
[ $fail -eq 0 ]
