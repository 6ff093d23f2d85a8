#!/usr/bin/env bash
# The npm E2B SDK suite through the control plane (issue #15: "the npm E2B SDK suite passes
# through either replica"): the same tests/e2b suite as 70-e2b.t, one TAP line per SDK test, but
# the SDK's only addresses are a control plane's API and sandbox-traffic ports.  A throwaway
# PostgreSQL cluster, two control-plane replicas and two host agents on loopback
# (tests/lib/scaleout.sh); the latest SDK goes through replica 1 while SDK 2.49.1 goes through
# replica 2, at the same time (one team key).  A route the control plane does not serve answers
# 501 naming itself, and the suite reports that test as skipped with the message, never as passed
# (since snapshots and fork went through the control plane none does).  Then nothing may be left:
# no sandbox listed, no placement, hosts and replicas exit 0, no VMM, no namespace, no data dir.
# Budget: ~75 s under TCG (asan), 5 min at most.
set -u
cd "$(dirname "$0")/../.." || exit 1
its=$(grep -c "^    it('" tests/e2b/lib/suite.mjs)
N=$((1 + 2 * its + 2 + 3))
echo "1..$N"
. tests/lib/agent.sh
. tests/lib/pg.sh
# shellcheck source=tests/lib/e2b.sh
. tests/lib/e2b.sh
SO_TAG=sd99
# shellcheck source=tests/lib/scaleout.sh
. tests/lib/scaleout.sh

S1='' S2=''
trap '[ -n "$S1$S2" ] && kill -TERM $S1 $S2 2>/dev/null; so_cleanup' EXIT
trap 'exit 1' INT TERM
so_need minimal
e2b_need_tools node npm curl jq python3 psql
e2b_npm_ci sd99

so_pg
so_control
so_control
so_use 1 # (the lib names them CP1 CPX1 CDIR1, CP2 ...)
SO_HOST_ARGS=(--auto-snapshot=false --warm-pool 0 --pool-size 1 --max-sandboxes 8)
so_hosts a b
KEY=$(curl -s "${H[@]}" -H 'Content-Type: application/json' -d '{"team":"t99","name":"t99-k"}' "$CP/v1/keys" | jq -r .key)
if [[ "$KEY" =~ ^e2b_[0-9a-f]{40}$ ]] && curl -sf "$CP2/health" >/dev/null; then
	ok "PostgreSQL, two control-plane replicas, two hosts ready, a team key"
else
	bail "no team key ($KEY)"
fi

# --- the suite: latest through replica 1, 2.49.1 through replica 2, side by side -------------------
t0=$(date +%s)
E2B_SUITE_TIMEOUT=${E2B_SUITE_TIMEOUT:-400}
e2b_suite_run "$CDIR1/suite.out" "$CDIR1/suite.err" "$CP1" "$CPX1" "$KEY" test/latest.test.mjs
S1=$E2B_SUITE_PID
e2b_suite_run "$CDIR2/suite.out" "$CDIR2/suite.err" "$CP2" "$CPX2" "$KEY" test/v24.test.mjs
S2=$E2B_SUITE_PID
wait "$S1"; r1=$?
wait "$S2"; r2=$?
S1='' S2=''
echo "# through replica 1 ($CP1, proxy $CPX1):"
e2b_tap "e2b via replica 1" "$CDIR1/suite.out" "$CDIR1/suite.err" $r1 "$t0" "$its"
echo "# through replica 2 ($CP2, proxy $CPX2):"
e2b_tap "e2b via replica 2" "$CDIR2/suite.out" "$CDIR2/suite.err" $r2 "$t0" "$its"
# where each snapshot was taken and where the create from it was placed (the scheduler's reason):
# a create placed on a host without the snapshot, while no heartbeat lists it yet, gets the
# host's 404 (the snapshot test fails with "404: template 'snap-...' not found")
echo "# snapshots taken and the creates from them:"
grep -h "snapshot snap-[a-z0-9]* of .* on host \|placement of a snap-" "$CDIR1/agent.err" "$CDIR2/agent.err" |
	sort | sed 's/^/# /'
echo "# creates placed per host: $(PSQL "SELECT string_agg(e, ', ') FROM (SELECT count(*) || ' on ' || host_id AS e FROM events WHERE kind = 'placed' GROUP BY host_id ORDER BY host_id) x" 2>/dev/null)"

# --- nothing left ------------------------------------------------------------------------------------
# the sandboxes that expired on their host (the suite does not kill those) keep their placement
# until a heartbeat of the host no longer lists them and the placement is older than the grace
# (PLACEMENT_GRACE_MS, 15 s): wait up to 30 s for that
t1=$(date +%s)
for _ in $(seq 1 60); do
	left=$(curl -s "${H[@]}" "$CP/v1/sandboxes?state=creating,running,paused" | jq '.sandboxes | length')
	places=$(PSQL 'SELECT count(*) FROM placements')
	[ "$left $places" = "0 0" ] && break
	sleep 0.5
done
echo "# no sandbox listed, no placement after $(($(date +%s) - t1)) s"
is "the suites killed every sandbox they created, expired ones released: none listed, no placement" \
	"$left $places" "0 0"
if grep -q 'ERROR: AddressSanitizer\|runtime error:' "$CDIR1/agent.err" "$CDIR2/agent.err" "$HDIR_a/agent.err" "$HDIR_b/agent.err"; then
	nok "no sanitizer report" "$(grep -h -A5 'AddressSanitizer\|runtime error:' "$CDIR1/agent.err" "$CDIR2/agent.err" "$HDIR_a/agent.err" "$HDIR_b/agent.err" | head -20)"
else
	ok "no sanitizer report in the replicas' or the hosts' logs"
fi
pids=("${SO_HPIDS[@]}" "${SO_CPIDS[@]}")
for p in "${pids[@]}"; do kill -TERM "$p"; done
rcs=
for p in "${pids[@]}"; do
	for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$p" 2>/dev/null; then rcs+=" timeout"; else wait "$p"; rcs+=" $?"; fi
done
SO_HPIDS=() SO_CPIDS=()
qemus=$(pgrep -f "qemu-system.*/tmp/wrenn-$SO_TAG" | wc -l)
nsl=$(ip netns list | grep -c "^${SO_TAG}[a-z]-")
so_cleanup
dirs=$(find /tmp -maxdepth 1 -name "wrenn-$SO_TAG*" | wc -l)
is "hosts and replicas stopped (exit 0); no qemu, namespace or data dir left" \
	"$rcs; $qemus $nsl $dirs" " 0 0 0 0; 0 0 0"
exit $fail
