#!/usr/bin/env bash
# The wrenn CLI against a real wrenn-agent (real microVMs): every subcommand, errors, shell via
# `script` and tmux.  Needs $WRENN_BUILD/bin/{wrenn-agent,wrenn} and the guest image; a missing
# agent is a FAILURE (the agent is part of this repo), not a skip.
#
# PENDING: lives in tests/integration/pending/ until wrenn-agent exists; start_agent below must
# match the agent's real flags (data dir, listen addresses, admin key on first run).
set -uo pipefail
cd "$(dirname "$0")/../../.."
B=${WRENN_BUILD:-build/asan}
AGENT=$B/bin/wrenn-agent
W=$B/bin/wrenn
TPL=${WRENN_TEMPLATE:-base}
T=120 # seconds any single CLI call may take (TCG boots)

n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); echo "not ok $n - $1"; [ $# -gt 1 ] && printf '#   %s\n' "${@:2}"; }
check() { # check DESC CMD... (passes when CMD exits 0)
	local d=$1; shift
	if "$@"; then ok "$d"; else nok "$d"; fi
}

tmp=$(mktemp -d /tmp/wrenn-60-cli.XXXXXX)
agent_pid=
ids=()
cleanup() {
	for id in "${ids[@]}"; do timeout 60 "$W" -q kill "$id" >/dev/null 2>&1; done
	tmux -L wrenn60 kill-server 2>/dev/null
	if [ -n "$agent_pid" ]; then
		kill -TERM "$agent_pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$agent_pid" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$agent_pid" 2>/dev/null
		wait "$agent_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "1..32"

port=$((20000 + RANDOM % 20000))
export WRENN_API_URL=http://127.0.0.1:$port

start_agent() {
	"$AGENT" --data-dir "$tmp/data" --listen "127.0.0.1:$port" \
		--sandbox-listen "127.0.0.1:$((port + 1))" >"$tmp/agent.out" 2>"$tmp/agent.log" &
	agent_pid=$!
}

if [ ! -x "$AGENT" ] || [ ! -x "$W" ]; then
	nok "wrenn-agent and wrenn are built in $B" "missing: $AGENT or $W"
	for i in $(seq 2 32); do nok "skipped because the agent is missing"; done
	exit 1
fi
ok "wrenn-agent and wrenn are built in $B"

start_agent
key=
for _ in $(seq 300); do
	key=$(grep -ohE 'e2b_[0-9a-f]{40}' "$tmp/agent.out" "$tmp/agent.log" 2>/dev/null | head -1)
	[ -n "$key" ] && curl -sf -o /dev/null "$WRENN_API_URL/health" && break
	kill -0 "$agent_pid" 2>/dev/null || break
	sleep 0.2
done
if [ -z "$key" ]; then
	nok "agent starts and prints its admin key" "$(tail -5 "$tmp/agent.log")"
	exit 1
fi
ok "agent starts and prints its admin key"
export WRENN_API_KEY=$key

out=$(timeout $T "$W" ls); rc=$?
check "ls on an empty agent prints only the header" [ $rc -eq 0 -a "$(echo "$out" | head -1 | awk '{print $1}')" = ID -a "$(echo "$out" | wc -l)" -eq 1 ]

out=$(timeout $T "$W" run -t "$TPL" -- echo hi); rc=$?
check "run -- echo hi prints hi and exits 0" [ $rc -eq 0 -a "$out" = hi ]

timeout $T "$W" run -t "$TPL" -- sh -c 'exit 7'; rc=$?
check "run exits with the command's code (7)" [ $rc -eq 7 ]

id=$(timeout $T "$W" create -t "$TPL" -m suite=60cli -e GREETING=hello); rc=$?
[ -n "$id" ] && ids+=("$id")
check "create prints an id" [ $rc -eq 0 -a -n "$id" ]

out=$(timeout $T "$W" ls)
check "ls shows the sandbox as running" grep -qE "^$id +$TPL +running" <<<"$out"
check "ls --json is a JSON array containing it" \
	bash -c "timeout $T '$W' ls --json | jq -e --arg id '$id' 'map(select(.id==\$id)) | length==1' >/dev/null"
check "ls -m filters on metadata" \
	bash -c "timeout $T '$W' ls --json -m suite=60cli | jq -e 'length==1' >/dev/null && timeout $T '$W' ls --json -m suite=other | jq -e 'length==0' >/dev/null"
check "info --json reports state running" \
	bash -c "timeout $T '$W' info --json '$id' | jq -e '.state==\"running\"' >/dev/null"

out=$(timeout $T "$W" exec "$id" -- sh -c 'echo out; echo err >&2; echo $GREETING' 2>"$tmp/err"); rc=$?
check "exec separates stdout and stderr; env vars of create apply" \
	[ $rc -eq 0 -a "$out" = "$(printf 'out\nhello')" -a "$(cat "$tmp/err")" = err ]
timeout $T "$W" exec "$id" -- false; rc=$?
check "exec exit code of false is 1" [ $rc -eq 1 ]
out=$(printf 'line1\nline2\n' | timeout $T "$W" exec -i "$id" -- wc -l)
check "exec -i feeds stdin" [ "$(echo $out)" = 2 ]
out=$(timeout $T "$W" exec -w /tmp -e X=y "$id" -- sh -c 'pwd; echo $X')
check "exec -w and -e" [ "$out" = "$(printf '/tmp\ny')" ]

head -c 1048577 /dev/urandom >"$tmp/up.bin"
timeout $T "$W" cp "$tmp/up.bin" "$id:/tmp/up.bin" && timeout $T "$W" cp "$id:/tmp/up.bin" "$tmp/down.bin"
check "cp host->sandbox->host round-trips 1 MiB + 1 byte" cmp -s "$tmp/up.bin" "$tmp/down.bin"
out=$(echo piped | timeout $T "$W" cp - "$id:/tmp/piped.txt" && timeout $T "$W" cp "$id:/tmp/piped.txt" -)
check "cp with - for stdin and stdout" [ "$out" = piped ]
mkdir "$tmp/dir"
timeout $T "$W" cp "$id:/tmp/piped.txt" "$tmp/dir/"
check "cp into a directory keeps the basename" [ -f "$tmp/dir/piped.txt" ]
timeout $T "$W" cp "$id:/nonexistent" "$tmp/nothing" 2>"$tmp/err"; rc=$?
check "cp of a missing file fails clearly and leaves nothing" [ $rc -eq 1 -a ! -e "$tmp/nothing" ]
ls "$tmp"/nothing.wrenn-* >/dev/null 2>&1 && nok "no temp file left" || ok "no temp file left"

out=$(printf 'echo shell-$((6*7))\nexit 3\n' | timeout $T script -qefc "$W shell $id" /dev/null); rc=$?
c=1; [ $rc -eq 3 ] && grep -q shell-42 <<<"$out" && c=0
check "shell through a pty (script): output and exit code" [ $c -eq 0 ]

if command -v tmux >/dev/null; then
	tmux -L wrenn60 new-session -d -x 100 -y 30 "env WRENN_API_URL=$WRENN_API_URL WRENN_API_KEY=$key $W shell $id"
	sleep 3
	tmux -L wrenn60 send-keys 'stty size' Enter
	sleep 2
	a=$(tmux -L wrenn60 capture-pane -p)
	tmux -L wrenn60 resize-window -x 120 -y 40 2>/dev/null
	sleep 1
	tmux -L wrenn60 send-keys 'stty size' Enter
	sleep 2
	b=$(tmux -L wrenn60 capture-pane -p -S -50)
	tmux -L wrenn60 send-keys 'exit' Enter
	check "shell in tmux: initial size then SIGWINCH resize" bash -c "grep -q '^30 100' <<<'$a' && grep -q '^40 120' <<<'$b'"
else
	ok "shell in tmux # skip tmux not installed"
fi

out=$(timeout $T "$W" logs "$id" | wc -c)
check "logs prints the VMM log" [ "$out" -gt 0 ]

timeout $T "$W" timeout "$id" 900 >/dev/null
left=$(timeout $T "$W" info --json "$id" | jq -r '.endAt | sub("\\.[0-9]+";"") | fromdateiso8601 - now | floor')
check "timeout sets endAt ~900 s ahead" [ "${left:-0}" -gt 800 -a "${left:-0}" -le 900 ]

timeout $T "$W" pause "$id" >/dev/null
check "pause -> state paused" bash -c "timeout $T '$W' info --json '$id' | jq -e '.state==\"paused\"' >/dev/null"
timeout $T "$W" pause "$id" 2>"$tmp/err" >/dev/null; rc=$?
c=1; [ $rc -eq 1 ] && grep -q 409 "$tmp/err" && c=0
check "pausing twice fails with the server's message (409)" [ $c -eq 0 ]
timeout $T "$W" resume "$id" >/dev/null
out=$(timeout $T "$W" exec "$id" -- cat /tmp/piped.txt)
check "resume -> exec works and files survived" [ "$out" = piped ]

newkey=$(timeout $T "$W" -q keys create ci)
check "keys create prints a new e2b_ key" grep -qE '^e2b_[0-9a-f]{40}$' <<<"$newkey"
kid=$(timeout $T "$W" keys ls --json | jq -r '.[] | select(.name=="ci") | .id')
c=1
WRENN_API_KEY=$newkey timeout $T "$W" ls >/dev/null && timeout $T "$W" keys rm "$kid" &&
	! WRENN_API_KEY=$newkey timeout $T "$W" ls 2>"$tmp/err" >/dev/null && grep -q 401 "$tmp/err" && c=0
check "a new key works; after keys rm it is refused (401)" [ $c -eq 0 ]

timeout $T "$W" info cl-doesnotexist 2>"$tmp/err"; rc=$?
c=1; [ $rc -eq 1 ] && grep -q 404 "$tmp/err" && c=0
check "info of an unknown id: exit 1, 404 message" [ $c -eq 0 ]
WRENN_API_URL=http://127.0.0.1:9 timeout $T "$W" ls 2>"$tmp/err"; rc=$?
c=1; [ $rc -eq 1 ] && grep -q 'cannot reach' "$tmp/err" && c=0
check "no agent: exit 1, 'cannot reach'" [ $c -eq 0 ]

check "templates lists $TPL" bash -c "timeout $T '$W' templates | grep -q '^$TPL '"

timeout $T "$W" kill "$id" >/dev/null; rc=$?
c=1; [ $rc -eq 0 ] && ! timeout $T "$W" ls | grep -q "^$id " && c=0
check "kill removes it from ls" [ $c -eq 0 ]
ids=()
