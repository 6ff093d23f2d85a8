# Shared by integration tests that run a private wrenn-agent (source it).
# Sets: B AGENT IMAGES DATA T API PX K APID; functions: tap helpers, agent_start,
# agent_cleanup.  The agent uses a scratch data dir, free ports and its own
# namespace prefix, so it never touches another agent's objects.
B=${WRENN_BUILD:-build/asan}
AGENT=$B/bin/wrenn-agent
IMAGES=${WRENN_GUEST:-$(dirname "$B")/guest}
n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); fail=1; echo "not ok $n - $1"; [ -n "${2:-}" ] && echo "# $2" | head -c 600 && echo; }
is() { if [ "$2" = "$3" ]; then ok "$1"; else nok "$1" "got '$2', want '$3'"; fi; }
skip_rest() { while [ $n -lt "$N" ]; do n=$((n + 1)); echo "ok $n # skip $1"; done; exit 0; }

# shellcheck source=tests/lib/agent-net.sh
. "$(dirname "${BASH_SOURCE[0]}")/agent-net.sh"

APID=
# agent_stop: the agent (TERM, then KILL after 15 s), this test's VMMs and namespaces; on a
# failure the tail of the agent's log (in $AGENT_LOGS, default $DATA).  Leaves $DATA itself.
agent_stop() {
	if [ -n "$APID" ] && kill -0 "$APID" 2>/dev/null; then
		kill -TERM "$APID"
		for _ in $(seq 1 150); do kill -0 "$APID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$APID" 2>/dev/null
	fi
	pkill -KILL -f "$DATA/" 2>/dev/null # VMMs of this test only (their argv names our data dir)
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$T-"); do ip netns del "$ns"; done
	local logs=${AGENT_LOGS:-$DATA}
	if [ "$fail" -ne 0 ] && [ -f "$logs/agent.err" ]; then
		echo "# --- agent log (tail) ---"; tail -40 "$logs/agent.err" | sed 's/^/# /'
	fi
}
agent_cleanup() {
	agent_stop
	rm -rf "$DATA"
}

# agent_ports: two free loopback ports for the API and the proxy; sets PA PP API PX.
agent_ports() {
	local ports
	ports=$(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')
	read -r PA PP <<<"$ports"
	API=http://127.0.0.1:$PA
	PX=http://127.0.0.1:$PP
}

# agent_start TAG [extra agent args...]: start it and wait for /health; sets API PX K.
# The agent is killed after AGENT_TIMEOUT seconds (default 1200) whatever happens.
agent_start() {
	T=$1; shift
	DATA=$(mktemp -d "/tmp/wrenn-$T.XXXXXX")
	trap agent_cleanup EXIT
	trap 'exit 1' INT TERM
	[ "$(id -u)" -eq 0 ] || skip_rest "needs root"
	[ -x "$AGENT" ] || skip_rest "$AGENT not built"
	local PA PP
	agent_ports
	agent_net_args "$T"
	timeout "${AGENT_TIMEOUT:-1200}" "$AGENT" --data-dir "$DATA" --images-dir "$IMAGES" --api-listen "127.0.0.1:$PA" \
		--proxy-listen "127.0.0.1:$PP" "${AGENT_NET[@]}" "$@" \
		>"$DATA/agent.out" 2>"$DATA/agent.err" &
	APID=$!
	for _ in $(seq 1 100); do curl -sf "$API/health" >/dev/null && break; sleep 0.1; done
	K=$(cat "$DATA/admin-key" 2>/dev/null)
}
