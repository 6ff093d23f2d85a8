#!/usr/bin/env bash
# Creates per second with three hosts behind the control plane vs one host straight (issue #15).
# A throwaway PostgreSQL (tests/lib/pg.sh), one control plane in this namespace and four host
# agents (h0..h3), each in its own network namespace joined by a test bridge (br-bsh,
# 10.94.0.0/24, made and removed here; the 97-scaleout-ha.t topology), all with the same
# settings (printed).  h1..h3 serve the control plane; h0 is drained there and used straight, so
# its creates never count against a host the control plane uses.  A round is N concurrent E2B
# creates (curl POST /sandboxes, template minimal), each followed by its DELETE, in one of three
# arms, interleaved (the arms' order changes every round; before each round no sandbox is left
# on any host and the machine gets BENCH_SETTLE s):
#   3hosts     through the control plane, its scheduler picks
#   3hosts_rr  through the control plane, pinned round-robin to h1, h2, h3 (X-Wrenn-Place-On):
#              what an even spread gives, whatever the scheduler does
#   1host      h0's own API
# Rate of a round = creates answered 201 / time from the first request to the last create
# answered.  Prints
#   BENCH scaleout_creates_per_s_<arm> <median over rounds> creates/s n=<N> rounds=<R>
#         per-round=... ok=<created>/<asked> [placements(h1/h2/h3)=<per round>]
#   BENCH scaleout_creates_3hosts_over_1host <x> x   (and _3hosts_rr_over_1host): the median over
#         rounds of the round's 3-host rate over its 1-host rate (arms of one round run close
#         together, so they share the machine's load), and the ratio of the two medians
#   BENCH scaleout_create_ms_<arm> <p50> ms p95=<x> n=<creates>    each create's wait
#   BENCH scaleout_create_cp_share_ms <p50> ms p95=<x> n=<creates>  (and _cp_share_rr_ms) per
#         create through the control plane under this concurrency: the client's wait minus the
#         host's part (the forwarded reply's Server-Timing host;dur=), as in bench/scaleout.sh
# All hosts share this machine's CPUs: under TCG every restore is CPU work, so three hosts
# cannot be three times one here; the ratio says what spreading costs or gains on one machine.
# Env: WRENN_BUILD (build/release), WRENN_GUEST, BENCH_N (concurrent creates, 9),
# BENCH_ROUNDS (per arm, 6), BENCH_SLOTS (--max-sandboxes per host, 16), BENCH_POOL
# (--pool-size per host: network slots kept ready, default N), BENCH_WARM (--warm-pool and
# --warm-pool-max per host, 0: every create restores the automatic snapshot), BENCH_SETTLE
# (seconds of quiet before a round, 3), BENCH_LOGS (a dir: the agents' logs are copied there).
# Needs root, ip, nsenter, curl, jq, PostgreSQL.  Fixed names (br-bsh, bsh*): run one at a time
# (flock /tmp/wrenn-scaleout.lock bench/scaleout-hosts.sh).  Everything it made (namespaces,
# bridge, processes, the PostgreSQL cluster, temp dirs) is removed on exit, Ctrl-C included.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
B=${WRENN_BUILD:-build/release}
A=$B/bin/wrenn-agent
IMAGES=${WRENN_GUEST:-$(dirname "$B")/guest}
N=${BENCH_N:-9} ROUNDS=${BENCH_ROUNDS:-6} SLOTS=${BENCH_SLOTS:-16} WARM=${BENCH_WARM:-0}
POOL=${BENCH_POOL:-$N} SETTLE=${BENCH_SETTLE:-3}
. tests/lib/pg.sh
. tests/lib/agent-net.sh
. tests/lib/testnet.sh
na() {
	echo "# scaleout-hosts.sh: $1" >&2
	echo "BENCH scaleout_creates_per_s_3hosts NaN creates/s n=0"
	echo "BENCH scaleout_creates_per_s_1host NaN creates/s n=0"
	exit 0
}
[ "$(id -u)" = 0 ] && [ -x "$A" ] && [ -r "$IMAGES/minimal.ext4" ] ||
	na "needs root, $A and $IMAGES/minimal.ext4"
for c in ip nsenter curl jq python3; do command -v $c >/dev/null || na "needs $c"; done

T=bsh SUB=10.94.0
W=
CPID='' HPIDS=() WPIDS=()
net_down() {
	local ns
	testnet_down "$T" 0 1 2 3
	# the sandbox namespaces the hosts made (bshh1-...)
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$T"); do ip netns del "$ns"; done
	return 0
}
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	trap - EXIT INT TERM
	local p
	for p in "${WPIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	for p in "${HPIDS[@]}" $CPID; do kill -TERM "$p" 2>/dev/null; done
	for p in "${HPIDS[@]}" $CPID; do
		for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	# VMMs and helpers of this run only: their argv names our scratch dir
	[ -n "$W" ] && pkill -KILL -f "$W/" 2>/dev/null
	net_down
	[ -n "$W" ] && rm -rf "$W"
	pg_stop
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

W=$(mktemp -d /tmp/wrenn-bsh.XXXXXX)
net_down # a previous run killed with -9
pg_start || na "no PostgreSQL (scripts/install-deps.sh installs it)"
testnet_up "$T" "$SUB" 0 1 2 3 || na "$TESTNET_ERR"
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PC=$(freeport) PCX=$(freeport)
CP=http://$SUB.1:$PC
mkdir -p "$W/c"
timeout 3600 "$A" --role control --database "$PGURL" --api-listen "$SUB.1:$PC" \
	--proxy-listen "127.0.0.1:$PCX" --data-dir "$W/c" >"$W/c/out" 2>"$W/c/err" &
CPID=$!
for _ in $(seq 1 100); do curl -sf "$CP/health" >/dev/null && break; sleep 0.1; done
AK=$(cat "$W/c/admin-key" 2>/dev/null) || na "control plane did not start: $(tail -3 "$W/c/err")"
HOSTARGS=(--max-sandboxes "$SLOTS" --pool-size "$POOL" --warm-pool "$WARM" --auto-snapshot=true)
[ "$WARM" -gt 0 ] && HOSTARGS+=(--warm-pool-max "$WARM")
declare -A HID HAPI HKEY HNAME
for i in 0 1 2 3; do
	j=$(curl -s -H "X-API-Key: $AK" -d "{\"name\":\"$T-h$i\"}" "$CP/v1/hosts")
	HID[$i]=$(jq -r .id <<<"$j")
	HNAME[${HID[$i]}]=h$i
	mkdir -p "$W/h$i"
	jq -r .credential <<<"$j" >"$W/cred$i"
	chmod 600 "$W/cred$i"
	agent_net_args "${T}h$i"
	nsenter --net="/run/netns/$T-n$i" timeout 3600 "$A" --role host --control "$CP" \
		--host-id "${HID[$i]}" --host-credential-file "$W/cred$i" --data-dir "$W/h$i" \
		--images-dir "$IMAGES" --api-listen "$SUB.1$i:3000" --proxy-listen "$SUB.1$i:3001" \
		"${AGENT_NET[@]}" "${HOSTARGS[@]}" >"$W/h$i/out" 2>"$W/h$i/err" &
	HPIDS+=($!)
	HAPI[$i]=http://$SUB.1$i:3000
done
states=
for _ in $(seq 1 300); do
	states=$(curl -s -H "X-API-Key: $AK" "$CP/v1/hosts" | jq -r '[.[] | .state] | sort | join(",")')
	[ "$states" = ready,ready,ready,ready ] && break
	sleep 0.2
done
[ "$states" = ready,ready,ready,ready ] || na "hosts not ready ($states): $(tail -3 "$W/h1/err")"
for i in 0 1 2 3; do HKEY[$i]=$(cat "$W/h$i/admin-key"); done
# h0 is the one host used straight: drained, so the control plane never places on it (its
# direct creates would otherwise be adopted as placements and count against it for 15 s)
curl -s -o /dev/null -X POST -H "X-API-Key: $AK" "$CP/v1/hosts/${HID[0]}/drain"
[ "$(curl -s -H "X-API-Key: $AK" "$CP/v1/hosts/${HID[0]}" | jq -r .state)" = draining ] ||
	na "h0 not drained"

BODY='{"templateID":"minimal","timeout":300}'
kill_sbx() { curl -s -o /dev/null -X DELETE -H "X-API-Key: $2" "$1/sandboxes/$3"; }
# warm-up: the first create of minimal on a host boots and builds its automatic snapshot in the
# background; later creates restore it.  Each host makes its own before anything is measured.
for i in 0 1 2 3; do # the four boots at once
	(
		s=$(curl -s -H "X-API-Key: ${HKEY[$i]}" -H 'Content-Type: application/json' -d "$BODY" \
			"${HAPI[$i]}/sandboxes" | jq -r '.sandboxID // empty')
		[ -n "$s" ] && kill_sbx "${HAPI[$i]}" "${HKEY[$i]}" "$s" && touch "$W/warm$i"
	) &
	WPIDS+=($!)
done
wait "${WPIDS[@]}"
WPIDS=()
for i in 0 1 2 3; do [ -e "$W/warm$i" ] || na "warm-up create on h$i failed: $(tail -3 "$W/h$i/err")"; done
for i in 0 1 2 3; do
	for _ in $(seq 1 600); do grep -q "auto snapshot .* ready" "$W/h$i/err" && break; sleep 0.5; done
	grep -q "auto snapshot .* ready" "$W/h$i/err" || na "h$i: no automatic snapshot: $(tail -3 "$W/h$i/err")"
done

settle() { # no sandbox on any host, then SETTLE seconds for refills (network slots, warm VMs)
	local i c x
	for _ in $(seq 1 120); do
		c=0
		for i in 0 1 2 3; do
			x=$(curl -s -H "X-API-Key: ${HKEY[$i]}" "${HAPI[$i]}/sandboxes" | jq length 2>/dev/null)
			c=$((c + ${x:-1}))
		done
		[ "$c" = 0 ] && break
		sleep 0.5
	done
	sleep "$SETTLE"
}
now_ns() { date +%s%N; }
# round ARM URL KEY: N concurrent create+kill; appends "rate seconds ok" to $W/rate.ARM, each
# create's ms to $W/ms.ARM, the control plane's share to $W/cp.ARM and placements to
# $W/place.ARM.  Arm rr: through the control plane, pinned round-robin (X-Wrenn-Place-On).
round() {
	local arm=$1 url=$2 key=$3 k t0 end ok=0 line pin
	rm -rf "$W/r"
	mkdir "$W/r"
	WPIDS=()
	t0=$(now_ns)
	for k in $(seq 1 "$N"); do
		pin=()
		[ "$arm" = rr ] && pin=(-H "X-Wrenn-Place-On: ${HID[$(((k - 1) % 3 + 1))]}")
		(
			t=$(curl -s -o "$W/r/out$k" -D "$W/r/hdr$k" -w '%{http_code} %{time_total}' "${pin[@]}" \
				-H "X-API-Key: $key" -H 'Content-Type: application/json' -d "$BODY" "$url/sandboxes")
			echo "$(now_ns) $t" >"$W/r/t$k"
			s=$(jq -r '.sandboxID // empty' "$W/r/out$k" 2>/dev/null)
			[ -n "$s" ] && kill_sbx "$url" "$key" "$s"
		) &
		WPIDS+=($!)
	done
	wait "${WPIDS[@]}"
	WPIDS=()
	end=$t0
	for k in $(seq 1 "$N"); do
		read -r e code tt <"$W/r/t$k" || continue
		[ "$code" = 201 ] || { echo "# $arm: create answered $code: $(head -c 200 "$W/r/out$k")" >&2; continue; }
		ok=$((ok + 1))
		[ "$e" -gt "$end" ] && end=$e
		awk -v t="$tt" 'BEGIN {printf "%.1f\n", t * 1000}' >>"$W/ms.$arm"
		host=$(sed -n 's/^[Ss]erver-[Tt]iming: host;dur=\([0-9.]*\).*/\1/p' "$W/r/hdr$k" | tr -d '\r')
		[ -n "$host" ] && awk -v t="$tt" -v h="$host" 'BEGIN {printf "%.2f\n", t * 1000 - h}' >>"$W/cp.$arm"
		line=$(sed -n 's/^[Xx]-[Ww]renn-[Hh]ost: *//p' "$W/r/hdr$k" | tr -d '\r')
		[ "$arm" != 1h ] && if [ -n "$line" ] && [ -n "${HNAME[$line]:-}" ]; then
			echo "${HNAME[$line]}" >>"$W/r/place"
		else
			echo "?" >>"$W/r/place"
		fi
	done
	awk -v ok="$ok" -v ns="$((end - t0))" 'BEGIN {d = ns / 1e9; r = 0; if (d > 0) r = ok / d
		printf "%.3f %.2f %d\n", r, d, ok}' >>"$W/rate.$arm"
	if [ "$arm" != 1h ]; then
		printf '%s/%s/%s\n' "$(grep -cx h1 "$W/r/place")" "$(grep -cx h2 "$W/r/place")" \
			"$(grep -cx h3 "$W/r/place")" >>"$W/place.$arm"
	fi
}
ARMS=(3h rr 1h)
for a in "${ARMS[@]}"; do : >"$W/rate.$a"; : >"$W/ms.$a"; : >"$W/cp.$a"; : >"$W/place.$a"; done
# the arms' order changes every round (the six orders of three in turn), so none always runs
# first, right after the settle, or right after another particular arm
ORDERS=("3h rr 1h" "1h rr 3h" "rr 1h 3h" "3h 1h rr" "1h 3h rr" "rr 3h 1h")
load0=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq 1 "$ROUNDS"); do
	for arm in ${ORDERS[$(((r - 1) % 6))]}; do
		settle
		case $arm in
		1h) round 1h "${HAPI[0]}" "${HKEY[0]}" ;;
		*) round "$arm" "$CP" "$AK" ;;
		esac
	done
done
load1=$(cut -d' ' -f1-3 /proc/loadavg)

med() { sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR + 1) / 2)]; else print "NaN"}'; }
stats() { # name file
	sort -n "$2" | awk -v name="$1" '{v[NR]=$1} END {
		if (NR == 0) { printf "BENCH %s NaN ms p95=NaN n=0\n", name; exit }
		p50 = v[int((NR + 1) / 2)]; i = int(NR * 0.95 + 0.5); if (i < 1) i = 1; if (i > NR) i = NR
		printf "BENCH %s %.1f ms p95=%.1f n=%d\n", name, p50, v[i], NR }'
}
rate_med() { cut -d' ' -f1 "$W/rate.$1" | med; }
rate_line() { # arm name [extra]
	local f=$W/rate.$1
	echo "BENCH scaleout_creates_per_s_$2 $(rate_med "$1") creates/s n=$N rounds=$(wc -l <"$f") per-round=$(cut -d' ' -f1 "$f" | tr '\n' ',' | sed 's/,$//') ok=$(awk '{s += $3} END {print s + 0}' "$f")/$((N * $(wc -l <"$f")))${3:-}"
}
ratio() { # name arm-a arm-b: the median of the rounds' ratios (a round's arms ran minutes
	# apart at most, so they share the machine's load better than runs' medians do)
	local m
	m=$(paste -d' ' "$W/rate.$2" "$W/rate.$3" | awk '$1 > 0 && $4 > 0 {printf "%.4f\n", $1 / $4}' | med)
	if [ "$m" = NaN ]; then
		echo "BENCH $1 NaN x"
	else
		awk -v name="$1" -v m="$m" -v a="$(rate_med "$2")" -v b="$(rate_med "$3")" 'BEGIN {
			r = 0; if (b > 0) r = a / b
			printf "BENCH %s %.2f x (median of the rounds'"'"' ratios; ratio of the medians %.2f)\n", name, m, r }'
	fi
}
places() { tr '\n' ' ' <"$W/place.$1" | sed 's/ $//'; }
echo "# $N concurrent E2B creates (curl, minimal: 1 vCPU, 512 MiB), each then DELETEd, per round; $ROUNDS rounds per arm, arms interleaved"
echo "# per host: --max-sandboxes $SLOTS --pool-size $POOL --warm-pool $WARM$([ "$WARM" -gt 0 ] && echo " --warm-pool-max $WARM") --auto-snapshot=true (a create restores the automatic snapshot$([ "$WARM" -gt 0 ] && echo " or resumes a warm VM"))"
echo "# 3hosts: control plane $CP (scheduler) -> h1..h3 in netns $T-n1..3; 3hosts_rr: the same, pinned round-robin (X-Wrenn-Place-On); 1host: h0's own API (a fourth host agent, same settings, drained on the control plane)"
echo "# build $B; $(nproc) CPUs shared by all four host agents, TCG; load average before $load0, after $load1"
rate_line 3h 3hosts " placements(h1/h2/h3)=$(places 3h)"
rate_line rr 3hosts_rr " placements(h1/h2/h3)=$(places rr)"
rate_line 1h 1host
ratio scaleout_creates_3hosts_over_1host 3h 1h
ratio scaleout_creates_3hosts_rr_over_1host rr 1h
stats scaleout_create_ms_3hosts "$W/ms.3h"
stats scaleout_create_ms_3hosts_rr "$W/ms.rr"
stats scaleout_create_ms_1host "$W/ms.1h"
stats scaleout_create_cp_share_ms "$W/cp.3h"
stats scaleout_create_cp_share_rr_ms "$W/cp.rr"
for i in 0 1 2 3; do
	if grep -qi "assert\|sanitizer\|panic" "$W/h$i/err"; then echo "# h$i log: $(grep -i 'assert\|sanitizer\|panic' "$W/h$i/err" | head -2)"; fi
done
if [ -n "${BENCH_LOGS:-}" ]; then # keep the agents' logs
	mkdir -p "$BENCH_LOGS" && cp "$W/c/err" "$BENCH_LOGS/control.err" &&
		for i in 0 1 2 3; do cp "$W/h$i/err" "$BENCH_LOGS/h$i.err"; done
fi
exit 0
