#!/usr/bin/env bash
# wrenn-agent end to end (root, real microVMs from the minimal template, TCG is fine):
# first run + admin key, native /v1 (create, exec collect + NDJSON stream, files), the E2B
# control plane with its exact statuses (201/200/204/404/409), list paging, the envd proxy on
# the sandbox port (routing headers, /init refused, unknown/paused sandboxes), bad requests,
# SIGTERM leaving nothing behind.  The agent runs on free ports with a scratch data dir and its
# own namespace prefix, so it can run next to other agents.
set -u
cd "$(dirname "$0")/../.."
N=86
echo "1..$N"
. tests/lib/agent.sh
[ "$(id -u)" -eq 0 ] || skip_rest "needs root"
[ -x "$AGENT" ] || skip_rest "$AGENT not built (make MODE=asan $AGENT)"
command -v jq >/dev/null && command -v curl >/dev/null && command -v python3 >/dev/null ||
	skip_rest "needs jq, curl, python3"
[ -r "$IMAGES/vmlinux" ] && [ -r "$IMAGES/minimal.ext4" ] ||
	skip_rest "no guest images in $IMAGES (make guest-minimal, or set WRENN_GUEST)"
AGENT_TIMEOUT=600 agent_start wt80$$ --pool-size 1 --max-sandboxes 8

# --- first run -------------------------------------------------------------------------
if [[ "$K" =~ ^e2b_[0-9a-f]{40}$ ]] && [ "$(grep -c "$K" "$DATA/agent.out")" = 1 ] &&
	[ "$(stat -c %a "$DATA/admin-key")" = 600 ]; then
	ok "first run: admin key printed once, saved 0600"
else
	nok "first run: admin key printed once, saved 0600" "$(cat "$DATA/agent.out")"
fi
is "GET /health" "$(curl -s -o /dev/null -w '%{http_code}' "$API/health")" 200
is "GET /openapi.yaml" "$(curl -s "$API/openapi.yaml" | head -1)" "openapi: 3.0.3"

# --- secrets at rest (issue 11) ----------------------------------------------------------
modes=$(stat -c '%n %a' "$DATA" "$DATA"/wrenn.db* "$DATA/slots" "$DATA"/slots/* 2>/dev/null | sed "s|$DATA|D|")
if printf '%s\n' "$modes" | awk '$1=="D"||$1=="D/slots"{if($2!="700")bad=1;next} {if($2!="600")bad=1} END{exit bad}' &&
	printf '%s\n' "$modes" | grep -q 'D/wrenn.db-wal'; then
	ok "data dir and slots 0700; wrenn.db, its WAL/SHM and claim files 0600"
else
	nok "data dir and slots 0700; wrenn.db, its WAL/SHM and claim files 0600" "$modes"
fi

# --- slow clients (issue 11): 300 connections trickling their heads -------------------
python3 - "$API" >"$DATA/trickle.out" 2>&1 <<'PY' &
import socket, sys, time
host, port = sys.argv[1].split("//")[1].split(":")
socks = []
for i in range(300):
    try:
        s = socket.create_connection((host, int(port)), timeout=5)
        s.send(b"GET /health HT")
        socks.append(s)
    except OSError as e:
        print("connect", i, e)
for _ in range(40):  # one more byte every 0.25 s on each: per-read timeouts never fire
    for s in socks:
        try:
            s.send(b"T")
        except OSError:
            pass
    time.sleep(0.25)
PY
trickler=$!
sleep 3
t=$(curl -s -o /dev/null -m 5 -w '%{http_code} %{time_total}' "$API/health")
is "300 trickling connections: a normal request still answers 200" "${t% *}" 200
if awk -v t="${t#* }" 'BEGIN{exit !(t < 1.0)}'; then
	ok "300 trickling connections: answered within 1 s (${t#* } s)"
else
	nok "300 trickling connections: answered within 1 s" "took ${t#* } s"
fi
kill $trickler 2>/dev/null
wait $trickler 2>/dev/null

H=(-H "X-API-Key: $K")
code() { curl -s -o "$DATA/body" -w '%{http_code}' "$@"; }
body() { cat "$DATA/body"; }

# --- bad requests ------------------------------------------------------------------------
is "missing key -> 401" "$(code "$API/v1/sandboxes")" 401
is "wrong key -> 401" "$(code -H "X-API-Key: e2b_0000000000000000000000000000000000000000" "$API/v2/sandboxes")" 401
is "malformed key -> 401" "$(code -H "X-API-Key: hello" "$API/sandboxes")" 401
is "error body is {code, message}" "$(jq -c '[.code, (.message|type)]' "$DATA/body")" '[401,"string"]'
is "bad JSON -> 400" "$(code "${H[@]}" -d '{"template":' "$API/v1/sandboxes")" 400
is "bad field -> 400" "$(code "${H[@]}" -d '{"vcpus":"two"}' "$API/v1/sandboxes")" 400
is "unknown template -> 404 (E2B's answer)" "$(code "${H[@]}" -d '{"templateID":"no-such-template"}' "$API/sandboxes")" 404
is "an E2B route wrenn does not serve (GET /secrets) -> 501 naming it" "$(code "${H[@]}" "$API/secrets")/$(jq -r .message "$DATA/body" | grep -c 'GET /secrets is an E2B API route wrenn does not implement')" "501/1"
head -c 2000000 /dev/zero | tr '\0' ' ' >"$DATA/big.json"
is "oversized body -> 413" "$(code "${H[@]}" -H 'Expect:' --data-binary @"$DATA/big.json" "$API/v2/sandboxes")" 413
is "unknown id GET -> 404" "$(code "${H[@]}" "$API/sandboxes/cl-nosuch")" 404
is "unknown id DELETE -> 404" "$(code "${H[@]}" -X DELETE "$API/sandboxes/cl-nosuch")" 404
is "unknown route -> 404" "$(code "${H[@]}" "$API/v9/what")" 404

# --- native create + exec ---------------------------------------------------------------------
t0=$(date +%s%N)
c=$(code "${H[@]}" -d '{"template":"minimal","timeout":600,"metadata":{"t":"80"}}' "$API/v1/sandboxes")
t1=$(date +%s%N)
is "POST /v1/sandboxes -> 201" "$c" 201
ID=$(jq -r .id "$DATA/body")
echo "# create took $(((t1 - t0) / 1000000)) ms ($ID)"
[ "$c" = 201 ] || skip_rest "no sandbox"
is "sandbox is running" "$(jq -r .state "$DATA/body")" running
is "exec collect" "$(curl -s "${H[@]}" -d '{"cmd":["echo","hi"]}' "$API/v1/sandboxes/$ID/exec" | jq -c .)" \
	'{"stdout":"hi\n","stderr":"","exitCode":0}'
is "exec exit code + stderr" "$(curl -s "${H[@]}" -d '{"cmd":"echo e >&2; exit 3"}' "$API/v1/sandboxes/$ID/exec" | jq -c '[.stderr,.exitCode]')" \
	'["e\n",3]'
is "exec stdin" "$(curl -s "${H[@]}" -d "{\"cmd\":[\"cat\"],\"stdin\":\"$(printf 'in put' | base64)\"}" "$API/v1/sandboxes/$ID/exec" | jq -r .stdout)" \
	'in put'
curl -s -N "${H[@]}" -d '{"cmd":"echo a; sleep 0.5; echo b","stream":true}' "$API/v1/sandboxes/$ID/exec" >"$DATA/ndjson"
is "exec NDJSON stream" "$(jq -r '.type' "$DATA/ndjson" | tr '\n' ' ')" "start stdout stdout exit "
is "exec NDJSON data" "$(jq -r 'select(.type=="stdout").data' "$DATA/ndjson" | base64 -d | tr '\n' ' ')" "a b "

# --- files -------------------------------------------------------------------------------
head -c 1500000 /dev/urandom >"$DATA/blob"
is "PUT file -> 200" "$(code "${H[@]}" -H 'Expect:' -T "$DATA/blob" "$API/v1/sandboxes/$ID/files?path=/tmp/x/blob")" 200
is "uploaded size" "$(jq -r .size "$DATA/body")" 1500000
curl -s "${H[@]}" "$API/v1/sandboxes/$ID/files?path=/tmp/x/blob" -o "$DATA/blob2"
if cmp -s "$DATA/blob" "$DATA/blob2"; then ok "GET file round trip"; else nok "GET file round trip"; fi
is "list dir" "$(curl -s "${H[@]}" "$API/v1/sandboxes/$ID/files/list?path=/tmp/x" | jq -r '.entries[].name')" blob
is "missing file -> 404" "$(code "${H[@]}" "$API/v1/sandboxes/$ID/files?path=/nope")" 404
# a chunked upload (no Content-Length, e.g. from a pipe) is streamed through as well; Expect:
# 100-continue is left on here (the server answers it)
is "chunked PUT file -> 200" "$(cat "$DATA/blob" | code "${H[@]}" -H 'Transfer-Encoding: chunked' -T - "$API/v1/sandboxes/$ID/files?path=/tmp/x/chunked")" 200
is "chunked upload size" "$(jq -r .size "$DATA/body")" 1500000

# --- E2B control plane -----------------------------------------------------------------
c=$(code "${H[@]}" -H 'Content-Type: application/json' -d '{"templateID":"minimal","timeout":600,"secure":true,"metadata":{"t":"80"}}' "$API/sandboxes")
is "POST /sandboxes -> 201" "$c" 201
E=$(jq -r .sandboxID "$DATA/body")
cp "$DATA/body" "$DATA/e2b-create.json"
TOK=$(jq -r .envdAccessToken "$DATA/body")
is "Sandbox fields" "$(jq -c '[.clientID, (.envdVersion|type), (.envdAccessToken|length>0), .templateID]' "$DATA/body")" \
	'["6532622b","string",true,"minimal"]'
is "POST /v2/sandboxes/{id}/connect (running) -> 200" "$(code "${H[@]}" -d '{"timeout":900}' "$API/v2/sandboxes/$E/connect")" 200
is "GET /sandboxes/{id} detail" "$(code "${H[@]}" "$API/sandboxes/$E")/$(jq -c '[.state,.cpuCount,.memoryMB,(.startedAt|type),(.endAt|type)]' "$DATA/body")" \
	'200/["running",1,512,"string","string"]'
is "POST /sandboxes/{id}/timeout -> 204" "$(code "${H[@]}" -d '{"timeout":1200}' "$API/sandboxes/$E/timeout")" 204
is "unknown field on resume/timeout -> 400 naming it" "$(code "${H[@]}" -d '{"timeout":60,"autoPause":true}' "$API/sandboxes/$E/resume")/$(jq -r .message "$DATA/body" | grep -c autoPause)" 400/1
curl -s -D "$DATA/hdr" -o "$DATA/p1" "${H[@]}" "$API/v2/sandboxes?limit=1&metadata=t%3D80"
NEXT=$(tr -d '\r' <"$DATA/hdr" | awk 'tolower($1)=="x-next-token:"{print $2}')
curl -s -o "$DATA/p2" "${H[@]}" "$API/v2/sandboxes?limit=1&metadata=t%3D80&nextToken=$NEXT"
is "list paging (X-Next-Token)" "$(jq -r 'length' "$DATA/p1")/$(jq -r 'length' "$DATA/p2")/$(cat "$DATA/p1" "$DATA/p2" | jq -r '.[].sandboxID' | sort -u | wc -l)/$([ -n "$NEXT" ] && echo next)" \
	"1/1/2/next"
is "list limit 0 -> 400" "$(code "${H[@]}" "$API/v2/sandboxes?limit=0")" 400
desc=$(curl -s "${H[@]}" "$API/v2/sandboxes?metadata=t%3D80" | jq -c '[.[].sandboxID]')
asc=$(curl -s "${H[@]}" "$API/v2/sandboxes?metadata=t%3D80&order=asc" | jq -c '[.[].sandboxID]|reverse')
if [ "$asc" = "$desc" ] && [ "$(jq length <<<"$desc")" -ge 2 ]; then ok "list order=asc is desc reversed"; else nok "list order=asc is desc reversed" "asc reversed $asc, desc $desc"; fi
is "list order=sideways -> 400" "$(code "${H[@]}" "$API/v2/sandboxes?order=sideways")" 400
is "list startedAfter (not RFC 3339) -> 400" "$(code "${H[@]}" "$API/v2/sandboxes?startedAfter=yesterday")" 400
is "list startedAfter: before / after E's start" \
	"$(curl -s "${H[@]}" "$API/v2/sandboxes?startedAfter=2001-01-01T00:00:00.000Z" | jq --arg e "$E" 'map(.sandboxID)|index($e) != null')/$(curl -s "${H[@]}" "$API/v2/sandboxes?startedAfter=2999-01-01T00:00:00Z" | jq length)" true/0
is "GET /sandboxes/{id}/metrics -> 200 array" "$(code "${H[@]}" "$API/sandboxes/$E/metrics")/$(jq -r type "$DATA/body")" "200/array"

is "unknown create field -> 400 naming it" "$(code "${H[@]}" -H 'Content-Type: application/json' -d '{"templateID":"minimal","somethingNew":1}' "$API/sandboxes")/$(jq -r .message "$DATA/body" | grep -c somethingNew)" 400/1

# --- teams (issue 11): a key sees and controls only its team's sandboxes --------------
KA=$(curl -s "${H[@]}" -d '{"name":"ka","team":"team-a"}' "$API/v1/keys" | jq -r .key)
KB=$(curl -s "${H[@]}" -d '{"name":"kb","team":"team-b"}' "$API/v1/keys" | jq -r .key)
HA=(-H "X-API-Key: $KA")
HB=(-H "X-API-Key: $KB")
is "team key: the operator's sandboxes are not listed" "$(curl -s "${HA[@]}" "$API/v2/sandboxes" | jq -r length)" 0
is "team key: another team's sandbox -> 404 (E2B)" "$(code "${HA[@]}" "$API/sandboxes/$E")" 404
is "team key: kill of another team's sandbox -> 404, it lives" "$(code "${HA[@]}" -X DELETE "$API/sandboxes/$E")/$(code "${H[@]}" "$API/sandboxes/$E")" 404/200
is "team key: exec in another team's sandbox -> 404 (/v1)" "$(code "${HA[@]}" -d '{"cmd":["true"]}' "$API/v1/sandboxes/$ID/exec")" 404
c=$(code "${HA[@]}" -H 'Content-Type: application/json' -d '{"templateID":"minimal","timeout":600}' "$API/sandboxes")
TA=$(jq -r .sandboxID "$DATA/body")
is "team key: create -> 201, its own sandbox is visible" "$c/$(code "${HA[@]}" "$API/sandboxes/$TA")" 201/200
is "other team: 404 for it and not in its list" "$(code "${HB[@]}" "$API/sandboxes/$TA")/$(curl -s "${HB[@]}" "$API/v2/sandboxes" | jq -r length)" 404/0
is "operator sees every team's sandbox" "$(curl -s "${H[@]}" "$API/v2/sandboxes" | jq -r --arg t "$TA" '[.[]|select(.sandboxID==$t)]|length')" 1
is "team key: keys are the operator's -> 403" "$(code "${HA[@]}" "$API/v1/keys")" 403
is "GET /v1/teams (operator)" "$(curl -s "${H[@]}" "$API/v1/teams" | jq -c '[.teams[]|[.name,.keys,.sandboxes]]')" '[["team-a",1,1],["team-b",1,0]]'
is "bad team name -> 400" "$(code "${H[@]}" -d '{"team":"a b"}' "$API/v1/keys")" 400
SNA=$(curl -s "${HA[@]}" -H 'Content-Type: application/json' -d '{"name":"snap80a"}' "$API/v1/sandboxes/$TA/snapshots" | jq -r .id)
is "DELETE /v1/snapshots of another team's snapshot -> 404 by id and by name, it stays; its team's -> 204" \
	"$(code "${HB[@]}" -X DELETE "$API/v1/snapshots/$SNA")/$(code "${HB[@]}" -X DELETE "$API/v1/snapshots/snap80a")/$(curl -s "${H[@]}" "$API/v1/snapshots" | jq -r --arg s "$SNA" '[.snapshots[]|select(.id==$s)]|length')/$(code "${HA[@]}" -X DELETE "$API/v1/snapshots/$SNA")" \
	"404/404/1/204"
is "team key: kill its own sandbox -> 204" "$(code "${HA[@]}" -X DELETE "$API/sandboxes/$TA")" 204

# --- envd proxy ---------------------------------------------------------------------
is "proxy GET /health -> 204" "$(code -H "E2b-Sandbox-Id: $E" -H "E2b-Sandbox-Port: 49983" "$PX/health")" 204
is "proxy POST /init -> 403" "$(code -X POST -H "E2b-Sandbox-Id: $E" -d '{}' "$PX/init")" 403
is "proxy unknown sandbox -> 502 (E2B's: the SDK's isRunning() is false on it)" "$(code -H "E2b-Sandbox-Id: cl-nosuch" "$PX/health")" 502
is "proxy unknown sandbox: E2B's body" "$(jq -c '[.sandboxId, .code, .message]' "$DATA/body")" '["cl-nosuch",502,"The sandbox was not found"]'
is "proxy: closed port -> 502 with the port" "$(code -H "E2b-Sandbox-Id: $E" -H "E2b-Sandbox-Port: 4999" "$PX/" >/dev/null; jq -c '[.code, .port, .message]' "$DATA/body")" '[502,4999,"The sandbox is running but port is not open"]'
is "create reply: domain localhost:<proxy port> (proxy on loopback)" "$(jq -r .domain "$DATA/e2b-create.json" 2>/dev/null)" "localhost:${PX##*:}"
is "proxy by Host <port>-<id>.localhost:<port> (what getHost(port) gives)" "$(code "http://49983-$E.localhost:${PX##*:}/health")" 204
curl -s -H "E2b-Sandbox-Id: $E" -H "X-Access-Token: $TOK" -H 'Expect:' -H 'Content-Type: application/octet-stream' \
	--data-binary @"$DATA/blob" "$PX/files?path=/tmp/viaproxy" >/dev/null
curl -s -H "E2b-Sandbox-Id: $E" -H "X-Access-Token: $TOK" "$PX/files?path=/tmp/viaproxy" -o "$DATA/blob3"
if cmp -s "$DATA/blob" "$DATA/blob3"; then ok "proxy /files up + down"; else nok "proxy /files up + down"; fi
# two requests on one keep-alive connection, to two different sandboxes
k=$(curl -s -o /dev/null -w '%{http_code} %{num_connects}\n' -H "E2b-Sandbox-Id: $E" "$PX/health" --next -s -o /dev/null -w '%{http_code} %{num_connects}\n' -H "E2b-Sandbox-Id: $ID" "$PX/health" | tr '\n' ' ')
is "proxy keep-alive" "$k" "204 1 204 0 "

# upgrades: raw relay only after a real 101 (issue 11).  An Upgrade header envd does not honour
# must not turn the connection into a relay that carries a pipelined host-only request.
python3 - "$PX" "$E" >"$DATA/smuggle" 2>&1 <<'PY'
import socket, sys
host, port = sys.argv[1].split("//")[1].split(":")
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(("GET /health HTTP/1.1\r\nHost: x\r\nE2b-Sandbox-Id: %s\r\nConnection: Upgrade\r\n"
           "Upgrade: websocket\r\n\r\nPOST /init HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           "Content-Length: 2\r\n\r\n{}" % sys.argv[2]).encode())
out = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
except socket.timeout:
    out += b"<timeout>"
print(out.decode(errors="replace"))
PY
is "proxy: Upgrade without 101 -> one plain response, closed, pipelined /init never relayed" \
	"$(grep -c '^HTTP/1.1 ' "$DATA/smuggle")/$(grep -c 'timeout' "$DATA/smuggle")" "1/0"
printf '#!/bin/sh\nwhile read -r l; do [ "$l" = "$(printf "\\r")" ] && break; done\nprintf "HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: echo\\r\\nConnection: Upgrade\\r\\n\\r\\n"\nexec cat\n' >"$DATA/up.sh"
curl -s -o /dev/null "${H[@]}" -H 'Expect:' -T "$DATA/up.sh" "$API/v1/sandboxes/$ID/files?path=/tmp/up.sh"
curl -s -o /dev/null "${H[@]}" -d '{"cmd":"chmod +x /tmp/up.sh; (nc -l -p 8081 -e /tmp/up.sh >/dev/null 2>&1 &)"}' "$API/v1/sandboxes/$ID/exec"
sleep 0.5
python3 - "$PX" "$ID" >"$DATA/ws" 2>&1 <<'PY'
import socket, sys, time
host, port = sys.argv[1].split("//")[1].split(":")
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(("GET /ws HTTP/1.1\r\nHost: x\r\nE2b-Sandbox-Id: %s\r\nE2b-Sandbox-Port: 8081\r\n"
           "Connection: Upgrade\r\nUpgrade: echo\r\n\r\nping-1\n" % sys.argv[2]).encode())
out = b""
deadline = time.time() + 10
while b"ping-2" not in out and time.time() < deadline:
    b = s.recv(65536)
    if not b:
        break
    out += b
    if b"ping-1" in out and b"ping-2" not in out:
        s.sendall(b"ping-2\n")
print(out.decode(errors="replace"))
PY
is "proxy: a real 101 from a user port becomes a byte relay (pipelined bytes follow it)" \
	"$(head -1 "$DATA/ws" | tr -d '\r')/$(grep -c '^ping-[12]$' "$DATA/ws")" "HTTP/1.1 101 Switching Protocols/2"
is "proxy: no CORS headers on envd's port" "$(curl -s -D - -o /dev/null -H "E2b-Sandbox-Id: $E" "$PX/health" | grep -ci '^access-control-')" 0

# --- pause / resume ----------------------------------------------------------------------
is "POST /sandboxes/{id}/pause -> 204" "$(code "${H[@]}" -X POST "$API/sandboxes/$E/pause")" 204
is "pause again -> 409" "$(code "${H[@]}" -X POST "$API/sandboxes/$E/pause")" 409
is "proxy to paused -> 502" "$(code -H "E2b-Sandbox-Id: $E" "$PX/health")" 502
is "connect (resume) -> 201" "$(code "${H[@]}" -d '{"timeout":600}' "$API/sandboxes/$E/connect")" 201
is "resumed sandbox answers" "$(code -H "E2b-Sandbox-Id: $E" "$PX/health")" 204

# --- kill --------------------------------------------------------------------------------
is "DELETE /sandboxes/{id} -> 204" "$(code "${H[@]}" -X DELETE "$API/sandboxes/$E")" 204
is "killed sandbox -> 404" "$(code "${H[@]}" "$API/sandboxes/$E")" 404

# --- E2B lifecycle: onTimeout pause + autoResume (issue 16) --------------------------------
is "autoPauseMemory: false -> 400" "$(code "${H[@]}" -d '{"templateID":"minimal","autoPause":true,"autoPauseMemory":false}' "$API/sandboxes")" 400
c=$(code "${H[@]}" -d '{"templateID":"minimal","timeout":4,"autoPause":true,"autoPauseMemory":true,"autoResume":{"enabled":true}}' "$API/sandboxes")
L=$(jq -r .sandboxID "$DATA/body")
is "create with autoPause + autoResume -> 201" "$c" 201
is "getInfo: lifecycle" "$(curl -s "${H[@]}" "$API/sandboxes/$L" | jq -c .lifecycle)" '{"onTimeout":"pause","autoResume":true}'
for _ in $(seq 1 120); do
	st=$(curl -s "${H[@]}" "$API/sandboxes/$L" | jq -r .state)
	[ "$st" = running ] || break
	sleep 0.5
done
is "the timeout pauses it (autoPause) instead of killing it" "$st" paused
is "proxy traffic to the paused autoResume sandbox resumes it" "$(code -m 120 -H "E2b-Sandbox-Id: $L" "$PX/health")" 204
is "... it is running again" "$(curl -s "${H[@]}" "$API/sandboxes/$L" | jq -r .state)" running
# concurrent first requests to a paused autoResume sandbox: each is answered, one resume happens
resumes() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from events where sandbox_id=? and kind=?", (sys.argv[2], "resumed")).fetchone()[0])' "$DATA/wrenn.db" "$L"; }
r0=$(resumes)
code "${H[@]}" -X POST "$API/sandboxes/$L/pause" >/dev/null
cc=
for i in 1 2 3; do
	curl -s -o /dev/null -m 120 -w '%{http_code}\n' -H "E2b-Sandbox-Id: $L" "$PX/health" >"$DATA/cc$i" &
	cc="$cc $!"
done
for p in $cc; do wait "$p"; done
is "3 concurrent first requests to a paused autoResume sandbox: all answered, resumed once" \
	"$(cat "$DATA"/cc1 "$DATA"/cc2 "$DATA"/cc3 | tr '\n' ' ')/$(($(resumes) - r0))" "204 204 204 /1"
is "DELETE the lifecycle sandbox -> 204" "$(code "${H[@]}" -X DELETE "$API/sandboxes/$L")" 204

# --- SIGTERM: graceful, nothing left ------------------------------------------------------
kill -TERM "$APID"
for _ in $(seq 1 300); do kill -0 "$APID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$APID" 2>/dev/null; then
	nok "SIGTERM stops the agent within 30 s"
else
	wait "$APID"; rc=$?
	APID=
	left=$(pgrep -f "$DATA/" | wc -l)
	nsl=$(ip netns list | grep -c "^$T-")
	if [ "$rc" = 0 ] && [ "$left" = 0 ] && [ "$nsl" = 0 ]; then
		ok "SIGTERM: exit 0, no VMM, no namespace left"
	else
		nok "SIGTERM: exit 0, no VMM, no namespace left" "rc=$rc vmms=$left namespaces=$nsl"
	fi
fi
exit $fail
