# shellcheck shell=bash
# Sourced by tests/lib/agent.sh and bench/cli-lib.sh.
# agent_net_args TAG: AGENT_NET, the host-network options of a test agent (a restart passes the
# same): its namespace prefix, and egress host objects of its own (veth names, nft table, a /16
# no other link or route on this host uses), so agents of tests running side by side never
# share one.  No internet unless a create asks for it (--default-internet=false): a guest in a
# test must never reach an outside address (a tool in the base template may try to, e.g. npm's
# update check).
agent_net_args() {
	local h x eg='' i
	h=$(printf '%s' "$1" | cksum | cut -d' ' -f1)
	for i in $(seq 0 99); do
		x=$((100 + (h + i) % 100))
		ip -4 -o addr show | grep -q " 10\.$x\." && continue
		ip -4 route show | grep -q "^10\.$x\." && continue
		eg=10.$x.0.0
		break
	done
	[ -n "$eg" ] || eg=10.200.0.0
	AGENT_NET=(--ns-prefix "$1-" --veth-prefix "wv$((h % 100000))-" --nft-table "wt_$((h % 100000))"
		--egress-base "$eg" --default-internet=false)
}
