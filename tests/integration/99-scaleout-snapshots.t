#!/usr/bin/env bash
# Snapshots and forks through the control plane (issue #15): a throwaway PostgreSQL cluster, a
# control plane (API and sandbox-traffic ports) and two host agents on loopback, as 96/98.  The
# unmodified npm SDK with a team key and the control plane as its only address: Sandbox.create,
# sandbox.createSnapshot (forwarded to the sandbox's host, recorded as a template row of the
# team), sandbox.fork (the fork recorded as a placement on that host), Sandbox.listSnapshots
# (merged over the hosts).  An operator's create from the snapshot pinned on the OTHER host
# (X-Wrenn-Place-On: it fetches the snapshot by digest, which the heartbeat lists).  The native
# routes: POST /v1/sandboxes/{id}/snapshots, GET /v1/snapshots (hostId, paging across hosts),
# DELETE /v1/snapshots/{id}, GET /v1/templates (merged, hostIds).  Another team: 404 before any
# host, lists without the snapshot.  Delete through the SDK removes the row and the other host's
# copy.  The native template builds (the CLI's `wrenn templates build NAME --from base` and
# `-f Dockerfile -t NAME`, its status polls recorded) for team A, a sandbox of the built template;
# team B: the name taken (409), A's build 404, a build from A's template 404.  A lost host: 503 for
# its sandbox's snapshot and fork, named in X-Wrenn-Unreachable-Hosts.
set -u
cd "$(dirname "$0")/../.."
N=37
echo "1..$N"
. tests/lib/agent.sh
. tests/lib/pg.sh
# shellcheck source=tests/lib/e2b.sh
. tests/lib/e2b.sh

SO_TAG=so99 SO_TIMEOUT=1500
# shellcheck source=tests/lib/scaleout.sh
. tests/lib/scaleout.sh

trap so_cleanup EXIT
trap 'exit 1' INT TERM
so_need debian
so_sdk so99
so_pg

# the control plane, two hosts
so_control
SO_HOST_ARGS=(--build-internet=false --auto-snapshot=false --warm-pool 0 --pool-size 1)
so_hosts a b
is "two hosts ready" "$SO_STATES" "ready,ready"

KA=$(so_team_key ta99) KB=$(so_team_key tb99)
A=(-H "X-API-Key: $KA") B=(-H "X-API-Key: $KB")

hostdir() { [ "$1" = "${ID[a]}" ] && echo "$HDIR_a" || echo "$HDIR_b"; }

# --- the npm SDK through the control plane, team ta99: create, snapshot, fork, list ------------------
cat >"$CDIR/snap.mjs" <<'JS'
import { Sandbox } from 'e2b'
const out = {}
try {
	const sbx = await Sandbox.create('base', { timeoutMs: 600_000 })
	out.id = sbx.sandboxId
	await sbx.files.write('/home/user/snap.txt', 'before the snapshot 99')
	const snap = await sbx.createSnapshot()
	out.snap = snap.snapshotId
	await sbx.files.write('/home/user/after.txt', 'after')
	const forks = await sbx.fork({ count: 1, timeoutMs: 600_000 })
	const f = forks[0]
	if (f instanceof Error) throw f
	out.fork = f.sandboxId
	out.forkOut = (await f.commands.run('cat /home/user/snap.txt /home/user/after.txt')).stdout
	const page = await Sandbox.listSnapshots().nextItems()
	out.listed = page.map((s) => s.snapshotId)
} catch (e) {
	out.error = String(e)
}
console.log(JSON.stringify(out))
JS
t0=$(date +%s)
out=$(cd tests/e2b && E2B_API_URL=$CP E2B_SANDBOX_URL=$CPX E2B_API_KEY=$KA \
	timeout 900 node --input-type=module -e "$(cat "$CDIR/snap.mjs")" 2>"$CDIR/node.err" | tail -1)
echo "# SDK create + createSnapshot + fork + listSnapshots through the control plane: $(($(date +%s) - t0)) s"
S1=$(jq -r '.id // empty' <<<"$out" 2>/dev/null)
SNAP=$(jq -r '.snap // empty' <<<"$out" 2>/dev/null)
F1=$(jq -r '.fork // empty' <<<"$out" 2>/dev/null)
[ -n "$F1" ] || echo "# $out $(tail -5 "$CDIR/node.err")"
is "SDK createSnapshot, fork (sees the file, and the one written after the snapshot), listSnapshots" \
	"$([ -n "$SNAP" ] && echo snap) $(jq -j '.forkOut // .error' <<<"$out" 2>/dev/null) $(jq -r --arg s "$SNAP" '.listed | index($s) != null' <<<"$out" 2>/dev/null)" \
	"snap before the snapshot 99after true"
SH=$(PSQL "SELECT host_id FROM placements WHERE sandbox_id='$S1'")
OTHER=${ID[a]}; [ "$SH" = "${ID[a]}" ] && OTHER=${ID[b]}
is "the snapshot is a template row of the team on the sandbox's host, marked a snapshot" \
	"$(PSQL "SELECT t.team || ' ' || (t.host_id = '$SH') || ' ' || b.status FROM templates t JOIN template_builds b ON b.template_id = t.id WHERE t.id='$SNAP'")" \
	"ta99 true snapshot"
is "the fork is a placement of the team on the same host" \
	"$(PSQL "SELECT team || ' ' || (host_id = '$SH') FROM placements WHERE sandbox_id='$F1'")" "ta99 true"
has=
for _ in $(seq 1 40); do
	curl -s "${H[@]}" "$CP/v1/hosts/$SH" | jq -e --arg t "$SNAP" '.capacity.templates | index($t)' >/dev/null && { has=1; break; }
	sleep 0.25
done
is "the sandbox's host's heartbeat lists the snapshot" "${has:-0}" 1

# --- an operator's create from the snapshot, pinned on the other host --------------------------------
hdr=$(mktemp)
cr=$(curl -s -D "$hdr" "${H[@]}" -H "X-Wrenn-Place-On: $OTHER" -H 'Content-Type: application/json' \
	-d "{\"templateID\":\"$SNAP\",\"timeout\":600}" "$CP/sandboxes")
on=$(awk -F': ' 'tolower($1)=="x-wrenn-host"{print $2}' "$hdr" | tr -d '\r'); rm -f "$hdr"
S2=$(jq -r '.sandboxID // empty' <<<"$cr" 2>/dev/null)
[ -n "$S2" ] || echo "# pinned create: $cr"
is "a create from the snapshot pinned on the other host starts there with the snapshot's file" \
	"$([ "$on" = "$OTHER" ] && echo other) $(so_run_in "$S2" "$(jq -r '.envdAccessToken // empty' <<<"$cr")" 'cat /home/user/snap.txt')" \
	"other before the snapshot 99"
is "the other host fetched it from the sandbox's host by digest" \
	"$(grep -c "template $SNAP[^:]*: fetched from host $SH, .* digest [0-9a-f]\{64\} verified" "$(hostdir "$OTHER")/agent.err")" 1

# --- the native routes -----------------------------------------------------------------------------------
is "POST /v1/sandboxes/{id}/snapshots (team): 201 from the host, recorded" \
	"$(so_code_host "${A[@]}" -H 'Content-Type: application/json' -d '{"name":"snap99-named"}' "$CP/v1/sandboxes/$S1/snapshots") $(jq -r .name "$CDIR/body")" \
	"201 host snap99-named"
SNAP2=$(jq -r '.id // empty' "$CDIR/body")
is "... its row has the name as an alias" "$(PSQL "SELECT team || ' ' || (aliases ? 'snap99-named') FROM templates WHERE id='$SNAP2'")" "ta99 true"
is "GET /v1/snapshots (team): both, newest first, with their hostId" \
	"$(curl -s "${A[@]}" "$CP/v1/snapshots" | jq -r '[.snapshots[] | .id + "@" + .hostId] | join(",")')" "$SNAP2@$SH,$SNAP@$SH"
p1=$(curl -s "${A[@]}" "$CP/v1/snapshots?limit=1")
nc=$(jq -r '.nextCursor // empty' <<<"$p1")
is "GET /v1/snapshots?limit=1: one row, a cursor naming the host; the next page the other row" \
	"$(jq -r '[.snapshots[].id] | join(",")' <<<"$p1") ${nc%%~*} $(curl -s "${A[@]}" "$CP/v1/snapshots?limit=1&cursor=$nc" | jq -r '[.snapshots[].id] | join(",")')" \
	"$SNAP2 $SH $SNAP"
is "E2B GET /snapshots?limit=1 pages with X-Next-Token too" \
	"$(curl -s -D "$CDIR/hdr" "${A[@]}" "$CP/snapshots?limit=1" | jq -r '.[0].snapshotID') $(grep -ci '^x-next-token: host-' "$CDIR/hdr")" "$SNAP2 1"
is "E2B GET /snapshots?name= filters by name" \
	"$(curl -s "${A[@]}" "$CP/snapshots?name=snap99-named" | jq -c '[.[] | .snapshotID == "'"$SNAP2"'", .names[0]]')" '[true,"snap99-named"]'
is "GET /v1/templates (team): merged by name, the snapshot on both hosts" \
	"$(curl -s "${A[@]}" "$CP/v1/templates" | jq -r --arg s "$SNAP" '.templates[] | select(.name == $s) | .kind + " " + (.hostIds | length | tostring)')" \
	"snapshot 2"
is "E2B GET /templates (team) does not list snapshots (as one host's)" "$(curl -s "${A[@]}" "$CP/templates" | jq -c .)" "[]"
is "DELETE /v1/snapshots/{id} (team): 204 from its host, the row gone, no longer listed" \
	"$(so_code_host "${A[@]}" -X DELETE "$CP/v1/snapshots/$SNAP2") $(PSQL "SELECT count(*) FROM templates WHERE id='$SNAP2'") $(curl -s "${A[@]}" "$CP/v1/snapshots" | jq -r '[.snapshots[].id] | join(",")')" \
	"204 host 0 $SNAP"

# --- another team: nothing of it, decided before any host is called ---------------------------------------
is "team B: snapshot and fork of team A's sandbox 404 (no host asked)" \
	"$(so_code_host "${B[@]}" -H 'Content-Type: application/json' -d '{}' "$CP/sandboxes/$S1/snapshots") $(so_code_host "${B[@]}" -H 'Content-Type: application/json' -d '{}' "$CP/v1/sandboxes/$S1/snapshots") $(so_code_host "${B[@]}" -H 'Content-Type: application/json' -d '{"count":1}' "$CP/sandboxes/$S1/fork")" \
	"404 - 404 - 404 -"
is "team B: the snapshot lists are empty" \
	"$(curl -s "${B[@]}" "$CP/snapshots" | jq -c .) $(curl -s "${B[@]}" "$CP/v1/snapshots" | jq -c .snapshots)" "[] []"
is "team B: GET /v1/templates leaves team A's snapshot out" \
	"$(curl -s "${B[@]}" "$CP/v1/templates" | jq -r --arg s "$SNAP" '[.templates[] | select(.name == $s)] | length')" 0
is "team B: DELETE /v1/snapshots/{id} and DELETE /templates/{id} 404 (no host asked), still there" \
	"$(so_code_host "${B[@]}" -X DELETE "$CP/v1/snapshots/$SNAP") $(so_code_host "${B[@]}" -X DELETE "$CP/templates/$SNAP") $(PSQL "SELECT count(*) FROM templates WHERE id='$SNAP'")" \
	"404 - 404 - 1"
is "an operator lists every team's snapshots" \
	"$(curl -s "${H[@]}" "$CP/v1/snapshots" | jq -r '[.snapshots[].id] | join(",")')" "$SNAP"

is "a fork over the team's quota: 429 before any host, nothing placed" \
	"$(so_code -X PATCH "${H[@]}" -H 'Content-Type: application/json' -d '{"maxSandboxes":2}' "$CP/v1/teams/ta99") $(so_code_host "${A[@]}" -H 'Content-Type: application/json' -d '{"count":1}' "$CP/sandboxes/$S1/fork") $(PSQL "SELECT count(*) FROM placements WHERE team='ta99'") $(so_code -X PATCH "${H[@]}" -H 'Content-Type: application/json' -d '{"maxSandboxes":0}' "$CP/v1/teams/ta99")" \
	"200 429 - 2 200"

# --- delete through the SDK: the row and the copy the other host fetched -----------------------------------
for s in $S1 $F1 $S2; do curl -s -o /dev/null -X DELETE "${H[@]}" "$CP/sandboxes/$s"; done
cat >"$CDIR/del.mjs" <<'JS'
import { Sandbox } from 'e2b'
try {
	console.log(JSON.stringify({ deleted: await Sandbox.deleteSnapshot(process.env.SNAP) }))
} catch (e) {
	console.log(JSON.stringify({ error: String(e) }))
}
JS
out=$(cd tests/e2b && E2B_API_URL=$CP E2B_API_KEY=$KA SNAP=$SNAP \
	timeout 120 node --input-type=module -e "$(cat "$CDIR/del.mjs")" 2>>"$CDIR/node.err" | tail -1)
is "SDK Sandbox.deleteSnapshot (team): deleted, the row gone" \
	"$(jq -r '.deleted // .error' <<<"$out") $(PSQL "SELECT count(*) FROM templates WHERE id='$SNAP'")" "true 0"
is "the copy the other host fetched is deleted with it" \
	"$(grep -c "template $SNAP: its copy on host $OTHER deleted" "$CDIR/agent.err")" 1
is "no placement left of the sandboxes, forks included" "$(PSQL 'SELECT count(*) FROM placements')" 0

# --- the native template builds through the control plane: the CLI's `wrenn templates build` ----------------
W=$(dirname "$AGENT")/wrenn # (B is team B's key here)
t0=$(date +%s)
WRENN_API_URL=$CP WRENN_API_KEY=$KA timeout 900 "$W" templates build --from base --memory 512 nt99 >"$CDIR/cli.out" 2>"$CDIR/cli.err"; rc=$?
echo "# wrenn templates build nt99 --from base through the control plane: $(($(date +%s) - t0)) s"
is "wrenn templates build NAME --from base (team A key): exit 0, the row the team's, on a host" \
	"$rc $(PSQL "SELECT team || ' ' || (host_id IN ('${ID[a]}', '${ID[b]}')) FROM templates WHERE id='nt99'")" "0 ta99 true"
[ $rc -eq 0 ] || sed 's/^/#   /' "$CDIR/cli.err" | head -5
mkdir -p "$CDIR/bctx"
printf 'FROM base\nRUN echo native-$((9*11)) >/opt/n99.txt\n' >"$CDIR/bctx/Dockerfile"
t0=$(date +%s)
WRENN_API_URL=$CP WRENN_API_KEY=$KA timeout 900 "$W" templates build -f "$CDIR/bctx/Dockerfile" -t df99 "$CDIR/bctx" >"$CDIR/cli.out" 2>"$CDIR/cli.err"; rc=$?
echo "# wrenn templates build -f Dockerfile -t df99 through the control plane: $(($(date +%s) - t0)) s"
is "wrenn templates build -f -t (team A key): exit 0, the build row the team's, its status polled to ready" \
	"$rc $(PSQL "SELECT t.team || ' ' || b.status FROM templates t JOIN template_builds b ON b.template_id = t.id WHERE t.id='df99'")" "0 ta99 ready"
[ $rc -eq 0 ] || sed 's/^/#   /' "$CDIR/cli.err" | head -5
DFB=$(PSQL "SELECT build_id FROM template_builds WHERE template_id='df99'")
cr=$(curl -s "${A[@]}" -H 'Content-Type: application/json' -d '{"templateID":"df99","timeout":300}' "$CP/sandboxes")
S4=$(jq -r '.sandboxID // empty' <<<"$cr" 2>/dev/null)
is "a sandbox of the built template through the control plane (team A) sees its RUN" \
	"$(so_run_in "$S4" "$(jq -r '.envdAccessToken // empty' <<<"$cr")" 'cat /opt/n99.txt')" "native-99"
[ -n "$S4" ] && curl -s -o /dev/null -X DELETE "${A[@]}" "$CP/sandboxes/$S4"
is "team B: the name is taken (409), A's build status 404, no host asked" \
	"$(so_code_host "${B[@]}" -H 'Content-Type: application/json' -d '{"from":"base"}' "$CP/v1/templates/nt99/build") $(so_code_host "${B[@]}" "$CP/v1/templates/df99/builds/$DFB")" \
	"409 - 404 -"
is "team B: GET /v1/templates leaves A's templates out; a build from A's template 404, no row" \
	"$(curl -s "${B[@]}" "$CP/v1/templates" | jq -r '[.templates[] | select(.name == "nt99" or .name == "df99")] | length') $(so_code_host "${B[@]}" -H 'Content-Type: application/json' -d '{"from":"nt99"}' "$CP/v1/templates/nb99/build") $(PSQL "SELECT count(*) FROM templates WHERE id='nb99'")" \
	"0 404 - 0"
is "a build the host refuses (no Dockerfile in the context): its 400, the name not kept" \
	"$(so_code_host "${A[@]}" --data-binary '' "$CP/v1/templates/bad99/builds") $(PSQL "SELECT count(*) FROM templates WHERE id='bad99'")" \
	"400 host 0"
is "other /v1/templates/... routes: 501 naming the route" \
	"$(so_code "${A[@]}" -X DELETE "$CP/v1/templates/nt99"; jq -r '.message | test("DELETE /v1/templates/nt99 is not served by the control plane")' "$CDIR/body")" \
	"501true"

# --- a lost host: 503 for its sandbox, named in the lists ------------------------------------------------------
cr=$(curl -s "${H[@]}" -H "X-Wrenn-Place-On: $OTHER" -H 'Content-Type: application/json' \
	-d '{"templateID":"base","timeout":600}' "$CP/sandboxes")
S3=$(jq -r '.sandboxID // empty' <<<"$cr" 2>/dev/null)
OH=a; [ "$OTHER" = "${ID[b]}" ] && OH=b
# its sandbox runs on: so_stop starts the agent again, which re-attaches and then stops it
so_kill9 "${HPID[$OH]}"
st=
for _ in $(seq 1 100); do
	st=$(curl -s "${H[@]}" "$CP/v1/hosts/$OTHER" | jq -r .state)
	[ "$st" = lost ] && break
	sleep 0.25
done
is "the killed host is lost" "$st" lost
is "snapshot and fork of a sandbox on a lost host: 503" \
	"$(so_code "${H[@]}" -H 'Content-Type: application/json' -d '{}' "$CP/sandboxes/$S3/snapshots") $(so_code "${H[@]}" -H 'Content-Type: application/json' -d '{}' "$CP/sandboxes/$S3/fork")" "503 503"
is "snapshot and template lists name the lost host in X-Wrenn-Unreachable-Hosts" \
	"$(curl -s -D "$CDIR/hdr" -o /dev/null "${H[@]}" "$CP/v1/snapshots"; awk -F': ' 'tolower($1)=="x-wrenn-unreachable-hosts"{print $2}' "$CDIR/hdr" | tr -d '\r') $(curl -s -D "$CDIR/hdr" -o /dev/null "${H[@]}" "$CP/v1/templates"; awk -F': ' 'tolower($1)=="x-wrenn-unreachable-hosts"{print $2}' "$CDIR/hdr" | tr -d '\r')" \
	"$OTHER $OTHER"

# everything stopped (the killed host's sandbox too): no cgroup of any sandbox of this run left
so_stop
is "nothing left: no cgroup of a sandbox of this run (the killed host's included)" "$(so_cgroups_left)" ""
if grep -q 'ERROR: AddressSanitizer\|runtime error:' "$CDIR/agent.err" "$HDIR_a/agent.err" "$HDIR_b/agent.err"; then
	nok "no sanitizer report" "$(grep -h -A5 'AddressSanitizer\|runtime error:' "$CDIR/agent.err" "$HDIR_a/agent.err" "$HDIR_b/agent.err" | head -20)"
else
	ok "no sanitizer report in the control plane's or the hosts' logs"
fi
exit $fail
