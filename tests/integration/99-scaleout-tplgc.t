#!/usr/bin/env bash
# Garbage collection of fetched templates (issue #15): a throwaway PostgreSQL cluster, a control
# plane and two host agents on loopback (tests/lib/scaleout.sh), both with
# --fetched-template-ttl 4.  A snapshot template made on host a starts a sandbox on host b
# (pinned, b fetches it and records where from); while that sandbox lives the copy stays; once it
# is killed the copy goes within a few sweeps: its directory, its row, a template_gc event and a
# log line on b.  Host a keeps its own snapshot (made there, never collected) although it is idle
# past the TTL too.  A create pinned on b again fetches it again (the existing path).
# Budget: ~40 s under TCG (asan).  Run under flock /tmp/wrenn-scaleout.lock like 96-99.
set -u
cd "$(dirname "$0")/../.." || exit 1
N=9
echo "1..$N"
. tests/lib/agent.sh
. tests/lib/pg.sh
# shellcheck source=tests/lib/e2b.sh
. tests/lib/e2b.sh
SO_TAG=gc99
# shellcheck source=tests/lib/scaleout.sh
. tests/lib/scaleout.sh

trap so_cleanup EXIT
trap 'exit 1' INT TERM
so_need minimal
command -v sqlite3 >/dev/null || skip_rest "needs the sqlite3 CLI"

so_pg
so_control
SO_HOST_ARGS=(--auto-snapshot=false --warm-pool 0 --pool-size 1 --max-sandboxes 4 --fetched-template-ttl 4)
so_hosts a b
KA=$(cat "$HDIR_a/admin-key") KB=$(cat "$HDIR_b/admin-key")
DB() { sqlite3 -readonly "$1/wrenn.db" "$2"; }
lists() { # host-id template -> 0 if the host's last heartbeat lists it
	curl -s "${H[@]}" "$CP/v1/hosts/$1" | jq -e --arg t "$2" '.capacity.templates | index($t)' >/dev/null
}
pin_b() { # template -> the create's answer, pinned on host b through the control plane
	curl -s "${H[@]}" -H "X-Wrenn-Place-On: ${ID[b]}" -H 'Content-Type: application/json' \
		-d "{\"templateID\":\"$1\",\"timeout\":300}" "$CP/sandboxes"
}

# a snapshot template made on host a
out=$(curl -s -H "X-API-Key: $KA" -H 'Content-Type: application/json' -d '{"templateID":"minimal","timeout":300}' "$HAPI_a/sandboxes")
SRC=$(jq -r '.sandboxID // empty' <<<"$out")
T1=$(curl -s -H "X-API-Key: $KA" -H 'Content-Type: application/json' -d '{}' "$HAPI_a/sandboxes/$SRC/snapshots" | jq -r '.snapshotID // empty')
for _ in $(seq 1 40); do lists "${ID[a]}" "$T1" && break; sleep 0.25; done
curl -s -o /dev/null -X DELETE -H "X-API-Key: $KA" "$HAPI_a/sandboxes/$SRC"
if [ -n "$T1" ] && lists "${ID[a]}" "$T1" && [ "$(DB "$HDIR_a" "SELECT quote(fetched_from) FROM templates WHERE name='$T1'")" = NULL ]; then
	ok "snapshot template $T1 made on host a, not marked fetched there"
else
	bail "no snapshot template on host a (sandbox '$SRC': $out)"
fi

# b fetches it for a create pinned there; the copy records its origin
out=$(pin_b "$T1")
SB=$(jq -r '.sandboxID // empty' <<<"$out")
is "a create pinned on b fetches it; b's row records host a as its origin" \
	"$([ -n "$SB" ] && echo created) $(grep -c "template $T1: fetched from host ${ID[a]}" "$HDIR_b/agent.err") $(DB "$HDIR_b" "SELECT fetched_from FROM templates WHERE name='$T1'")" \
	"created 1 ${ID[a]}"
[ -n "$SB" ] || echo "# create: $out"
sleep 6 # past the TTL while its sandbox runs
is "in use past the TTL: kept, its last use moves on" \
	"$([ -d "$HDIR_b/templates/$T1" ] && echo dir) $(DB "$HDIR_b" "SELECT count(*) FROM templates WHERE name='$T1' AND last_used_at > strftime('%s','now') * 1000 - 3000")" \
	"dir 1"

# killed: the copy goes within a few sweeps (every 2 s with a 4 s TTL)
curl -s -o /dev/null -X DELETE "${H[@]}" "$CP/sandboxes/$SB"
t0=$(date +%s)
for _ in $(seq 1 60); do [ -d "$HDIR_b/templates/$T1" ] || break; sleep 0.5; done
is "killed, unused for the TTL: b's copy is removed (directory and row)" \
	"$([ -d "$HDIR_b/templates/$T1" ] && echo dir || echo gone) $(DB "$HDIR_b" "SELECT count(*) FROM templates WHERE name='$T1'")" \
	"gone 0"
echo "# removed $(($(date +%s) - t0)) s after the kill"
is "the removal is a template_gc event on b, naming its origin and reason" \
	"$(curl -s -H "X-API-Key: $KB" "$HAPI_b/v1/events?kind=template_gc" | jq -r --arg t "$T1" '[.events[] | select(.detail | startswith($t + " (fetched from host ")) | select(.detail | test("unused for longer than --fetched-template-ttl"))] | length')" 1
if grep -q "template $T1 (fetched from host ${ID[a]}): unused for longer than --fetched-template-ttl; .* MB freed" "$HDIR_b/agent.err"; then
	ok "and a log line"
else
	nok "and a log line" "$(grep "template $T1" "$HDIR_b/agent.err" | tail -3)"
fi
is "host a keeps its own snapshot (idle past the TTL too, never collected)" \
	"$([ -d "$HDIR_a/templates/$T1" ] && echo dir) $(DB "$HDIR_a" "SELECT count(*) FROM templates WHERE name='$T1'")" "dir 1"

# a later create on b fetches it again, once b's heartbeat no longer lists it
for _ in $(seq 1 40); do lists "${ID[b]}" "$T1" || break; sleep 0.25; done
out=$(pin_b "$T1")
SB2=$(jq -r '.sandboxID // empty' <<<"$out")
is "a create pinned on b fetches it again" \
	"$([ -n "$SB2" ] && echo created) $(grep -c "template $T1: fetched from host ${ID[a]}" "$HDIR_b/agent.err") $([ -d "$HDIR_b/templates/$T1" ] && echo dir)" \
	"created 2 dir"
[ -n "$SB2" ] || echo "# create: $out"
is "killed" "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "${H[@]}" "$CP/sandboxes/$SB2")" 204
