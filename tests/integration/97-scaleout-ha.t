#!/usr/bin/env bash
# Multiple hosts, highly available (issue #15's topology): a throwaway PostgreSQL cluster
# (tests/lib/pg.sh), three host agents each in its own network namespace joined by a test bridge
# (10.97.0.0/24, made and removed here), two control-plane replicas on the same database; hosts
# heartbeat to `--control URL1,URL2` (the replica that answered last first, then the others in
# order).  The control plane calls hosts with signed requests only (timestamp, nonce, body digest;
# no secret on the wire): forged, tampered, stale and replayed calls are refused by the host.  The
# npm E2B SDK creates and runs a command through replica 1 and through replica 2; creates spread
# over the three hosts; after kill -9 of replica 1, replica 2 serves, lists and kills every
# sandbox (nothing lost, no double placement); replica 1 restarted serves again.  Teams: API
# keys live in PostgreSQL (a key made on replica 1 works on replica 2); a team key's creates are
# placed for its team and forwarded as that team (X-Wrenn-Team under the call's signature), it
# lists only its team's sandboxes and another team's id answers 404.  Creates in flight count
# (issue #15): the scheduler's pick and the host's reservation are one transaction, so live
# reservations fill a host and expired ones (a replica killed mid-create) do not, and 6
# concurrent creates through both replicas over three idle 4-slot hosts all succeed, 2 per host.
# At the end nothing is left: no namespace, bridge, veth or process.
set -u
cd "$(dirname "$0")/../.."
N=52
echo "1..$N"
. tests/lib/agent.sh
. tests/lib/pg.sh
# shellcheck source=tests/lib/e2b.sh
. tests/lib/e2b.sh

SO_TAG=ha97 SO_TIMEOUT=900
# shellcheck source=tests/lib/scaleout.sh
. tests/lib/scaleout.sh
T=$SO_TAG SUB=10.97.0

trap so_cleanup EXIT
trap 'exit 1' INT TERM
so_need
command -v nsenter >/dev/null || skip_rest "needs nsenter (util-linux)"
so_pg
ok "throwaway PostgreSQL cluster on 127.0.0.1:$PGPORT"
SDK_OK=
if command -v node >/dev/null && command -v npm >/dev/null; then
	(e2b_npm_ci so97) >/dev/null 2>&1
	[ -d tests/e2b/node_modules/e2b ] && SDK_OK=1
fi
if [ -z "$SDK_OK" ]; then
	e2b_ci && bail "node or tests/e2b/node_modules missing under CI"
	skip_rest "node or the npm e2b package missing"
fi

# the test network: a bridge in this namespace (10.97.0.1) and one namespace per host
# (10.97.0.11-13), each joined to it by a veth pair; nothing routes beyond the /24
so_net "$SUB" 1 2 3
for _ in $(seq 1 30); do ip netns exec "$T-n3" ping -c1 -W1 "$SUB.1" >/dev/null 2>&1 && break; sleep 0.2; done
is "three host namespaces on a test bridge" \
	"$(ip netns list | grep -c "^$T-n") $(ip netns exec "$T-n2" ping -c1 -W2 "$SUB.1" >/dev/null 2>&1 && echo reach)" "3 reach"

# two control-plane replicas on the same database: API on the bridge (the hosts' side), sandbox
# traffic on loopback (the SDK's side)
SO_CP_ADDR=$SUB.1
so_control
so_control
CPID1=${SO_CP_PID[1]}
is "two replicas, one database, one admin key" \
	"$(curl -s "${H[@]}" "$CP1/v1/hosts" | jq length) $(curl -s "${H[@]}" "$CP2/v1/hosts" | jq length) $(PSQL 'SELECT count(*) FROM admin_keys')" "0 0 1"

for i in 1 2 3; do
	c=$CP1; [ $((i % 2)) -eq 0 ] && c=$CP2 # either replica registers
	CP=$c so_register "$i"
done
# host agents, each in its namespace, heartbeating to both replicas (replica 1 first)
SO_CONTROL=$CP1,$CP2
SO_HOST_ARGS=(--auto-snapshot=false --warm-pool 0 --pool-size 1 --max-sandboxes 4)
for i in 1 2 3; do so_start_host "$i"; done
so_use 2
so_wait_ready 1 2 3
is "three hosts ready, each heartbeating from its own namespace" "$SO_STATES" "ready,ready,ready"
[ "$SO_STATES" = "ready,ready,ready" ] || bail "hosts did not report"
is "hosts advertise their namespace addresses" \
	"$(curl -s "${H[@]}" "$CP1/v1/hosts" | jq -r '[.[] | .apiUrl] | sort | join(" ")')" \
	"http://$SUB.11:3000 http://$SUB.12:3000 http://$SUB.13:3000"

# signed calls, made here as the control plane would for host 1
KEYHEX=$(printf '%s' "${CRED[1]}" | sha256sum | cut -d' ' -f1)
csign() { # method target ts nonce body [host id]
	local bh
	bh=$(printf '%s' "$5" | sha256sum | cut -d' ' -f1)
	printf 'WRENN-CALL-HMAC-SHA256\n%s\n%s\n%s\n%s\n%s\n%s' "$1" "$2" "${6:-${ID[1]}}" "$3" "$4" "$bh" |
		openssl dgst -sha256 -mac HMAC -macopt "hexkey:$KEYHEX" -r | cut -d' ' -f1
}
ccall() { # method target ts nonce body sig [host id] -> status
	local b=()
	[ -n "$5" ] && b=(-H 'Content-Type: application/json' --data-binary "$5")
	curl -s -o /dev/null -w '%{http_code}' -X "$1" -H "X-Wrenn-Host: ${7:-${ID[1]}}" \
		-H "X-Wrenn-Timestamp: $3" -H "X-Wrenn-Nonce: $4" -H "X-Wrenn-Signature: $6" "${b[@]}" \
		"${HAPI[1]}$2"
}
nonce() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
TS=$(date +%s%3N) NC=$(nonce) Q='/sandboxes?state=running'
SIG=$(csign GET "$Q" "$TS" "$NC" "")
is "host: a signed call is accepted, the same call replayed is refused" \
	"$(ccall GET "$Q" "$TS" "$NC" "" "$SIG") $(ccall GET "$Q" "$TS" "$NC" "" "$SIG")" "200 401"
NC=$(nonce); SIG=$(csign GET "$Q" "$TS" "$NC" "")
is "host: a signed call with its path or query changed is refused" \
	"$(ccall GET '/sandboxes?state=paused' "$TS" "$NC" "" "$SIG") $(ccall GET '/v2/sandboxes?state=running' "$TS" "$NC" "" "$SIG")" "401 401"
NC=$(nonce); BODY='{"timeout":30}'; TP=/sandboxes/nosuch/timeout
SIG=$(csign POST "$TP" "$TS" "$NC" "$BODY")
is "host: a signed call with its body changed is refused, the genuine one reaches the handler" \
	"$(ccall POST "$TP" "$TS" "$NC" '{"timeout":86400}' "$SIG") $(ccall POST "$TP" "$TS" "$NC" "$BODY" "$SIG")" "401 404"
OLD=$((TS - 45000)) NC=$(nonce)
is "host: a call stamped outside the 30 s window is refused" \
	"$(ccall GET "$Q" "$OLD" "$NC" "" "$(csign GET "$Q" "$OLD" "$NC" "")")" 401
NC=$(nonce)
is "host: a call signed for another host id is refused" \
	"$(ccall GET "$Q" "$TS" "$NC" "" "$(csign GET "$Q" "$TS" "$NC" "" "${ID[2]}")" "${ID[2]}")" 401
# the key older releases derived for the control plane (a bearer) is not a key here
LEGACY=e2b_$(printf '%s' 'wrenn control plane API key v1' |
	openssl dgst -sha256 -mac HMAC -macopt "hexkey:$KEYHEX" -r | cut -c1-40)
is "host: no bearer key for the control plane (the derived key answers 401, no such key stored)" \
	"$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $LEGACY" "${HAPI[1]}/sandboxes") $(curl -s -H "X-API-Key: $(cat "${HDIR[1]}/admin-key")" "${HAPI[1]}/v1/keys" | jq -r '[.. | objects | select(.name? == "control-plane")] | length')" \
	"401 0"
if grep -q "signed call .* refused: nonce already used (replay)" "${HDIR[1]}/agent.err"; then
	ok "host logs why a call was refused"
else
	nok "host logs why a call was refused" "$(grep 'signed call' "${HDIR[1]}/agent.err" | tail -3)"
fi

# the npm E2B SDK, unmodified: create + a command through replica 1, then through replica 2
sdk_create() { # api-url proxy-url tag -> "<id> <stdout>"
	(cd tests/e2b && E2B_API_URL=$1 E2B_SANDBOX_URL=$2 E2B_API_KEY=$AK TAGV=$3 timeout 240 \
		node --input-type=module -e "
import { Sandbox } from 'e2b'
const sbx = await Sandbox.create('minimal', { timeoutMs: 900_000 })
const r = await sbx.commands.run('echo via-' + process.env.TAGV)
console.log(sbx.sandboxId + ' ' + r.stdout.trim())
" 2>&1 | tail -1)
}
place_of() { PSQL "SELECT host_id FROM placements WHERE sandbox_id='$1'"; }
out1=$(sdk_create "$CP1" "$CPX1" r1); S1=${out1%% *}
is "E2B SDK through replica 1: create + commands.run" "${out1#* }" via-r1
out2=$(sdk_create "$CP2" "$CPX2" r2); S2=${out2%% *}
is "E2B SDK through replica 2: create + commands.run" "${out2#* }" via-r2
S3=$(curl -s "${H[@]}" -H 'Content-Type: application/json' -d '{"templateID":"minimal","timeout":900}' \
	"$CP1/sandboxes" | jq -r '.sandboxID // empty')
SBS=("$S1" "$S2" "$S3")
is "three creates spread over the three hosts" \
	"$(for s in "${SBS[@]}"; do place_of "$s"; done | sort -u | wc -l)" 3

# teams: keys in PostgreSQL, made on one replica and used on the other
mkkey() { curl -s "${H[@]}" -H 'Content-Type: application/json' -d "{\"team\":\"$2\",\"name\":\"$2-k\"}" "$1/v1/keys"; }
ja=$(mkkey "$CP1" ta97) jb=$(mkkey "$CP2" tb97)
KA=$(jq -r .key <<<"$ja") KB=$(jq -r .key <<<"$jb") KAID=$(jq -r .id <<<"$ja")
is "team keys made on either replica, stored hashed" \
	"$(jq -r .team <<<"$ja") $(jq -r .team <<<"$jb") $(PSQL "SELECT count(*) FROM api_keys WHERE team IN ('ta97','tb97') AND hash IN (sha256('$KA'::bytea), sha256('$KB'::bytea))") $(PSQL "SELECT count(*) FROM api_keys WHERE position('$KA' IN id || name || prefix || team) > 0")" \
	"ta97 tb97 2 0"
A=(-H "X-API-Key: $KA") B=(-H "X-API-Key: $KB")
is "a team key manages neither keys, teams nor hosts (403 on both replicas)" \
	"$(for u in "$CP1/v1/keys" "$CP2/v1/teams" "$CP1/v1/hosts"; do curl -s -o /dev/null -w '%{http_code} ' "${A[@]}" "$u"; done)" \
	"403 403 403 "
# team A creates through replica 2 with the key replica 1 made, team B through replica 1
SA=$(curl -s "${A[@]}" -H 'Content-Type: application/json' -d '{"templateID":"minimal","timeout":900}' \
	"$CP2/sandboxes" | jq -r '.sandboxID // empty')
SB=$(curl -s "${B[@]}" -H 'Content-Type: application/json' -d '{"templateID":"minimal","timeout":900}' \
	"$CP1/sandboxes" | jq -r '.sandboxID // empty')
is "team creates placed for their team" \
	"$(PSQL "SELECT team FROM placements WHERE sandbox_id='$SA'") $(PSQL "SELECT team FROM placements WHERE sandbox_id='$SB'")" \
	"ta97 tb97"
# the hosts filter the list by the team the signed call carries: a team sees only its own
is "a team key lists only its team's sandboxes (E2B list via replica 1, /v1 via replica 2)" \
	"$(curl -s "${A[@]}" "$CP1/sandboxes" | jq -r '[.[].sandboxID] | join(",")') $(curl -s "${B[@]}" "$CP2/v1/sandboxes" | jq -r '[.sandboxes[].id] | join(",")')" \
	"$SA $SB"
is "the admin key lists every team's sandboxes" \
	"$(curl -s "${H[@]}" "$CP1/sandboxes" | jq -r --arg a "$SA" --arg b "$SB" '[.[] | select(.sandboxID == $a or .sandboxID == $b)] | length')" 2
is "another team's sandbox answers 404 (GET, DELETE, timeout, connect) on both replicas" \
	"$(curl -s -o /dev/null -w '%{http_code} ' "${A[@]}" "$CP1/sandboxes/$SB")$(curl -s -o /dev/null -w '%{http_code} ' -X DELETE "${A[@]}" "$CP2/sandboxes/$SB")$(curl -s -o /dev/null -w '%{http_code} ' "${B[@]}" -H 'Content-Type: application/json' -d '{"timeout":60}' "$CP2/sandboxes/$SA/timeout")$(curl -s -o /dev/null -w '%{http_code}' "${B[@]}" -H 'Content-Type: application/json' -d '{"timeout":60}' "$CP1/sandboxes/$SA/connect")" \
	"404 404 404 404"
is "its own sandbox answers (GET through the other replica)" \
	"$(curl -s "${A[@]}" "$CP1/sandboxes/$SA" | jq -r .state) $(curl -s "${B[@]}" "$CP2/sandboxes/$SB" | jq -r .state)" \
	"running running"
is "admin lists teams with their keys and sandboxes" \
	"$(curl -s "${H[@]}" "$CP2/v1/teams" | jq -r '[.teams[] | select(.name | endswith("97")) | "\(.name)=\(.keys)/\(.sandboxes)"] | join(" ")')" \
	"ta97=1/1 tb97=1/1"
# a signed call's team is covered by its signature: added to an operator's call, it is refused
TS=$(date +%s%3N) NC=$(nonce); SIG=$(csign GET "$Q" "$TS" "$NC" "")
is "host: X-Wrenn-Team added to a signed call is refused" \
	"$(curl -s -o /dev/null -w '%{http_code}' -H "X-Wrenn-Host: ${ID[1]}" -H "X-Wrenn-Timestamp: $TS" \
		-H "X-Wrenn-Nonce: $NC" -H "X-Wrenn-Signature: $SIG" -H 'X-Wrenn-Team: tb97' "${HAPI[1]}$Q")" 401
is "team keys delete their own sandboxes" \
	"$(curl -s -o /dev/null -w '%{http_code} ' -X DELETE "${A[@]}" "$CP2/sandboxes/$SA")$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "${B[@]}" "$CP1/sandboxes/$SB")" \
	"204 204"
is "a key revoked on replica 2 is refused by replica 1" \
	"$(curl -s -o /dev/null -w '%{http_code} ' -X DELETE "${H[@]}" "$CP2/v1/keys/$KAID")$(curl -s -o /dev/null -w '%{http_code}' "${A[@]}" "$CP1/sandboxes")" \
	"204 401"
is "key and team rows in PostgreSQL" \
	"$(PSQL "SELECT count(*) FROM api_keys WHERE team = 'tb97'") $(PSQL "SELECT count(*) FROM teams WHERE name IN ('ta97','tb97')") $(PSQL 'SELECT count(*) FROM placements')" \
	"1 2 3"

# kill -9 replica 1: replica 2 takes the heartbeats and serves everything
tk=$(date +%s%3N)
so_kill9 "$CPID1"
resumed=
for _ in $(seq 1 60); do
	resumed=$(curl -s "${H[@]}" "$CP2/v1/hosts" |
		jq -r --argjson t "$tk" '[.[] | select(.state == "ready" and .lastHeartbeatMs > $t)] | length')
	[ "$resumed" = 3 ] && break
	sleep 0.25
done
is "replica 1 kill -9'd: every host heartbeats to replica 2, all ready" "$resumed" 3
if grep -q "heartbeat: control plane $CP2 answers ($CP1 did not)" "${HDIR[2]}/agent.err"; then
	ok "hosts fall over to the next URL of --control"
else
	nok "hosts fall over to the next URL of --control" "$(grep heartbeat "${HDIR[2]}/agent.err" | tail -3)"
fi
is "replica 2 serves every sandbox (state running)" \
	"$(for s in "${SBS[@]}"; do curl -s "${H[@]}" "$CP2/sandboxes/$s" | jq -r .state; done | sort | uniq -c | awk '{print $1, $2}')" \
	"3 running"
v1=$(curl -s "${H[@]}" "$CP2/v1/sandboxes")
want=$(printf '%s\n' "${SBS[@]}" | sort | tr '\n' ' ')
is "replica 2 lists every sandbox with its host" \
	"$(jq -r '.sandboxes[] | .id' <<<"$v1" | sort | tr '\n' ' ')|$(jq -r '.sandboxes[] | .id + "=" + .hostId' <<<"$v1" | sort | tr '\n' ' ')" \
	"$want|$(PSQL "SELECT sandbox_id || '=' || host_id FROM placements ORDER BY 1" | tr '\n' ' ')"
is "E2B list through replica 2: the same sandboxes" \
	"$(curl -s "${H[@]}" "$CP2/sandboxes" | jq -r '.[].sandboxID' | sort | tr '\n' ' ')" "$want"
# nothing lost, nothing twice: the hosts' own lists together hold each sandbox exactly once
onhosts=$(for i in 1 2 3; do
	curl -s -H "X-API-Key: $(cat "${HDIR[$i]}/admin-key")" "${HAPI[$i]}/sandboxes" | jq -r '.[].sandboxID'
done | sort | tr '\n' ' ')
is "no sandbox lost, none placed twice (hosts' own lists, placements)" \
	"$onhosts|$(PSQL 'SELECT count(*), count(DISTINCT sandbox_id) FROM placements')" "$want|3|3"
out=$(sdk_create "$CP2" "$CPX2" r2b); S4=${out%% *}
is "E2B SDK through replica 2 after the kill: create + commands.run" "${out#* }" via-r2b
SBS+=("$S4")
codes=$(for s in "${SBS[@]}"; do curl -s -o /dev/null -w '%{http_code} ' -X DELETE "${H[@]}" "$CP2/sandboxes/$s"; done)
is "replica 2 kills every sandbox" "$codes" "204 204 204 204 "
left=$(for i in 1 2 3; do
	curl -s -H "X-API-Key: $(cat "${HDIR[$i]}/admin-key")" "${HAPI[$i]}/sandboxes" | jq length
done | tr '\n' ' ')
is "gone everywhere: hosts, placements, lists" \
	"$left$(PSQL 'SELECT count(*) FROM placements') $(curl -s "${H[@]}" "$CP2/sandboxes" | jq length)" "0 0 0 0 0"

# replica 1 restarted: it serves again (same database, nothing to recover)
so_control_restart 1 || true # the next check tells
is "replica 1 restarted: sees the three hosts ready" \
	"$(curl -s "${H[@]}" "$CP1/v1/hosts" | jq -r '[.[] | .state] | sort | join(",")')" "ready,ready,ready"
out=$(cd tests/e2b && E2B_API_URL=$CP1 E2B_SANDBOX_URL=$CPX1 E2B_API_KEY=$AK timeout 240 \
	node --input-type=module -e "
import { Sandbox } from 'e2b'
const sbx = await Sandbox.create('minimal', { timeoutMs: 300_000 })
const r = await sbx.commands.run('echo back')
const id = sbx.sandboxId
await sbx.kill()
const gone = await Sandbox.getInfo(id).then(() => 'alive', () => 'gone')
console.log(r.stdout.trim() + ' ' + gone)
" 2>&1 | tail -1)
is "E2B SDK through the restarted replica 1: create, run, kill" "$out" "back gone"
is "no placement left" "$(PSQL 'SELECT count(*) FROM placements')" 0

# creates in flight count (issue #15).  Hosts idle first: a killed sandbox leaves its host's
# count at the host's next heartbeat.
wait_idle() {
	local idle=
	for _ in $(seq 1 80); do
		idle=$(curl -s "${H[@]}" "$CP1/v1/hosts" |
			jq -r '[.[] | select(.state == "ready" and .capacity.sandboxes == 0 and .capacity.freeSlots == 4)] | length')
		[ "$idle" = 3 ] && break
		sleep 0.25
	done
	echo "$idle"
}
is "three idle hosts, 4 slots each" "$(wait_idle)" 3
# reservations as another replica's creates in flight leave them: hosts 1 and 2 full, host 3
# with four whose replica was killed mid-create (expired)
resv() { # host live|expired
	local until="now() + interval '1 minute'"
	[ "$2" = expired ] && until="now() - interval '1 second'"
	PSQL "INSERT INTO quota_holds (team, memory_mb, host_id, reserved_at, host_until) SELECT '', 512, '$1', now() - interval '2 seconds', $until FROM generate_series(1, 4)"
}
resv "${ID[1]}" live; resv "${ID[2]}" live; resv "${ID[3]}" expired
hdr=$(curl -s -D - -o /dev/null "${H[@]}" -H 'Content-Type: application/json' \
	-d '{"templateID":"minimal","timeout":120}' "$CP2/sandboxes" | tr -d '\r')
sx=$(PSQL "SELECT sandbox_id FROM placements WHERE host_id = '${ID[3]}'")
is "live reservations fill a host, expired ones do not: the create goes to host 3" \
	"$(sed -n 's/^[Xx]-[Ww]renn-[Hh]ost: //p' <<<"$hdr") $(wc -w <<<"$sx")" "${ID[3]} 1"
[ -n "$sx" ] && curl -s -o /dev/null -X DELETE "${H[@]}" "$CP1/sandboxes/$sx"
PSQL "UPDATE quota_holds SET host_until = now() + interval '1 minute' WHERE host_id = '${ID[3]}'"
out=$(curl -s -w ' %{http_code}' "${H[@]}" -H 'Content-Type: application/json' \
	-d '{"templateID":"minimal","timeout":120}' "$CP1/sandboxes")
is "every host full of creates in flight: 503, no host can take it" \
	"$(grep -o 'no host can take the sandbox.*3 without free slots' <<<"$out" | wc -l) ${out##* }" "1 503"
PSQL "DELETE FROM quota_holds WHERE team = ''"
is "idle again" "$(wait_idle)" 3
# 6 concurrent creates, alternately through replica 1 and replica 2: each pick counts the
# reservations committed before it (whichever replica made them), so 2 per host, none refused
BD=$(mktemp -d /tmp/wrenn-${T}b.XXXXXX)
SO_DIRS+=("$BD")
bp=()
for k in 1 2 3 4 5 6; do
	c=$CP1; [ $((k % 2)) -eq 0 ] && c=$CP2
	curl -s -m 240 -D "$BD/h$k" -o "$BD/b$k" -w '%{http_code}' "${H[@]}" \
		-H 'Content-Type: application/json' -d '{"templateID":"minimal","timeout":300}' \
		"$c/sandboxes" >"$BD/c$k" &
	bp+=($!)
done
wait "${bp[@]}"
codes=$(for k in 1 2 3 4 5 6; do printf '%s ' "$(cat "$BD/c$k")"; done)
is "6 concurrent creates through both replicas over three 4-slot hosts: all 201" "$codes" \
	"201 201 201 201 201 201 "
spread=$(for i in 1 2 3; do PSQL "SELECT count(*) FROM placements WHERE host_id = '${ID[$i]}'"; done | tr '\n' ' ')
is "spread evenly: 2 per host (placements per host)" "$spread" "2 2 2 "
is "no reservation left once the creates are placed" "$(PSQL 'SELECT count(*) FROM quota_holds')" 0
codes=$(for k in 1 2 3 4 5 6; do
	s=$(jq -r '.sandboxID // empty' "$BD/b$k" 2>/dev/null)
	[ -n "$s" ] && curl -s -o /dev/null -w '%{http_code} ' -X DELETE "${H[@]}" "$CP2/sandboxes/$s"
done)
is "the burst's sandboxes killed" "$codes$(PSQL 'SELECT count(*) FROM placements')" \
	"204 204 204 204 204 204 0"
if grep -qF "${CRED[1]}" "$CDIR1/agent.err" "$CDIR2/agent.err" "${HDIR[1]}/agent.err" 2>/dev/null; then
	nok "a host credential never appears in a log"
else
	ok "a host credential never appears in a log"
fi
if grep -q "control-plane call refused" "${HDIR[2]}/agent.err" "${HDIR[3]}/agent.err"; then
	nok "every call of the replicas was accepted by hosts 2 and 3" "$(grep 'refused' "${HDIR[2]}/agent.err" | tail -3)"
else
	ok "every call of the replicas was accepted by hosts 2 and 3"
fi

# teardown, then nothing may be left
so_stop
is "cleanup: no namespace, bridge or veth of this test left" \
	"$(ip netns list | grep -c "^$T") $(ip -o link show | grep -c "$T")" "0 0"
pids=
for d in "${SO_DIRS[@]}"; do pids+=$(pgrep -f "$d/" | tr '\n' ' '); done
is "cleanup: no agent, QEMU or helper process left" "$pids" ""
is "cleanup: no cgroup of a sandbox of this run left" "$(so_cgroups_left)" ""
exit $fail
