#!/usr/bin/env bash
# Egress that fails closed, for real (root).  The code under test (wrenn-netctl driving src/net,
# the layer wrenn-agent uses) runs inside a test network namespace HOST whose only uplink is a
# second test namespace UP holding the whole "outside": an "internet" address (198.51.100.1/.2),
# a "LAN" (10.55.0.1, 192.168.77.1), the cloud metadata address (169.254.169.254) and CGNAT
# space (100.64.0.1) as dummy addresses with a UDP listener.  A packet that escapes a rule
# therefore never leaves the machine.  The guest stand-in writes Ethernet frames into tap0,
# exactly what a guest's kernel sends, so the path tested is the guest's own.
set -u
cd "$(dirname "$0")/../.."
B=${WRENN_BUILD:-build/asan}
NETCTL=$(realpath -m "$B/bin/wrenn-netctl")
T=wt91$$
HOST=${T}h UP=${T}u NSP=${T}n- VP=${T}v- TABLE=$T
DATA=$(mktemp -d /tmp/wrenn-91egress.XXXXXX)
N=35
n=0 fail=0
echo "1..$N"
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); fail=1; echo "not ok $n - $1"; [ -n "${2:-}" ] && echo "$2" | head -c 1500 | sed 's/^/# /'; }
skip_rest() { while [ $n -lt $N ]; do n=$((n + 1)); echo "ok $n # skip $1"; done; exit 0; }

PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^($NSP|$HOST|$UP|${T}a-)"); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	[ "$fail" != 0 ] && cat "$DATA"/*.log 2>/dev/null | tail -40 | sed 's/^/# /'
	rm -rf "$DATA" "${ADATA:-}"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

need_missing=
for t in nft python3 nsenter ip; do command -v $t >/dev/null || need_missing="$need_missing $t"; done
if [ "$(id -u)" -ne 0 ] || [ ! -x "$NETCTL" ] || [ -n "$need_missing" ]; then
	[ -n "${CI:-}" ] && [ -n "$need_missing" ] && { echo "not ok 1 - missing:$need_missing"; exit 1; }
	skip_rest "needs root, $NETCTL and nft, python3, nsenter"
fi

# --- the test's own little world ------------------------------------------------
ip netns add "$HOST"
ip netns add "$UP"
ip -n "$HOST" link set lo up
ip -n "$UP" link set lo up
ip -n "$HOST" link add hu type veth peer name uu netns "$UP"
ip -n "$HOST" addr add 203.0.113.1/30 dev hu
ip -n "$HOST" link set hu up
ip -n "$HOST" route add default via 203.0.113.2
ip -n "$UP" addr add 203.0.113.2/30 dev uu
ip -n "$UP" link set uu up
for a in 198.51.100.1 198.51.100.2 10.55.0.1 192.168.77.1 169.254.169.254 100.64.0.1; do
	ip -n "$UP" addr add $a/32 dev lo
done
# UP counts every packet that arrives from HOST with a source other than HOST's own address
ip netns exec "$UP" nft -f - <<'EOF'
table inet cap {
	chain pre {
		type filter hook prerouting priority -300; policy accept;
		iifname "uu" ip saddr != 203.0.113.1 counter
	}
}
EOF
listen() { # listen NS PORT LOG: UDP on every address of NS, one line "src word" per datagram
	ip netns exec "$1" python3 -u -c '
import socket,sys
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("0.0.0.0",int(sys.argv[1])))
while True:
    d,a=s.recvfrom(2048); print(a[0],d.decode(),flush=True)' "$2" >"$3" 2>&1 &
	PIDS+=($!)
}
listen "$UP" 7002 "$DATA/up.log"
listen "$HOST" 7003 "$DATA/host.log"
sleep 0.5

# --- netctl inside HOST (network namespace only: its slot namespaces stay visible) ------
coproc A { exec nsenter --net=/run/netns/"$HOST" "$NETCTL" "$DATA/a" "$NSP" "$VP" "$TABLE" 0 1 8 2>>"$DATA/a.log"; }
PIDS+=("$A_PID")
ask() { # ask <coproc-name> <command> -> reply in $R
	local -n cp=$1
	echo "$2" >&"${cp[1]}"
	R=""
	if ! read -r -t 30 R <&"${cp[0]}"; then
		echo "Bail out! wrenn-netctl gave no answer to '$2'"
		fail=1
		exit 1
	fi
}
ask A acquire
S1=$(awk '{print $2}' <<<"$R")
ask A "egress $S1 on"
[ "$R" = ok ] && ok "egress on inside the test host namespace" || nok "egress on" "$R"
ask A acquire
S2=$(awk '{print $2}' <<<"$R")
ask A "egress $S2 on"
NS1=$NSP$S1 NS2=$NSP$S2
S2ADDR=$(ip -n "$NS2" -o -4 addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
HOSTVETH=$(ip -n "$HOST" -o -4 addr show dev "$VP$S1" | awk '{print $4}' | cut -d/ -f1)
listen "$NS2" 7004 "$DATA/s2.log"
sleep 0.5

# send WORD from the guest of slot S1 to DST:PORT; arrived WORD LOG: did it reach the listener?
send() { ask A "guest-udp $S1 $1 $2 $3"; [ "$R" = ok ] || echo "# send: $R"; }
arrived() { # up to 3 s (a positive answer returns at once; absence is waited out)
	for _ in $(seq 15); do grep -q " $1\$" "$2" && return 0; sleep 0.2; done
	return 1
}
expect_in() { # desc word log
	if arrived "$2" "$3"; then ok "$1"; else nok "$1" "$(cat "$3")"; fi
}
expect_out() {
	if ! arrived "$2" "$3" && ! grep -q " $2\$" "$DATA"/*.log; then ok "$1"; else nok "$1" "$(cat "$DATA"/*.log)"; fi
}

send 198.51.100.1 7002 inet1
if arrived inet1 "$DATA/up.log" && grep -q "^203.0.113.1 inet1$" "$DATA/up.log"; then
	ok "the internet address answers, masqueraded to the host's uplink address"
else
	nok "internet reachable" "$(cat "$DATA/up.log")"
fi
send 169.254.169.254 7002 meta
expect_out "metadata 169.254.169.254 is dropped" meta "$DATA/up.log"
send 10.55.0.1 7002 lan10
expect_out "LAN 10.55.0.1 is dropped" lan10 "$DATA/up.log"
send 192.168.77.1 7002 lan192
expect_out "LAN 192.168.77.1 is dropped" lan192 "$DATA/up.log"
send 100.64.0.1 7002 cgnat
expect_out "CGNAT 100.64.0.1 is dropped" cgnat "$DATA/up.log"
send "$S2ADDR" 7004 peer
expect_out "another sandbox ($S2ADDR) is dropped" peer "$DATA/s2.log"
send 203.0.113.1 7003 hostup
expect_out "the host's own uplink address is dropped" hostup "$DATA/host.log"
send "$HOSTVETH" 7003 hostveth
expect_out "the host's veth address ($HOSTVETH) is dropped" hostveth "$DATA/host.log"
send 255.255.255.255 7002 bcast
expect_out "broadcast is dropped" bcast "$DATA/up.log"
send 224.0.0.1 7002 mcast
expect_out "multicast is dropped" mcast "$DATA/up.log"

# forged sources: another public address, the host's uplink address, the namespace's own (that
# last one the kernel already drops as a martian before nft sees it)
for src in 198.51.100.77 203.0.113.1 "$(ip -n "$NS1" -o -4 addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)"; do
	ask A "guest-udp-from $S1 $src 198.51.100.1 7002 spoof${src//./_}"
done
sleep 0.8
spoofed=$(ip netns exec "$UP" nft list chain inet cap pre | grep -o 'packets [0-9]*' | awk '{print $2}')
ns_drops=$(ip netns exec "$NS1" nft list chain inet "$TABLE" forward | grep 'ip saddr != 169.254.0.21' | grep -o 'packets [0-9]*' | awk '{print $2}')
if [ "$spoofed" = 0 ] && ! grep -q spoof "$DATA"/*.log && [ "${ns_drops:-0}" -ge 2 ]; then
	ok "forged-source packets are dropped in the sandbox namespace, none is seen in UP ($ns_drops dropped)"
else
	nok "forged sources dropped" "UP counter=$spoofed ns drops=$ns_drops $(cat "$DATA"/*.log)"
fi

# --- allowOut / denyOut, changed live -----------------------------------------------
ask A "policy $S1 198.51.100.1 0.0.0.0/0"
[ "$R" = ok ] || nok "policy accepted" "$R"
send 198.51.100.1 7002 allow1
send 198.51.100.2 7002 deny2
if arrived allow1 "$DATA/up.log" && ! grep -q " deny2$" "$DATA/up.log"; then
	ok "denyOut 0.0.0.0/0 + allowOut 198.51.100.1: only 198.51.100.1 is reached"
else
	nok "allowOut beats denyOut" "$(cat "$DATA/up.log")"
fi
ask A "policy $S1 - 198.51.100.0/31"
send 198.51.100.1 7002 deny1
send 198.51.100.2 7002 allow2
if arrived allow2 "$DATA/up.log" && ! grep -q " deny1$" "$DATA/up.log"; then
	ok "policy replaced live: denyOut 198.51.100.0/31 blocks .1, .2 is reached again"
else
	nok "live policy update" "$(cat "$DATA/up.log")"
fi
ask A "policy $S1 - -"
send 198.51.100.1 7002 free1
expect_in "empty policy: 198.51.100.1 is reached again" free1 "$DATA/up.log"
ask A "policy $S1 example.com -"
[[ "$R" == err*example.com* ]] && ok "a domain name is refused by the policy parser ($R)" || nok "domain refused" "$R"
ask A "policy $S1 - 10.55.0.1"
send 10.55.0.1 7002 lan10b
expect_out "denyOut of a blocked range changes nothing: still dropped" lan10b "$DATA/up.log"
ask A "policy $S1 - -"

# --- IPv6 and the host side ------------------------------------------------------------
if ip netns exec "$NS1" nft list chain inet "$TABLE" forward | grep -q 'meta nfproto != ipv4 counter packets [0-9]* bytes [0-9]* drop' &&
	[ "$(ip netns exec "$NS1" cat /proc/sys/net/ipv6/conf/all/forwarding)" = 0 ]; then
	ok "IPv6 from the guest is not forwarded (nft drop, forwarding off)"
else
	nok "IPv6 dropped" "$(ip netns exec "$NS1" nft list ruleset)"
fi

# --- fail closed: a rule-install failure leaves no egress at all --------------------
printf '#!/bin/sh\ncat >/dev/null\necho "nft: refusing for the test" >&2\nexit 1\n' >"$DATA/nft-false"
chmod +x "$DATA/nft-false"
{ coproc F { WRENN_NFT=$DATA/nft-false exec nsenter --net=/run/netns/"$HOST" "$NETCTL" "$DATA/f" "${T}f-" "${T}w-" "${T}x" 0 9 12 2>>"$DATA/f.log"; }; } 2>/dev/null
PIDS+=("$F_PID")
ask F acquire
SF=$(awk '{print $2}' <<<"$R")
ask F "egress $SF on"
if [[ "$R" == err*refusing* ]] && ! ip -n "$HOST" link show "${T}w-$SF" >/dev/null 2>&1 &&
	! ip -n "${T}f-$SF" link show eth0 >/dev/null 2>&1; then
	ok "nft failure: egress on fails with nft's message, no veth and no eth0 left"
else
	nok "fail closed" "$R"
fi
echo quit >&"${F[1]}"
for ns in $(ip netns list | awk '{print $1}' | grep "^${T}f-"); do ip netns del "$ns"; done

ask A "egress $S1 off"
send 198.51.100.1 7002 off1
expect_out "egress off: nothing leaves" off1 "$DATA/up.log"
ask A "release $S1"
ask A "release $S2"
echo quit >&"${A[1]}"
for i in $(seq 200); do kill -0 "$A_PID" 2>/dev/null || break; sleep 0.1; done
left="$(ip netns list | grep "^$NSP")$(ip netns exec "$HOST" nft list tables | grep " $TABLE\$")"
[ -z "$left" ] && ok "quit: no namespace or host table left" || nok "quit leaves nothing" "$left"
grep -E 'AddressSanitizer|runtime error' "$DATA"/*.log >/dev/null 2>&1 && nok "no sanitizer reports" || ok "no sanitizer reports"

# --- the same world through a real wrenn-agent and a real guest -------------------------------
AGENT=$(realpath -m "$B/bin/wrenn-agent")
IMAGES=${WRENN_GUEST:-$(dirname "$B")/guest}
if [ ! -x "$AGENT" ] || [ ! -r "$IMAGES/vmlinux" ] || [ ! -r "$IMAGES/minimal.ext4" ] ||
	! command -v jq >/dev/null || ! command -v curl >/dev/null; then
	if [ -n "${CI:-}" ] && { ! command -v jq >/dev/null || ! command -v curl >/dev/null; }; then
		nok "jq and curl are needed under CI"
		exit 1
	fi
	skip_rest "needs $AGENT, guest images in $IMAGES, jq and curl"
fi
mkdir -p "$DATA/www" && echo hello >"$DATA/www/hi"
(cd "$DATA/www" && exec ip netns exec "$UP" python3 -m http.server 8080 >"$DATA/http.log" 2>&1) &
PIDS+=($!)
ADATA=$(mktemp -d /tmp/wrenn-91agent.XXXXXX)
X=(nsenter --net=/run/netns/"$HOST")
PA=18491 PP=18492
API=http://127.0.0.1:$PA PX=http://127.0.0.1:$PP
"${X[@]}" "$AGENT" --data-dir "$ADATA" --images-dir "$IMAGES" --api-listen "127.0.0.1:$PA" \
	--proxy-listen "127.0.0.1:$PP" --ns-prefix "${T}a-" --pool-size 1 --max-sandboxes 4 \
	>"$DATA/agent.log" 2>&1 &
APID=$!
PIDS+=("$APID")
for _ in $(seq 1 150); do "${X[@]}" curl -sf "$API/health" >/dev/null && break; sleep 0.2; done
K=$(cat "$ADATA/admin-key" 2>/dev/null)
H=(-H "X-API-Key: $K")
code() { "${X[@]}" curl -s -o "$DATA/body" -w '%{http_code}' "$@"; }
# gx CMD: run CMD in the guest; prints exit code and stdout
gx() {
	"${X[@]}" curl -s "${H[@]}" --max-time 60 -d "$(jq -nc --arg c "$1" '{cmd:$c}')" "$API/v1/sandboxes/$ID/exec" |
		jq -r '"\(.exitCode) \(.stdout)"' | tr -d '\n'
}
fetch() { gx "busybox timeout 4 busybox wget -O - http://$1:8080/hi 2>/dev/null"; } # (-T and -q segfault in bookworm's busybox wget)

c=$(code "${H[@]}" -d '{"templateID":"minimal","network":{"allowOut":["example.com"]}}' "$API/v2/sandboxes")
[ "$c" = 400 ] && grep -q 'network.allowOut.*domain names are not supported' "$DATA/body" &&
	ok "create: a domain in allowOut is refused with 400 naming the field" || nok "domain refused" "$c $(cat "$DATA/body")"
c=$(code "${H[@]}" -d '{"templateID":"minimal","network":{"allowOut":["169.254.169.254"]}}' "$API/v2/sandboxes")
[ "$c" = 400 ] && grep -q 'overlaps 169.254.0.0/16' "$DATA/body" &&
	ok "create: allowOut into a blocked range is refused (400)" || nok "blocked allowOut refused" "$c $(cat "$DATA/body")"
c=$(code "${H[@]}" -d '{"templateID":"minimal","mcp":{"x":{}}}' "$API/v2/sandboxes")
c2=$(code "${H[@]}" -d '{"template":"minimal","diskSizeMB":1}' "$API/v1/sandboxes")
[ "$c" = 400 ] && [ "$c2" = 400 ] && grep -q 'diskSizeMB is not a known field' "$DATA/body" &&
	ok "create: unimplemented (mcp) and unknown (/v1 diskSizeMB) fields are 400" || nok "fields refused" "$c $c2 $(cat "$DATA/body")"

c=$(code "${H[@]}" -d '{"templateID":"minimal","timeout":600,"allow_internet_access":true,"network":{"denyOut":["0.0.0.0/0"],"allowOut":["198.51.100.1"],"allowPublicTraffic":false}}' "$API/v2/sandboxes")
ID=$(jq -r .sandboxID "$DATA/body" 2>/dev/null)
TT=$(jq -r .trafficAccessToken "$DATA/body" 2>/dev/null)
if [ "$c" = 201 ] && [ -n "$TT" ] && [ "$TT" != null ]; then
	ok "create with network: 201, trafficAccessToken returned"
else
	nok "create with network" "$c $(cat "$DATA/body")"
	skip_rest "no sandbox"
fi
r1=$(fetch 198.51.100.1) r2=$(fetch 198.51.100.2)
[ "$r1" = "0 hello" ] && [ "${r2%% *}" != 0 ] &&
	ok "guest: allowOut 198.51.100.1 answers, denyOut 0.0.0.0/0 stops 198.51.100.2" || nok "allow/deny from the guest" "$r1 / $r2"
bad=
for dst in 169.254.169.254 10.55.0.1 192.168.77.1 100.64.0.1 203.0.113.1; do
	r=$(fetch $dst)
	[ "${r%% *}" = 0 ] && bad="$bad $dst"
done
[ -z "$bad" ] && ok "guest: metadata, LAN, CGNAT and the host's address are unreachable" || nok "blocked from guest" "reached:$bad"

c=$(code "${H[@]}" -X PUT -d '{"denyOut":["198.51.100.1"]}' "$API/sandboxes/$ID/network")
r1=$(fetch 198.51.100.1) r2=$(fetch 198.51.100.2)
[ "$c" = 204 ] && [ "${r1%% *}" != 0 ] && [ "$r2" = "0 hello" ] &&
	ok "PUT /sandboxes/{id}/network applies live: .1 now denied, .2 reached" || nok "updateNetwork" "$c $(cat "$DATA/body") / $r1 / $r2"
c=$(code "${H[@]}" "$API/sandboxes/$ID")
[ "$c" = 200 ] && [ "$(jq -c .network "$DATA/body")" = '{"allowOut":[],"denyOut":["198.51.100.1/32"],"allowPublicTraffic":false}' ] &&
	ok "GET shows the stored network policy" || nok "GET network" "$(cat "$DATA/body")"
c=$(code "${H[@]}" -X PUT -d '{"allowOut":["example.org"]}' "$API/sandboxes/$ID/network")
[ "$c" = 400 ] && ok "updateNetwork with a domain: 400" || nok "updateNetwork domain" "$c"

gx "mkdir -p /tmp/w && echo hi >/tmp/w/x && busybox httpd -p 8000 -h /tmp/w" >/dev/null
P=(-H "E2b-Sandbox-Id: $ID" -H "E2b-Sandbox-Port: 8000")
c0=$(code "${P[@]}" "$PX/x")
c1=$(code "${P[@]}" -H "E2b-Traffic-Access-Token: nope" "$PX/x")
c2=$(code "${P[@]}" -H "e2b-traffic-access-token: $TT" "$PX/x")
c3=$(code -H "E2b-Sandbox-Id: $ID" "$PX/health")
[ "$c0" = 401 ] && [ "$c1" = 403 ] && [ "$c2" = 200 ] && [ "$c3" = 204 ] &&
	ok "allowPublicTraffic:false: proxy 401 without, 403 wrong, 200 with the token; envd port unaffected" ||
	nok "traffic token" "$c0 $c1 $c2 $c3"

# re-attach: an agent restart re-installs the namespace table with the stored policy
ns=$(ip netns list | awk '{print $1}' | grep "^${T}a-" | head -1)
for n2 in $(ip netns list | awk '{print $1}' | grep "^${T}a-"); do
	ip netns exec "$n2" nft list set inet wrenn deny_out 2>/dev/null | grep -q 198.51.100.1 && ns=$n2
done
ip netns exec "$ns" nft flush set inet wrenn deny_out
kill -KILL "$APID"; wait "$APID" 2>/dev/null
"${X[@]}" "$AGENT" --data-dir "$ADATA" --images-dir "$IMAGES" --api-listen "127.0.0.1:$PA" \
	--proxy-listen "127.0.0.1:$PP" --ns-prefix "${T}a-" --pool-size 1 --max-sandboxes 4 \
	>>"$DATA/agent.log" 2>&1 &
APID=$!
PIDS+=("$APID")
for _ in $(seq 1 150); do "${X[@]}" curl -sf "$API/health" >/dev/null && break; sleep 0.2; done
r1=$(fetch 198.51.100.1)
ip netns exec "$ns" nft list set inet wrenn deny_out | grep -q '198.51.100.1' && [ "${r1%% *}" != 0 ] &&
	ok "after kill -9 + restart the stored policy is re-applied" || nok "re-apply" "$r1 $(ip netns exec "$ns" nft list set inet wrenn deny_out)"
code "${H[@]}" -X DELETE "$API/sandboxes/$ID" >/dev/null

# a real guest's raw socket: forged sources never leave, its own address does (positive control)
if [ -r "$IMAGES/debian.ext4" ]; then
	c=$(code "${H[@]}" -d '{"template":"debian","timeout":600,"allowInternetAccess":true}' "$API/v1/sandboxes")
	ID=$(jq -r .id "$DATA/body")
	cat >"$DATA/raw.py" <<'PY'
import socket, struct
def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF
def pkt(src, dst, port, data):
    udp = struct.pack("!HHHH", 40001, port, 8 + len(data), 0) + data
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    return ip[:10] + struct.pack("!H", csum(ip)) + ip[12:] + udp
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
for src, w in (("198.51.100.77", "gspoof1"), ("203.0.113.1", "gspoof2"), ("10.55.0.9", "gspoof3"),
               ("169.254.0.21", "graw")):
    s.sendto(pkt(src, "198.51.100.1", 7002, w.encode()), ("198.51.100.1", 0))
print("sent")
PY
	out=$("${X[@]}" curl -s "${H[@]}" --max-time 60 -d "$(jq -nc --rawfile p "$DATA/raw.py" '{cmd:["python3","-c",$p],user:"root"}')" "$API/v1/sandboxes/$ID/exec" | jq -r '"\(.exitCode) \(.stdout)\(.stderr)"' | tr -d '\n')
	sleep 1
	spoofed=$(ip netns exec "$UP" nft list chain inet cap pre | grep -o 'packets [0-9]*' | awk '{print $2}')
	if [ "$c" = 201 ] && [ "$out" = "0 sent" ] && grep -q "^203.0.113.1 graw$" "$DATA/up.log" &&
		! grep -q gspoof "$DATA/up.log" && [ "$spoofed" = 0 ]; then
		ok "debian guest raw socket: its own address goes out masqueraded, forged sources are seen nowhere in UP"
	else
		nok "guest raw-socket spoofing" "$c / $out / UP counter $spoofed / $(cat "$DATA/up.log")"
	fi
	code "${H[@]}" -X DELETE "$API/v1/sandboxes/$ID" >/dev/null
else
	n=$((n + 1)); echo "ok $n # skip no debian image in $IMAGES"
fi
kill -TERM "$APID"; wait "$APID" 2>/dev/null
rm -rf "$ADATA"
grep -E 'AddressSanitizer|runtime error' "$DATA/agent.log" >/dev/null && nok "agent: no sanitizer reports" "$(grep -A5 -E 'AddressSanitizer|runtime error' "$DATA/agent.log")" || ok "agent: no sanitizer reports"
exit $fail
