# shellcheck shell=bash
# Sourced (not run) by bench/cli-run.sh and bench/e2b-create.sh.
# bench_agent: use the agent at WRENN_API_URL when it is set, else start a private wrenn-agent
# the way the integration tests do (scratch data dir, free ports, own namespace prefix) and stop
# it on exit.  Afterwards WRENN_API_URL, WRENN_API_KEY and BENCH_SANDBOX_URL are set, and
# BENCH_TEMPLATE is the template to use ("" = the server's default).
# bench_stats NAME FILE: "BENCH NAME <median> ms p95=<x> n=<N>" from one number per line.

# shellcheck disable=SC2034 # BENCH_SANDBOX_URL and BENCH_TEMPLATE are for the caller
BENCH_APID='' BENCH_DATA='' BENCH_NS=''
bench_agent_stop() {
	if [ -n "$BENCH_APID" ] && kill -0 "$BENCH_APID" 2>/dev/null; then
		kill -TERM "$BENCH_APID"
		for _ in $(seq 1 300); do kill -0 "$BENCH_APID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$BENCH_APID" 2>/dev/null
	fi
	BENCH_APID=
	if [ -n "$BENCH_DATA" ]; then
		pkill -KILL -f "$BENCH_DATA/" 2>/dev/null
		for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$BENCH_NS"); do ip netns del "$ns"; done
		rm -rf "$BENCH_DATA"
		BENCH_DATA=
	fi
}

bench_agent() { # NAME (for messages)
	local name=$1
	BENCH_TEMPLATE=${WRENN_TEMPLATE:-}
	if [ -n "${WRENN_API_URL:-}" ]; then
		BENCH_SANDBOX_URL=${E2B_SANDBOX_URL:-http://127.0.0.1:3002}
		return 0
	fi
	local b=${WRENN_BUILD:-build/release}
	local agent=$b/bin/wrenn-agent images=${WRENN_GUEST:-$(dirname "$b")/guest}
	if [ "$(id -u)" != 0 ] || [ ! -x "$agent" ] || [ ! -r "$images/minimal.ext4" ]; then
		echo "$name: WRENN_API_URL is unset and no agent can be started (needs root, $agent, $images/minimal.ext4)" >&2
		return 1
	fi
	BENCH_DATA=$(mktemp -d "/tmp/wrenn-bench-$name.XXXXXX")
	# own namespaces, egress links, nft table and /16 (tests/lib/agent-net.sh): never another
	# agent's, and no internet unless a create asks for it
	# shellcheck source=tests/lib/agent-net.sh
	. tests/lib/agent-net.sh
	agent_net_args "wb$$a"
	BENCH_NS=wb$$a-
	trap bench_agent_stop EXIT
	trap 'exit 1' INT TERM
	local ports pa pp
	ports=$(python3 -c 'import socket
s=[socket.socket() for _ in range(2)]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))') || return 1
	read -r pa pp <<<"$ports"
	"$agent" --data-dir "$BENCH_DATA/agent" --images-dir "$images" --api-listen "127.0.0.1:$pa" \
		--proxy-listen "127.0.0.1:$pp" "${AGENT_NET[@]}" --pool-size "${BENCH_POOL:-0}" --max-sandboxes "${BENCH_MAX_SANDBOXES:-4}" \
		>"$BENCH_DATA/agent.out" 2>"$BENCH_DATA/agent.err" &
	BENCH_APID=$!
	export WRENN_API_URL=http://127.0.0.1:$pa
	BENCH_SANDBOX_URL=http://127.0.0.1:$pp
	for _ in $(seq 1 100); do curl -sf "$WRENN_API_URL/health" >/dev/null && break; sleep 0.1; done
	WRENN_API_KEY=$(cat "$BENCH_DATA/agent/admin-key" 2>/dev/null)
	export WRENN_API_KEY
	if [ -z "$WRENN_API_KEY" ]; then
		echo "$name: the private wrenn-agent did not start: $(tail -3 "$BENCH_DATA/agent.err")" >&2
		return 1
	fi
	# a private agent boots the small image unless told otherwise (BENCH_POOL=0 by default: every create is cold)
	BENCH_TEMPLATE=${WRENN_TEMPLATE:-minimal}
	echo "# $name: private wrenn-agent ($agent, images $images, template $BENCH_TEMPLATE, pool ${BENCH_POOL:-0})"
}

bench_stats() { # NAME FILE
	sort -n "$2" | awk -v name="$1" '{v[NR]=$1} END {
		if (NR == 0) { print "BENCH " name " NaN ms p95=NaN n=0"; exit }
		m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
		i = int(NR * 0.95 + 0.999); if (i > NR) i = NR
		printf "BENCH %s %.0f ms p95=%.0f n=%d\n", name, m, v[i], NR }'
}
