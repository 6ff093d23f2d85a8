#!/usr/bin/env bash
# Volumes (issue 16 item 4) against a real agent and minimal VMs: a volume written by one sandbox
# is read by the next after a kill; one running sandbox per volume (409 for a second one, for a
# delete, for /volumecontent); content read and written through /volumecontent while detached
# (libext2fs in the confined wrenn-volfs, no host mount); pause + resume with a volume attached; the CLI; the
# kill -9 recovery of a held volume; and the unmodified npm e2b SDK (Volume + volumeMounts).
set -u
cd "$(dirname "$0")/../.."
N=41
echo "1..$N"
. tests/lib/agent.sh
[ "$(id -u)" -eq 0 ] || skip_rest "needs root"
[ -x "$AGENT" ] || skip_rest "$AGENT not built (make MODE=asan $AGENT)"
command -v jq >/dev/null && command -v curl >/dev/null || skip_rest "needs jq, curl"
[ -r "$IMAGES/vmlinux" ] && [ -r "$IMAGES/minimal.ext4" ] ||
	skip_rest "no guest images in $IMAGES (set WRENN_GUEST)"
W=$B/bin/wrenn
AGENT_TIMEOUT=400 agent_start wt75$$ --pool-size 2 --max-sandboxes 6 --warm-pool 0
H=(-H "X-API-Key: $K")
code() { curl -s -o "$DATA/body" -w '%{http_code}' "$@"; }
mk() { # mk BODY: create a sandbox, print its id (the answer stays in $DATA/body)
	curl -s -o "$DATA/body" "${H[@]}" -H 'Content-Type: application/json' -d "$1" "$API/sandboxes"
	jq -r '.sandboxID // empty' "$DATA/body"
}
run() { # run ID CMD: exec as root, print stdout
	curl -s "${H[@]}" -d "$(jq -nc --arg c "$2" '{cmd:$c,user:"root"}')" "$API/v1/sandboxes/$1/exec" |
		jq -r '.stdout // empty'
}

# --- the control plane ---------------------------------------------------------------------
c=$(code "${H[@]}" -d '{"name":"data","sizeMB":64}' "$API/volumes")
V=$(jq -r '.volumeID // empty' "$DATA/body")
TOK=$(jq -r '.token // empty' "$DATA/body")
if [ "$c" = 201 ] && [[ "$V" == vol-* ]] && [ -n "$TOK" ]; then ok "POST /volumes -> 201 VolumeAndToken ($V)"
else nok "POST /volumes -> 201" "$c $(cat "$DATA/body")"; skip_rest "no volume"; fi
img=$DATA/volumes/$V.ext4
is "the image is sparse and 64 MiB" "$(stat -c %s "$img") $([ "$(du -k "$img" | cut -f1)" -lt 16384 ] && echo sparse)" "67108864 sparse"
is "a second volume of that name -> 409" "$(code "${H[@]}" -d '{"name":"data"}' "$API/volumes")" 409
is "a bad name -> 400" "$(code "${H[@]}" -d '{"name":"../x"}' "$API/volumes")" 400
is "an unknown field -> 400 naming it" "$(code "${H[@]}" -d '{"name":"y","color":1}' "$API/volumes") $(jq -r .message "$DATA/body" | grep -o color)" "400 color"
is "sizeMB above volume_max_size_mb -> 400" "$(code "${H[@]}" -d '{"name":"big","sizeMB":99999999}' "$API/volumes")" 400
is "GET /volumes lists it" "$(curl -s "${H[@]}" "$API/volumes" | jq -c --arg v "$V" '[.[] | select(.volumeID==$v) | .name]')" '["data"]'
is "GET /volumes/{id} -> the token" "$(curl -s "${H[@]}" "$API/volumes/$V" | jq -r .token)" "$TOK"
KT=$(curl -s "${H[@]}" -d '{"name":"t75","team":"other75"}' "$API/v1/keys" | jq -r .key)
is "another team's key: GET /volumes/{id} -> 404, list empty" \
	"$(code -H "X-API-Key: $KT" "$API/volumes/$V") $(curl -s -H "X-API-Key: $KT" "$API/volumes" | jq length)" "404 0"

# --- content while detached -----------------------------------------------------------------
VC=(-H "Authorization: Bearer $TOK")
is "PUT /volumecontent file (parents made) -> 201 stat" \
	"$(code "${VC[@]}" -X PUT --data-binary 'from the host' -H 'Content-Type: application/octet-stream' "$API/volumecontent/$V/file?path=/host/hello.txt") $(jq -c '[.type,.size,.path]' "$DATA/body")" \
	'201 ["file",13,"/host/hello.txt"]'
is "GET /volumecontent file -> the bytes" "$(curl -s "${VC[@]}" "$API/volumecontent/$V/file?path=/host/hello.txt")" "from the host"
is "a wrong token -> 401" "$(code -H 'Authorization: Bearer nope' "$API/volumecontent/$V/file?path=/host/hello.txt")" 401
is "a path with .. -> 400" "$(code "${VC[@]}" "$API/volumecontent/$V/path?path=/host/../x")" 400
is "a missing path -> 404" "$(code "${VC[@]}" "$API/volumecontent/$V/path?path=/nope")" 404

# a guest-damaged file system: an error from the confined reader, the agent unharmed
c=$(code "${H[@]}" -d '{"name":"bad","sizeMB":16}' "$API/volumes")
VB=$(jq -r .volumeID "$DATA/body"); TB=$(jq -r .token "$DATA/body")
printf '\055' | dd of="$DATA/volumes/$VB.ext4" bs=1 seek=1044 conv=notrunc status=none # s_first_data_block
is "a damaged volume -> 422, and the agent answers on" \
	"$(code -H "Authorization: Bearer $TB" "$API/volumecontent/$VB/dir?path=/") $(curl -s -o /dev/null -w '%{http_code}' "$API/health")" "422 200"
is "wrenn-agent does not link libext2fs (wrenn-volfs does)" "$(ldd "$AGENT" | grep -c ext2fs) $(ldd "$B/bin/wrenn-volfs" | grep -c ext2fs)" "0 1"
curl -s -o /dev/null "${H[@]}" -X DELETE "$API/volumes/$VB"

# --- attached: a sandbox writes, another reads after a kill ----------------------------------
VM='{"templateID":"minimal","timeout":300,"volumeMounts":[{"name":"data","path":"/mnt/data"}]}'
A=$(mk "$VM")
[ -n "$A" ] && ok "create with volumeMounts -> $A" || { nok "create with volumeMounts" "$(cat "$DATA/body")"; skip_rest "no sandbox"; }
is "GET /sandboxes/{id} reports volumeMounts" "$(curl -s "${H[@]}" "$API/sandboxes/$A" | jq -c .volumeMounts)" '[{"name":"data","path":"/mnt/data"}]'
is "GET /v2/sandboxes lists its volumeMounts" "$(curl -s "${H[@]}" "$API/v2/sandboxes" | jq -c --arg a "$A" '.[] | select(.sandboxID==$a) | .volumeMounts')" '[{"name":"data","path":"/mnt/data"}]'
is "the guest sees the host's file" "$(run "$A" 'cat /mnt/data/host/hello.txt')" "from the host"
run "$A" 'echo written-by-A > /mnt/data/a.txt; mkdir -p /mnt/data/d; echo deep > /mnt/data/d/e.txt' >/dev/null
is "it is an ext4 mount at the path" "$(run "$A" "awk '\$2==\"/mnt/data\"{print \$3}' /proc/mounts")" ext4
is "a second sandbox with the volume -> 409" "$(code "${H[@]}" -H 'Content-Type: application/json' -d "$VM" "$API/sandboxes")" 409
is "DELETE /volumes/{id} while in use -> 409" "$(code "${H[@]}" -X DELETE "$API/volumes/$V")" 409
is "/volumecontent while attached -> 409" "$(code "${VC[@]}" "$API/volumecontent/$V/path?path=/a.txt")" 409
is "GET /volumes/{id} names the sandbox" "$(curl -s "${H[@]}" "$API/volumes/$V" | jq -r .sandboxID)" "$A"
is "a mount path inside /proc -> 400" "$(code "${H[@]}" -H 'Content-Type: application/json' -d '{"templateID":"minimal","volumeMounts":[{"name":"data","path":"/proc/x"}]}' "$API/sandboxes")" 400
is "an unknown volume -> 400" "$(code "${H[@]}" -H 'Content-Type: application/json' -d '{"templateID":"minimal","volumeMounts":[{"name":"nope","path":"/mnt/x"}]}' "$API/sandboxes")" 400

# pause + resume with the volume attached
is "pause -> 204" "$(code "${H[@]}" -X POST "$API/sandboxes/$A/pause")" 204
is "still held while paused: a second sandbox -> 409" "$(code "${H[@]}" -H 'Content-Type: application/json' -d "$VM" "$API/sandboxes")" 409
is "resume -> 201" "$(code "${H[@]}" -H 'Content-Type: application/json' -d '{"timeout":300}' "$API/sandboxes/$A/connect")" 201
is "after resume the volume is there and writable" "$(run "$A" 'cat /mnt/data/a.txt && echo again >> /mnt/data/a.txt && tail -1 /mnt/data/a.txt')" "written-by-A
again"

is "a snapshot of a sandbox with a volume -> 409 naming the volume" \
	"$(code "${H[@]}" -H 'Content-Type: application/json' -d '{}' "$API/sandboxes/$A/snapshots") $(jq -r .message "$DATA/body" | grep -o "$V" | head -1)" "409 $V"
is "kill A -> 204" "$(code "${H[@]}" -X DELETE "$API/sandboxes/$A")" 204
is "detached: /volumecontent reads what A wrote" "$(curl -s "${VC[@]}" "$API/volumecontent/$V/file?path=/a.txt")" "written-by-A
again"
is "GET dir depth 2 lists it sorted" "$(curl -s "${VC[@]}" "$API/volumecontent/$V/dir?path=/&depth=2" | jq -c '[.[] | select(.name != "lost+found") | .path]')" \
	'["/a.txt","/d","/d/e.txt","/host","/host/hello.txt"]'
B2=$(mk "$VM")
is "a second sandbox reads A's file after the kill" "$(run "$B2" 'cat /mnt/data/d/e.txt')" deep

# kill -9 of the agent: the held volume is released at the next start when B2 is gone
pkill -KILL -f "wrenn-agent --data-dir $DATA " # the agent itself ($APID is its timeout)
wait "$APID" 2>/dev/null
pkill -KILL -f "$DATA/sandboxes/$B2/" 2>/dev/null
for _ in $(seq 1 50); do pgrep -f "$DATA/sandboxes/$B2/" >/dev/null || break; sleep 0.1; done
PA=${API##*:}; PP=${PX##*:}
timeout 200 "$AGENT" --data-dir "$DATA" --images-dir "$IMAGES" --api-listen "127.0.0.1:$PA" \
	--proxy-listen "127.0.0.1:$PP" "${AGENT_NET[@]}" --warm-pool 0 --auto-snapshot=false \
	>>"$DATA/agent.out" 2>>"$DATA/agent.err" &
APID=$!
# a CI run under load saw no answer within 10 s (its agent.err went with the data dir): wait up
# to 60 s while the agent lives, and say why when it does not answer
for _ in $(seq 1 600); do curl -sf "$API/health" >/dev/null && break; kill -0 "$APID" 2>/dev/null || break; sleep 0.1; done
curl -sf "$API/health" >/dev/null || echo "# restarted agent not answering; agent.err: $(tail -5 "$DATA/agent.err" | tr "\n" " ")"
is "after kill -9 and restart: the dead sandbox is gone and its volume free" \
	"$(curl -s "${H[@]}" "$API/v1/sandboxes/$B2" | jq -r .state) $(curl -s "${H[@]}" "$API/volumes/$V" | jq -r '.sandboxID // "free"')" "error free"

# --- CLI --------------------------------------------------------------------------------------
export WRENN_API_URL=$API WRENN_API_KEY=$K
VC2=$("$W" volumes create --size 32M cli75 2>"$DATA/cli.err")
is "wrenn volumes create --size 32M" "$(curl -s "${H[@]}" "$API/volumes/$VC2" | jq -c '[.name,.sizeBytes]')" '["cli75",33554432]'
is "wrenn volumes ls shows both" "$("$W" volumes ls | awk 'NR>1{print $2}' | sort | tr '\n' ' ')" "cli75 data "
"$W" volumes rm cli75 && is "wrenn volumes rm NAME" "$(code "${H[@]}" "$API/volumes/$VC2")" 404 || nok "wrenn volumes rm NAME"

# --- the npm SDK ----------------------------------------------------------------------------
if [ -d tests/e2b/node_modules/e2b ] && command -v node >/dev/null; then
	out=$(cd tests/e2b && E2B_API_URL=$API E2B_VOLUME_API_URL=$API E2B_SANDBOX_URL=$PX E2B_API_KEY=$K \
		timeout 180 node test/volumes.test.mjs 2>&1)
	if [ $? -eq 0 ] && grep -q 'volumes sdk ok' <<<"$out"; then ok "npm e2b: Volume.create + Sandbox.create({volumeMounts}) + write/read"
	else nok "npm e2b: Volume.create + Sandbox.create({volumeMounts}) + write/read" "$(tail -c 600 <<<"$out")"; fi
elif [ -n "${WRENN_CI:-}" ] || { [ -n "${CI:-}" ] && [ "$CI" != false ]; }; then
	# under CI (scripts/run-tests.sh exports WRENN_CI) a missing SDK fails, as in tests/lib/e2b.sh
	nok "npm e2b SDK installed (tests/e2b: npm ci)"
else n=$((n + 1)); echo "ok $n # skip npm e2b SDK not installed"; fi
exit $fail
