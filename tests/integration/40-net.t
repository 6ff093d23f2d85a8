#!/usr/bin/env bash
# src/net for real (root): slot pool, namespaces with tap0, host->guest-side
# sockets made inside the namespace, QEMU attaching to the persistent tap,
# optional egress (veth + nft) against a server in a namespace this test
# creates, two agents sharing a data dir, crash sweep.  Packets only go to
# addresses inside namespaces made here.
set -u
cd "$(dirname "$0")/../.."
B=${WRENN_BUILD:-build/asan}
NETCTL=$B/bin/wrenn-netctl
T=wt40$$                         # unique names: other suites may run in parallel
NSP=${T}n- VP=${T}v- TABLE=$T
OUT=${T}-out OH=${T}oh OO=${T}oo # the "outside world" namespace and its link
DATA=$(mktemp -d /tmp/wrenn-40net.XXXXXX)
FWD0=$(cat /proc/sys/net/ipv4/ip_forward)
n=0 fail=0
echo "1..21"
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); fail=1; echo "not ok $n - $1"; [ -n "${2:-}" ] && echo "# $2"; }
check() { local d=$1; shift; if "$@" >/dev/null 2>&1; then ok "$d"; else nok "$d"; fi; }
skip() { n=$((n + 1)); echo "ok $n # skip $1"; }

PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^($NSP|$OUT)"); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep -E "^($VP|$OH)"); do
		ip link del "$l" 2>/dev/null
	done
	nft delete table inet "$TABLE" 2>/dev/null
	echo "$FWD0" >/proc/sys/net/ipv4/ip_forward
	[ "$fail" != 0 ] && cat "$DATA".*.log 2>/dev/null | sed 's/^/# /'
	rm -rf "$DATA" "$DATA".*.log
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [ "$(id -u)" -ne 0 ] || [ ! -x "$NETCTL" ] || ! command -v nft >/dev/null || ! command -v python3 >/dev/null; then
	for i in $(seq 1 20); do skip "needs root, nft, python3 and $NETCTL"; done
	exit 0
fi

# --- agent A: one long-lived netctl process (holds its claims) -----------------
coproc A { exec "$NETCTL" "$DATA" "$NSP" "$VP" "$TABLE" 2 1 8 2>>"$DATA.a.log"; }
PIDS+=("$A_PID")
ask() { # ask <coproc-name> <command> -> reply in $R
	local -n cp=$1
	echo "$2" >&"${cp[1]}"
	R=""
	if ! read -r -t 20 R <&"${cp[0]}"; then
		echo "Bail out! wrenn-netctl gave no answer to '$2' within 20 s"
		fail=1
		exit 1
	fi
}

ask A fill
[ "$R" = "ok idle=2" ] && ok "pool pre-creates 2 slots" || nok "pool pre-creates 2 slots" "$R"
nsl() { ip netns list | awk '{print $1}' | grep -c "^$NSP"; }
[ "$(nsl)" -eq 2 ] && ok "2 namespaces exist" || nok "2 namespaces exist" "$(ip netns list)"

NS1=${NSP}1
check "tap0 has 169.254.0.22/30 in $NS1" bash -c "ip -n $NS1 -o -4 addr show dev tap0 | grep -q 'inet 169.254.0.22/30'"
check "tap0 is a persistent tap, up, txqueuelen 5000" bash -c \
	"ip -n $NS1 -d link show tap0 | grep -q 'state\|UP' && ip -n $NS1 -d link show tap0 | grep -q 'qlen 5000' && ip -n $NS1 -d link show tap0 | grep -q 'tun type tap pi off vnet_hdr off persist on'"
check "tap0 MAC is the fixed 02:fc:00:00:00:01; guest 169.254.0.21 -> 02:fc:00:00:00:05 pre-resolved" bash -c \
	"ip -n $NS1 link show tap0 | grep -q 'link/ether 02:fc:00:00:00:01' && ip -n $NS1 neigh show 169.254.0.21 dev tap0 | grep -q 'lladdr 02:fc:00:00:00:05'"
check "lo up in $NS1" bash -c "ip -n $NS1 link show lo | grep -q '<LOOPBACK,UP'"

ask A acquire
S1=$(awk '{print $2}' <<<"$R")
[ "${R%% *}" = ok ] && [ "$(nsl)" -eq 2 ] && ok "acquire takes a pooled slot ($R), no new namespace" ||
	nok "acquire takes a pooled slot" "$R"
NSA=$NSP$S1

# host -> namespace: a listener on tap0's address inside the slot namespace
ip netns exec "$NSA" python3 -c '
import socket
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.bind(("169.254.0.22",7000)); s.listen(1)
c,_=s.accept(); c.sendall(b"echo:"+c.recv(100).strip()+b"\n"); c.close()' &
PIDS+=($!)
for i in $(seq 50); do ip netns exec "$NSA" ss -Hltn | grep -q 169.254.0.22:7000 && break; sleep 0.1; done
ask A "connect $S1 169.254.0.22 7000 hello"
[ "$R" = "ok echo:hello" ] && ok "net_connect_in_ns reaches a listener inside the namespace" ||
	nok "net_connect_in_ns reaches a listener inside the namespace" "$R"
ask A "connect $S1 169.254.0.22 7001 nobody"
[[ "$R" == err*refused* ]] && ok "connect to a closed port: clear error ($R)" || nok "connect to closed port" "$R"

# QEMU attaches to the persistent tap (it sets IFF_VNET_HDR on its own queue)
if command -v qemu-system-x86_64 >/dev/null; then
	for vh in "" ",vnet_hdr=on"; do
		ip netns exec "$NSA" qemu-system-x86_64 -M microvm -accel tcg -nodefaults -display none -S \
			-netdev "tap,id=n0,ifname=tap0,script=no,downscript=no$vh" -device virtio-net-device,netdev=n0 \
			>"$DATA.qemu.log" 2>&1 &
		QP=$!
		PIDS+=("$QP")
		up=0
		for i in $(seq 100); do
			ip -n "$NSA" link show tap0 | grep -q LOWER_UP && { up=1; break; }
			kill -0 $QP 2>/dev/null || break
			sleep 0.1
		done
		kill $QP 2>/dev/null; wait $QP 2>/dev/null
		[ $up = 1 ] && ok "QEMU tap netdev${vh:- (default)} attaches to tap0 (carrier up)" ||
			nok "QEMU attaches to tap0$vh" "$(cat "$DATA.qemu.log")"
	done
	check "tap0 survives the VMM exit" ip -n "$NSA" link show tap0
else
	skip "qemu-system-x86_64 not installed"; skip "qemu-system-x86_64 not installed"; skip "qemu-system-x86_64 not installed"
fi

# --- egress: "outside world" = a namespace of this test behind a veth ---------
ip netns add "$OUT"
ip link add "$OH" type veth peer name "$OO" netns "$OUT"
ip addr add 203.0.113.9/30 dev "$OH"; ip link set "$OH" up
ip -n "$OUT" addr add 203.0.113.10/30 dev "$OO"; ip -n "$OUT" link set "$OO" up; ip -n "$OUT" link set lo up
ip netns exec "$OUT" python3 -u -c '
import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("203.0.113.10",7002))
while True:
    d,a=s.recvfrom(2048); print(a[0],d.decode(),flush=True)' >"$DATA.udp.log" 2>&1 &
PIDS+=($!)
sleep 0.5
# The guest stand-in writes an Ethernet frame from 169.254.0.21 into tap0,
# exactly what a guest's packet looks like to the namespace, so the path
# tested is the guest's: tap0 -> ns forward + masquerade -> veth -> host.
got() { # up to 3 s: a positive returns at once, absence is waited out
	for _ in $(seq 15); do grep -q " $1\$" "$DATA.udp.log" && return 0; sleep 0.2; done
	return 1
}

ask A "guest-udp $S1 203.0.113.10 7002 off1"
if [ "${R%% *}" = ok ] && ! got off1; then ok "egress off: guest packet does not leave"; else nok "egress off: guest packet does not leave" "$R $(cat "$DATA.udp.log")"; fi

ask A "egress $S1 on"
ask A "guest-udp $S1 203.0.113.10 7002 on1"
if got on1 && grep -q "^203.0.113.9 on1$" "$DATA.udp.log"; then
	ok "egress on: guest packet arrives, masqueraded to the host address"
else
	nok "egress on: guest packet arrives masqueraded" "$R / $(cat "$DATA.udp.log") / $(nft list table inet "$TABLE" 2>&1 | head -30)"
fi
check "egress on: host veth + nft elements present" bash -c \
	"ip link show $VP$S1 && nft list set inet $TABLE egress_ifs | grep -q '\"$VP$S1\"'"

ask A "egress $S1 off"
ask A "guest-udp $S1 203.0.113.10 7002 off2"
if ! got off2 && ! ip link show "$VP$S1" >/dev/null 2>&1 && ! nft list set inet "$TABLE" egress_ifs | grep -q "\"$VP$S1\""; then
	ok "egress off again: no packet, no veth, no element"
else
	nok "egress off again" "$(cat "$DATA.udp.log")"
fi

# --- a second agent on the same data dir never gets A's slots ----------------
# (bash warns that coproc A still exists; both work, the warning is noise)
{ coproc Bc { exec "$NETCTL" "$DATA" "$NSP" "$VP" "$TABLE" 0 1 8 2>>"$DATA.b.log"; }; } 2>/dev/null
BPID=$Bc_PID
PIDS+=("$BPID")
ask Bc acquire
S2=$(awk '{print $2}' <<<"$R")
if [ "${R%% *}" = ok ] && [ "$S2" != "$S1" ] && [ "$S2" -gt 2 ]; then ok "second agent gets a slot nobody holds ($S2)"; else nok "second agent gets a free slot" "$R"; fi
ask Bc "egress $S2 on"
kill -9 "$BPID"; wait "$BPID" 2>/dev/null
# agent A's sweep: B died holding slot S2 (namespace, veth, claim)
ask A sweep
if [[ "$R" == "ok links=1 namespaces=1 claims=1" ]] && [ ! -e "$DATA/slots/$S2" ] && ! ip netns list | grep -q "^$NSP$S2 " &&
	[ -e "$DATA/slots/$S1" ]; then
	ok "sweep removes the dead agent's namespace, veth and claim, keeps live ones ($R)"
else
	nok "sweep of a dead agent's slot" "$R"
fi

ask A "egress $S1 on"
ask A "release $S1"
if [ "$R" = ok ] && ! ip link show "$VP$S1" >/dev/null 2>&1 && ip -n "$NSA" link show tap0 >/dev/null 2>&1 &&
	! ip -n "$NSA" link show eth0 >/dev/null 2>&1; then
	ok "release with egress on: veth gone, namespace reset and pooled"
else
	nok "release with egress" "$R"
fi

echo quit >&"${A[1]}"
for i in $(seq 300); do kill -0 "$A_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$A_PID" 2>/dev/null && kill -9 "$A_PID"
wait "$A_PID"; rc=$?
sleep 0.3
left="$(ip netns list | grep "^$NSP")$(ip -o link | grep " $VP")$(nft list tables | grep " $TABLE\$")$(ls -A "$DATA/slots")"
[ $rc -eq 0 ] && [ -z "$left" ] && ok "quit: no namespace, link, nft table or claim left" || nok "quit leaves nothing" "rc=$rc left=$left"

grep -E 'ERROR|AddressSanitizer|runtime error' "$DATA".*.log >/dev/null 2>&1 && nok "no sanitizer reports" "$(cat "$DATA".*.log)" || ok "no sanitizer reports"
rm -f "$DATA".*.log
exit $fail
