#!/usr/bin/env bash
# GET /v1/events on one host (issue 15 item 5): a sandbox created, paused, resumed and killed
# leaves those events in order (newest first), with its team; a team key sees only its
# sandboxes' events, another team none, agent-wide events are an operator's; filters (sandboxId,
# kind, hostId), paging with nextCursor/before, and bad values (400); wrenn events.
set -u
cd "$(dirname "$0")/../.."
N=16
echo "1..$N"
. tests/lib/agent.sh
[ "$(id -u)" -eq 0 ] || skip_rest "needs root"
[ -x "$AGENT" ] || skip_rest "$AGENT not built (make MODE=asan $AGENT)"
command -v jq >/dev/null && command -v curl >/dev/null || skip_rest "needs jq, curl"
[ -r "$IMAGES/vmlinux" ] && [ -r "$IMAGES/minimal.ext4" ] ||
	skip_rest "no guest images in $IMAGES (make guest-minimal, or set WRENN_GUEST)"
AGENT_TIMEOUT=600 agent_start wt83$$ --pool-size 1 --max-sandboxes 4 --warm-pool 0 --auto-snapshot=false
H=(-H "X-API-Key: $K")
is "agent up" "$(curl -s -o /dev/null -w '%{http_code}' "$API/health")" 200
K1=$(curl -s "${H[@]}" -d '{"name":"e","team":"ev-t1"}' "$API/v1/keys" | jq -r .key)
K2=$(curl -s "${H[@]}" -d '{"name":"e","team":"ev-t2"}' "$API/v1/keys" | jq -r .key)
post() { curl -s -o /dev/null -w '%{http_code}' -X POST -H "X-API-Key: $1" -H 'Content-Type: application/json' -d "${3:-{\}}" "$API$2"; }
S=$(curl -s -H "X-API-Key: $K1" -H 'Content-Type: application/json' -d '{"template":"minimal","timeout":300}' "$API/v1/sandboxes" | jq -r '.id // empty')
[ -n "$S" ] || { nok "team create" "$(tail -5 "$DATA/agent.err")"; skip_rest "no sandbox"; }
codes="$(post "$K1" "/v1/sandboxes/$S/pause") $(post "$K1" "/v1/sandboxes/$S/resume")"
codes+=" $(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "X-API-Key: $K1" "$API/v1/sandboxes/$S")"
is "a team's sandbox created, paused, resumed, killed" "$codes" "204 200 204"
# an operator's sandbox, killed too (its events are not team ev-t1's)
SO=$(curl -s "${H[@]}" -H 'Content-Type: application/json' -d '{"template":"minimal","timeout":300}' "$API/v1/sandboxes" | jq -r '.id // empty')
curl -s -o /dev/null -X DELETE "${H[@]}" "$API/v1/sandboxes/$SO"

ev=$(curl -s "${H[@]}" "$API/v1/events?sandboxId=$S")
is "its events, newest first: killed resumed paused created" \
	"$(jq -r '[.events[].kind] | join(" ")' <<<"$ev")" "killed resumed paused created"
is "each event: seq, time, kind, sandboxId, hostId (null on one host), team, detail" \
	"$(jq -r '.events[-1] | [(keys | sort | join(",")), .sandboxId, (.hostId | tostring), .team, .detail, (.time | test("^20[0-9-]+T[0-9:.]+Z$") | tostring)] | join(" ")' <<<"$ev")" \
	"detail,hostId,kind,sandboxId,seq,team,time $S null ev-t1 minimal true"
is "seq decreases down the page, no next page" \
	"$(jq -r '[.events[].seq] | . == (sort | reverse)' <<<"$ev") $(jq -r '.nextCursor' <<<"$ev")" "true null"
t1=$(curl -s -H "X-API-Key: $K1" "$API/v1/events")
is "a team key: only its sandbox's events" \
	"$(jq -r '[.events[].sandboxId] | unique | join(",")' <<<"$t1") $(jq -r '.events | length' <<<"$t1")" "$S 4"
is "another team: none; the first team asking for the operator's sandbox: none" \
	"$(curl -s -H "X-API-Key: $K2" "$API/v1/events" | jq '.events | length') $(curl -s -H "X-API-Key: $K1" "$API/v1/events?sandboxId=$SO" | jq '.events | length')" "0 0"
all=$(curl -s "${H[@]}" "$API/v1/events?limit=1000")
is "the operator sees every sandbox's events (4 + created, killed)" \
	"$(jq -r --arg a "$S" --arg b "$SO" '[.events[] | select(.sandboxId == $a or .sandboxId == $b)] | length' <<<"$all")" 6
is "kind filter" \
	"$(curl -s "${H[@]}" "$API/v1/events?kind=killed" | jq -r '[.events[].sandboxId] | sort | join(" ")')" \
	"$(printf '%s\n' "$S" "$SO" | sort | tr '\n' ' ' | sed 's/ $//')"
# paging: limit 3, then before=nextCursor until the end: every event once, in order
pages= cur= np=0
while :; do
	hdr=$(mktemp)
	pg=$(curl -s -D "$hdr" "${H[@]}" "$API/v1/events?limit=3${cur:+&before=$cur}")
	tok=$(awk -F': ' 'tolower($1)=="x-next-token"{print $2}' "$hdr" | tr -d '\r'); rm -f "$hdr"
	pages+="$(jq -r '.events[].seq' <<<"$pg" | tr '\n' ' ')"
	cur=$(jq -r '.nextCursor // empty' <<<"$pg"); np=$((np + 1))
	[ "$tok" = "$cur" ] || { nok "X-Next-Token is nextCursor" "$tok vs $cur"; break; }
	[ -n "$cur" ] && [ $np -lt 20 ] || break
done
is "pages of 3 with before=nextCursor: every event once, newest first" \
	"$pages" "$(jq -r '.events[].seq' <<<"$all" | tr '\n' ' ')"
is "bad values: 400 (limit 0, 1001, x; before 0, x; a filter with a quote)" \
	"$(for q in limit=0 limit=1001 limit=x before=0 before=x "sandboxId=cl-%27"; do curl -s -o /dev/null -w '%{http_code} ' "${H[@]}" "$API/v1/events?$q"; done)" \
	"400 400 400 400 400 400 "
is "hostId of another host matches nothing on a single host" \
	"$(curl -s "${H[@]}" "$API/v1/events?hostId=host-00000000" | jq '.events | length')" 0
W=$B/bin/wrenn
is "wrenn events --sandbox: a table, oldest first" \
	"$("$W" --api-url "$API" --api-key "$K" events --sandbox "$S" | awk 'NR > 1 {print $2}' | tr '\n' ' ')" \
	"created paused resumed killed "
is "wrenn events --json with a team key; -n; completion knows events" \
	"$("$W" --api-url "$API" --api-key "$K1" events --json | jq -r '[.[].sandboxId] | unique | join(",")') $("$W" --api-url "$API" --api-key "$K" events -n 2 --json | jq length) $("$W" completion bash | grep -c -- '--kind')" \
	"$S 2 1"
is "no key: 401" "$(curl -s -o /dev/null -w '%{http_code}' "$API/v1/events")" 401
is "the events table holds the team (SQLite schema 6 or later)" \
	"$(python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute("PRAGMA user_version").fetchone()[0] >= 6, c.execute("SELECT count(*) FROM events WHERE team = ?", ("ev-t1",)).fetchone()[0])' "$DATA/wrenn.db")" \
	"True 4"
exit $fail
