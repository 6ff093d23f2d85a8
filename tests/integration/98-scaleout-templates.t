#!/usr/bin/env bash
# Templates through the control plane (issue #15): a throwaway PostgreSQL cluster, a control plane
# (API and sandbox-traffic ports) and two host agents on loopback, as 96-scaleout.t.  The
# unmodified npm SDK's Template.build with a team key and the control plane as its only address:
# the request goes to a build host (least loaded), the template row and its builds are in
# PostgreSQL for the team, the COPY's upload link points at the control plane, which relays the
# upload to the build host; the status polls go there too.  Then Sandbox.create(name) through the
# control plane, and an operator's create pinned on the OTHER host (it fetches the built template
# from the build host by its name, which heartbeats list).  Another team sees nothing of it: 404
# before any host is called (no X-Wrenn-Host in the answer), its name is taken (409).  Upload
# links: one use, a wrong or missing token 403, tens of MB streamed, over the control plane's
# --max-upload-bytes 413 (declared length or a chunked body), X-Forwarded-Proto, a link from one
# replica used through another; tags, aliases, list, delete; routes not served answer 501 naming
# themselves.
set -u
cd "$(dirname "$0")/../.."
N=49
echo "1..$N"
. tests/lib/agent.sh
. tests/lib/pg.sh
# shellcheck source=tests/lib/e2b.sh
. tests/lib/e2b.sh

SO_TAG=so98 SO_TIMEOUT=1500
# shellcheck source=tests/lib/scaleout.sh
. tests/lib/scaleout.sh

trap so_cleanup EXIT
trap 'exit 1' INT TERM
so_need debian
so_sdk so98
so_pg

# the control plane, its uploads capped at 64 MiB
MAXUP=$((64 * 1024 * 1024))
so_control --max-upload-bytes "$MAXUP"
PC=${CP##*:}
is "the template tables are a migration of their own" \
	"$(PSQL "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('templates','template_builds','template_uploads')") $(PSQL 'SELECT max(version) >= 5 FROM schema_version')" \
	"3 t"

SO_HOST_ARGS=(--build-internet=false --auto-snapshot=false --warm-pool 0 --pool-size 1)
so_hosts a b
is "two hosts ready" "$SO_STATES" "ready,ready"

KA=$(so_team_key ta98) KB=$(so_team_key tb98)
A=(-H "X-API-Key: $KA") B=(-H "X-API-Key: $KB")

is "a template request without a name: 400 before any host" "$(so_code_host "${A[@]}" -d '{"cpuCount":1}' "$CP/v3/templates")" "400 -"

# --- the npm SDK's Template.build through the control plane, team ta98 ------------------------------
NAME=tpl98-$$
CTX=$CDIR/ctx
mkdir -p "$CTX/app"
echo "hello from 98" >"$CTX/app/hello.txt"
cat >"$CDIR/build.mjs" <<'EOF'
const { Template } = await import(process.env.SDK || 'e2b')
const logs = []
const tpl = Template({ fileContextPath: process.env.CTX })
	.fromTemplate('base')
	.copy('app', '/home/user/app')
	.runCmd('echo "built by $(id -un)" > /home/user/app/built.txt')
	.setEnvs({ GREETING: 'hi-98' })
	.setWorkdir('/home/user/app')
	.setUser('user')
try {
	const info = await Template.build(tpl, process.env.NAME, {
		cpuCount: 1, memoryMB: 512, onBuildLogs: (e) => logs.push(String(e.message ?? e)),
	})
	console.log(JSON.stringify({ templateId: info.templateId, buildId: info.buildId,
		copy: logs.some((l) => l.includes('COPY app /home/user/app')),
		base: await Template.exists('base'), exists: await Template.exists(process.env.NAME) }))
} catch (e) {
	console.log(JSON.stringify({ error: String(e), logs: logs.slice(-10) }))
}
EOF
t0=$(date +%s)
# run from tests/e2b, where the npm packages are
out=$(cd tests/e2b && E2B_API_URL=$CP E2B_SANDBOX_URL=$CPX E2B_API_KEY=$KA CTX=$CTX NAME=$NAME \
	timeout 900 node --input-type=module -e "$(cat "$CDIR/build.mjs")" 2>"$CDIR/node.err" | tail -1)
echo "# Template.build through the control plane: $(($(date +%s) - t0)) s"
is "SDK Template.build through the control plane (team key): ready, COPY uploaded, exists, base exists" \
	"$(jq -r '[.templateId, .copy, .exists, .base] | map(tostring) | join(" ")' <<<"$out" 2>/dev/null)" \
	"$NAME true true true"
[ "$(jq -r .templateId <<<"$out" 2>/dev/null)" = "$NAME" ] || echo "# $out $(tail -5 "$CDIR/node.err")"
BID=$(jq -r '.buildId // empty' <<<"$out" 2>/dev/null)
BH=$(PSQL "SELECT host_id FROM templates WHERE id='$NAME'")
OTHER=${ID[a]}; [ "$BH" = "${ID[a]}" ] && OTHER=${ID[b]}
is "the template row: the team, a build host, the build seen ready" \
	"$(PSQL "SELECT t.team || ' ' || (t.host_id IN ('${ID[a]}','${ID[b]}')) || ' ' || b.status || ' ' || (b.build_id = '$BID') FROM templates t JOIN template_builds b ON b.template_id = t.id WHERE t.id='$NAME'")" \
	"ta98 true ready true"
if grep -q "build host for template $NAME: host-.*least loaded" "$CDIR/agent.err"; then
	ok "the build host decision is logged with its reason"
else
	nok "the build host decision is logged" "$(grep 'build host' "$CDIR/agent.err" | tail -2)"
fi
if grep -q "build files [0-9a-f]\{64\}: [0-9]* bytes relayed to host $BH (200)" "$CDIR/agent.err" &&
	[ "$(PSQL 'SELECT count(*) FROM template_uploads')" = 0 ]; then
	ok "the SDK's upload went through the control plane to the build host, its link used up"
else
	nok "upload relayed" "$(grep 'build files' "$CDIR/agent.err" | tail -2)"
fi
HDIR_BH=$HDIR_a; [ "$BH" = "${ID[b]}" ] && HDIR_BH=$HDIR_b
HAPI_BH=$HAPI_a; [ "$BH" = "${ID[b]}" ] && HAPI_BH=$HAPI_b
is "the build ran on the build host (its store has the build)" \
	"$(curl -s -H "X-API-Key: $(cat "$HDIR_BH/admin-key")" "$HAPI_BH/templates/$NAME/builds/$BID/status" | jq -r .status)" ready
has_tpl=
for _ in $(seq 1 40); do
	curl -s "${H[@]}" "$CP/v1/hosts/$BH" | jq -e --arg t "$NAME" '.capacity.templates | index($t)' >/dev/null && { has_tpl=1; break; }
	sleep 0.25
done
is "the build host's heartbeat lists the template's name" "${has_tpl:-0}" 1
# the other pinned SDK version (2.49.1) the same way, another name
out=$(cd tests/e2b && E2B_API_URL=$CP E2B_SANDBOX_URL=$CPX E2B_API_KEY=$KA CTX=$CTX NAME=$NAME-v24 SDK=e2b-v24 \
	timeout 900 node --input-type=module -e "$(cat "$CDIR/build.mjs")" 2>>"$CDIR/node.err" | tail -1)
# (on the same host its steps are a cache hit: no step logs, no upload)
is "SDK 2.49.1 Template.build through the control plane too" \
	"$(jq -r '[.templateId, .exists] | map(tostring) | join(" ")' <<<"$out" 2>/dev/null)" "$NAME-v24 true"

# --- sandboxes of it through the control plane: the team's SDK create, an operator's on the other host
cat >"$CDIR/run.mjs" <<'EOF'
import { Sandbox } from 'e2b'
try {
	const sbx = await Sandbox.create(process.env.NAME, { timeoutMs: 300_000 })
	const r = await sbx.commands.run('cat hello.txt built.txt; echo "$GREETING"; pwd; whoami')
	console.log(JSON.stringify({ id: sbx.sandboxId, out: r.stdout }))
} catch (e) {
	console.log(JSON.stringify({ error: String(e) }))
}
EOF
out=$(cd tests/e2b && E2B_API_URL=$CP E2B_SANDBOX_URL=$CPX E2B_API_KEY=$KA NAME=$NAME \
	timeout 300 node --input-type=module -e "$(cat "$CDIR/run.mjs")" 2>>"$CDIR/node.err" | tail -1)
S1=$(jq -r '.id // empty' <<<"$out" 2>/dev/null)
is "SDK Sandbox.create(name) through the control plane: files, RUN output, env, workdir, user" \
	"$(jq -j '.out // .error' <<<"$out" 2>/dev/null | tr '\n' '|')" "hello from 98|built by user|hi-98|/home/user/app|user|"
hdr=$(mktemp)
cr=$(curl -s -D "$hdr" "${H[@]}" -H "X-Wrenn-Place-On: $OTHER" -H 'Content-Type: application/json' \
	-d "{\"templateID\":\"$NAME\",\"timeout\":300}" "$CP/sandboxes")
on=$(awk -F': ' 'tolower($1)=="x-wrenn-host"{print $2}' "$hdr" | tr -d '\r'); rm -f "$hdr"
S2=$(jq -r '.sandboxID // empty' <<<"$cr" 2>/dev/null)
[ -n "$S2" ] || echo "# pinned create: $cr"
is "a create pinned on the other host starts from the built template (fetched from the build host)" \
	"$([ "$on" = "$OTHER" ] && echo other) $(so_run_in "$S2" "$(jq -r '.envdAccessToken // empty' <<<"$cr")" 'echo $(cat /home/user/app/hello.txt /home/user/app/built.txt)')" \
	"other hello from 98 built by user"
HDIR_O=$HDIR_a; [ "$OTHER" = "${ID[b]}" ] && HDIR_O=$HDIR_b
is "the other host fetched it from the build host by digest" \
	"$(grep -c "template $NAME\.b[0-9a-f]*: fetched from host $BH, .* digest [0-9a-f]\{64\} verified" "$HDIR_O/agent.err")" 1

# --- the team's routes through the control plane ------------------------------------------------------
is "GET /templates (team): its templates, ready, from their build hosts" \
	"$(curl -s "${A[@]}" "$CP/templates" | jq -r '[.[] | .templateID + " " + .buildStatus + " " + .names[0]] | join(",")')" \
	"$NAME ready $NAME,$NAME-v24 ready $NAME-v24"
is "GET /templates/aliases/{name} (team): 200 from the build host" "$(so_code_host "${A[@]}" "$CP/templates/aliases/$NAME")" "200 host"
is "GET .../builds/{id}/status (team): ready" \
	"$(curl -s "${A[@]}" "$CP/templates/$NAME/builds/$BID/status?logsOffset=0" | jq -r '.status + " " + (.logEntries | length > 0 | tostring)')" "ready true"
is "POST /templates/tags, GET /templates/{id}/tags (team)" \
	"$(so_code "${A[@]}" -d "{\"target\":\"$NAME\",\"tags\":[\"v1\"]}" "$CP/templates/tags") $(curl -s "${A[@]}" "$CP/templates/$NAME/tags" | jq -c '[.[].tag]') $(PSQL "SELECT aliases ? '$NAME:v1' FROM templates WHERE id='$NAME'")" \
	'201 ["v1"] t'
is "a tag resolves through the control plane" "$(so_code "${A[@]}" "$CP/templates/aliases/$NAME:v1")" 200
is "DELETE /templates/tags (team)" \
	"$(so_code "${A[@]}" -X DELETE -d "{\"name\":\"$NAME\",\"tags\":[\"v1\"]}" "$CP/templates/tags") $(curl -s "${A[@]}" "$CP/templates/$NAME/tags" | jq -c '[.[].tag]') $(PSQL "SELECT aliases ? '$NAME:v1' FROM templates WHERE id='$NAME'")" \
	'204 [] f'
is "an operator lists every team's templates" "$(curl -s "${H[@]}" "$CP/templates" | jq -r '[.[].templateID] | join(",")')" "$NAME,$NAME-v24"

# --- another team: nothing of it, decided before any host is called -----------------------------------
is "team B: GET /templates is empty" "$(curl -s "${B[@]}" "$CP/templates" | jq -c .)" "[]"
is "team B: alias 404 (no host asked)" "$(so_code_host "${B[@]}" "$CP/templates/aliases/$NAME")" "404 -"
is "team B: build status 404 (no host asked)" "$(so_code_host "${B[@]}" "$CP/templates/$NAME/builds/$BID/status")" "404 -"
is "team B: files link 404 (no host asked)" "$(so_code_host "${B[@]}" "$CP/templates/$NAME/files/$(printf '%064d' 7)")" "404 -"
is "team B: build start 404 (no host asked)" "$(so_code_host "${B[@]}" -d '{"fromTemplate":"base"}' "$CP/v2/templates/$NAME/builds/$BID")" "404 -"
is "team B: tags 404 (no host asked)" \
	"$(so_code_host "${B[@]}" -d "{\"target\":\"$NAME\",\"tags\":[\"x\"]}" "$CP/templates/tags") $(so_code_host "${B[@]}" "$CP/templates/$NAME/tags")" "404 - 404 -"
is "team B: DELETE 404 (no host asked), the template is still there" \
	"$(so_code_host "${B[@]}" -X DELETE "$CP/templates/$NAME") $(PSQL "SELECT count(*) FROM templates WHERE id='$NAME'")" "404 - 1"
is "team B: the name is taken (409, no host asked)" "$(so_code_host "${B[@]}" -d "{\"name\":\"$NAME\"}" "$CP/v3/templates")" "409 -"
is "a team key may not pin a build host" "$(so_code "${A[@]}" -H "X-Wrenn-Place-On: $OTHER" -d '{"name":"tpl98-pin"}' "$CP/v3/templates")" 403

# --- upload links through the control plane -------------------------------------------------------------
# a second template of team A, pinned by nobody: a request registers it (waiting) on a build host
is "POST /v2/templates {alias} (older SDKs) through the control plane" \
	"$(so_code_host "${A[@]}" -d '{"alias":"tpl98-up","cpuCount":1,"memoryMB":512}' "$CP/v2/templates")" "202 host"
is "... answered with E2B's Template object, recorded waiting" \
	"$(jq -r '.templateID + " " + .buildStatus' "$CDIR/body") $(PSQL "SELECT b.status FROM template_builds b WHERE b.template_id='tpl98-up'")" \
	"tpl98-up waiting waiting"
is "a second request of the name while it waits: the host's 409" "$(so_code_host "${A[@]}" -d '{"name":"tpl98-up"}' "$CP/v3/templates")" "409 host"
UBH=$(PSQL "SELECT host_id FROM templates WHERE id='tpl98-up'")
HASH=$(head -c 32 /dev/urandom | sha256sum | cut -d' ' -f1)
link() { curl -s "${A[@]}" "$@" "$CP/templates/tpl98-up/files/$HASH" | jq -r '.url // empty'; }
URL=$(link)
is "the upload link points at the control plane" "${URL%%\?*}" "$CP/build-files/$HASH"
is "behind a TLS front (X-Forwarded-Proto: https) it is https" "$(link -H 'X-Forwarded-Proto: https' | cut -d/ -f1-3)" "https://127.0.0.1:$PC"
head -c $((24 * 1024 * 1024)) /dev/urandom >"$CDIR/big.bin"
is "upload with a wrong token 403, without one 403 (no host asked)" \
	"$(so_code_host -X PUT --data-binary 'x' "$CP/build-files/$HASH?token=nope") $(so_code_host -X PUT --data-binary 'x' "$CP/build-files/$HASH")" "403 - 403 -"
t0=$(date +%s%N)
is "a 24 MiB upload streams through the control plane to the build host" \
	"$(so_code_host -X PUT -H 'Expect:' --data-binary @"$CDIR/big.bin" "$URL")" "200 host"
echo "# 24 MiB relayed in $((($(date +%s%N) - t0) / 1000000)) ms"
is "the token is single-use" "$(so_code -X PUT --data-binary 'x' "$URL")" 403
UHDIR=$HDIR_a; [ "$UBH" = "${ID[b]}" ] && UHDIR=$HDIR_b
is "the build host stored it whole; the files link now says present" \
	"$(cmp -s "$CDIR/big.bin" "$UHDIR/build-files/$HASH" && echo same) $(curl -s "${A[@]}" "$CP/templates/tpl98-up/files/$HASH" | jq -c .)" \
	'same {"present":true}'
HASH2=$(head -c 32 /dev/urandom | sha256sum | cut -d' ' -f1)
URL2=$(curl -s "${A[@]}" "$CP/templates/tpl98-up/files/$HASH2" | jq -r '.url // empty')
truncate -s $((MAXUP + 1)) "$CDIR/over.bin"
is "over --max-upload-bytes with its length declared: 413 before any host" \
	"$(so_code_host -X PUT --data-binary @"$CDIR/over.bin" "$URL2")" "413 -"
URL3=$(curl -s "${A[@]}" "$CP/templates/tpl98-up/files/$HASH2" | jq -r '.url // empty')
is "over the limit as a chunked body: 413, the host keeps nothing" \
	"$(so_code -X PUT -H 'Transfer-Encoding: chunked' --data-binary @"$CDIR/over.bin" "$URL3") $(ls "$UHDIR/build-files/" | grep -c "^$HASH2")" "413 0"
rm -f "$CDIR/big.bin" "$CDIR/over.bin"
# replicas share nothing but the database: a link one gave works once through another
SO_CP_PROXY=none so_control
so_use 1
HASH3=$(head -c 32 /dev/urandom | sha256sum | cut -d' ' -f1)
URL4=$(curl -s "${A[@]}" "$CP/templates/tpl98-up/files/$HASH3" | jq -r '.url // empty')
is "a link from replica 1 uploads once through replica 2, then 403 on either" \
	"$(so_code_host -X PUT --data-binary 'replica' "${URL4/$CP/$CP2}") $(so_code -X PUT --data-binary 'x' "$URL4") $(cat "$UHDIR/build-files/$HASH3" 2>/dev/null)" \
	"200 host 403 replica"
is "replica 2 lists team A's templates, team B still sees none" \
	"$(curl -s "${A[@]}" "$CP2/templates" | jq -r '[.[].templateID] | sort | join(",")') $(curl -s "${B[@]}" "$CP2/templates" | jq -c .)" \
	"$NAME,$NAME-v24,tpl98-up []"

# --- routes not served, delete -------------------------------------------------------------------------
is "GET /templates/{id} and GET /v2/templates: 501 naming the route" \
	"$(so_code "${A[@]}" "$CP/templates/$NAME"; jq -r '.message | test("GET /templates/'"$NAME"' is not served by the control plane")' "$CDIR/body") $(so_code "${A[@]}" "$CP/v2/templates")" \
	"501true 501"
is "DELETE while its sandboxes run: the build host's 409" "$(so_code_host "${A[@]}" -X DELETE "$CP/templates/$NAME")" "409 host"
for s in $S1 $S2; do curl -s -o /dev/null -X DELETE "${H[@]}" "$CP/sandboxes/$s"; done
is "DELETE /templates/{name} (team): 204, the row and its builds gone, the alias 404" \
	"$(so_code "${A[@]}" -X DELETE "$CP/templates/$NAME") $(PSQL "SELECT count(*) FROM templates WHERE id='$NAME'")$(PSQL "SELECT count(*) FROM template_builds WHERE template_id='$NAME'") $(so_code "${A[@]}" "$CP/templates/aliases/$NAME")" \
	"204 00 404"
HAPI_O=$HAPI_a; [ "$OTHER" = "${ID[b]}" ] && HAPI_O=$HAPI_b
is "the copy the other host fetched is deleted with it" \
	"$(grep -c "template $NAME: its copy on host $OTHER deleted" "$CDIR/agent.err") $(curl -s -o /dev/null -w '%{http_code}' -H "X-API-Key: $(cat "$HDIR_O/admin-key")" "$HAPI_O/templates/aliases/$NAME")" \
	"1 404"
is "a template whose build never started is deleted too (204)" \
	"$(so_code "${A[@]}" -X DELETE "$CP/templates/tpl98-up") $(so_code "${A[@]}" -X DELETE "$CP/templates/$NAME-v24") $(PSQL "SELECT count(*) FROM templates")" "204 204 0"
so_stop
is "nothing left: no cgroup of a sandbox of this run" "$(so_cgroups_left)" ""
if grep -q 'ERROR: AddressSanitizer\|runtime error:' "$CDIR/agent.err" "$HDIR_a/agent.err" "$HDIR_b/agent.err"; then
	nok "no sanitizer report" "$(grep -h -A5 'AddressSanitizer\|runtime error:' "$CDIR/agent.err" "$HDIR_a/agent.err" "$HDIR_b/agent.err" | head -20)"
else
	ok "no sanitizer report in the control plane's or the hosts' logs"
fi
exit $fail
