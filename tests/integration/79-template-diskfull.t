#!/usr/bin/env bash
# Disk full during a template build (issue 10 item 6): the agent's data directory is a small tmpfs
# of its own; while a build's RUN step runs, the test fills it to the last byte.  The build ends in
# error with a reason; no template, name, build VM, VMM, sandbox or template directory remains; the
# agent keeps answering; once there is space again the same name builds and a sandbox of it runs.
# The data directory is unmounted and removed at the end, whatever happens.
set -u
cd "$(dirname "$0")/../.." || exit 1
N=10
# shellcheck source=tests/lib/agent.sh
. tests/lib/agent.sh # B AGENT IMAGES, ok/nok/is/skip_rest, agent_net_args, agent_ports, agent_stop (not agent_start:
#                      the data directory here is a mount)
echo "1..$N"
[ "$(id -u)" -eq 0 ] || skip_rest "needs root"
[ -x "$AGENT" ] || skip_rest "$AGENT not built (make MODE=asan $AGENT)"
for c in jq curl python3; do command -v $c >/dev/null || skip_rest "needs $c"; done
[ -r "$IMAGES/vmlinux" ] && [ -r "$IMAGES/minimal.ext4" ] ||
	skip_rest "no guest images in $IMAGES (make guest-minimal, or set WRENN_GUEST)"

T=wt79$$
DATA=$(mktemp -d "/tmp/wrenn-$T.XXXXXX")
LOGS=$(mktemp -d "/tmp/wrenn-$T-logs.XXXXXX")
AGENT_LOGS=$LOGS # the data dir is a tmpfs that fills up: the log lives beside it
cleanup() {
	agent_stop
	for _ in $(seq 1 50); do mountpoint -q "$DATA" || break; umount "$DATA" 2>/dev/null || sleep 0.2; done
	mountpoint -q "$DATA" && umount -l "$DATA"
	rmdir "$DATA"
	rm -rf "$LOGS"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# 640 MiB: the database, a minimal build VM's disk overlay and the part of its 256 MiB RAM file
# the guest touches, the flattened template disk; nothing else (no automatic snapshots, no cache)
mount -t tmpfs -o size=640m,mode=0700 "wrenn-$T" "$DATA" || skip_rest "cannot mount a tmpfs on $DATA"

agent_ports
agent_net_args "$T"
WRENN_BUILD_CACHE_ENTRIES=0 timeout 1200 "$AGENT" --data-dir "$DATA" --images-dir "$IMAGES" \
	--api-listen "127.0.0.1:$PA" --proxy-listen "127.0.0.1:$PP" "${AGENT_NET[@]}" --pool-size 1 \
	--max-sandboxes 4 --build-internet=false --auto-snapshot=false --warm-pool 0 \
	>"$LOGS/agent.out" 2>"$LOGS/agent.err" &
APID=$!
for _ in $(seq 1 100); do curl -sf "$API/health" >/dev/null && break; sleep 0.1; done
K=$(cat "$DATA/admin-key" 2>/dev/null)
[ -n "$K" ] || skip_rest "agent did not start: $(tail -3 "$LOGS/agent.err")"
H=(-H "X-API-Key: $K")

# build NAME BODY: request + start; prints the build id
build() {
	local b
	b=$(curl -s "${H[@]}" -d "{\"name\":\"$1\",\"cpuCount\":1,\"memoryMB\":256}" "$API/v3/templates" | jq -r .buildID)
	curl -s "${H[@]}" -d "$2" "$API/v2/templates/$1/builds/$b" >/dev/null
	echo "$b"
}
status() { curl -s "${H[@]}" "$API/templates/$1/builds/$2/status"; }
poll() { # poll NAME BUILD SECS: until ready or error; prints the status
	local s=building
	for _ in $(seq 1 "$3"); do
		s=$(status "$1" "$2" | jq -r .status)
		case $s in ready | error) break ;; esac
		sleep 1
	done
	echo "$s"
}
# db SQL: one value from the agent's database (read-only; python3's sqlite3, no CLI needed)
db() {
	python3 -c 'import sqlite3, sys
c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(c.execute(sys.argv[2]).fetchone()[0])' "$DATA/wrenn.db" "$1"
}
leftovers() { # build VM rows and VMMs, template rows and directories, sandbox directories
	echo "rows=$(db "select count(*) from sandboxes where state in ('creating','running','paused')")" \
		"vmm=$(pgrep -f "$DATA/" | wc -l)" \
		"tplrows=$(db "select count(*) from templates where name like 'full79%'")" \
		"tpl=$(find "$DATA/templates" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" \
		"sbx=$(find "$DATA/sandboxes" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
}

B1=$(build full79 '{"fromTemplate":"minimal","steps":[{"type":"RUN","args":["echo filling-now; sleep 25; head -c 4194304 /dev/urandom > /home/user/blob; sync"]}]}')
seen=0
for _ in $(seq 1 300); do
	status full79 "$B1" | jq -e '[.logEntries[].message]|index("filling-now")' >/dev/null && { seen=1; break; }
	sleep 1
done
is "the build's RUN step is running" "$seen" 1
dd if=/dev/zero of="$DATA/filler" bs=1M >/dev/null 2>&1 # until ENOSPC
is "the data filesystem is full" "$(df --output=avail -B1 "$DATA" | tail -1 | tr -d ' ')" 0
st=$(poll full79 "$B1" 600)
status full79 "$B1" >"$LOGS/full.json"
is "the build ends in error" "$st" error
reason=$(jq -r '.reason.message // ""' "$LOGS/full.json")
if [ -n "$reason" ]; then
	ok "... with a reason: $(echo "$reason" | head -1 | cut -c1-200)"
else
	nok "... with a reason" "$(jq -c . "$LOGS/full.json" | cut -c1-600)"
fi
sleep 2
is "nothing of it remains while the disk is still full: no build VM row or VMM, no template or sandbox directory" \
	"$(leftovers)" "rows=0 vmm=0 tplrows=0 tpl=0 sbx=0"
is "... no name: the alias is 404, GET /templates does not list it, no alias row" \
	"$(curl -s -o /dev/null -w '%{http_code}' "${H[@]}" "$API/templates/aliases/full79") $(curl -s "${H[@]}" "$API/templates" | jq '[.[]|select(.templateID=="full79")]|length') $(db "select count(*) from template_aliases")" "404 0 0"
is "the agent keeps answering" "$(curl -s -o /dev/null -w '%{http_code}' "$API/health")" 200

rm -f "$DATA/filler"
B2=$(build full79 '{"fromTemplate":"minimal","steps":[{"type":"RUN","args":["echo second-try > /home/user/ok"]}]}')
is "with space again the same name builds" "$(poll full79 "$B2" 600)" ready
ID=$(curl -s "${H[@]}" -d '{"templateID":"full79"}' "$API/sandboxes" | jq -r .sandboxID)
is "... and a sandbox of it runs" \
	"$(curl -s "${H[@]}" -d '{"cmd":"cat /home/user/ok"}' "$API/v1/sandboxes/$ID/exec" | jq -r .stdout)" "second-try"
curl -s "${H[@]}" -X DELETE "$API/sandboxes/$ID" >/dev/null

grep -E 'AddressSanitizer|runtime error' "$LOGS/agent.err" >/dev/null &&
	nok "agent: no sanitizer reports" "$(grep -A5 -E 'AddressSanitizer|runtime error' "$LOGS/agent.err")" ||
	ok "agent: no sanitizer reports"
[ $n -eq $N ] || nok "plan: ran $n of $N checks"
exit $fail
