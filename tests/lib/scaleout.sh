# A control plane and host agents on loopback, as the scale-out suites run them (source it after
# tests/lib/agent.sh, tests/lib/pg.sh and tests/lib/e2b.sh).  Everything it starts is named
# by TAG (data dirs /tmp/wrenn-TAG*, namespaces TAG<host>-), so so_cleanup removes exactly that.
#   so_pg              the throwaway PostgreSQL cluster (skips without it; fails under CI)
#   so_control [ARGS]  one control-plane replica (API and sandbox-traffic ports); the first
#                      writes the admin key.  Sets CP CPX CDIR of the last one started, AK, H.
#   so_hosts H...      registers hosts H (names TAG-H) and starts their agents, waits until all
#                      are ready; sets ID[H], HAPI_H, HDIR_H.  Extra agent args: SO_HOST_ARGS.
#   so_cleanup         hosts, then control planes (TERM, KILL after 5 s), the VMMs and
#                      namespaces of this TAG, the data dirs, PostgreSQL; idempotent.
SO_TAG=${SO_TAG:-so}
SO_CPIDS=() SO_HPIDS=() SO_DIRS=() SO_HOST_ARGS=()
declare -A ID
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bail() { while [ $n -lt "$N" ]; do nok "$1"; done; exit 1; }

so_stop_pids() {
	local p
	for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
	for p in "$@"; do
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
}

so_cleanup() {
	local d ns
	so_stop_pids "${SO_HPIDS[@]}"
	so_stop_pids "${SO_CPIDS[@]}"
	SO_HPIDS=() SO_CPIDS=()
	for d in "${SO_DIRS[@]}"; do
		pkill -KILL -f "$d/" 2>/dev/null
		if [ "$fail" -ne 0 ] && [ -f "$d/agent.err" ]; then
			echo "# --- $d log (tail) ---"; tail -25 "$d/agent.err" | sed 's/^/# /'
		fi
	done
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^${SO_TAG}[a-z]-"); do ip netns del "$ns"; done
	for d in "${SO_DIRS[@]}"; do rm -rf "$d"; done
	SO_DIRS=()
	pg_stop
}

so_pg() {
	local rc
	pg_start
	rc=$?
	if [ $rc -eq 1 ]; then
		if e2b_ci; then
			nok "PostgreSQL available" "postgresql is not installed (scripts/install-deps.sh)"; exit 1
		fi
		skip_rest "PostgreSQL not installed (scripts/install-deps.sh installs it)"
	fi
	[ $rc -eq 0 ] || bail "pg_start failed"
}

so_control() {
	local pc pcx d
	d=$(mktemp -d "/tmp/wrenn-${SO_TAG}c.XXXXXX"); SO_DIRS+=("$d")
	pc=$(freeport) pcx=$(freeport)
	timeout "${SO_TIMEOUT:-1200}" "$AGENT" --role control --database "$PGURL" --api-listen "127.0.0.1:$pc" \
		--proxy-listen "127.0.0.1:$pcx" --data-dir "$d" "$@" >"$d/agent.out" 2>"$d/agent.err" &
	SO_CPIDS+=($!)
	CDIR=$d CP=http://127.0.0.1:$pc CPX=http://127.0.0.1:$pcx
	for _ in $(seq 1 100); do curl -sf "$CP/health" >/dev/null && break; sleep 0.1; done
	[ -n "${AK:-}" ] || AK=$(cat "$d/admin-key" 2>/dev/null)
	[ -n "$AK" ] && curl -sf "$CP/health" >/dev/null || bail "control plane did not start"
	H=(-H "X-API-Key: $AK")
}

so_hosts() {
	local h d pa pp j want='' got=''
	for h in "$@"; do
		j=$(curl -s "${H[@]}" -d "{\"name\":\"$SO_TAG-$h\"}" "$CP/v1/hosts")
		ID[$h]=$(jq -r .id <<<"$j")
		d=$(mktemp -d "/tmp/wrenn-$SO_TAG$h.XXXXXX"); SO_DIRS+=("$d")
		jq -r .credential <<<"$j" >"$d/cred"; chmod 600 "$d/cred"
		pa=$(freeport) pp=$(freeport)
		agent_net_args "$SO_TAG$h"
		timeout "${SO_TIMEOUT:-1200}" "$AGENT" --role host --control "$CP" --host-id "${ID[$h]}" \
			--host-credential-file "$d/cred" --data-dir "$d" --images-dir "$IMAGES" \
			--api-listen "127.0.0.1:$pa" --proxy-listen "127.0.0.1:$pp" "${AGENT_NET[@]}" \
			"${SO_HOST_ARGS[@]}" >>"$d/agent.out" 2>>"$d/agent.err" &
		SO_HPIDS+=($!)
		eval "HAPI_$h=http://127.0.0.1:$pa HDIR_$h=$d"
		want+=${want:+,}ready
	done
	for _ in $(seq 1 150); do
		got=$(curl -s "${H[@]}" "$CP/v1/hosts" | jq -r '[.[] | .state] | join(",")')
		[ "$got" = "$want" ] && return 0
		sleep 0.2
	done
	bail "hosts did not report ready ($got)"
}
