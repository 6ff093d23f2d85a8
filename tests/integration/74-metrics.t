#!/usr/bin/env bash
# Observability (issue 16 item 3) against a real agent and minimal VMs: metrics sampled every 5 s
# over a ~20 s window with start/end, /sandboxes/metrics for two ids, console logs v1 and v2
# and the exec's process start/end (cursor, limit, direction, level, search), Prometheus /metrics and its counters moving after a
# create, team keys kept out of other teams' metrics, `wrenn metrics`, and data kept after a kill.
set -u
cd "$(dirname "$0")/../.."
N=43
echo "1..$N"
. tests/lib/agent.sh
[ "$(id -u)" -eq 0 ] || skip_rest "needs root"
[ -x "$AGENT" ] || skip_rest "$AGENT not built (make MODE=asan $AGENT)"
command -v jq >/dev/null && command -v curl >/dev/null && command -v python3 >/dev/null ||
	skip_rest "needs jq, curl, python3"
[ -r "$IMAGES/vmlinux" ] && [ -r "$IMAGES/minimal.ext4" ] ||
	skip_rest "no guest images in $IMAGES (set WRENN_GUEST)"
W=$B/bin/wrenn
AGENT_TIMEOUT=300 agent_start wt74$$ --pool-size 2 --max-sandboxes 6
H=(-H "X-API-Key: $K")
code() { curl -s -o "$DATA/body" -w '%{http_code}' "$@"; }
mk() { # mk KEY...: create a minimal sandbox, print its id
	curl -s "$@" -H 'Content-Type: application/json' -d '{"templateID":"minimal","timeout":300}' \
		"$API/sandboxes" | jq -r '.sandboxID // empty'
}
prom() { curl -s "${H[@]}" "$API/metrics"; }
pval() { awk -v k="$1" '$1==k{print $2}'; }

creates0=$(prom | pval wrenn_sandbox_create_seconds_count)
is "GET /metrics before any create: 0 creates" "$creates0" 0
A=$(mk "${H[@]}")
S=$(mk "${H[@]}")
[ -n "$A" ] && [ -n "$S" ] && ok "two sandboxes created ($A, $S)" || { nok "two sandboxes created"; skip_rest "no sandbox"; }
t0=$(date +%s)
# console lines from inside the guest (root writes to the serial console), one in log.h's format
curl -s "${H[@]}" -d '{"cmd":["sh","-c","for i in 1 2 3; do echo line-$i >/dev/console; done; echo wrenn-74-console-mark >/dev/console; echo 2026-01-01T00:00:00.000Z warn  [t74] a warning >/dev/console"],"user":"root"}' \
	"$API/v1/sandboxes/$A/exec" >/dev/null

# --- metrics over a ~20 s window --------------------------------------------------------
sleep 19
c=$(code "${H[@]}" "$API/sandboxes/$A/metrics")
cp "$DATA/body" "$DATA/all.json"
np=$(jq length "$DATA/all.json")
if [ "$c" = 200 ] && [ "$np" -ge 3 ]; then ok "GET /sandboxes/{id}/metrics: $np points after ~20 s"
else nok "GET /sandboxes/{id}/metrics: >= 3 points after ~20 s" "$c $(head -c 300 "$DATA/body")"; fi
is "points are E2B SandboxMetrics (timestamp, timestampUnix, cpuCount 1, memTotal, memUsed <= memTotal, diskUsed <= diskTotal, cpuUsedPct 0..100)" \
	"$(jq -r 'all(.[]; (.timestamp|test("^20[0-9-]+T[0-9:.]+Z$")) and (.timestampUnix|type=="number") and .cpuCount==1 and .memTotal>=128*1048576 and .memUsed>0 and .memUsed<=.memTotal and .diskTotal>0 and .diskUsed<=.diskTotal and .cpuUsedPct>=0 and .cpuUsedPct<=100)' "$DATA/all.json")" true
is "points are 5 s apart (+-2 s) and oldest first" \
	"$(jq -r '[range(1;length) as $i | (.[$i].timestampUnix - .[$i-1].timestampUnix)] | all(. >= 3 and . <= 7)' "$DATA/all.json")" true
is "points lie within the sandbox's life" "$(jq -r --argjson a $((t0 - 10)) --argjson b "$(date +%s)" 'all(.[]; .timestampUnix >= $a and .timestampUnix <= $b)' "$DATA/all.json")" true
t2=$(jq '.[1].timestampUnix' "$DATA/all.json")
tl=$(jq '.[-1].timestampUnix' "$DATA/all.json")
# (a new point may have come since the list: only those up to its newest are counted)
is "start cuts: ?start=<2nd point> -> from the 2nd point on" \
	"$(curl -s "${H[@]}" "$API/sandboxes/$A/metrics?start=$t2" | jq -c --argjson tl "$tl" '[map(select(.timestampUnix <= $tl)) | length, .[0].timestampUnix]')" "[$((np - 1)),$t2]"
is "end cuts: ?end=<2nd point> -> the first two" \
	"$(curl -s "${H[@]}" "$API/sandboxes/$A/metrics?end=$t2" | jq -c '[length, .[-1].timestampUnix]')" "[2,$t2]"
is "start and end: exactly the 2nd point" \
	"$(curl -s "${H[@]}" "$API/sandboxes/$A/metrics?start=$t2&end=$t2" | jq -c '[.[].timestampUnix]')" "[$t2]"
is "a window after the newest point -> []" "$(curl -s "${H[@]}" "$API/sandboxes/$A/metrics?start=$((tl + 1))&end=$((tl + 3))" | jq -c .)" "[]"
is "start after end -> 400" "$(code "${H[@]}" "$API/sandboxes/$A/metrics?start=$tl&end=$t2")" 400
is "start not a number -> 400" "$(code "${H[@]}" "$API/sandboxes/$A/metrics?start=yesterday")" 400
is "unknown sandbox -> 404" "$(code "${H[@]}" "$API/sandboxes/cl-nosuchbox/metrics")" 404
is "no API key -> 401" "$(code "$API/sandboxes/$A/metrics")" 401

# --- /sandboxes/metrics ------------------------------------------------------------------
is "GET /sandboxes/metrics?sandbox_ids=A,S -> the newest point of each" \
	"$(curl -s "${H[@]}" "$API/sandboxes/metrics?sandbox_ids=$A,$S" | jq -r --arg a "$A" --arg s "$S" '.sandboxes | (keys|sort) == ([$a,$s]|sort) and (.[$a].cpuCount == 1) and (.[$s].memTotal > 0)')" true
is "repeated sandbox_ids and an unknown id: known ones only" \
	"$(curl -s "${H[@]}" "$API/sandboxes/metrics?sandbox_ids=$A&sandbox_ids=cl-nosuchbox" | jq -c '.sandboxes|keys|length')" 1
is "no sandbox_ids -> 400" "$(code "${H[@]}" "$API/sandboxes/metrics")" 400
ids=$(seq 1 101 | sed 's/^/cl-x/' | paste -sd,)
is "101 sandbox_ids -> 400 naming the limit" "$(code "${H[@]}" "$API/sandboxes/metrics?sandbox_ids=$ids")/$(jq -r .message "$DATA/body" | grep -c 100)" 400/1

# --- logs ------------------------------------------------------------------------------------
c=$(code "${H[@]}" "$API/sandboxes/$A/logs")
cp "$DATA/body" "$DATA/v1.json"
is "logs v1: {logs:[{timestamp,line}], logEntries:[{timestamp,level,message,fields}]}, same length" \
	"$c/$(jq -r '(.logs|length) > 3 and (.logs|length) == (.logEntries|length) and all(.logs[]; (.timestamp|type)=="string" and (.line|fromjson|(.level|type)=="string" and (.logger|type)=="string" and (.msg|type)=="string")) and  all(.logEntries[]; (.level|test("^(debug|info|warn|error)$")) and (.fields.source|test("^(console|process)$")) and (.message|type)=="string")' "$DATA/v1.json")" 200/true
is "logs v1 hold the guest's console line" "$(jq -r '[.logs[].line | select(contains("wrenn-74-console-mark"))] | length' "$DATA/v1.json")" 1
is "logs v1: the exec's process start and end (source process)" \
	"$(jq -c '[.logEntries[] | select(.fields.source=="process") | .message | sub("process [0-9]+ ";"")]' "$DATA/v1.json")" '["started (exec): sh","ended: exit code 0"]'
is "logs v1: envd's console lines for every process (also the SDK's): started and ended" \
	"$(jq -r '[.logEntries[] | select(.fields.source=="console") | .message | select(test("process [0-9]+ (started: sh|ended: exit status 0)"))] | length >= 2' "$DATA/v1.json")" true
is "logs v1 ?limit=2 -> the oldest 2" "$(curl -s "${H[@]}" "$API/sandboxes/$A/logs?limit=2" | jq -c '[.logs[].line]')" "$(jq -c '[.logs[0:2][].line]' "$DATA/v1.json")"
curl -s "${H[@]}" "$API/v2/sandboxes/$A/logs" >"$DATA/v2.json"
nl=$(jq '.logs|length' "$DATA/v2.json")
is "logs v2 (forward by default) = v1's entries" "$(jq -c '[.logs[].message]' "$DATA/v2.json")" "$(jq -c '[.logEntries[].message]' "$DATA/v1.json")"
ms() { python3 -c 'import sys,datetime; print(int(datetime.datetime.strptime(sys.argv[1],"%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()*1000+0.5))' "$1"; }
c3=$(ms "$(jq -r '.logs[2].timestamp' "$DATA/v2.json")")
is "v2 cursor (ms, inclusive) + limit forward: entries 3 and 4" \
	"$(curl -s "${H[@]}" "$API/v2/sandboxes/$A/logs?cursor=$c3&limit=2&direction=forward" | jq -c '[.logs[].message]')" "$(jq -c '[.logs[2:4][].message]' "$DATA/v2.json")"
is "v2 backward from the cursor: entries 3, 2, 1 (newest first)" \
	"$(curl -s "${H[@]}" "$API/v2/sandboxes/$A/logs?cursor=$c3&direction=backward" | jq -c '[.logs[].message]')" "$(jq -c '[.logs[0:3][].message] | reverse' "$DATA/v2.json")"
is "v2 backward without a cursor, limit 1: the newest" \
	"$(curl -s "${H[@]}" "$API/v2/sandboxes/$A/logs?direction=backward&limit=1" | jq -r '.logs|length')" 1
is "v2 level=warn: only the line printed at warn" "$(curl -s "${H[@]}" "$API/v2/sandboxes/$A/logs?level=warn" | jq -c '[.logs[]|[.level,(.message|sub(".*\\] ";""))]]')" '[["warn","a warning"]]'
is "v2 search: the console mark" "$(curl -s "${H[@]}" "$API/v2/sandboxes/$A/logs?search=wrenn-74-console" | jq -r '[.logs[].message]|length')" 1
is "v2 direction=sideways / level=loud / limit=0..1000 -> 400" \
	"$(code "${H[@]}" "$API/v2/sandboxes/$A/logs?direction=sideways")/$(code "${H[@]}" "$API/v2/sandboxes/$A/logs?level=loud")/$(code "${H[@]}" "$API/v2/sandboxes/$A/logs?limit=1001")" 400/400/400

# --- Prometheus ----------------------------------------------------------------------------
prom >"$DATA/prom.txt"
is "GET /metrics: text format with the series" \
	"$(grep -c -E '^# TYPE (wrenn_sandboxes gauge|wrenn_sandbox_create_seconds histogram|wrenn_sandbox_restore_seconds histogram|wrenn_warm_pool_hits_total counter|wrenn_warm_pool_misses_total counter|wrenn_template_builds gauge)$' "$DATA/prom.txt")" 6
is "GET /metrics: 2 running, 2 creates (+Inf bucket = count)" \
	"$(pval 'wrenn_sandboxes{state="running"}' <"$DATA/prom.txt")/$(pval wrenn_sandbox_create_seconds_count <"$DATA/prom.txt")/$(pval 'wrenn_sandbox_create_seconds_bucket{le="+Inf"}' <"$DATA/prom.txt")" 2/2/2
is "GET /metrics without a key -> 401" "$(code "$API/metrics")" 401

# --- teams -----------------------------------------------------------------------------------
KA=$(curl -s "${H[@]}" -d '{"name":"ka","team":"team-a"}' "$API/v1/keys" | jq -r .key)
HA=(-H "X-API-Key: $KA")
is "team key: another team's metrics and logs -> 404" \
	"$(code "${HA[@]}" "$API/sandboxes/$A/metrics")/$(code "${HA[@]}" "$API/sandboxes/$A/logs")/$(code "${HA[@]}" "$API/v2/sandboxes/$A/logs")" 404/404/404
TA=$(mk "${HA[@]}")
[ -n "$TA" ] && ok "team key: create ($TA)" || nok "team key: create"
sleep 6
is "team key: /sandboxes/metrics lists only its own sandbox" \
	"$(curl -s "${HA[@]}" "$API/sandboxes/metrics?sandbox_ids=$A,$S,$TA" | jq -c '.sandboxes|keys')" "[\"$TA\"]"
prom >"$DATA/prom2.txt"
is "GET /metrics after a create: creates 2 -> 3, running 3" \
	"$(pval wrenn_sandbox_create_seconds_count <"$DATA/prom2.txt")/$(pval 'wrenn_sandboxes{state="running"}' <"$DATA/prom2.txt")" 3/3
curl -s "${HA[@]}" "$API/metrics" >"$DATA/prom-team.txt"
is "GET /metrics with a team key: its sandboxes only, no host series" \
	"$(pval 'wrenn_sandboxes{state="running"}' <"$DATA/prom-team.txt")/$(grep -c create_seconds "$DATA/prom-team.txt")" 1/0

# --- CLI -------------------------------------------------------------------------------------
out=$(WRENN_API_URL=$API WRENN_API_KEY=$K "$W" metrics "$A" 2>&1)
if [ "$(printf '%s\n' "$out" | head -1 | awk '{print $1,$2,$3,$4,$5}')" = "TIME CPU% CPUS MEM DISK" ] &&
	[ "$(printf '%s\n' "$out" | grep -c "^20.*Z ")" -ge 3 ]; then ok "wrenn metrics ID: a table, >= 3 rows"
else nok "wrenn metrics ID: a table, >= 3 rows" "$out"; fi
is "wrenn metrics --json --start --end: the window" \
	"$(WRENN_API_URL=$API WRENN_API_KEY=$K "$W" metrics --json --start "$t2" --end "$t2" "$A" | jq -c '[.[].timestampUnix]')" "[$t2]"
WRENN_API_URL=$API WRENN_API_KEY=$K "$W" metrics --start soon "$A" >/dev/null 2>&1
is "wrenn metrics --start soon -> usage error (2)" "$?" 2

# --- after the end ---------------------------------------------------------------------------
is "kill A -> 204" "$(code "${H[@]}" -X DELETE "$API/sandboxes/$A")" 204
sleep 2
is "metrics and logs of the killed sandbox are still served" \
	"$(curl -s "${H[@]}" "$API/sandboxes/$A/metrics" | jq -r 'length >= 3')/$(curl -s "${H[@]}" "$API/v2/sandboxes/$A/logs?search=wrenn-74-console" | jq -r '.logs|length')" true/1
for id in $S $TA; do curl -s -o /dev/null "${H[@]}" -X DELETE "$API/sandboxes/$id"; done
exit $fail
