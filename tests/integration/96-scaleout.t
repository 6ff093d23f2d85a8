#!/usr/bin/env bash
# Multiple hosts (issue #15): a throwaway PostgreSQL cluster (tests/lib/pg.sh), a control plane
# (--role control, API and sandbox-traffic ports) and two host agents (--role host) on loopback
# with their own ports, namespace prefixes, egress objects and data dirs (agent_net_args).  Hosts
# are registered (credential shown once, stored hashed), heartbeat with signed requests, a kill
# -9'd host turns lost within 20 s, drain and remove work, forged / stale / replayed heartbeats are
# refused; the npm E2B SDK creates, runs commands and moves files through the control plane
# alone; lists merge the hosts' sandboxes (lost ones in /v1); a snapshot template made on host a
# starts sandboxes on host b (fetched host to host, one fetch for concurrent creates, a partial or
# tampered transfer refused and nothing left behind).
set -u
cd "$(dirname "$0")/../.."
N=120
echo "1..$N"
. tests/lib/agent.sh
. tests/lib/pg.sh
# shellcheck source=tests/lib/e2b.sh
. tests/lib/e2b.sh

SO_TAG=so96 SO_TIMEOUT=600
# shellcheck source=tests/lib/scaleout.sh
. tests/lib/scaleout.sh

trap so_cleanup EXIT
trap 'exit 1' INT TERM
so_need
so_pg
ok "throwaway PostgreSQL cluster on 127.0.0.1:$PGPORT"
# the npm e2b SDK for the one-entry-point check (tests/lib/e2b.sh; in a subshell: a failed npm ci
# skips, or under CI fails, that check only, not the whole file)
SDK_OK=
if command -v node >/dev/null && command -v npm >/dev/null; then
	(e2b_npm_ci so96) >/dev/null 2>&1
	[ -d tests/e2b/node_modules/e2b ] && SDK_OK=1
fi
EV() { # [key] query -> GET /v1/events?query (the admin key unless a key is given)
	if [ $# -eq 2 ]; then curl -s -H "X-API-Key: $1" "$CP/v1/events?$2"; else curl -s "${H[@]}" "$CP/v1/events?$1"; fi
}

# the control plane: no runtime, no VMs, state in PostgreSQL (and a sandbox-traffic port)
so_control
PC=${CP##*:}
is "control plane /health" "$(curl -s "$CP/health" | jq -r '.status + " " + .role')" "ok control"
is "admin key written once, 0600" "$(stat -c %a "$CDIR/admin-key" 2>/dev/null) ${#AK}" "600 44"
is "migrations recorded in schema_version (5: team quotas)" \
	"$(PSQL 'SELECT max(version) >= 5 FROM schema_version') $(PSQL "SELECT count(*) FROM information_schema.tables WHERE table_name = 'quota_holds'")" "t 1"
is "admin key stored as its SHA-256 only" \
	"$(PSQL "SELECT encode(hash,'hex') FROM admin_keys")" "$(printf '%s' "$AK" | sha256sum | cut -d' ' -f1)"
if [ ! -e "$CDIR/wrenn.db" ]; then ok "control plane keeps no SQLite"; else nok "control plane keeps no SQLite"; fi

is "GET /v1/hosts without a key: 401" "$(curl -s -o /dev/null -w '%{http_code}' "$CP/v1/hosts")" 401
is "GET /v1/hosts with a wrong key: 401" \
	"$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: e2b_$(printf '0%.0s' $(seq 40))" "$CP/v1/hosts")" 401
is "unknown field refused" "$(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" -d '{"nme":"x"}' "$CP/v1/hosts")" 400

so_register a b c
if [[ ${ID[a]} == host-* && ${CRED[a]} == whc_* && ${ID[a]} != "${ID[b]}" ]]; then
	ok "hosts registered, credential issued"
else
	nok "hosts registered" "${ID[*]}"
fi
is "credential stored as SHA-256, never in plain" \
	"$(PSQL "SELECT encode(key_hash,'hex') FROM hosts WHERE id='${ID[a]}'") $(PSQL "SELECT count(*) FROM hosts WHERE capacity::text LIKE '%${CRED[a]#whc_}%' OR name LIKE '%${CRED[a]#whc_}%'")" \
	"$(printf '%s' "${CRED[a]}" | sha256sum | cut -d' ' -f1) 0"
is "a new host is pending" "$(curl -s "${H[@]}" "$CP/v1/hosts/${ID[a]}" | jq -r .state)" pending

# host agents (a and b; c is only signed requests from the shell): the ordinary agent plus the
# heartbeat, each with its own ports, namespace prefix and egress objects (agent_net_args)
SO_HOST_ARGS=(--auto-snapshot=false --warm-pool 0 --pool-size 1)
so_start_host a
so_start_host b
so_wait_ready a b
is "both hosts ready after their first heartbeat" "$SO_STATES" "ready,ready"
[ "$SO_STATES" = "ready,ready" ] || bail "hosts did not report"
ja=$(curl -s "${H[@]}" "$CP/v1/hosts/${ID[a]}")
is "host reports its API URL" "$(jq -r .apiUrl <<<"$ja")" "$HAPI_a"
is "capacity: free slots, memory, templates, warm VMs" \
	"$(jq -r '.capacity | [(.freeSlots > 0), (.memoryAvailableMb > 0), (.templates | index("minimal") != null), (.warmVms >= 0), .sandboxes] | map(tostring) | join(" ")' <<<"$ja")" \
	"true true true true 0"
if curl -sf "$HAPI_a/health" >/dev/null; then ok "host agent serves its own API"; else nok "host agent serves its own API"; fi
t1=$(jq -r .lastHeartbeatMs <<<"$ja"); sleep 3.5
t2=$(curl -s "${H[@]}" "$CP/v1/hosts/${ID[a]}" | jq -r .lastHeartbeatMs)
if [ "$t2" -gt "$t1" ] 2>/dev/null; then ok "heartbeats keep coming (every 3 s)"; else nok "heartbeats keep coming" "$t1 -> $t2"; fi

# signed requests from the shell, as host c: valid, replayed, tampered, stale, unsigned
KEYHEX=$(printf '%s' "${CRED[c]}" | sha256sum | cut -d' ' -f1)
HB=/v1/hosts/${ID[c]}/heartbeat
sign() { # ts body -> hex signature
	local bh
	bh=$(printf '%s' "$2" | sha256sum | cut -d' ' -f1)
	printf 'WRENN-HMAC-SHA256\nPOST\n%s\n%s\n%s\n%s' "$HB" "${ID[c]}" "$1" "$bh" |
		openssl dgst -sha256 -mac HMAC -macopt "hexkey:$KEYHEX" -r | cut -d' ' -f1
}
post_hb() { # ts body sig -> status
	curl -s -o /dev/null -w '%{http_code}' -H "X-Wrenn-Host: ${ID[c]}" -H "X-Wrenn-Timestamp: $1" \
		-H "X-Wrenn-Signature: $3" -H 'Content-Type: application/json' --data-binary "$2" "$CP$HB"
}
# host c claims to be empty with plenty of room but its API is a closed port: the scheduler picks it
# first and the placement is retried on a real host
BODY='{"apiUrl":"http://127.0.0.1:9","proxyUrl":"http://127.0.0.1:9","capacity":{"freeSlots":64,"sandboxes":0,"memoryAvailableMb":1000000,"warmVms":0,"templates":["minimal"]}}'
TS=$(date +%s%3N); SIG=$(sign "$TS" "$BODY")
is "signed heartbeat accepted" "$(post_hb "$TS" "$BODY" "$SIG")" 200
is "the same request replayed: 401" "$(post_hb "$TS" "$BODY" "$SIG")" 401
T2=$((TS + 1))
is "tampered body: 401" "$(post_hb "$T2" "${BODY/freeSlots/freeSlotz}" "$(sign "$T2" "$BODY")")" 401
OLD=$((TS - 120000))
is "timestamp outside the 60 s window: 401" "$(post_hb "$OLD" "$BODY" "$(sign "$OLD" "$BODY")")" 401
is "unsigned heartbeat: 401" \
	"$(curl -s -o /dev/null -w '%{http_code}' -d "$BODY" "$CP$HB")" 401
if grep -q "${CRED[a]}" "$CDIR/agent.err" "$HDIR_a/agent.err" 2>/dev/null; then nok "credential never logged"; else ok "credential never logged"; fi

# scheduling creates: least loaded first, placements recorded, GET/DELETE forwarded by placement
declare -a SB
declare -A ON TOK
for i in 1 2 3 4; do
	hdr=$(mktemp); out=$(curl -s -D "$hdr" "${H[@]}" -H 'Content-Type: application/json' \
		-d '{"templateID":"minimal","timeout":300}' "$CP/sandboxes")
	sid=$(jq -r '.sandboxID // empty' <<<"$out" 2>/dev/null)
	hid=$(awk -F': ' 'tolower($1)=="x-wrenn-host"{print $2}' "$hdr" | tr -d '\r'); rm -f "$hdr"
	[ -n "$sid" ] || { echo "# create $i: $out"; sid=none-$i; }
	SB+=("$sid"); ON[$sid]=$hid; TOK[$sid]=$(jq -r '.envdAccessToken // empty' <<<"$out" 2>/dev/null)
done
n_ok=0; for sid in "${SB[@]}"; do [[ $sid == none-* ]] || n_ok=$((n_ok + 1)); done
is "4 creates through the control plane" "$n_ok" 4
is "creates spread over both hosts" \
	"$(for sid in "${SB[@]}"; do echo "${ON[$sid]}"; done | sort | uniq -c | awk '{print $1}' | sort | tr '\n' ' ')" "2 2 "
if grep -q "placement on host ${ID[c]} failed" "$CDIR/agent.err" && ! printf '%s\n' "${ON[@]}" | grep -q "${ID[c]}"; then
	ok "a failed placement (unreachable host) is retried on another host"
else
	nok "a failed placement is retried on another host" "$(grep placement "$CDIR/agent.err" | tail -3)"
fi
if grep -q "placement of a minimal sandbox (attempt 1): host-.*least loaded" "$CDIR/agent.err"; then
	ok "every decision logged with its reason"
else
	nok "decisions logged"
fi
is "placements recorded in PostgreSQL" \
	"$(PSQL "SELECT count(*) FROM placements WHERE host_id IN ('${ID[a]}','${ID[b]}')")" 4
# events (issue 15 item 5): each placement with the scheduler's decision, the failed one with
# its reason, the hosts' registration, all in PostgreSQL and through GET /v1/events
placed=0
for sid in "${SB[@]}"; do
	EV "sandboxId=$sid&kind=placed" | jq -e --arg h "${ON[$sid]}" \
		'.events | length == 1 and (.[0].hostId == $h) and (.[0].detail | test("^template minimal, attempt [12]: host-[0-9a-f]+: template present.*least loaded of [0-9]+ eligible"))' >/dev/null &&
		placed=$((placed + 1))
done
is "GET /v1/events: a placed event per create, on its host, with the scheduler's reason" "$placed" 4
is "the failed placement on host c is an event with its reason, retried elsewhere" \
	"$(EV "hostId=${ID[c]}&kind=placement_failed" | jq -r '[.events[] | select(.detail | test("retried on another host$"))] | length > 0')" true
# host c has served its purpose: drained, so that no later create is tried there first while its
# one heartbeat is fresh (it turns lost 15 s after it; how soon the suite gets here depends on the
# machine: with faster boots a team's create below was placed on c first, and its events had a
# placement_failed the checks do not expect)
is "host c drained once its checks are done" \
	"$(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" -X POST "$CP/v1/hosts/${ID[c]}/drain")" 200
is "host_registered events for the three hosts" \
	"$(EV "kind=host_registered" | jq -r '[.events[].hostId] | sort | join(" ")')" \
	"$(printf '%s\n' "${ID[a]}" "${ID[b]}" "${ID[c]}" | sort | tr '\n' ' ' | sed 's/ $//')"
S0=${SB[0]}
is "GET /sandboxes/{id} forwarded to its host" \
	"$(curl -s "${H[@]}" "$CP/sandboxes/$S0" | jq -r '.sandboxID + " " + .state')" "$S0 running"
hdir=$HDIR_a; [ "${ON[$S0]}" = "${ID[b]}" ] && hdir=$HDIR_b
hapi=$HAPI_a; [ "${ON[$S0]}" = "${ID[b]}" ] && hapi=$HAPI_b
is "the sandbox runs on the host it was placed on" \
	"$(curl -s -H "X-API-Key: $(cat "$hdir/admin-key")" "$hapi/sandboxes/$S0" | jq -r .sandboxID)" "$S0"
is "DELETE forwarded, placement removed" \
	"$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "${H[@]}" "$CP/sandboxes/$S0") $(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" "$CP/sandboxes/$S0") $(PSQL "SELECT count(*) FROM placements WHERE sandbox_id='$S0'")" \
	"204 404 0"
# (older: possibly "adopted", when the host's heartbeat listed it before the create's answer)
is "its placement's release is an event (newest first: released, placed)" \
	"$(EV "sandboxId=$S0" | jq -r '[.events[:2][] | .kind + ":" + (.detail | split(" ")[0])] | join(" ")')" \
	"released:killed placed:template"
# per-sandbox operations forwarded by placement: timeout, pause, connect (resume), logs
S1=${SB[1]}
is "timeout and pause through the control plane" \
	"$(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" -H 'Content-Type: application/json' -d '{"timeout":600}' "$CP/sandboxes/$S1/timeout") $(curl -s -o /dev/null -w '%{http_code}' -X POST "${H[@]}" "$CP/sandboxes/$S1/pause") $(curl -s "${H[@]}" "$CP/sandboxes/$S1" | jq -r .state)" \
	"204 204 paused"
code=$(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" -H 'Content-Type: application/json' -d '{"timeout":600}' "$CP/sandboxes/$S1/connect")
is "connect resumes it through the control plane" \
	"$([[ $code == 20[01] ]] && echo 2xx) $(curl -s "${H[@]}" "$CP/sandboxes/$S1" | jq -r .state) $(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" "$CP/sandboxes/$S1/logs")" \
	"2xx running 200"

# sandbox traffic through the control plane's proxy port, routed by placement to the host's proxy
is "proxy: envd reached by the E2b-Sandbox-Id header and by Host <port>-<id>.<domain>" \
	"$(curl -s -o /dev/null -w '%{http_code}' -H "E2b-Sandbox-Id: $S1" "$CPX/health") $(curl -s -o /dev/null -w '%{http_code}' -H "Host: 49983-$S1.localhost" "$CPX/health")" \
	"204 204"
is "proxy: an unknown sandbox is E2B's 502 with its id" \
	"$(curl -s -w ' %{http_code}' -H 'E2b-Sandbox-Id: nosuch' "$CPX/health" | sed 's/^{.*"sandboxId":"\([^"]*\)".*} /\1 /')" "nosuch 502"
is "proxy: envd's host-only paths refused" \
	"$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "E2b-Sandbox-Id: $S1" -d '{}' "$CPX/init")" 403
# the unmodified npm e2b SDK with one entry point: API and sandbox traffic both at the control plane;
# two sandboxes created one after the other land on both hosts (least loaded)
if [ -n "$SDK_OK" ]; then
	sdk=$(cd tests/e2b && E2B_API_URL=$CP E2B_SANDBOX_URL=$CPX E2B_API_KEY=$AK timeout 180 \
		node --input-type=module -e "
import { Sandbox } from 'e2b'
const boxes = [], out = []
for (const i of [1, 2]) boxes.push(await Sandbox.create('minimal', { timeoutMs: 300_000 }))
for (const [i, sbx] of boxes.entries()) {
	const r = await sbx.commands.run('echo scale-\$((40 + ' + i + '))')
	await sbx.files.write('/tmp/so96.txt', 'file-' + i)
	out.push(r.stdout.trim() + '/' + await sbx.files.read('/tmp/so96.txt'))
}
const ids = boxes.map((b) => b.sandboxId)
for (const sbx of boxes) await sbx.kill()
const gone = await Promise.all(ids.map((id) => Sandbox.getInfo(id).then(() => 'alive', () => 'gone')))
console.log(out.join(' '), gone.join(' '), ids.join(' '))
" 2>&1 | tail -3)
	is "E2B SDK, one entry point: create x2, commands.run, files.write/read, kill" \
		"$(cut -d' ' -f1-4 <<<"$sdk")" "scale-40/file-0 scale-41/file-1 gone gone"
elif e2b_ci; then
	nok "E2B SDK through the control plane" "node or tests/e2b/node_modules missing under CI"
else
	n=$((n + 1)); echo "ok $n # skip node or the npm e2b package missing"
fi
# one proxy port, sandboxes on both hosts: a command through envd's Connect API on each
both=
for h in a b; do
	for sid in "${SB[@]}"; do
		[ "$sid" != "$S0" ] && [ "${ON[$sid]}" = "${ID[$h]}" ] || continue
		req='{"process":{"cmd":"/bin/sh","args":["-c","echo on-'"$h"'"]}}'
		both+=$(perl -e 'print pack("CN", 0, length $ARGV[0]), $ARGV[0]' "$req" |
			curl -s -m 30 -N -H "E2b-Sandbox-Id: $sid" -H "X-Access-Token: ${TOK[$sid]}" -H 'Content-Type: application/connect+json' \
				--data-binary @- "$CPX/process.Process/Start" | grep -ao '"stdout":"[^"]*"' | head -1 |
			cut -d'"' -f4 | base64 -d)" "
		break
	done
done
is "one proxy port: a command streamed from a sandbox on each host" "$both" "on-a on-b "

# lists across hosts: the control plane's lists are the union of the hosts' own
ids_of() { jq -r 'if type == "object" then .sandboxes else . end | .[] | (.sandboxID // .id)' | sort | tr '\n' ' '; }
union=$({ curl -s -H "X-API-Key: $(cat "$HDIR_a/admin-key")" "$HAPI_a/sandboxes"
	curl -s -H "X-API-Key: $(cat "$HDIR_b/admin-key")" "$HAPI_b/sandboxes"; } | jq -s 'add' | ids_of)
is "GET /sandboxes (E2B) merges the hosts' sandboxes" "$(curl -s "${H[@]}" "$CP/sandboxes" | ids_of)" "$union"
is "three running sandboxes on two hosts" "$(wc -w <<<"$union")" 3
is "GET /v2/sandboxes with a state filter" \
	"$(curl -s "${H[@]}" "$CP/v2/sandboxes?state=running" | ids_of)|$(curl -s "${H[@]}" "$CP/v2/sandboxes?state=paused" | jq length)" \
	"$union|0"
pages= tok= np=0
while :; do
	hdr=$(mktemp)
	pg=$(curl -s -D "$hdr" "${H[@]}" "$CP/v2/sandboxes?limit=2${tok:+&nextToken=$tok}")
	tok=$(awk -F': ' 'tolower($1)=="x-next-token"{print $2}' "$hdr" | tr -d '\r'); rm -f "$hdr"
	pages+=$(jq -r '.[].sandboxID' <<<"$pg")$'\n'; np=$((np + 1))
	[ -n "$tok" ] && [ $np -lt 5 ] || break
done
is "GET /v2/sandboxes pages (limit=2) across hosts: every sandbox once" \
	"$np $(grep . <<<"$pages" | sort | tr '\n' ' ')" "2 $union"
v1=$(curl -s "${H[@]}" "$CP/v1/sandboxes")
is "GET /v1/sandboxes: every sandbox with the host it runs on" \
	"$(ids_of <<<"$v1")|$(jq -r '.sandboxes[] | .id + "=" + .hostId' <<<"$v1" | sort | tr '\n' ' ')" \
	"$union|$(PSQL "SELECT sandbox_id || '=' || host_id FROM placements WHERE host_id IN ('${ID[a]}','${ID[b]}') ORDER BY 1" | tr '\n' ' ')"
is "fork is forwarded by placement: an unknown sandbox 404 (forks: 99-scaleout-snapshots.t)" \
	"$(curl -s -o /dev/null -w '%{http_code}' -X POST "${H[@]}" "$CP/sandboxes/so96-none/fork")" 404

# the native /v1 API through the control plane (the wrenn CLI pointed at it): create (placed by the
# same scheduler, memoryMB reserved), ls, info, exec (streamed), cp both ways, logs, timeout, pause,
# resume, a pty, kill; each per-sandbox call forwarded by placement as a signed call
W=$B/bin/wrenn
WC=("$W" --api-url "$CP" --api-key "$AK")
V1=$("${WC[@]}" create -t minimal --timeout 300 2>"$CDIR/cli.err"); rc=$?
V1H=$(PSQL "SELECT host_id FROM placements WHERE sandbox_id='$V1'")
is "wrenn create through the control plane: placed on a host, placement recorded" \
	"$rc $([[ -n $V1 && ($V1H == "${ID[a]}" || $V1H == "${ID[b]}") ]] && echo placed)" "0 placed"
[ -n "$V1" ] || echo "# wrenn create: $(cat "$CDIR/cli.err")"
if grep -q "sandbox $V1 placed on host $V1H" "$CDIR/agent.err"; then ok "the /v1 create's decision is logged"; else nok "the /v1 create's decision is logged"; fi
out=$(curl -s -w ' %{http_code}' "${H[@]}" -H 'Content-Type: application/json' -d '{"template":"minimal","memoryMB":50000000}' "$CP/v1/sandboxes")
is "POST /v1/sandboxes: the body's memoryMB is what the scheduler reserves" \
	"$(grep -o 'without 50000000 MB free' <<<"$out") ${out##* }" "without 50000000 MB free 503"
is "wrenn ls and info through the control plane" \
	"$("${WC[@]}" ls --json | jq -r --arg s "$V1" '.[] | select(.id == $s) | .hostId') $("${WC[@]}" info --json "$V1" | jq -r '.id + " " + .state')" \
	"$V1H $V1 running"
out=$("${WC[@]}" exec "$V1" sh -c 'echo v1-$((6 * 7)); exit 3' 2>"$CDIR/cli.err"); rc=$?
is "wrenn exec: output streamed through the control plane, the command's exit code" "$out $rc" "v1-42 3"
printf 'copied-%s\n' "$V1" >"$CDIR/cp-in"
"${WC[@]}" cp "$CDIR/cp-in" "$V1:/tmp/v1-cp.txt" 2>"$CDIR/cli.err"; rc=$?
is "wrenn cp both ways through the control plane" \
	"$rc $("${WC[@]}" cp "$V1:/tmp/v1-cp.txt" - 2>>"$CDIR/cli.err")" "0 copied-$V1"
is "files list/stat/mkdir through the control plane" \
	"$(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" -H 'Content-Type: application/json' -d '{"path":"/tmp/v1dir"}' "$CP/v1/sandboxes/$V1/files/mkdir") $(curl -s "${H[@]}" "$CP/v1/sandboxes/$V1/files/stat?path=/tmp/v1-cp.txt" | jq -r .size) $(curl -s "${H[@]}" "$CP/v1/sandboxes/$V1/files/list?path=/tmp" | jq -r '[.entries[].name | select(. == "v1dir" or . == "v1-cp.txt")] | sort | join(",")')" \
	"201 $(wc -c <"$CDIR/cp-in") v1-cp.txt,v1dir"
hdr=$(mktemp)
curl -s -D "$hdr" -o /dev/null "${H[@]}" "$CP/v1/sandboxes/$V1/logs?tail=100"
is "logs forwarded with the host's X-Next-Token and X-Wrenn-Host" \
	"$(grep -ci '^x-next-token: [0-9]' "$hdr") $(awk -F': ' 'tolower($1)=="x-wrenn-host"{print $2}' "$hdr" | tr -d '\r')" "1 $V1H"
rm -f "$hdr"
pty=$(python3 - "$PC" "$AK" "$V1" <<'PY'
import socket, struct, sys, time
port, key, sid = sys.argv[1:4]
s = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
s.sendall(("POST /v1/sandboxes/%s/pty?cmd=/bin/sh HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n"
           "Connection: Upgrade\r\nUpgrade: wrenn-pty\r\nContent-Length: 0\r\n\r\n" % (sid, key)).encode())
data = b""
while b"\r\n\r\n" not in data:
    c = s.recv(4096)
    if not c: break
    data += c
status = data.split(b"\r\n", 1)[0].decode(errors="replace")
cmd = b"echo pty-$((40 + 2)); exit\n"
s.sendall(struct.pack(">BI", 0, len(cmd)) + cmd)
end = time.time() + 30
while time.time() < end:
    try:
        c = s.recv(65536)
    except socket.timeout:
        break
    if not c: break
    data += c
print(status.split(" ")[1] if " " in status else status, "pty-42" if b"pty-42" in data else "no-output")
PY
)
is "pty (wrenn-pty upgrade) relayed to the host: 101, a command's output" "$pty" "101 pty-42"
is "wrenn timeout, pause, resume through the control plane" \
	"$("${WC[@]}" timeout "$V1" 600 >/dev/null 2>&1; echo $?) $("${WC[@]}" pause "$V1" >/dev/null 2>&1; echo $?) $("${WC[@]}" info --json "$V1" | jq -r .state) $("${WC[@]}" resume "$V1" >/dev/null 2>&1; echo $?) $("${WC[@]}" info --json "$V1" | jq -r .state)" \
	"0 0 paused 0 running"
is "an unknown method on a /v1 sandbox route: 405; an unserved one: 501" \
	"$(curl -s -o /dev/null -w '%{http_code}' -X PATCH "${H[@]}" "$CP/v1/sandboxes/$V1") $(curl -s -o /dev/null -w '%{http_code}' -X DELETE "${H[@]}" "$CP/v1/templates/so96")" "405 501"
# tenancy on the /v1 routes: a team's sandbox is 404 to another team before any host is called
TK1=$(curl -s "${H[@]}" -d '{"name":"v1","team":"so96-t1"}' "$CP/v1/keys" | jq -r .key)
TK2=$(curl -s "${H[@]}" -d '{"name":"v1","team":"so96-t2"}' "$CP/v1/keys" | jq -r .key)
V1T=$(curl -s -H "X-API-Key: $TK1" -H 'Content-Type: application/json' -d '{"template":"minimal","timeout":300}' "$CP/v1/sandboxes" | jq -r '.id // empty')
t2() { curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $TK2" "$@"; }
is "a team's /v1 create is placed for the team; another team gets 404 (info, exec, files, kill)" \
	"$(PSQL "SELECT team FROM placements WHERE sandbox_id='$V1T'") $(t2 "$CP/v1/sandboxes/$V1T") $(t2 -H 'Content-Type: application/json' -d '{"cmd":["true"]}' "$CP/v1/sandboxes/$V1T/exec") $(t2 "$CP/v1/sandboxes/$V1T/files?path=/etc/hostname") $(t2 -X DELETE "$CP/v1/sandboxes/$V1T") $(curl -s -H "X-API-Key: $TK1" "$CP/v1/sandboxes/$V1T" | jq -r .state)" \
	"so96-t1 404 404 404 404 running"
is "wrenn kill through the control plane: gone, placement removed" \
	"$("${WC[@]}" kill "$V1" "$V1T" >/dev/null 2>&1; echo $?) $(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" "$CP/v1/sandboxes/$V1") $(PSQL "SELECT count(*) FROM placements WHERE sandbox_id IN ('$V1','$V1T')")" \
	"0 404 0"
t1ev=$(EV "$TK1" "limit=1000")
is "GET /v1/events with a team key: its sandbox's events only (no host's, no operator's), another team none" \
	"$(jq -r '[.events[] | .kind + "/" + .sandboxId + "/" + .team] | join(" ")' <<<"$t1ev") $(EV "$TK2" "sandboxId=$V1T" | jq '.events | length') $(EV "$TK1" "hostId=${ID[c]}" | jq '.events | length')" \
	"released/$V1T/so96-t1 placed/$V1T/so96-t1 0 0"

# templates across hosts: a snapshot template made on host a (its own API) starts sandboxes on host b
# through the control plane (pinned there with X-Wrenn-Place-On): b fetches it from a by content
# digest with a token the control plane minted, two concurrent creates share one fetch; a
# tampered or partial transfer is refused and leaves nothing on b
KA=$(cat "$HDIR_a/admin-key"); KB=$(cat "$HDIR_b/admin-key")
run_in() { # proxy-url sandbox token shell-command -> its stdout
	local req='{"process":{"cmd":"/bin/sh","args":["-c","'"$4"'"]}}'
	perl -e 'print pack("CN", 0, length $ARGV[0]), $ARGV[0]' "$req" |
		curl -s -m 60 -N -H "E2b-Sandbox-Id: $2" -H "X-Access-Token: $3" -H 'Content-Type: application/connect+json' \
			--data-binary @- "$1/process.Process/Start" | grep -ao '"stdout":"[^"]*"' | head -1 | cut -d'"' -f4 | base64 -d
}
has_tpl() { # host-id template -> waits until the host's heartbeat lists it
	for _ in $(seq 1 40); do
		curl -s "${H[@]}" "$CP/v1/hosts/$1" | jq -e --arg t "$2" '.capacity.templates | index($t)' >/dev/null && return 0
		sleep 0.25
	done
	return 1
}
out=$(curl -s -H "X-API-Key: $KA" -H 'Content-Type: application/json' -d '{"templateID":"minimal","timeout":300}' "$HAPI_a/sandboxes")
TS_ID=$(jq -r '.sandboxID // empty' <<<"$out"); TS_TOK=$(jq -r '.envdAccessToken // empty' <<<"$out")
run_in "$HPROXY_a" "$TS_ID" "$TS_TOK" 'echo made-on-a > /tmp/so96-tpl.txt' >/dev/null
snap() { curl -s -H "X-API-Key: $KA" -H 'Content-Type: application/json' -d '{}' "$HAPI_a/sandboxes/$TS_ID/snapshots" | jq -r '.snapshotID // empty'; }
T1=$(snap); T2=$(snap)
CR=()
if [ -n "$T1" ] && [ -n "$T2" ] && has_tpl "${ID[a]}" "$T2" && ! curl -s "${H[@]}" "$CP/v1/hosts/${ID[b]}" | jq -e --arg t "$T1" '.capacity.templates | index($t)' >/dev/null; then
	ok "two snapshot templates made on host a, host b has neither"
else
	nok "snapshot templates on host a" "sandbox '$TS_ID' snapshots '$T1' '$T2': $out"
fi
for i in 1 2; do
	curl -s -D "$CDIR/tx-h$i" -o "$CDIR/tx-b$i" "${H[@]}" -H "X-Wrenn-Place-On: ${ID[b]}" -H 'Content-Type: application/json' \
		-d "{\"templateID\":\"$T1\",\"timeout\":300}" "$CP/sandboxes" &
	CR+=($!)
done
wait "${CR[@]}" # only the creates: the agents are children of this shell too
TXS=() both=
for i in 1 2; do
	sid=$(jq -r '.sandboxID // empty' "$CDIR/tx-b$i" 2>/dev/null)
	[ -n "$sid" ] || echo "# create $i from $T1: $(cat "$CDIR/tx-b$i")"
	TXS+=("$sid")
	hid=$(awk -F': ' 'tolower($1)=="x-wrenn-host"{print $2}' "$CDIR/tx-h$i" | tr -d '\r')
	both+="$hid:$(run_in "$CPX" "$sid" "$(jq -r '.envdAccessToken // empty' "$CDIR/tx-b$i")" 'cat /tmp/so96-tpl.txt') "
done
is "a template made on host a starts two sandboxes on host b through the control plane, with its files" \
	"$both" "${ID[b]}:made-on-a ${ID[b]}:made-on-a "
nf=$(grep -c "template $T1: fetching from host ${ID[a]}" "$HDIR_b/agent.err")
nj=$(grep -c "template $T1: joining the fetch in flight" "$HDIR_b/agent.err")
is "two concurrent creates on host b: one fetch (the other joined it or found the template)" \
	"$nf $(grep -c "template $T1: fetched from host ${ID[a]}, .* digest [0-9a-f]\{64\} verified" "$HDIR_b/agent.err")" "1 1"
echo "# $T1: $nj create(s) joined the fetch in flight"
is "the fetched template is registered on b, no partial directory left" \
	"$([ -f "$HDIR_b/templates/$T1/rootfs.img" ] && [ -f "$HDIR_b/templates/$T1/wrenn-vmm.json" ] && echo dir) $(ls -a "$HDIR_b/templates" | grep -c '^\.fetch-')" "dir 0"
for sid in "${TXS[@]}"; do curl -s -o /dev/null -X DELETE "${H[@]}" "$CP/sandboxes/$sid"; done
# the source's routes: only with a fetch token for that template and host, minted with a's key
KEYA=$(printf '%s' "${CRED[a]}" | sha256sum | cut -d' ' -f1)
EXP=$(($(date +%s%3N) + 60000))
TOKA=$(printf 'wrenn template fetch v1\n%s\n%s\n%s' "$T2" "${ID[b]}" "$EXP" |
	openssl dgst -sha256 -mac HMAC -macopt "hexkey:$KEYA" -r | cut -d' ' -f1)
mf() { curl -s -o /dev/null -w '%{http_code}' -H "X-Wrenn-Fetch-Host: ${ID[b]}" -H "X-Wrenn-Fetch-Expires: $1" -H "X-Wrenn-Fetch-Token: $2" "$HAPI_a/v1/host/templates/$3/manifest"; }
is "template routes: no token 401, wrong token 401, another template's token 401, API key 401, token 200" \
	"$(curl -s -o /dev/null -w '%{http_code}' "$HAPI_a/v1/host/templates/$T2/manifest") $(mf "$EXP" "$(tr 0-9a-f 1-9a-f0 <<<"$TOKA")" "$T2") $(mf "$EXP" "$TOKA" "$T1") $(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $KA" "$HAPI_a/v1/host/templates/$T2/manifest") $(mf "$EXP" "$TOKA" "$T2")" \
	"401 401 401 401 200"
is "only the control plane may order a fetch: an operator key is 403" \
	"$(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $KB" -d '{}' "$HAPI_b/v1/host/template-fetch")" 403
# a partial transfer (a's file shorter than its manifest says), then a tampered one (same size,
# other bytes): b refuses both, keeps nothing, and the create fails naming the cause
TD=$HDIR_a/templates/$T2
cp "$TD/state" "$CDIR/state.bak"
truncate -s $(($(stat -c %s "$TD/state") / 2)) "$TD/state"
pin_create() { curl -s "${H[@]}" -H "X-Wrenn-Place-On: ${ID[b]}" -H 'Content-Type: application/json' -d "{\"templateID\":\"$T2\"}" "$CP/sandboxes"; }
out=$(pin_create)
is "a partial transfer is refused" "$(grep -o 'state: partial transfer' <<<"$out")" "state: partial transfer"
cp "$CDIR/state.bak" "$TD/state"
printf 'tampered!' | dd of="$TD/rootfs.img" bs=1 seek=4096 conv=notrunc status=none
out=$(pin_create)
is "a tampered transfer is refused (sha256 differs from the manifest)" \
	"$(grep -o 'rootfs.img: sha256 [0-9a-f]* differs' <<<"$out" | sed 's/sha256 [0-9a-f]*/sha256 X/')" "rootfs.img: sha256 X differs"
is "nothing of a refused template is left on b (no directory, no partial, not registered)" \
	"$([ -e "$HDIR_b/templates/$T2" ] && echo dir) $(ls -a "$HDIR_b/templates" | grep -c '^\.fetch-') $(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $KB" -H 'Content-Type: application/json' -d "{\"templateID\":\"$T2\"}" "$HAPI_b/sandboxes")" \
	" 0 404"
curl -s -o /dev/null -X DELETE -H "X-API-Key: $KA" "$HAPI_a/sandboxes/$TS_ID"

# the control plane is stateless apart from PostgreSQL: a second replica serves the same hosts and
# sandboxes, and the first one survives kill -9 and a restart
SO_CP_PROXY=none so_control
so_use 1
is "a second replica serves the same hosts and sandboxes with the same admin key" \
	"$(curl -s "${H[@]}" "$CP2/v1/hosts" | jq length) $(curl -s "${H[@]}" "$CP2/sandboxes/$S1" | jq -r .state) $([ -e "$CDIR2/admin-key" ] && echo minted || echo shared)" \
	"3 running shared"

# team quotas (operator's PATCH /v1/teams/{name}), enforced at placement for E2B and /v1 creates,
# atomically across the two replicas: with one slot left, four concurrent creates through both
# replicas admit exactly one; 429 with E2B's concurrency-limit shape, no Retry-After
TQ=$(curl -s "${H[@]}" -d '{"name":"q","team":"so96-q"}' "$CP/v1/keys" | jq -r .key)
tpatch() { curl -s -o /dev/null -w '%{http_code}' -X PATCH -H 'Content-Type: application/json' "$@"; }
is "PATCH /v1/teams/{name}: team key 403, unknown field 400, negative 400, operator 200 with the quota" \
	"$(tpatch -H "X-API-Key: $TQ" -d '{"maxSandboxes":1}' "$CP/v1/teams/so96-q") $(tpatch "${H[@]}" -d '{"maxSandbox":1}' "$CP/v1/teams/so96-q") $(tpatch "${H[@]}" -d '{"maxSandboxes":-1}' "$CP/v1/teams/so96-q") $(curl -s -X PATCH "${H[@]}" -H 'Content-Type: application/json' -d '{"maxSandboxes":1}' "$CP/v1/teams/so96-q" | jq -r '[.name, .maxSandboxes, .maxMemoryMB, .sandboxes] | map(tostring) | join(" ")')" \
	"403 400 400 so96-q 1 null 0"
is "the quota is in PostgreSQL: the other replica sees it" \
	"$(curl -s "${H[@]}" "$CP2/v1/teams" | jq -r '.teams[] | select(.name == "so96-q") | .maxSandboxes')" 1
qcreate() { # api-url body path n -> status (answer in q-n.out)
	curl -s -o "$CDIR/q-$4.out" -w '%{http_code}\n' -H "X-API-Key: $TQ" -H 'Content-Type: application/json' -d "$2" "$1$3"
}
out=$(curl -s -w ' %{http_code}' -H "X-API-Key: $TQ" -H 'Content-Type: application/json' -d '{"templateID":"nosuch"}' "$CP/sandboxes")
is "a create that fails on the host gives its slot back (no hold left)" \
	"${out##* } $(PSQL "SELECT count(*) FROM quota_holds")" "404 0"
QR=()
for i in 1 2 3 4; do
	api=$CP; [ $((i % 2)) -eq 0 ] && api=$CP2
	path=/sandboxes body='{"templateID":"minimal","timeout":300}'
	[ "$i" -gt 2 ] && path=/v1/sandboxes body='{"template":"minimal","timeout":300}'
	qcreate "$api" "$body" "$path" "$i" >"$CDIR/q-st$i" &
	QR+=($!)
done
wait "${QR[@]}"
codes=$(cat "$CDIR"/q-st* | sort | tr '\n' ' ')
QS=$(PSQL "SELECT sandbox_id FROM placements WHERE team='so96-q'")
is "four concurrent creates through both replicas for the last slot: one admitted, three 429" \
	"$codes$(wc -w <<<"$QS") $(PSQL "SELECT count(*) FROM quota_holds")" "201 429 429 429 1 0"
msg=$(cat "$CDIR"/q-*.out | jq -r 'select(.code == 429) | .message' | head -1)
is "the 429 names the team and its limit" \
	"$(grep -c 'team so96-q has reached its maximum of 1 concurrent sandboxes' <<<"$msg")" 1
qev=$(EV "$TQ" "kind=create_refused")
is "each quota refusal is a create_refused event the team sees, with the reason" \
	"$(jq -r '[.events[] | select(.team == "so96-q" and (.detail | test("maximum of 1 concurrent")))] | length' <<<"$qev") $(PSQL "SELECT count(*) FROM events WHERE kind = 'create_refused' AND team = 'so96-q'")" \
	"3 3"
hdr=$(mktemp)
curl -s -D "$hdr" -o /dev/null -H "X-API-Key: $TQ" -H 'Content-Type: application/json' -d '{"templateID":"minimal"}' "$CP/sandboxes"
is "no Retry-After on a quota's 429 (the SDK would retry it)" "$(grep -ci '^retry-after' "$hdr")" 0
rm -f "$hdr"
if [ -n "$SDK_OK" ]; then
	sdk=$(cd tests/e2b && E2B_API_URL=$CP E2B_SANDBOX_URL=$CPX E2B_API_KEY=$TQ timeout 60 node --input-type=module -e "
import { Sandbox } from 'e2b'
try { await Sandbox.create('minimal'); console.log('created') } catch (e) { console.log(e.name, e.message.includes('maximum of 1 concurrent')) }
" 2>&1 | tail -1)
	is "E2B SDK: a create over the quota is a RateLimitError with the message" "$sdk" "RateLimitError true"
elif e2b_ci; then
	nok "E2B SDK over the quota" "node or tests/e2b/node_modules missing under CI"
else
	n=$((n + 1)); echo "ok $n # skip node or the npm e2b package missing"
fi
# memory: the running one reserved 512 (an E2B create names no size); 512 + 600 > 1000
tpatch "${H[@]}" -d '{"maxSandboxes":null,"maxMemoryMB":1000}' "$CP/v1/teams/so96-q" >/dev/null
out=$(curl -s -w ' %{http_code}' -H "X-API-Key: $TQ" -H 'Content-Type: application/json' -d '{"template":"minimal","memoryMB":600}' "$CP2/v1/sandboxes")
is "maxMemoryMB: the team's reserved memory plus the create's memoryMB, 429 over it" \
	"$(curl -s "${H[@]}" "$CP/v1/teams/so96-q" | jq -r '[.maxSandboxes, .maxMemoryMB, .memoryMB] | map(tostring) | join(" ")') $(grep -o '512 MiB in use + 600 MiB for this sandbox > maxMemoryMB 1000' <<<"$out") ${out##* }" \
	"null 1000 512 512 MiB in use + 600 MiB for this sandbox > maxMemoryMB 1000 429"
for s in $QS; do curl -s -o /dev/null -X DELETE -H "X-API-Key: $TQ" "$CP/sandboxes/$s"; done
tpatch "${H[@]}" -d '{"maxSandboxes":1,"maxMemoryMB":0}' "$CP/v1/teams/so96-q" >/dev/null
out=$(curl -s -w ' %{http_code}' -H "X-API-Key: $TQ" -H 'Content-Type: application/json' -d '{"template":"minimal","timeout":300}' "$CP2/v1/sandboxes")
QS=$(jq -r '.id // empty' <<<"${out% *}")
is "a killed sandbox frees its slot" "${out##* } $(PSQL "SELECT count(*) FROM placements WHERE team='so96-q'")" "201 1"
curl -s -o /dev/null -X DELETE -H "X-API-Key: $TQ" "$CP/v1/sandboxes/$QS"
so_kill9 "$CPID"
so_control_restart 1
tb=$(date +%s%3N); hb_after=0
for _ in $(seq 1 40); do
	hb_after=$(curl -s "${H[@]}" "$CP/v1/hosts/${ID[b]}" | jq -r .lastHeartbeatMs)
	[ "${hb_after:-0}" -gt "$tb" ] 2>/dev/null && break
	sleep 0.25
done
is "control plane kill -9 + restart: heartbeats resume, placements intact" \
	"$([ "${hb_after:-0}" -gt "$tb" ] 2>/dev/null && echo resumed) $(curl -s "${H[@]}" "$CP/sandboxes/$S1" | jq -r .state)" \
	"resumed running"

# a sandbox of host a, for after the kill; one of host b's destroyed behind the control plane's back
SA=; SBD=
for sid in "${SB[@]}"; do
	[ "$sid" = "$S0" ] && continue
	[ "${ON[$sid]}" = "${ID[a]}" ] && SA=$sid
	[ "${ON[$sid]}" = "${ID[b]}" ] && [ "$sid" != "$S1" ] && SBD=$sid
done
is "a sandbox destroyed on its host directly" \
	"$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H "X-API-Key: $(cat "$HDIR_b/admin-key")" "$HAPI_b/sandboxes/$SBD")" 204

# kill -9 a host: lost within 20 s, the other stays ready
so_kill9 "${HPID[a]}"
t0=$(date +%s); st=
while [ $(($(date +%s) - t0)) -lt 20 ]; do
	st=$(curl -s "${H[@]}" "$CP/v1/hosts/${ID[a]}" | jq -r .state)
	[ "$st" = lost ] && break
	sleep 0.5
done
is "kill -9'd host is lost within 20 s" "$st" lost
# host_lost is computed from the clock; both replicas check every 2 s, one records it
nl=0
for _ in $(seq 1 30); do
	nl=$(PSQL "SELECT count(*) FROM events WHERE kind = 'host_lost' AND host_id = '${ID[a]}'")
	[ "$nl" -ge 1 ] && break
	sleep 0.25
done
sleep 4.5 # two more checks of each replica
is "host_lost recorded exactly once with two replicas checking" \
	"$(PSQL "SELECT count(*) FROM events WHERE kind = 'host_lost' AND host_id = '${ID[a]}'") $(EV "hostId=${ID[a]}&kind=host_lost" | jq -r '.events[0].detail | test("^no heartbeat for [0-9]+ s \\(lost after 15 s\\)")')" \
	"1 true"
is "the other host stays ready" "$(curl -s "${H[@]}" "$CP/v1/hosts/${ID[b]}" | jq -r .state)" ready
is "a sandbox on the lost host is reported lost" \
	"$(curl -s "${H[@]}" "$CP/sandboxes/$SA" | jq -r '.state + " " + .hostID')" "lost ${ID[a]}"
v1=$(curl -s "${H[@]}" "$CP/v1/sandboxes")
is "GET /v1/sandboxes: the lost host's sandbox is listed as lost" \
	"$(jq -r --arg s "$SA" '.sandboxes[] | select(.id == $s) | .state + " " + .hostId' <<<"$v1")" "lost ${ID[a]}"
is "GET /v1/sandboxes?state=lost: only lost ones" \
	"$(curl -s "${H[@]}" "$CP/v1/sandboxes?state=lost" | jq -r '[.sandboxes[] | .state] | unique | join(",")')" lost
hdr=$(mktemp)
e2l=$(curl -s -D "$hdr" "${H[@]}" "$CP/sandboxes" | jq -r --arg s "$SA" '[.[] | select(.sandboxID == $s)] | length')
is "E2B lists leave it out and name the host that did not answer" \
	"$e2l $(awk -F': ' 'tolower($1)=="x-wrenn-unreachable-hosts"{print $2}' "$hdr" | tr -d '\r' | tr ',' '\n' | grep -c "^${ID[a]}$")" "0 1"
rm -f "$hdr"
is "deleting it answers 503 naming the lost host" \
	"$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "${H[@]}" "$CP/sandboxes/$SA")" 503
is "/v1: the lost host's sandbox reports state lost; kill and exec answer 503" \
	"$(curl -s "${H[@]}" "$CP/v1/sandboxes/$SA" | jq -r '.state + " " + .hostId') $(curl -s -o /dev/null -w '%{http_code}' -X DELETE "${H[@]}" "$CP/v1/sandboxes/$SA") $(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" -H 'Content-Type: application/json' -d '{"cmd":["true"]}' "$CP/v1/sandboxes/$SA/exec")" \
	"lost ${ID[a]} 503 503"
hdr=$(mktemp); curl -s -D "$hdr" -o /dev/null "${H[@]}" -H 'Content-Type: application/json' -d '{"templateID":"minimal","timeout":300}' "$CP/sandboxes"
is "new creates avoid the lost host" "$(awk -F': ' 'tolower($1)=="x-wrenn-host"{print $2}' "$hdr" | tr -d '\r')" "${ID[b]}"; rm -f "$hdr"
# the host comes back (same data dir): ready again, and what still runs is re-adopted
so_start_host a "$HDIR_a"
st=
for _ in $(seq 1 100); do
	st=$(curl -s "${H[@]}" "$CP/v1/hosts/${ID[a]}" | jq -r .state)
	[ "$st" = ready ] && break
	sleep 0.2
done
is "a returning host is ready again, its sandbox running" \
	"$st $(curl -s "${H[@]}" "$CP/sandboxes/$SA" | jq -r .state)" "ready running"
is "its return is one host_returned event" \
	"$(EV "hostId=${ID[a]}&kind=host_returned" | jq '.events | length')" 1

# the wrenn CLI against the control plane (60-cli.t style): hosts ls / add / drain / rm
W=$B/bin/wrenn
export WRENN_API_URL=$CP WRENN_API_KEY=$AK
out=$("$W" hosts ls); rc=$?
is "wrenn hosts ls: a table with every host and its state" \
	"$rc $(head -1 <<<"$out" | awk '{print $1, $2, $3}') $(grep -c '^host-' <<<"$out") $(awk -v h="${ID[b]}" '$1 == h {print $3}' <<<"$out")" \
	"0 ID NAME STATE 3 ready"
is "wrenn hosts (no subcommand) is ls; --json is /v1/hosts" \
	"$("$W" hosts | grep -c '^host-') $("$W" hosts ls --json | jq -r 'map(.id) | sort | join(",")')" \
	"3 $(curl -s "${H[@]}" "$CP/v1/hosts" | jq -r 'map(.id) | sort | join(",")')"
out=$("$W" hosts add so96-d 2>"$CDIR/cli.err"); rc=$?
did=$(grep -o 'host-[0-9a-f]*' "$CDIR/cli.err" | head -1)
is "wrenn hosts add: only the credential on stdout, the id on stderr" \
	"$rc $([[ $out =~ ^whc_[0-9a-f]{64}$ ]] && echo credential) $(curl -s "${H[@]}" "$CP/v1/hosts/$did" | jq -r '.name + " " + .state')" \
	"0 credential so96-d pending"
is "the credential it printed is the host's (its SHA-256 stored)" \
	"$(PSQL "SELECT encode(key_hash,'hex') FROM hosts WHERE id='$did'")" "$(printf '%s' "$out" | sha256sum | cut -d' ' -f1)"
"$W" hosts rm "$did"; rc=$?
is "wrenn hosts rm" "$rc $(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" "$CP/v1/hosts/$did")" "0 404"
"$W" hosts rm "$did" 2>"$CDIR/cli.err"; rc=$?
is "wrenn hosts rm of an unknown host: exit 1 with the server's message" \
	"$rc $(grep -c 'not found' "$CDIR/cli.err")" "1 1"
"$W" hosts drain 2>/dev/null; rc1=$?
"$W" hosts frobnicate 2>/dev/null; rc2=$?
is "usage errors: exit 2" "$rc1 $rc2" "2 2"
is "completion knows hosts and its subcommands" \
	"$("$W" completion bash | grep -c "^	'hosts') .*_s='ls add drain rm'")" 1
# drain and remove
"$W" hosts drain "${ID[b]}" 2>"$CDIR/cli.err"; rc=$?
is "wrenn hosts drain" "$rc $(curl -s "${H[@]}" "$CP/v1/hosts/${ID[b]}" | jq -r .state)" "0 draining"
sleep 3.5
jb=$(curl -s "${H[@]}" "$CP/v1/hosts/${ID[b]}")
is "a draining host keeps heartbeating and stays draining" "$(jq -r '.state + " " + (.draining|tostring)' <<<"$jb")" "draining true"
is "remove (wrenn hosts rm)" "$("$W" hosts rm "${ID[a]}"; echo $?) $(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" "$CP/v1/hosts/${ID[a]}")" "0 404"
is "GET /v1/sandboxes: a removed host's sandbox is lost" \
	"$(curl -s "${H[@]}" "$CP/v1/sandboxes?state=lost" | jq -r --arg s "$SA" '.sandboxes[] | select(.id == $s) | .state + " " + .message')" \
	"lost its host was removed"
left=1
for _ in $(seq 1 60); do
	left=$(PSQL "SELECT count(*) FROM placements WHERE sandbox_id='$SBD'")
	[ "$left" = 0 ] && break
	sleep 0.5
done
is "a placement whose sandbox its host no longer has is released" "$left" 0
is "placements of sandboxes that still run are kept" \
	"$(PSQL "SELECT count(*) FROM placements WHERE sandbox_id IN ('$S1','$SA')")" 2
is "a removed host's sandbox: GET says lost (E2B and /v1), an exec 410, DELETE releases its placement" \
	"$(curl -s "${H[@]}" "$CP/sandboxes/$SA" | jq -r '.state + " " + .hostID + " " + .message') $(curl -s "${H[@]}" "$CP/v1/sandboxes/$SA" | jq -r '.state + " " + .hostId') $(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" -H 'Content-Type: application/json' -d '{"cmd":["true"]}' "$CP/v1/sandboxes/$SA/exec") $(curl -s -o /dev/null -w '%{http_code}' -X DELETE "${H[@]}" "$CP/sandboxes/$SA") $(PSQL "SELECT count(*) FROM placements WHERE sandbox_id='$SA'") $(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" "$CP/sandboxes/$SA") $(EV "sandboxId=$SA&kind=released" | jq -r '.events[0].detail')" \
	"lost ${ID[a]} its host was removed lost ${ID[a]} 410 204 0 404 its host was removed; released by DELETE"
SD=$(curl -s -H "X-API-Key: $(cat "$HDIR_b/admin-key")" -H 'Content-Type: application/json' \
	-d '{"templateID":"minimal","timeout":300}' "$HAPI_b/sandboxes" | jq -r .sandboxID)
st=
for _ in $(seq 1 40); do
	st=$(curl -s "${H[@]}" "$CP/sandboxes/$SD" | jq -r .state)
	[ "$st" = running ] && break
	sleep 0.25
done
is "a sandbox made on a host's own API is adopted from its heartbeat" \
	"$st $(PSQL "SELECT host_id FROM placements WHERE sandbox_id='$SD'")" "running ${ID[b]}"
is "events: b draining once, a removed, a placement released by a heartbeat, one adopted" \
	"$(EV "hostId=${ID[b]}&kind=host_draining" | jq '.events | length') $(EV "hostId=${ID[a]}&kind=host_removed" | jq '.events | length') $(EV "sandboxId=$SBD&kind=released" | jq -r '.events[0].detail') $(EV "sandboxId=$SD&kind=adopted" | jq -r '.events[0].hostId')" \
	"1 1 its host's heartbeat no longer lists it ${ID[b]}"
pages= cur= np=0
while :; do
	pg=$(EV "limit=7${cur:+&before=$cur}")
	pages+="$(jq -r '.events[].seq' <<<"$pg" | tr '\n' ' ')"
	cur=$(jq -r '.nextCursor // empty' <<<"$pg"); np=$((np + 1))
	[ -n "$cur" ] && [ $np -lt 200 ] || break
done
is "GET /v1/events pages (limit=7, before=nextCursor): every event once, newest first" \
	"$pages" "$(PSQL "SELECT seq FROM events ORDER BY seq DESC" | tr '\n' ' ')"
is "GET /v1/events: bad values 400, on both replicas the same events" \
	"$(for q in limit=0 limit=1001 before=x 'kind=a%27'; do curl -s -o /dev/null -w '%{http_code} ' "${H[@]}" "$CP/v1/events?$q"; done)|$(curl -s "${H[@]}" "$CP2/v1/events?limit=5" | jq -c '[.events[].seq]')" \
	"400 400 400 400 |$(EV "limit=5" | jq -c '[.events[].seq]')"
# the database restarts under the control plane: it reconnects, heartbeats go on
pg_restart
code=
for _ in $(seq 1 40); do
	code=$(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" "$CP/v1/hosts")
	[ "$code" = 200 ] && break
	sleep 0.25
done
tb=$(date +%s%3N); hb_after=0
for _ in $(seq 1 40); do
	hb_after=$(curl -s "${H[@]}" "$CP/v1/hosts/${ID[b]}" | jq -r .lastHeartbeatMs)
	[ "${hb_after:-0}" -gt "$tb" ] 2>/dev/null && break
	sleep 0.25
done
is "PostgreSQL restart: the control plane reconnects, heartbeats resume" \
	"$code $([ "${hb_after:-0}" -gt "$tb" ] 2>/dev/null && echo resumed)" "200 resumed"
is "routes not in this slice answer 501" \
	"$(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" "$CP/v2/templates")" 501
is "a draining host takes no new sandbox" \
	"$(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" -d '{"templateID":"minimal"}' "$CP/sandboxes")" 503
# everything stopped (host a's re-attached sandbox too): no cgroup of a sandbox of this run left
so_stop
is "nothing left: no cgroup of a sandbox of this run" "$(so_cgroups_left)" ""
exit $fail
