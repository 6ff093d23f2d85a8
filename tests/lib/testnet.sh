# shellcheck shell=bash
# A test network (sourced by tests/lib/scaleout.sh and bench/scaleout-hosts.sh): a bridge br-TAG
# in this namespace (SUB.1/24) and, per host H (one digit), a namespace TAG-nH with address SUB.1H,
# joined to the bridge by a veth pair (TAGvH here, TAGpH there); nothing routes beyond the /24.
#   testnet_up TAG SUB H...   0, or 1 with what failed in TESTNET_ERR (removes a killed run's first)
#   testnet_down TAG H...     removes the bridge, the veths and those namespaces; always 0
testnet_up() {
	local t=$1 sub=$2 h
	shift 2
	testnet_down "$t" "$@"
	TESTNET_ERR="bridge br-$t"
	ip link add "br-$t" type bridge && ip addr add "$sub.1/24" dev "br-$t" &&
		ip link set "br-$t" up || return 1
	for h in "$@"; do
		TESTNET_ERR="namespace $t-n$h"
		ip netns add "$t-n$h" &&
			ip link add "${t}v$h" type veth peer name "${t}p$h" &&
			ip link set "${t}p$h" netns "$t-n$h" &&
			ip link set "${t}v$h" master "br-$t" up &&
			ip -n "$t-n$h" addr add "$sub.1$h/24" dev "${t}p$h" &&
			ip -n "$t-n$h" link set "${t}p$h" up &&
			ip -n "$t-n$h" link set lo up || return 1
	done
	TESTNET_ERR=
}

testnet_down() {
	local t=$1 h
	shift
	for h in "$@"; do
		ip link del "${t}v$h" 2>/dev/null
		ip netns del "$t-n$h" 2>/dev/null
	done
	ip link del "br-$t" 2>/dev/null
	return 0
}
