#!/usr/bin/env bash
# Custom templates through E2B's template build API (issue 10), against a private wrenn-agent
# booting real microVMs from the debian template: request, file upload link + upload, a build
# with COPY/ENV/RUN/WORKDIR/USER and a start + ready command, status polling with logsOffset,
# a sandbox from the result (restored from the snapshot: files, env, workdir, user, the start
# command's HTTP server through the proxy), a failing RUN that leaves nothing behind, the cache,
# two builds of one name, bad requests, delete with 409 while in use, and kill -9 of the agent
# during a build (the next start marks it failed and removes its VM).  The step cache: a 3-step
# build, the same with its last step changed (steps 1-2 restored), force, eviction beyond
# WRENN_BUILD_CACHE_ENTRIES, half-written entries swept at start.
set -u
cd "$(dirname "$0")/../.."
N=89
echo "1..$N"
. tests/lib/agent.sh
[ "$(id -u)" -eq 0 ] || skip_rest "needs root"
[ -x "$AGENT" ] || skip_rest "$AGENT not built (make MODE=asan $AGENT)"
command -v jq >/dev/null && command -v curl >/dev/null && command -v python3 >/dev/null ||
	skip_rest "needs jq, curl, python3"
[ -r "$IMAGES/vmlinux" ] && [ -r "$IMAGES/debian.ext4" ] ||
	skip_rest "no debian guest image in $IMAGES (make guest, or set WRENN_GUEST)"
export WRENN_BUILD_CACHE_ENTRIES=4 # small, so this file's builds evict
AGENT_TIMEOUT=1800 agent_start wt72$$ --pool-size 1 --max-sandboxes 6 --build-internet=false
[ -n "$K" ] || skip_rest "agent did not start: $(tail -3 "$DATA/agent.err")"

H=(-H "X-API-Key: $K")
code() { curl -s -o "$DATA/body" -w '%{http_code}' "$@"; }
body() { cat "$DATA/body"; }
# poll NAME BUILD [secs]: wait until the build is ready or error; prints the status
poll() {
	local s=building
	for _ in $(seq 1 "${3:-400}"); do
		s=$(curl -s "${H[@]}" "$API/templates/$1/builds/$2/status" | jq -r .status)
		case $s in ready | error) break ;; esac
		sleep 1
	done
	echo "$s"
}
# leftovers: build VMs, VMMs, namespaces in use, template dirs, sandbox dirs
state() {
	echo "sbx=$(curl -s "${H[@]}" "$API/v1/sandboxes" | jq '.sandboxes|length')" \
		"vmm=$(pgrep -f "$DATA/" | grep -vc "^$APID$")" \
		"tpl=$(find "$DATA/templates" -mindepth 1 -maxdepth 1 ! -name 'auto-*' 2>/dev/null | sort | tr '\n' ,)" \
		"sbxdirs=$(find "$DATA/sandboxes" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
}

# --- the build context: a directory copied into the template ---------------------------------
mkdir -p "$DATA/ctx/app/sub"
echo "hello from the context" >"$DATA/ctx/app/hello.txt"
printf '#!/bin/sh\necho sub-script\n' >"$DATA/ctx/app/sub/run.sh"
chmod 755 "$DATA/ctx/app/sub/run.sh"
tar -czf "$DATA/app.tgz" -C "$DATA/ctx" app
HASH=$(sha256sum "$DATA/app.tgz" | cut -d' ' -f1)

# --- request, upload ---------------------------------------------------------------------------
is "POST /v3/templates -> 202" "$(code "${H[@]}" -d '{"name":"tpl72","cpuCount":1,"memoryMB":512}' "$API/v3/templates")" 202
TID=$(jq -r .templateID "$DATA/body")
BID=$(jq -r .buildID "$DATA/body")
is "template id is the name; names/aliases listed" "$(jq -c '[.templateID,.names,.aliases]' "$DATA/body")" '["tpl72",["tpl72"],["tpl72"]]'
is "second request of the same name while waiting -> 409" "$(code "${H[@]}" -d '{"name":"tpl72"}' "$API/v3/templates")" 409
is "files link -> 200" "$(code "${H[@]}" "$API/templates/$TID/files/$HASH")" 200
URL=$(jq -r .url "$DATA/body")
is "files not present yet; an upload url is given" "$(jq -r '.present' "$DATA/body") ${URL%%\?*}" "false $API/build-files/$HASH"
code "${H[@]}" -H 'X-Forwarded-Proto: https' "$API/templates/$TID/files/$HASH" >/dev/null
is "behind a TLS front (X-Forwarded-Proto: https) the upload url is https" "$(jq -r .url "$DATA/body" | cut -d/ -f1-3)" "https://${API#http://}"
is "upload with a wrong token -> 403" "$(code -X PUT --data-binary @"$DATA/app.tgz" "$API/build-files/$HASH?token=nope")" 403
is "upload (no API key, the token authorises) -> 200" "$(code -X PUT -H 'Expect:' --data-binary @"$DATA/app.tgz" "$URL")" 200
is "the token is single-use -> 403" "$(code -X PUT --data-binary @"$DATA/app.tgz" "$URL")" 403
code "${H[@]}" "$API/templates/$TID/files/$HASH" >/dev/null
is "files now present" "$(jq -c . "$DATA/body")" '{"present":true}'
is "bad hash -> 400" "$(code "${H[@]}" "$API/templates/$TID/files/xyz")" 400

# --- bad build bodies: refused before any VM starts -----------------------------------------------
bad() { code "${H[@]}" -d "$1" "$API/v2/templates/$TID/builds/$BID"; }
is "unknown step type -> 400" "$(bad '{"fromTemplate":"base","steps":[{"type":"ADD","args":["a","b"]}]}')" 400
is "... naming it" "$(jq -r .message "$DATA/body")" 'step 1: step type "ADD" is not supported (RUN, COPY, ENV, WORKDIR, USER)'
is "COPY of files never uploaded -> 400" "$(bad '{"fromTemplate":"base","steps":[{"type":"COPY","args":["x","/x"],"filesHash":"'"$(printf %064d 0)"'"}]}')" 400
is "unknown base template -> 400" "$(bad '{"fromTemplate":"no-such-base","steps":[]}')" 400
is "fromImageRegistry of AWS -> 501" "$(bad '{"fromImage":"x:1","fromImageRegistry":{"type":"aws"},"steps":[]}')" 501
is "unknown field -> 400 naming it" "$(bad '{"fromTemplate":"base","cache":1}'; jq -r .message "$DATA/body")" '400build: field "cache" is not supported'
is "unknown build id -> 404" "$(code "${H[@]}" -d '{"fromTemplate":"base"}' "$API/v2/templates/$TID/builds/nope")" 404
is "legacy v1 build route -> 400 naming it" "$(code "${H[@]}" -d '{}' "$API/templates"; jq -r '.message|test("legacy v1")' "$DATA/body")" 400true

# --- the build ------------------------------------------------------------------------------------
READY="python3 -c 'import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:8080/hello.txt\", timeout=2)'"
BUILD=$(jq -nc --arg h "$HASH" --arg ready "$READY" '{fromTemplate:"base", force:false,
	steps:[{type:"COPY",args:["app","/opt/app","",""],filesHash:$h,force:false},
	       {type:"ENV",args:["GREETING","hello-72","FOO","bar baz"],force:false},
	       {type:"RUN",args:["echo built-as-$(id -un) > /opt/app/built.txt; echo step-output-line"],force:false},
	       {type:"WORKDIR",args:["/opt/app"],force:false},
	       {type:"USER",args:["user"],force:false}],
	startCmd:"python3 -m http.server 8080 --bind 0.0.0.0 --directory /opt/app", readyCmd:$ready}')
echo "$BUILD" >"$DATA/build.json"
t0=$(date +%s%N)
is "POST /v2/templates/{id}/builds/{build} -> 202" "$(code "${H[@]}" -d @"$DATA/build.json" "$API/v2/templates/$TID/builds/$BID")" 202
is "starting it twice -> 409" "$(code "${H[@]}" -d @"$DATA/build.json" "$API/v2/templates/$TID/builds/$BID")" 409
is "another build of the name while building -> 409" "$(code "${H[@]}" -d '{"name":"tpl72"}' "$API/v3/templates")" 409
st=$(poll "$TID" "$BID")
t1=$(date +%s%N)
echo "# cold 5-step build took $(((t1 - t0) / 1000000)) ms"
is "build ready" "$st" ready
curl -s "${H[@]}" "$API/templates/$TID/builds/$BID/status" >"$DATA/status.json"
if jq -e '[.logEntries[].message] | (index("[1/5] COPY app /opt/app") != null) and (index("[3/5] RUN echo built-as-$(id -un) > /opt/app/built.txt; echo step-output-line") != null) and (index("step-output-line") != null)' "$DATA/status.json" >/dev/null &&
	jq -e '.logEntries | all(.timestamp | test("^20[0-9-]+T[0-9:.]+Z$"))' "$DATA/status.json" >/dev/null; then
	ok "log entries: step headers, the step's output, timestamps"
else
	nok "log entries: step headers, the step's output, timestamps" "$(jq -c '.logEntries[:12]' "$DATA/status.json")"
fi
total=$(jq '.logEntries|length' "$DATA/status.json")
is "logsOffset skips what was read" "$(curl -s "${H[@]}" "$API/templates/$TID/builds/$BID/status?logsOffset=$((total - 2))" | jq '.logEntries|length')" 2
is "level=error filters" "$(curl -s "${H[@]}" "$API/templates/$TID/builds/$BID/status?level=error" | jq '.logEntries|length')" 0
is "alias resolves" "$(code "${H[@]}" "$API/templates/aliases/tpl72")" 200
is "GET /templates lists it" "$(curl -s "${H[@]}" "$API/templates" | jq -c '[.[]|select(.templateID=="tpl72")|.names[0]]')" '["tpl72"]'

is "POST /templates/tags -> 201 {buildID, tags}" "$(code "${H[@]}" -d '{"target":"tpl72","tags":["v1","stable"]}' "$API/templates/tags"; jq -c '[.buildID==$b, .tags]' --arg b "$BID" "$DATA/body")" '201[true,["v1","stable"]]'
is "GET /templates/{id}/tags lists them" "$(curl -s "${H[@]}" "$API/templates/tpl72/tags" | jq -c '[.[]|.tag]|sort')" '["stable","v1"]'
is "a tag resolves as a template name" "$(code "${H[@]}" "$API/templates/aliases/tpl72:v1")" 200
is "DELETE /templates/tags -> 204, the tag is gone" "$(code "${H[@]}" -X DELETE -d '{"name":"tpl72","tags":["stable"]}' "$API/templates/tags") $(curl -s "${H[@]}" "$API/templates/tpl72/tags" | jq -c '[.[]|.tag]')" '204 ["v1"]'
is "tags of an unknown template -> 404" "$(code "${H[@]}" -d '{"target":"nope72","tags":["x"]}' "$API/templates/tags")" 404

# --- a sandbox from it ----------------------------------------------------------------------------
t0=$(date +%s%N)
c=$(code "${H[@]}" -d '{"templateID":"tpl72","timeout":600}' "$API/sandboxes")
t1=$(date +%s%N)
is "create from the template -> 201" "$c" 201
ID=$(jq -r .sandboxID "$DATA/body")
echo "# first create from the new template took $(((t1 - t0) / 1000000)) ms"
is "created from the snapshot" "$(curl -s "${H[@]}" "$API/v1/sandboxes/$ID" | jq -r .createPath)" snapshot
out=$(curl -s "${H[@]}" -d '{"cmd":"cat /opt/app/hello.txt /opt/app/built.txt; /opt/app/sub/run.sh; echo \"$GREETING|$FOO\"; pwd; id -un; stat -c %U /opt/app/hello.txt"}' \
	"$API/v1/sandboxes/$ID/exec" | jq -r .stdout)
is "files, RUN output, env, workdir, user, owner" "$(echo "$out" | tr '\n' '|')" \
	"hello from the context|built-as-user|sub-script|hello-72|bar baz|/opt/app|user|user|"
is "the start command's server answers through the proxy" \
	"$(curl -s -m 10 -H "E2b-Sandbox-Id: $ID" -H "E2b-Sandbox-Port: 8080" "$PX/hello.txt")" "hello from the context"
is "DELETE the template while a sandbox uses it -> 409" "$(code "${H[@]}" -X DELETE "$API/templates/tpl72")" 409

# --- cache ------------------------------------------------------------------------------------------
read -r TID2 BID2 < <(curl -s "${H[@]}" -d '{"name":"tpl72","cpuCount":1,"memoryMB":512}' "$API/v3/templates" | jq -r '"\(.templateID) \(.buildID)"')
t0=$(date +%s%N)
curl -s "${H[@]}" -d @"$DATA/build.json" "$API/v2/templates/$TID2/builds/$BID2" >/dev/null
st=$(poll "$TID2" "$BID2")
t1=$(date +%s%N)
echo "# cached rebuild took $(((t1 - t0) / 1000000)) ms"
is "identical rebuild is a cache hit" "$st $(curl -s "${H[@]}" "$API/templates/$TID2/builds/$BID2/status" | jq -r '[.logEntries[].message|select(test("cache hit"))]|length')" "ready 1"

# --- the step cache -------------------------------------------------------------------------------
# sc_build NAME BODY: request, start, wait; prints "status buildID ms"
sc_build() {
	local t b t0 st
	read -r t b < <(curl -s "${H[@]}" -d "{\"name\":\"$1\",\"cpuCount\":1,\"memoryMB\":512}" "$API/v3/templates" | jq -r '"\(.templateID) \(.buildID)"')
	t0=$(date +%s%N)
	curl -s "${H[@]}" -d "$2" "$API/v2/templates/$t/builds/$b" >/dev/null
	st=$(poll "$t" "$b")
	echo "$st $b $((($(date +%s%N) - t0) / 1000000))"
}
# sc_steps NAME BUILD: the step header lines
sc_steps() { curl -s "${H[@]}" "$API/templates/$1/builds/$2/status" | jq -r '[.logEntries[].message|select(test("^\\[[0-9]"))]|join("|")'; }
# SC LAST [STEPFORCE [FORCE]]: 3 steps, the second slow
SC() {
	jq -nc --arg last "$1" --argjson sf "${2:-false}" --argjson f "${3:-false}" '{fromTemplate:"base", force:$f, steps:[
	{type:"ENV",args:["SC","env-kept"]},
	{type:"RUN",args:["echo one > /home/user/one; sleep 8"],force:$sf},
	{type:"RUN",args:["echo \($last) > /home/user/last"]}]}'
}
sc_check() { # NAME: what a sandbox from it sees, and its create path
	local id out p
	id=$(curl -s "${H[@]}" -d "{\"templateID\":\"$1\"}" "$API/sandboxes" | jq -r .sandboxID)
	out=$(curl -s "${H[@]}" -d '{"cmd":"cat one last; echo $SC; pwd; id -un"}' "$API/v1/sandboxes/$id/exec" | jq -j .stdout | tr '\n' '|')
	p=$(curl -s "${H[@]}" "$API/v1/sandboxes/$id" | jq -r .createPath)
	curl -s "${H[@]}" -X DELETE "$API/sandboxes/$id" >/dev/null
	echo "$out$p"
}
read -r s b cold < <(sc_build sc72 "$(SC v1)")
echo "# step cache: cold 3-step build $cold ms"
is "3-step build ready, no step cached" "$s $(sc_steps sc72 "$b")" \
	"ready [1/3] ENV SC=env-kept|[2/3] RUN echo one > /home/user/one; sleep 8|[3/3] RUN echo v1 > /home/user/last"
read -r s b warm < <(sc_build sc72 "$(SC v2)")
echo "# step cache: last step changed $warm ms"
is "last step changed: steps 1-2 cached, step 3 runs" "$s $(sc_steps sc72 "$b")" \
	"ready [1/3] ENV SC=env-kept (cached)|[2/3] RUN echo one > /home/user/one; sleep 8 (cached)|[3/3] RUN echo v2 > /home/user/last"
if [ "$warm" -le $((cold - 6000)) ]; then
	ok "the rebuild is much faster ($warm ms vs $cold ms cold)"
else
	nok "the rebuild is much faster" "$warm ms vs $cold ms cold"
fi
is "a sandbox from the cached rebuild: files, env, workdir, user, snapshot path" "$(sc_check sc72)" \
	"one|v2|env-kept|/home/user|user|snapshot"
is "... the built template carries the envd-defaults marker" \
	"$(find "$DATA/templates" -mindepth 2 -maxdepth 2 -path '*/sc72.b*/envd-defaults' | wc -l)" 1
read -r s b _ < <(sc_build sc72 "$(SC v2 true)")
is "force on step 2: reruns from step 2 (nothing restored)" "$s $(sc_steps sc72 "$b" | grep -c cached)" "ready 0"
is "... same sandbox as the cached build" "$(sc_check sc72)" "one|v2|env-kept|/home/user|user|snapshot"
read -r s b _ < <(sc_build sc72 "$(SC v2 false true)")
is "force on the build: no cache at all" \
	"$s $(curl -s "${H[@]}" "$API/templates/sc72/builds/$b/status" | jq -r '[.logEntries[].message|select(test("cached|cache hit"))]|length')" "ready 0"
read -r s b _ < <(sc_build sc72 "$(SC v3)")
is "after the forced builds, the refreshed entries serve a rebuild" "$s $(sc_steps sc72 "$b" | grep -o cached | wc -l)" "ready 2"
is "entries are bounded (WRENN_BUILD_CACHE_ENTRIES=4)" "$(find "$DATA/templates" -mindepth 1 -maxdepth 1 -name 'bc-*' | wc -l)" 4
if [ "$(grep -c 'build cache: evicted' "$DATA/agent.err")" -ge 2 ]; then
	ok "... the least recently used were evicted (logged)"
else
	nok "... the least recently used were evicted (logged)" "$(grep 'build cache' "$DATA/agent.err" | tail -3)"
fi

# --- a failing step leaves nothing behind ------------------------------------------------------------
before=$(state)
read -r FT FB < <(curl -s "${H[@]}" -d '{"name":"bad72"}' "$API/v3/templates" | jq -r '"\(.templateID) \(.buildID)"')
code "${H[@]}" -d '{"fromTemplate":"base","steps":[{"type":"ENV","args":["A","1"]},{"type":"RUN","args":["echo before-the-failure; exit 7"]}]}' \
	"$API/v2/templates/$FT/builds/$FB" >/dev/null
is "failing build ends in error" "$(poll "$FT" "$FB")" error
curl -s "${H[@]}" "$API/templates/$FT/builds/$FB/status" >"$DATA/fail.json"
is "reason names the step, its exit code and output" \
	"$(jq -r '[.reason.step, (.reason.message|test("^step 2 \\(RUN echo before-the-failure; exit 7\\) failed: exit code 7")), (.reason.message|test("before-the-failure"))]|join(" ")' "$DATA/fail.json")" "2 true true"
sleep 1
is "nothing left behind (sandboxes, VMMs, template dirs, sandbox dirs)" "$(state)" "$before"
is "no template published" "$(code "${H[@]}" "$API/templates/aliases/bad72")" 404

# --- delete ---------------------------------------------------------------------------------------
curl -s "${H[@]}" -X DELETE "$API/sandboxes/$ID" >/dev/null
is "DELETE the template -> 204" "$(code "${H[@]}" -X DELETE "$API/templates/tpl72")" 204
is "gone: alias 404, create 404 (template not found)" "$(code "${H[@]}" "$API/templates/aliases/tpl72") $(code "${H[@]}" -d '{"templateID":"tpl72"}' "$API/sandboxes")" "404 404"
is "its snapshot dirs are removed" "$(find "$DATA/templates" -maxdepth 1 -name 'tpl72*' | wc -l)" 0

# --- Dockerfile builds through /v1 (the CLI's route) ---------------------------------------------
mkdir -p "$DATA/dfctx/app"
echo "ctx file" >"$DATA/dfctx/app/a.txt"
printf 'FROM base\nENV APP_MODE=docker\nCOPY app /srv/app\nRUN echo "df-built" > /srv/app/df.txt\nWORKDIR /srv/app\nEXPOSE 8081\n' >"$DATA/dfctx/Dockerfile"
tar -cf "$DATA/df.tar" -C "$DATA/dfctx" .
dfpost() { code "${H[@]}" -H 'Content-Type: application/x-tar' --data-binary @"$1" "$API/v1/templates/$2/builds?$3"; }
is "POST /v1/templates/df72/builds (context tar) -> 202" "$(dfpost "$DATA/df.tar" df72 'dockerfile=Dockerfile&cpuCount=1&memoryMB=512&force=false')" 202
DB=$(jq -r .buildID "$DATA/body")
is "... EXPOSE is noted" "$(jq -r '.templateID + " " + (.notes[0]|test("line 6: EXPOSE 8081 noted")|tostring)' "$DATA/body")" "df72 true"
is "a second build of the name while it runs -> 409" "$(dfpost "$DATA/df.tar" df72 'force=true')" 409
for _ in $(seq 1 400); do
	s=$(curl -s "${H[@]}" "$API/v1/templates/df72/builds/$DB" | jq -r .status)
	case $s in ready | error) break ;; esac
	sleep 1
done
is "Dockerfile build ready" "$s" ready
is "steps as the Dockerfile says (Docker's root/ then user defaults)" \
	"$(curl -s "${H[@]}" "$API/v1/templates/df72/builds/$DB" | jq -r '[.logEntries[].message|select(startswith("["))|select(test("^\\[[0-9]"))]|join("|")')" \
	'[1/7] USER root|[2/7] WORKDIR /|[3/7] ENV APP_MODE=docker|[4/7] COPY app /srv/app|[5/7] RUN echo "df-built" > /srv/app/df.txt|[6/7] WORKDIR /srv/app|[7/7] USER user'
DID=$(curl -s "${H[@]}" -d '{"templateID":"df72"}' "$API/sandboxes" | jq -r .sandboxID)
out=$(curl -s "${H[@]}" -d '{"cmd":"cat /srv/app/a.txt /srv/app/df.txt; echo $APP_MODE; pwd; id -un; stat -c %U /srv/app/a.txt"}' "$API/v1/sandboxes/$DID/exec" | jq -r .stdout)
is "a sandbox from it: files (root-owned, as COPY without --chown), RUN, ENV, WORKDIR, user" \
	"$(echo "$out" | tr '\n' '|')" \
	"ctx file|df-built|docker|/srv/app|user|root|"
curl -s "${H[@]}" -X DELETE "$API/sandboxes/$DID" >/dev/null
sleep 1
before=$(state)
printf 'FROM base\nFROBNICATE x\n' >"$DATA/dfctx/Dockerfile"
tar -cf "$DATA/dfbad.tar" -C "$DATA/dfctx" .
is "unknown instruction -> 400 naming the line" "$(dfpost "$DATA/dfbad.tar" df73 ''; jq -r .message "$DATA/body")" '400Dockerfile line 2: unknown instruction "FROBNICATE"'
printf 'FROM base\nCOPY nothere /x\n' >"$DATA/dfctx/Dockerfile"
tar -cf "$DATA/dfbad.tar" -C "$DATA/dfctx" .
is "missing COPY source -> 400" "$(dfpost "$DATA/dfbad.tar" df73 ''; jq -r .message "$DATA/body")" '400step 3: COPY source "nothere" is not in the build context'
is "missing Dockerfile -> 400" "$(dfpost "$DATA/df.tar" df73 'dockerfile=Nope'; jq -r .message "$DATA/body")" '400Nope is not in the build context'
is "refused builds leave no VM, template or name behind" "$(state) $(code "${H[@]}" "$API/templates/aliases/df73")" "$before 404"

# --- an OCI image as the base (Debian's docker-registry on loopback, an image built here) ---------
# shellcheck source=tests/lib/oci.sh
. tests/lib/oci.sh
trap 'oci_registry_stop; agent_cleanup' EXIT
BINS=$(dirname "$B")/static/bin
miss=$(oci_missing)
[ -x "$BINS/envd" ] && [ -x "$BINS/wrenn-init" ] || miss="$miss $BINS/{envd,wrenn-init}(make guest-bins)"
if [ -z "$miss" ]; then
	RPORT=$(oci_free_port)
	if oci_image_build "$DATA/img" >"$DATA/oci.out" 2>&1 && oci_registry_start "$DATA/reg" "$RPORT" &&
		oci_push "$DATA/img" "127.0.0.1:$RPORT/test:1" >>"$DATA/oci.out" 2>&1; then
		read -r OT OB < <(curl -s "${H[@]}" -d '{"name":"oci72"}' "$API/v3/templates" | jq -r '"\(.templateID) \(.buildID)"')
		code "${H[@]}" -d '{"fromImage":"127.0.0.1:'"$RPORT"'/test:1","readyCmd":"test -d /srv",
			"steps":[{"type":"RUN","args":["echo from-oci > /srv/built.txt; echo $GREETING > /srv/greet"]}]}' \
			"$API/v2/templates/$OT/builds/$OB" >/dev/null
		s=$(poll "$OT" "$OB")
		curl -s "${H[@]}" "$API/templates/$OT/builds/$OB/status" >"$DATA/oci.json"
		is "fromImage build from the local registry ready" "$s" ready
		is "image config applied (ENV, WORKDIR, USER) and its ENTRYPOINT+CMD is the start command" \
			"$(jq -r '[.logEntries[].message|select(test("^\\[(base|finalize)\\] (ENV GREETING|WORKDIR|USER|start command)"))]|join("|")' "$DATA/oci.json")" \
			"[base] ENV GREETING=hi|[base] WORKDIR /srv|[base] USER root|[finalize] start command: '/bin/sh' '-c' 'echo started'"
		OID=$(curl -s "${H[@]}" -d '{"templateID":"oci72"}' "$API/sandboxes" | jq -r .sandboxID)
		out=$(curl -s "${H[@]}" -d '{"cmd":"cat /srv/hello.txt /srv/built.txt /srv/greet; pwd; id -un"}' "$API/v1/sandboxes/$OID/exec" | jq -r .stdout)
		is "a sandbox from the image template: image files, RUN output, image ENV/WORKDIR/USER" \
			"$(echo "$out" | tr '\n' '|')" "hello-oci|from-oci|hi|/srv|root|"
		curl -s "${H[@]}" -X DELETE "$API/sandboxes/$OID" >/dev/null
		read -r OT OB < <(curl -s "${H[@]}" -d '{"name":"oci73"}' "$API/v3/templates" | jq -r '"\(.templateID) \(.buildID)"')
		code "${H[@]}" -d '{"fromImage":"127.0.0.1:'"$(oci_free_port)"'/nothere:1","steps":[]}' "$API/v2/templates/$OT/builds/$OB" >/dev/null
		is "an unreachable registry: error naming it" "$(poll "$OT" "$OB" 120) $(curl -s "${H[@]}" "$API/templates/$OT/builds/$OB/status" | jq -r '.reason.message|test("127.0.0.1")')" "error true"
	else
		for _ in 1 2 3 4; do nok "OCI image build/push for the fromImage tests" "$(tail -5 "$DATA/oci.out")"; done
	fi
	oci_registry_stop
elif oci_ci; then
	for _ in 1 2 3 4; do nok "fromImage tests not run under CI: missing$miss"; done
else
	for _ in 1 2 3 4; do n=$((n + 1)); echo "ok $n # skip missing$miss"; done
fi

# --- the unmodified npm SDK (tests/e2b/test/template.test.mjs, both pinned versions) ---------------
# Template.build with copy/runCmd/setEnvs/setWorkdir/setUser/setStartCmd, Sandbox.create(name), a
# cache hit (Template.build, and buildInBackground + getBuildStatus polling), tags, a failing step
# as BuildError; one TAP line per SDK test.
SDK_TESTS=12
# shellcheck source=tests/lib/e2b.sh
. tests/lib/e2b.sh
sdk_ok=1
for c in node npm; do command -v $c >/dev/null || sdk_ok=0; done
if [ $sdk_ok = 1 ] && [ "$(node -p 'process.versions.node.split(".")[0] >= 20')" = true ] &&
	(cd tests/e2b && want=$(sha256sum package-lock.json | cut -d' ' -f1) &&
		{ [ "$(cat node_modules/.wrenn-lock.sha256 2>/dev/null)" = "$want" ] ||
			{ timeout 120 npm ci --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null 2>&1 &&
				echo "$want" >node_modules/.wrenn-lock.sha256; }; }); then
	t0=$(date +%s)
	(cd tests/e2b && exec env -i PATH="$PATH" HOME="${HOME:-/root}" \
		E2B_API_URL="$API" E2B_SANDBOX_URL="$PX" E2B_API_KEY="$K" \
		timeout 900 node --test --test-concurrency=1 --test-reporter=./lib/tap-flat.mjs \
		test/template.test.mjs) >"$DATA/sdk.out" 2>"$DATA/sdk.err"
	e2b_tap sdk "$DATA/sdk.out" "$DATA/sdk.err" $? "$t0" $SDK_TESTS
elif e2b_ci; then
	for _ in $(seq 0 $SDK_TESTS); do nok "SDK template tests not run under CI: needs node >= 20, npm and npm ci in tests/e2b"; done
else
	for _ in $(seq 0 $SDK_TESTS); do n=$((n + 1)); echo "ok $n # skip needs node >= 20, npm and tests/e2b's packages"; done
fi

# --- kill -9 during a build ------------------------------------------------------------------------
read -r KT KB < <(curl -s "${H[@]}" -d '{"name":"kill72"}' "$API/v3/templates" | jq -r '"\(.templateID) \(.buildID)"')
code "${H[@]}" -d '{"fromTemplate":"base","steps":[{"type":"RUN","args":["sleep 300"]}]}' "$API/v2/templates/$KT/builds/$KB" >/dev/null
for _ in $(seq 1 120); do
	grep -q '"\[1/1\] RUN sleep 300"' <(curl -s "${H[@]}" "$API/templates/$KT/builds/$KB/status") && break
	sleep 1
done
old_vmms=$(pgrep -f "$DATA/" | tr '\n' ' ') # the build VM and warm-pool VMs of this agent
# crash leftovers of the step cache: a directory never registered, an entry without its meta
mkdir -p "$DATA/templates/bc-halfwritten"
HALF=$(find "$DATA/templates" -mindepth 2 -maxdepth 2 -path '*/bc-*/build-step.json' | head -1)
rm -f "$HALF"
HALF=$(dirname "$HALF")
kill -KILL "$(pgrep -P "$APID" -x wrenn-agent)" # the agent itself, not its timeout wrapper
wait "$APID" 2>/dev/null
PA=${API##*:}
PP=${PX##*:}
timeout 600 "$AGENT" --data-dir "$DATA" --images-dir "$IMAGES" --api-listen "127.0.0.1:$PA" \
	--proxy-listen "127.0.0.1:$PP" "${AGENT_NET[@]}" --pool-size 1 --max-sandboxes 6 --build-internet=false \
	>>"$DATA/agent.out" 2>>"$DATA/agent.err" &
APID=$!
for _ in $(seq 1 300); do curl -sf "$API/health" >/dev/null && break; sleep 0.2; done
curl -s "${H[@]}" "$API/templates/$KT/builds/$KB/status" >"$DATA/killed.json"
is "step cache entries half-written by a crash are swept at start" \
	"$([ -e "$DATA/templates/bc-halfwritten" ] || [ -e "$HALF" ] || echo gone) $(grep -c 'half-written entry' "$DATA/agent.err")" "gone 1"
is "after kill -9 and restart the build is failed" "$(jq -r '.status + " " + (.reason.message|test("interrupted")|tostring)' "$DATA/killed.json")" "error true"
sleep 1
alive=0
for p in $old_vmms; do # still running (not a zombie awaiting its reaper) and still ours
	case "$(ps -o stat= -p "$p" 2>/dev/null)" in "" | Z*) continue ;; esac
	tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "$DATA/" && alive=$((alive + 1)) &&
		echo "# still alive: $(ps -o pid=,ppid=,stat=,args= -p "$p" | cut -c1-160)"
done
is "... its build VM and template dir are gone" \
	"$(curl -s "${H[@]}" "$API/v1/sandboxes" | jq '.sandboxes|length') $alive $(find "$DATA/templates" -maxdepth 1 -name 'kill72*' | wc -l)" "0 0 0"

# --- SIGTERM during a build: the build gives up at its next keepalive, fails, the agent exits ------
read -r ST SB < <(curl -s "${H[@]}" -d '{"name":"term72"}' "$API/v3/templates" | jq -r '"\(.templateID) \(.buildID)"')
code "${H[@]}" -d '{"fromTemplate":"base","steps":[{"type":"RUN","args":["sleep 300"]}]}' "$API/v2/templates/$ST/builds/$SB" >/dev/null
for _ in $(seq 1 120); do
	grep -q '"\[1/1\] RUN sleep 300"' <(curl -s "${H[@]}" "$API/templates/$ST/builds/$SB/status") && break
	sleep 1
done
t0=$(date +%s)
kill -TERM "$(pgrep -P "$APID" -x wrenn-agent)"
for _ in $(seq 1 600); do kill -0 "$APID" 2>/dev/null || break; sleep 0.1; done
t1=$(date +%s)
if ! kill -0 "$APID" 2>/dev/null && [ $((t1 - t0)) -le 40 ]; then
	ok "SIGTERM during a build: the agent stops in $((t1 - t0)) s (not after the step's 300 s)"
else
	nok "SIGTERM during a build: the agent stops within 40 s" "still running after $((t1 - t0)) s"
fi
wait "$APID" 2>/dev/null
timeout 600 "$AGENT" --data-dir "$DATA" --images-dir "$IMAGES" --api-listen "127.0.0.1:$PA" \
	--proxy-listen "127.0.0.1:$PP" "${AGENT_NET[@]}" --pool-size 1 --max-sandboxes 6 --build-internet=false \
	>>"$DATA/agent.out" 2>>"$DATA/agent.err" &
APID=$!
for _ in $(seq 1 300); do curl -sf "$API/health" >/dev/null && break; sleep 0.2; done
is "... the build is failed, its reason says so, no VM or template left" \
	"$(curl -s "${H[@]}" "$API/templates/$ST/builds/$SB/status" | jq -r '.status + " " + (.reason.message|test("stopping")|tostring)') $(curl -s "${H[@]}" "$API/v1/sandboxes" | jq '.sandboxes|length') $(find "$DATA/templates" -maxdepth 1 -name 'term72*' | wc -l)" \
	"error true 0 0"
exit $fail
