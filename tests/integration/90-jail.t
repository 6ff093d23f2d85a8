#!/usr/bin/env bash
# Issue 11 items 1-2: every VMM is jailed and limited.  A private wrenn-agent (minimal
# template, TCG) creates sandboxes; for each VMM process /proc says: not uid 0,
# NoNewPrivs 1, Seccomp 2 (filter), no capability in any set; its root holds only the
# jail (no /etc/passwd, /proc, no data dir but its own files); it sits in a per-sandbox
# cgroup whose memory limit is guest RAM + the VMM overhead, CPU quota = vCPUs, pids
# capped.  Creates above the configured maxima answer 400 naming the limit.  Pause/resume
# and a restore from a snapshot stay jailed; destroy removes the cgroup.
set -u
cd "$(dirname "$0")/../.."
N=29
echo "1..$N"
. tests/lib/agent.sh
[ "$(id -u)" -eq 0 ] || skip_rest "needs root"
[ -x "$AGENT" ] || skip_rest "$AGENT not built (make MODE=asan $AGENT)"
command -v jq >/dev/null && command -v curl >/dev/null || skip_rest "needs jq, curl"
command -v qemu-system-x86_64 >/dev/null || skip_rest "no qemu-system-x86_64"
[ -r "$IMAGES/vmlinux" ] && [ -r "$IMAGES/minimal.ext4" ] ||
	skip_rest "no guest images in $IMAGES (make guest-minimal, or set WRENN_GUEST)"
# A uid range of its own (agents on one host need distinct ranges), small maxima.
export WRENN_JAIL_UID_BASE=$((61000 + ($$ % 1000) * 8)) WRENN_MAX_VCPUS=2 WRENN_MAX_MEMORY_MB=1024
slices() { find /sys/fs/cgroup -maxdepth 5 -type d -name wrenn.slice 2>/dev/null | sort; }
slices_before=$(slices)
AGENT_TIMEOUT=600 agent_start wt90$$ --pool-size 1 --max-sandboxes 4 --max-sandboxes-per-team 1
H=(-H "X-API-Key: $K")
code() { curl -s -o "$DATA/body" -w '%{http_code}' "$@"; }
vmm_pid() { pgrep -f "^qemu-system-x86_64 -name wrenn-$1 " | head -1; }
MEM=256
OVERHEAD=$(sed -n 's/^#define VMM_OVERHEAD_MB \([0-9]*\).*/\1/p' src/vm/vmm.h)

# check_jail ID WHAT: the /proc view of the sandbox's VMM (5 checks).
check_jail() {
	local id=$1 what=$2 pid st
	pid=$(vmm_pid "$id")
	st=$(cat "/proc/$pid/status" 2>/dev/null)
	local uid nnp sec caps
	uid=$(awk '/^Uid:/{print $2,$3,$4,$5}' <<<"$st")
	nnp=$(awk '/^NoNewPrivs:/{print $2}' <<<"$st")
	sec=$(awk '/^Seccomp:/{print $2}' <<<"$st")
	caps=$(awk '/^Cap(Inh|Prm|Eff|Bnd|Amb):/{printf "%s ", $2}' <<<"$st")
	if [ -n "$pid" ] && [ -n "$uid" ] && ! grep -qw 0 <<<"$uid" && [ "${uid%% *}" -gt "$WRENN_JAIL_UID_BASE" ]; then
		ok "$what: VMM runs as uid ${uid%% *} from the jail range, never 0"
	else
		nok "$what: VMM runs as a jail uid" "pid=$pid uid=$uid"
	fi
	is "$what: NoNewPrivs" "$nnp" 1
	is "$what: seccomp filter (QEMU -sandbox)" "$sec" 2
	is "$what: no capability in any set (inh prm eff bnd amb)" "$caps" \
		"0000000000000000 0000000000000000 0000000000000000 0000000000000000 0000000000000000 "
	# Its root: /usr, the device nodes and its own files; nothing else of the host.
	local root=/proc/$pid/root files extra
	files=$(find "$root/" -path "$root/usr" -prune -o \( -type f -o -type c \) -print 2>/dev/null |
		sed "s|^$root||" | sort)
	extra=$(grep -v -e '^/dev/null$' -e '^/dev/urandom$' -e '^/dev/kvm$' -e '^/etc/ld.so.cache$' \
		-e "^$IMAGES/vmlinux$" -e "^$(realpath "$IMAGES")/vmlinux$" -e "^$DATA/sandboxes/$id/rootfs\.[a-z0-9]*$" \
		-e "^$DATA/templates/[^/]*/\(memory\|disk\|rootfs\)[^/]*$" -e "^$IMAGES/minimal.ext4$" \
		-e "^$(realpath "$IMAGES")/minimal.ext4$" <<<"$files")
	if [ -n "$files" ] && [ -z "$extra" ] && [ ! -e "$root/etc/passwd" ] && [ ! -e "$root/proc/1" ] &&
		[ ! -e "$root$DATA/wrenn.db" ] && [ ! -e "$root$DATA/sandboxes/$id/runtime.json" ]; then
		ok "$what: its root holds only the jail ($(wc -l <<<"$files") files besides /usr)"
	else
		nok "$what: its root holds only the jail" "unexpected: $extra / all: $files"
	fi
}

# cgroup_dir ID CTRL: the sandbox's cgroup directory for a controller (v1) or the v2 one.
cgroup_dir() {
	local pid line
	pid=$(vmm_pid "$1")
	line=$(grep -E "(^0::|[:,]$2[:,]).*/wrenn.slice/$1\$" "/proc/$pid/cgroup" | head -1)
	case $line in
	0::*) echo "$(awk '$3=="cgroup2"{print $2; exit}' /proc/mounts)${line#0::}" ;;
	?*) echo "/sys/fs/cgroup/$2${line##*:}" ;;
	esac
}

# --- a booted sandbox ----------------------------------------------------------------------
c=$(code "${H[@]}" -d "{\"template\":\"minimal\",\"memoryMB\":$MEM,\"timeout\":600}" "$API/v1/sandboxes")
is "create -> 201" "$c" 201
ID=$(jq -r .id "$DATA/body")
[ "$c" = 201 ] || skip_rest "no sandbox: $(cat "$DATA/body")"
check_jail "$ID" "booted"

mdir=$(cgroup_dir "$ID" memory)
want=$(((MEM + OVERHEAD) * 1024 * 1024))
got=$(cat "$mdir/memory.max" 2>/dev/null || cat "$mdir/memory.limit_in_bytes" 2>/dev/null)
is "per-sandbox cgroup: memory limit = guest RAM + ${OVERHEAD} MiB VMM overhead" "$got" "$want"
cdir=$(cgroup_dir "$ID" cpu)
pdir=$(cgroup_dir "$ID" pids)
cpu=$(cat "$cdir/cpu.max" 2>/dev/null || echo "$(cat "$cdir/cpu.cfs_quota_us" 2>/dev/null) $(cat "$cdir/cpu.cfs_period_us" 2>/dev/null)")
is "cpu quota = 1 vCPU, pids capped" "$cpu/$(cat "$pdir/pids.max" 2>/dev/null)" "100000 100000/256"

# --- limits -----------------------------------------------------------------------------------
c=$(code "${H[@]}" -d '{"template":"minimal","vcpus":3}' "$API/v1/sandboxes")
if [ "$c" = 400 ] && grep -q max_vcpus "$DATA/body"; then ok "vcpus above the maximum -> 400 naming max_vcpus"; else nok "vcpus above max -> 400" "$c $(cat "$DATA/body")"; fi
c=$(code "${H[@]}" -d '{"template":"minimal","memoryMB":2048}' "$API/v1/sandboxes")
if [ "$c" = 400 ] && grep -q max_memory_mb "$DATA/body"; then ok "memory above the maximum -> 400 naming max_memory_mb"; else nok "memory above max -> 400" "$c $(cat "$DATA/body")"; fi

# --- pause / resume: a new VMM, jailed the same way ------------------------------------------
c1=$(code "${H[@]}" -X POST "$API/v1/sandboxes/$ID/pause")
gone=$([ -z "$(vmm_pid "$ID")" ] && echo gone)
c2=$(code "${H[@]}" -X POST "$API/v1/sandboxes/$ID/resume")
p_ok=$({ [ "$c1" = 200 ] || [ "$c1" = 204 ]; } && echo ok)
is "pause (VMM gone) and resume" "$p_ok/$gone/$c2/$(jq -r .state "$DATA/body" 2>/dev/null)" "ok/gone/200/running"
check_jail "$ID" "resumed"

# --- a restore from a snapshot ---------------------------------------------------------------
c=$(code "${H[@]}" -d '{}' "$API/v1/sandboxes/$ID/snapshots")
SNAP=$(jq -r '.id // .snapshotID' "$DATA/body")
c2=$(code "${H[@]}" -d "{\"template\":\"$SNAP\",\"timeout\":600}" "$API/v1/sandboxes")
ID2=$(jq -r .id "$DATA/body")
is "create from a snapshot restores it" "$c/$c2/$(jq -r .createPath "$DATA/body")" "201/201/snapshot"
r=$(curl -s "${H[@]}" -d '{"cmd":["echo","jailed"]}' "$API/v1/sandboxes/$ID2/exec" | jq -r .stdout)
is "restored guest runs commands" "$r" jailed
check_jail "$ID2" "restored"

# --- per-team cap: a team's second live sandbox is refused (the operator's are not counted) ---
KT=$(curl -s "${H[@]}" -d '{"name":"k90","team":"team-90"}' "$API/v1/keys" | jq -r .key)
HT=(-H "X-API-Key: $KT")
c1=$(code "${HT[@]}" -d "{\"template\":\"minimal\",\"memoryMB\":$MEM}" "$API/v1/sandboxes")
T1=$(jq -r .id "$DATA/body")
c2=$(code "${HT[@]}" -d "{\"template\":\"minimal\",\"memoryMB\":$MEM}" "$API/v1/sandboxes")
m=$(grep -c max_sandboxes_per_team "$DATA/body")
c3=$(code "${HT[@]}" -X DELETE "$API/v1/sandboxes/$T1")
is "team cap 1: first 201, second 429 naming max_sandboxes_per_team" "$c1/$c2/$m/$c3" "201/429/1/204"

# --- agent kill -9 + restart: the jailed VMMs are re-attached over their QMP sockets ---
kill -KILL "$(pgrep -P "$APID" -x wrenn-agent)"
wait "$APID" 2>/dev/null
dead=$(vmm_pid "$ID") # this one dies with the agent: the next start sweeps its cgroup
kill -KILL "$dead"
timeout 600 "$AGENT" --data-dir "$DATA" --images-dir "$IMAGES" --api-listen "127.0.0.1:${API##*:}" \
	--proxy-listen "127.0.0.1:${PX##*:}" "${AGENT_NET[@]}" --pool-size 1 --max-sandboxes 4 \
	>>"$DATA/agent.out" 2>>"$DATA/agent.err" &
APID=$!
for _ in $(seq 1 150); do curl -sf "$API/health" >/dev/null && break; sleep 0.2; done
r=$(curl -s "${H[@]}" -d '{"cmd":["echo","again"]}' "$API/v1/sandboxes/$ID2/exec" | jq -r .stdout)
is "after kill -9 + restart: the jailed VMM is re-attached and runs commands" "$r" again
left=""
for d in "$mdir" "$cdir" "$pdir"; do [ -d "$d" ] && left="$left $d"; done
is "a VMM that died with the agent: the startup sweep removed its cgroups" "${dead:-nopid}/${left:-none}" "$dead/none"
# VMMs without a row (warm pool, template builds) are killed as strays by the sweep: their
# cgroups go with them
stale=$(sed -n 's/.*killing stale VMM pid [0-9]* (sandbox \(cl-[a-z0-9]*\)).*/\1/p' "$DATA/agent.err" | sort -u)
left=""
for id in $stale; do
	for c in memory cpu pids; do
		[ -d "/sys/fs/cgroup/$c/wrenn.slice/$id" ] && left="$left $c/$id"
	done
	[ -n "$(find /sys/fs/cgroup -maxdepth 4 -type d -name "$id" 2>/dev/null)" ] && left="$left $id"
done
is "stray VMMs killed by the sweep leave no cgroup ($(echo $stale | wc -w) of them)" "${left:-none}" none

# --- destroy of a re-attached VMM removes its cgroups --------------------------------------
d2=$(cgroup_dir "$ID2" memory)
d2c=$(cgroup_dir "$ID2" cpu)
d2p=$(cgroup_dir "$ID2" pids)
c=$(code "${H[@]}" -X DELETE "$API/v1/sandboxes/$ID")
c2=$(code "${H[@]}" -X DELETE "$API/v1/sandboxes/$ID2")
left=""
for d in "$d2" "$d2c" "$d2p"; do
	if [ -z "$d" ]; then left="$left (a cgroup was never found)"; elif [ -d "$d" ]; then left="$left $d"; fi
done
is "destroy of a re-attached sandbox removes its cgroups" "$c2/${left:-none}" "204/none"

# --- agent stop: the agent's wrenn.slice goes with its last sandbox ------------------------
kill -TERM "$APID"
for _ in $(seq 1 300); do kill -0 "$APID" 2>/dev/null || break; sleep 0.1; done
wait "$APID" 2>/dev/null
APID=
is "after the agent stopped: no wrenn.slice left that was not there before" "$(comm -13 <(echo "$slices_before") <(slices) | tr '\n' ' ')" ""
exit 0
