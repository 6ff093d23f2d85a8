# shellcheck shell=bash
# A control plane and host agents on loopback, as the scale-out suites run them (source it after
# tests/lib/agent.sh, tests/lib/pg.sh and tests/lib/e2b.sh).  Everything it starts is named
# by TAG (data dirs /tmp/wrenn-TAG*, namespaces TAG<host>-, TAG-n<host>, bridge br-TAG), so
# so_cleanup removes exactly that.
#   so_need [minimal|debian]  skips the rest without root, the agent or (when named) that guest image
#   so_sdk TAG           the npm e2b packages in tests/e2b (e2b_missing without them)
#   so_pg                the throwaway PostgreSQL cluster (skips without it; fails under CI);
#                        PSQL QUERY runs a query there (unaligned, tuples only)
#   so_control [ARGS]    one control-plane replica (API on SO_CP_ADDR, default 127.0.0.1, and a
#                        sandbox-traffic port on loopback, none with SO_CP_PROXY=none); the
#                        first writes the admin key.  Sets CP CPX CDIR CPID of the one started
#                        (replica number SO_CPN; also as CP<I> CPX<I> CDIR<I>), AK, H.
#   so_use I             CP CPX CDIR CPID are replica I's again
#   so_control_restart I [ARGS]  replica I again: same ports, data dir and logs; 1 if it did not
#                        answer /health
#   so_register H...     registers hosts H (names TAG-H) through $CP; sets ID[H], CRED[H]
#   so_start_host H [DIR]  starts the agent of registered host H (DIR: its data dir again, a
#                        restart); sets HAPI[H] HPROXY[H] HDIR[H] HPID[H] and HAPI_H HPROXY_H HDIR_H.
#                        Extra agent args: SO_HOST_ARGS; its --control: SO_CONTROL (default $CP).
#                        In the host's namespace when so_net made one (API :3000, proxy :3001)
#   so_wait_ready H...   waits until $CP lists each of H ready (SO_STATES: their states, comma
#                        joined); 1 if they are not within 60 s
#   so_hosts H...        so_register, so_start_host and so_wait_ready (bails if not ready)
#   so_kill9 PID         kill -9 of the agent a so_control / so_start_host wrapper PID runs
#   so_net SUB H...      a test network (tests/lib/testnet.sh): a bridge br-TAG (SUB.1/24) and a
#                        namespace TAG-nH (SUB.1H) per host H, a digit
#   so_stop              stops everything this TAG runs: a host whose agent was killed while its
#                        sandboxes ran is started once more first (its startup sweep re-attaches
#                        them, so its exit stops them and removes their cgroups), then hosts and
#                        control planes (TERM, KILL of the agent after 15 s), the VMMs,
#                        namespaces and test network of this TAG; idempotent
#   so_cleanup           so_stop, the data dirs, PostgreSQL; idempotent
#   so_cgroups_left      the cgroups left of this TAG's sandboxes (after so_stop; empty: none)
SO_TAG=${SO_TAG:-so}
# shellcheck source=tests/lib/testnet.sh
. "$(dirname "${BASH_SOURCE[0]}")/testnet.sh"
SO_CPIDS=() SO_HPIDS=() SO_DIRS=() SO_HOST_ARGS=() SO_NSPFX=() SO_NET_HOSTS=() SO_SBX=()
SO_CPN=0 SO_CP_ADDR=${SO_CP_ADDR:-127.0.0.1} SO_CP_PROXY=${SO_CP_PROXY:-} SO_CONTROL=${SO_CONTROL:-}
SO_SUB='' SO_STATES=''
declare -A ID CRED HAPI HPROXY HDIR HPID SO_HADDR SO_CP_DIR SO_CP_API SO_CP_PX SO_CP_PID
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
bail() { while [ $n -lt "$N" ]; do nok "$1"; done; exit 1; }

# so_kill9 PID: the agent itself (PID is its timeout(1) wrapper, which a KILL would not pass on)
so_kill9() {
	local c
	for c in $(pgrep -P "$1" -x wrenn-agent); do kill -KILL "$c"; done
	kill -KILL "$1" 2>/dev/null
	{ wait "$1"; } 2>/dev/null
}

so_stop_pids() {
	local p
	for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
	for p in "$@"; do
		for _ in $(seq 1 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -0 "$p" 2>/dev/null && so_kill9 "$p"
		wait "$p" 2>/dev/null
	done
}

# A host whose agent was kill -9'd and never restarted may still run VMMs: nobody would remove
# their cgroups once they are killed.  Its agent, started again on its data dir, re-attaches
# them in its startup sweep (before it answers /health); its TERM then stops them properly.
so_readopt() {
	local h u
	for h in "${!HPID[@]}"; do
		kill -0 "${HPID[$h]}" 2>/dev/null && continue
		pgrep -f "${HDIR[$h]}/sandboxes/" >/dev/null || continue
		echo "# host $h: its agent is gone, its sandboxes run: started again to stop them"
		so_start_host "$h" "${HDIR[$h]}"
		u=${HAPI[$h]}
		for _ in $(seq 1 100); do curl -sf "$u/health" >/dev/null && break; sleep 0.1; done
	done
}

so_stop() {
	local d ns
	[ ${#HPID[@]} -gt 0 ] && so_readopt
	for d in "${SO_DIRS[@]}"; do # the sandboxes this run's hosts still have, for so_cgroups_left
		for ns in "$d"/sandboxes/cl-*; do [ -e "$ns" ] && SO_SBX+=("${ns##*/}"); done
	done
	so_stop_pids "${SO_HPIDS[@]}"
	so_stop_pids "${SO_CPIDS[@]}"
	SO_HPIDS=() SO_CPIDS=() HPID=()
	for d in "${SO_DIRS[@]}"; do
		pkill -KILL -f "$d/" 2>/dev/null
		if [ "$fail" -ne 0 ] && [ -f "$d/agent.err" ] && [ ! -e "$d/.tail-shown" ]; then
			echo "# --- $d log (tail) ---"; tail -25 "$d/agent.err" | sed 's/^/# /'
			: >"$d/.tail-shown"
		fi
	done
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		for d in "${SO_NSPFX[@]}"; do [[ $ns == "$d"* ]] && ip netns del "$ns" && break; done
	done
	so_net_down
}

so_cleanup() {
	local d
	so_stop
	for d in "${SO_DIRS[@]}"; do rm -rf "$d"; done
	SO_DIRS=()
	pg_stop
}

# so_cgroups_left: the cgroup dirs (any hierarchy) named after a sandbox of this TAG's hosts
so_cgroups_left() {
	[ ${#SO_SBX[@]} -gt 0 ] || return 0
	find /sys/fs/cgroup -maxdepth 6 -type d -name 'cl-*' 2>/dev/null |
		awk -F/ 'NR == FNR { id[$0] = 1; next } $NF in id' <(printf '%s\n' "${SO_SBX[@]}") -
}

so_need() {
	[ "$(id -u)" -eq 0 ] || skip_rest "needs root"
	[ -x "$AGENT" ] || skip_rest "$AGENT not built"
	case ${1:-} in
	minimal)
		[ -r "$IMAGES/vmlinux" ] && [ -r "$IMAGES/minimal.ext4" ] ||
			skip_rest "no guest images in $IMAGES (make guest-minimal, or set WRENN_GUEST)" ;;
	debian)
		[ -r "$IMAGES/vmlinux" ] && [ -r "$IMAGES/debian.ext4" ] ||
			skip_rest "no debian guest image in $IMAGES (make guest, or set WRENN_GUEST)" ;;
	esac
}

so_sdk() {
	command -v node >/dev/null && command -v npm >/dev/null || e2b_missing "needs node and npm"
	(e2b_npm_ci "$1") >/dev/null 2>&1
	[ -d tests/e2b/node_modules/e2b ] || e2b_missing "npm ci in tests/e2b failed"
}

PSQL() { psql "$PGURL" -qAtX -c "$1"; }

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

so_control_restart() { # I [ARGS]: (re)start replica I with its recorded dir and addresses
	local i=$1 d=${SO_CP_DIR[$1]}
	shift
	timeout "${SO_TIMEOUT:-1200}" "$AGENT" --role control --database "$PGURL" --api-listen "${SO_CP_API[$i]}" \
		--proxy-listen "${SO_CP_PX[$i]}" --data-dir "$d" "$@" >>"$d/agent.out" 2>>"$d/agent.err" &
	SO_CPIDS+=($!)
	SO_CP_PID[$i]=$!
	eval "CP$i=http://${SO_CP_API[$i]} CPX$i=${SO_CP_PX[$i]:+http://${SO_CP_PX[$i]}} CDIR$i=$d"
	so_use "$i"
	for _ in $(seq 1 100); do curl -sf "$CP/health" >/dev/null && return 0; sleep 0.1; done
	return 1
}

so_use() { # I: CP CPX CDIR CPID are replica I's
	CPID=${SO_CP_PID[$1]} CDIR=${SO_CP_DIR[$1]} CP=http://${SO_CP_API[$1]}
	CPX=${SO_CP_PX[$1]:+http://${SO_CP_PX[$1]}}
}

so_control() {
	local d px=''
	d=$(mktemp -d "/tmp/wrenn-${SO_TAG}c.XXXXXX"); SO_DIRS+=("$d")
	SO_CPN=$((SO_CPN + 1))
	[ "$SO_CP_PROXY" = none ] || px=127.0.0.1:$(freeport)
	SO_CP_DIR[$SO_CPN]=$d SO_CP_API[$SO_CPN]=$SO_CP_ADDR:$(freeport) SO_CP_PX[$SO_CPN]=$px
	so_control_restart "$SO_CPN" "$@" || bail "control plane did not start"
	[ -n "${AK:-}" ] || AK=$(cat "$d/admin-key" 2>/dev/null)
	[ -n "$AK" ] || bail "control plane did not start (no admin key)"
	H=(-H "X-API-Key: $AK")
}

so_register() {
	local h j
	for h in "$@"; do
		j=$(curl -s "${H[@]}" -d "{\"name\":\"$SO_TAG-$h\"}" "$CP/v1/hosts")
		ID[$h]=$(jq -r .id <<<"$j") CRED[$h]=$(jq -r .credential <<<"$j")
	done
}

so_start_host() {
	local h=$1 d=${2:-} pa pp la lp
	local -a pre=()
	if [ -z "$d" ]; then
		d=$(mktemp -d "/tmp/wrenn-$SO_TAG$h.XXXXXX"); SO_DIRS+=("$d")
		printf '%s\n' "${CRED[$h]}" >"$d/cred"; chmod 600 "$d/cred"
	fi
	if [ -n "${SO_HADDR[$h]:-}" ]; then
		la=${SO_HADDR[$h]}:3000 lp=${SO_HADDR[$h]}:3001
		pre=(nsenter --net="/run/netns/$SO_TAG-n$h")
	else
		pa=$(freeport) pp=$(freeport)
		la=127.0.0.1:$pa lp=127.0.0.1:$pp
	fi
	agent_net_args "$SO_TAG$h"
	SO_NSPFX+=("$SO_TAG$h-")
	"${pre[@]}" timeout "${SO_TIMEOUT:-1200}" "$AGENT" --role host --control "${SO_CONTROL:-$CP}" \
		--host-id "${ID[$h]}" --host-credential-file "$d/cred" --data-dir "$d" --images-dir "$IMAGES" \
		--api-listen "$la" --proxy-listen "$lp" "${AGENT_NET[@]}" \
		"${SO_HOST_ARGS[@]}" >>"$d/agent.out" 2>>"$d/agent.err" &
	SO_HPIDS+=($!)
	HPID[$h]=$! HAPI[$h]=http://$la HPROXY[$h]=http://$lp HDIR[$h]=$d
	eval "HAPI_$h=http://$la HPROXY_$h=http://$lp HDIR_$h=$d"
}

so_wait_ready() {
	local h ids='' want=''
	for h in "$@"; do ids+=${ids:+,}\"${ID[$h]}\" want+=${want:+,}ready; done
	for _ in $(seq 1 300); do
		SO_STATES=$(curl -s "${H[@]}" "$CP/v1/hosts" |
			jq -r "[.[] | select(.id | IN($ids)) | .state] | join(\",\")")
		[ "$SO_STATES" = "$want" ] && return 0
		sleep 0.2
	done
	return 1
}

so_hosts() {
	local h
	so_register "$@"
	for h in "$@"; do so_start_host "$h"; done
	so_wait_ready "$@" || bail "hosts did not report ready ($SO_STATES)"
}

so_net() {
	local h
	SO_SUB=$1
	shift
	SO_NET_HOSTS=("$@")
	testnet_up "$SO_TAG" "$SO_SUB" "$@" || bail "$TESTNET_ERR"
	for h in "$@"; do SO_HADDR[$h]=$SO_SUB.1$h SO_NSPFX+=("$SO_TAG-n$h"); done
}

so_net_down() {
	[ -z "$SO_SUB" ] || testnet_down "$SO_TAG" "${SO_NET_HOSTS[@]}"
}

# Requests the suites make of the replica in use (CP, CPX, CDIR; H the admin header):
#   so_team_key TEAM             a new API key of TEAM (named TEAM-k)
#   so_code CURL-ARGS            the status; the body in $CDIR/body
#   so_code_host CURL-ARGS       the same and " host" when a host answered (the control plane
#                                names it in X-Wrenn-Host), else " -"
#   so_run_in SANDBOX TOKEN CMD  CMD's stdout (/bin/sh -c) through the control plane's proxy
so_team_key() {
	curl -s "${H[@]}" -H 'Content-Type: application/json' -d "{\"team\":\"$1\",\"name\":\"$1-k\"}" \
		"$CP/v1/keys" | jq -r .key
}
so_code() { curl -s -o "$CDIR/body" -w '%{http_code}' "$@"; }
so_code_host() {
	curl -s -o "$CDIR/body" -D "$CDIR/hdr" -w '%{http_code}' "$@"
	grep -qi '^x-wrenn-host:' "$CDIR/hdr" && printf ' host' || printf ' -'
}
so_run_in() {
	local req='{"process":{"cmd":"/bin/sh","args":["-c","'"$3"'"]}}'
	perl -e 'print pack("CN", 0, length $ARGV[0]), $ARGV[0]' "$req" |
		curl -s -m 60 -N -H "E2b-Sandbox-Id: $1" -H "X-Access-Token: $2" \
			-H 'Content-Type: application/connect+json' --data-binary @- "$CPX/process.Process/Start" |
		grep -ao '"stdout":"[^"]*"' | head -1 | cut -d'"' -f4 | base64 -d
}
