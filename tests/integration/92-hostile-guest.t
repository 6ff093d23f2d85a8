#!/usr/bin/env bash
# Hostile guests (issue 11 item 6), through a real wrenn-agent (TCG is fine):
#  - a serial-console flood keeps vmm.log (+ vmm.log.1) under the cap (WRENN_VMM_LOG_MAX, here
#    64 KiB; rotation is checked every 250 ms, so the peak is two caps plus what the guest
#    prints in a tick), the logs route's offsets go on across rotations (X-Next-Token), `wrenn logs -f`
#    follows through them, and the sandbox still answers exec;
#  - a sandbox whose envd hangs (SIGSTOPped mid-life: connections are accepted, nothing is ever
#    answered) holds its own lock only as long as the guest-call deadlines allow: another
#    sandbox's TTL fires on time meanwhile (one stuck sandbox never stalls the reaper), and the
#    stuck sandbox itself is still destroyed promptly;
#  - a fake envd (busybox nc on envd's port after envd is killed) that answers every request
#    with endless `100 Continue`: /metrics, a pause (envd /prepare) and destroy all end in time.
set -u
cd "$(dirname "$0")/../.." || exit 1
N=18
# shellcheck source=tests/lib/agent.sh
. tests/lib/agent.sh
echo "1..$N"
W=$B/bin/wrenn
CAP=65536
for c in jq curl; do command -v $c >/dev/null || skip_rest "needs $c"; done
[ -x "$W" ] || skip_rest "$W not built"
[ -r "$IMAGES/vmlinux" ] && [ -r "$IMAGES/minimal.ext4" ] || skip_rest "no guest images in $IMAGES"
export WRENN_VMM_LOG_MAX=$CAP
agent_start "wt92$$" --pool-size 0 --max-sandboxes 4
unset WRENN_VMM_LOG_MAX
H=(-H "X-API-Key: $K")
code() { curl -s -o "$DATA/body" -w '%{http_code}' "$@"; }
create() { # create TIMEOUT -> prints the id
	curl -s -m 180 "${H[@]}" -d "{\"template\":\"minimal\",\"timeout\":$1}" "$API/v1/sandboxes" | jq -r '.id // .sandboxID // empty'
}
x() { # x ID JSON -> exec answer
	curl -s -m 180 "${H[@]}" -d "$2" "$API/v1/sandboxes/$1/exec"
}
fsz() { stat -c %s "$1" 2>/dev/null || echo 0; }
[ -n "$K" ] && ok "agent started" || { nok "agent started" "$(tail -5 "$DATA/agent.err")"; skip_rest "no agent"; }

# --- serial console flood ----------------------------------------------------------------------
A=$(create 600)
[ -n "$A" ] && ok "sandbox A created" || { nok "sandbox A created" "$(cat "$DATA/body" 2>/dev/null)"; skip_rest "no sandbox"; }
LOG=$DATA/sandboxes/$A/vmm.log
export WRENN_API_URL=$API WRENN_API_KEY=$K
"$W" logs -f "$A" >"$DATA/follow" 2>"$DATA/follow.err" &
FPID=$!
# sample the log's disk use while the guest floods its console
( max=0; while [ ! -e "$DATA/flood.done" ]; do
	s=$(( $(fsz "$LOG") + $(fsz "$LOG.1") )); [ "$s" -gt "$max" ] && max=$s; echo "$max" >"$DATA/max"
	sleep 0.1; done ) &
SPID=$!
FLOOD=4000000
t0=$(date +%s)
r=$(x "$A" "{\"cmd\":\"head -c $FLOOD /dev/urandom > /dev/ttyS0; echo done\",\"user\":\"root\",\"timeout\":170}")
t1=$(date +%s)
touch "$DATA/flood.done"; wait $SPID
is "guest wrote $FLOOD random bytes to its serial console ($((t1 - t0)) s)" "$(jq -r .stdout <<<"$r" | tr -d '\n')" done
sleep 2.5 # one more reaper tick
c0=$(fsz "$LOG"); c1=$(fsz "$LOG.1"); mx=$(cat "$DATA/max")
# the reaper checks once a second: between ticks the log grows by at most a second of flood
rate=$(( FLOOD / ( t1 - t0 > 0 ? t1 - t0 : 1 ) ))
bound=$(( 2 * CAP + 1048576 ))
if [ "$c1" -gt 0 ] && [ "$c1" -le "$CAP" ] && [ "$c0" -le "$CAP" ]; then ok "rotated: vmm.log $c0, vmm.log.1 $c1 bytes (cap $CAP)"
else nok "rotated: vmm.log $c0, vmm.log.1 $c1 bytes (cap $CAP)"; fi
# the reaper checks 4 times a second: between ticks the log grows by what the guest prints in 250 ms
if [ "$mx" -le "$bound" ]; then ok "during the flood vmm.log + .1 peaked at $mx bytes (<= 2 caps + 1 MiB; ~$rate B/s flood)"
else nok "during the flood vmm.log + .1 peaked at $mx bytes (<= 2 caps + 1 MiB; ~$rate B/s flood)"; fi
curl -s -D "$DATA/hdr" -o "$DATA/all" "${H[@]}" "$API/v1/sandboxes/$A/logs"
NEXT=$(sed -n 's/^[Xx]-[Nn]ext-[Tt]oken: *\([0-9]*\).*/\1/p' "$DATA/hdr")
all=$(fsz "$DATA/all")
if [ -n "$NEXT" ] && [ "$NEXT" -ge $((FLOOD * 9 / 10)) ] && [ "$all" -le $((2 * CAP)) ]; then
	ok "logs: offsets count every byte (X-Next-Token $NEXT), the body holds what is kept ($all bytes)"
else nok "logs: offsets count every byte (X-Next-Token ${NEXT:-none}), the body holds what is kept ($all bytes)"; fi
is "logs?offset=<end> -> nothing new" "$(curl -s "${H[@]}" "$API/v1/sandboxes/$A/logs?offset=$NEXT" | wc -c)" 0
is "logs?offset=0 after rotation -> the oldest kept bytes, no error" "$(code "${H[@]}" "$API/v1/sandboxes/$A/logs?offset=0")/$(fsz "$DATA/body")" "200/$all"
is "the flooded sandbox still answers exec" "$(x "$A" '{"cmd":["echo","alive"]}' | jq -r .stdout | tr -d '\n')" alive
x "$A" '{"cmd":"echo MARK-after-rotation-92 > /dev/ttyS0","user":"root"}' >/dev/null
for _ in $(seq 1 20); do grep -aq MARK-after-rotation-92 "$DATA/follow" && break; sleep 0.5; done
kill -INT $FPID 2>/dev/null; wait $FPID 2>/dev/null
if grep -aq MARK-after-rotation-92 "$DATA/follow"; then ok "wrenn logs -f follows across rotations ($(fsz "$DATA/follow") bytes seen)"
else nok "wrenn logs -f follows across rotations" "$(tail -c 300 "$DATA/follow.err")"; fi
is "DELETE A -> 204" "$(code -X DELETE "${H[@]}" "$API/v1/sandboxes/$A")" 204

# --- a hung envd does not stall the reaper -----------------------------------------------------
B=$(create 600)
C=$(create 600)
[ -n "$B" ] && [ -n "$C" ] && ok "sandboxes B and C created" || { nok "sandboxes B and C created"; skip_rest "no sandboxes"; }
# envd stops itself a moment after answering (connections are then accepted and never answered)
x "$B" '{"cmd":"(sleep 1; kill -STOP $(pidof envd)) </dev/null >/dev/null 2>&1 &","user":"root"}' >/dev/null
sleep 2
# Both expire 2 s from now.  Meanwhile B's pause holds B's lock: quiesce (envd /prepare) waits
# for its whole-call deadline (5 s) on the stopped envd.  B's TTL worker then waits for B's
# lock; C's must not wait behind it.  (Timeouts first: setting one also takes the lock.)
code "${H[@]}" -d '{"timeout":2}' "$API/v1/sandboxes/$B/timeout" >/dev/null
code "${H[@]}" -d '{"timeout":2}' "$API/v1/sandboxes/$C/timeout" >/dev/null
tp=$(date +%s.%N)
( curl -s -m 300 -o "$DATA/pause" -w '%{http_code}' "${H[@]}" -X POST "$API/v1/sandboxes/$B/pause" >"$DATA/pause.code"; date +%s.%N >"$DATA/pause.end" ) &
PPID_=$!
sleep 2
tc=$(date +%s.%N)
gone=
for _ in $(seq 1 60); do
	[ "$(code "${H[@]}" "$API/v1/sandboxes/$C")" = 404 ] && { gone=$(date +%s.%N); break; }
	[ "$(jq -r .state "$DATA/body" 2>/dev/null)" = killed ] && { gone=$(date +%s.%N); break; }
	sleep 0.25
done
still=0; kill -0 $PPID_ 2>/dev/null && still=1
if [ -n "$gone" ]; then
	dt=$(awk -v a="$gone" -v b="$tc" 'BEGIN{printf "%.1f", a-b}')
	if [ $still -eq 1 ] || awk -v g="$gone" -v e="$(cat "$DATA/pause.end" 2>/dev/null || echo 0)" 'BEGIN{exit !(g < e)}'; then
		ok "C's TTL fired ${dt}s after expiry while B's lock was still held by its pause"
	else
		nok "C's TTL fired ${dt}s after expiry while B's lock was still held by its pause" "B's pause ended first (took $(awk -v a="$(cat "$DATA/pause.end")" -v b="$tp" 'BEGIN{printf "%.1f", a-b}') s): not shown"
	fi
else
	nok "C's TTL fired while B's lock was held" "C still $(jq -c . "$DATA/body" 2>/dev/null | head -c 200)"
fi
wait $PPID_
td=$(date +%s)
c=$(code -m 120 -X DELETE "${H[@]}" "$API/v1/sandboxes/$B")
[ "$c" = 404 ] && c=204 # the reaper may have won
is "the stuck sandbox B is destroyed ($(($(date +%s) - td)) s; pause answered $(cat "$DATA/pause.code"))" "$c" 204

# --- a fake envd answering endless 100 Continue ------------------------------------------------
D=$(create 600)
[ -n "$D" ] && ok "sandbox D created" || { nok "sandbox D created"; skip_rest "no sandbox"; }
fake=$(printf '#!/bin/sh\nwhile :; do printf "HTTP/1.1 100 Continue\\r\\n\\r\\n"; sleep 0.3; done\n' | base64 -w0)
x "$D" "{\"cmd\":\"echo $fake | base64 -d >/tmp/fake.sh && chmod +x /tmp/fake.sh && (setsid sh -c 'sleep 1; killall -KILL envd; exec nc -ll -p 49983 -e /tmp/fake.sh' </dev/null >/dev/null 2>&1 &)\",\"user\":\"root\"}" >/dev/null
sleep 3
t=$(date +%s)
# (served from the agent's samples; the sampler gives up on the fake within its deadline and
# goes on with host-side points: a point newer than the fake appears within a few sample
# periods, and no call waits on the fake)
dt=0
for _ in $(seq 1 10); do
	t1=$(date +%s)
	c=$(code -m 60 "${H[@]}" "$API/sandboxes/$D/metrics")
	d=$(($(date +%s) - t1)); [ $d -gt $dt ] && dt=$d
	[ "$c" = 200 ] && [ "$(jq -r --argjson t "$t" '(length > 0) and (.[-1].timestampUnix >= $t)' "$DATA/body")" = true ] && break
	sleep 2
done
if [ "$c" = 200 ] && [ "$(jq -r --argjson t "$t" '(length > 0) and (.[-1].timestampUnix >= $t)' "$DATA/body")" = true ] && [ $dt -le 8 ]; then
	ok "metrics of a sandbox whose envd answers endless 100 Continue: 200, sampling goes on, in ${dt}s"
else nok "metrics of a sandbox whose envd answers endless 100 Continue: 200, sampling goes on, in ${dt}s" "got $c $(head -c 200 "$DATA/body")"; fi
t=$(date +%s)
c=$(code -m 120 -X POST "${H[@]}" "$API/v1/sandboxes/$D/pause")
dt=$(($(date +%s) - t))
grep -q "sandbox $D: quiesce (envd /prepare) failed" "$DATA/agent.err" && q=1 || q=0
is "pause of it ends (quiesce gives up on the fake envd: $q) in ${dt}s <= 60" "$c/$q/$([ $dt -le 60 ] && echo in-time)" "204/1/in-time"
t=$(date +%s)
c=$(code -m 60 -X DELETE "${H[@]}" "$API/v1/sandboxes/$D")
is "DELETE it -> 204 in $(($(date +%s) - t))s" "$c" 204
[ $fail -eq 0 ]
