#!/usr/bin/env bash
# src/runtime for real (root, QEMU TCG): 10 concurrent creates from the
# minimal template on a reflink-capable scratch xfs, a command in each through
# envd, destroy, nothing left; pause/resume keeps a process and a file; TTL
# reaper; kill -9 mid-create then the next open's sweep; bad input leaves
# nothing.  Namespaces use a test-unique prefix; packets only go into them.
set -u
cd "$(dirname "$0")/../.."
PLAN=20
# shellcheck source=tests/lib/rt.sh
. tests/lib/rt.sh
rt_init "wt50$$" 50rt data
echo "1..$PLAN"
rt_require
rt_images_xfs
rt_cmd --envd-timeout 120000 --no-auto-snapshot
RT_LEFT="links slots host"

# 1-3: ten concurrent creates, a command in each, destroy.
if timeout 600 $RT create -n 10 -t minimal >"$OUT" 2>"$ERR" && [ "$(wc -l <"$OUT")" = 10 ]; then
	ok "10 concurrent creates ($(awk '{print $2}' "$OUT" | sort -n | tr '\n' ' ')ms)"
else
	nok "10 concurrent creates" "$(cat "$ERR"; tail -3 "$DATA"/sandboxes/*/vmm.log 2>/dev/null)"
fi
IDS=$(awk '{print $1}' "$OUT")
chain=() good=0
for id in $IDS; do chain+=(exec "$id" /bin/sh -c "echo ran-in-\$E2B_SANDBOX_ID" +); done
if [ -n "$IDS" ]; then
	timeout 300 $RT "${chain[@]}" list >"$WORK/exec" 2>"$ERR"
	for id in $IDS; do grep -qx "ran-in-$id" "$WORK/exec" && good=$((good + 1)); done
fi
if [ "$good" = 10 ]; then ok "a command ran in each sandbox through envd"; else nok "command in each sandbox ($good/10)" "$(cat "$ERR")"; fi
if [ -n "$IDS" ] && timeout 300 $RT destroy $IDS 2>"$ERR" && [ -z "$($RT list)" ]; then
	ok "destroyed all"
else
	nok "destroy" "$(cat "$ERR")"
fi
check_clean "after destroy"

# 5: pause/resume keeps a background process and a file.
if timeout 300 $RT create -t minimal + exec @ /bin/sh -c 'sleep 1000 & echo kept > /home/user/f; sync' \
	+ pause-resume @ + exec @ /bin/sh -c 'cat /home/user/f; ps | grep -c "sleep 100[0]"' + destroy @ \
	>"$OUT" 2>"$ERR" && grep -qx kept "$OUT" && grep -qx 1 "$OUT"; then
	ok "pause/resume keeps process and file ($(grep -E '^(paused|resumed)' "$OUT" | tr '\n' ' '))"
else
	nok "pause/resume" "$(cat "$OUT" "$ERR")"
fi

# 6: TTL reaper.
if timeout 300 $RT create -t minimal -T 2 + wait 6 + list >"$OUT" 2>"$ERR" && [ "$(wc -l <"$OUT")" = 1 ]; then
	ok "TTL: sandbox destroyed by the reaper after 2 s"
else
	nok "TTL reaper" "$(cat "$OUT" "$ERR")"
fi
check_clean "after pause/resume and TTL"

# 8-10: destroy during create cancels it (rolls back); envd access token path.
good=0
for d in 50 400 900; do
	timeout 300 $RT race "cl-race$d" $d >"$OUT" 2>"$ERR"
	grep -qx 'destroy 0 [0-9]*' "$OUT" && grep -Eq '^create (-125 .*cancelled by destroy|0 ok)' "$OUT" && good=$((good + 1))
done
if [ "$good" = 3 ]; then ok "destroy during create: cancelled, destroy succeeded"; else nok "destroy during create" "$(cat "$OUT" "$ERR")"; fi
check_clean "after destroy during create"
if timeout 300 $RT create --secure --internet -t minimal + exec @ /bin/sh -c "ip link show 2>/dev/null | grep -c eth0; echo with-token" + destroy @ >"$OUT" 2>"$ERR" &&
	grep -qx with-token "$OUT"; then
	ok "secure+egress sandbox: envd access token set by /init and used"
else
	nok "secure sandbox" "$(cat "$OUT" "$ERR")"
fi

# snapshot template: build, 5 concurrent clones each answer exec, delete refused while used.
if timeout 300 $RT template-build snap minimal + create -n 5 -t snap >"$OUT" 2>"$ERR" && [ "$(grep -c '^cl-' "$OUT")" = 5 ]; then
	ok "snapshot template built, 5 concurrent clones ($(grep '^cl-' "$OUT" | awk '{print $2}' | sort -n | tr '\n' ' ')ms)"
else
	nok "snapshot template build + clones" "$(cat "$OUT" "$ERR")"
fi
IDS=$(grep '^cl-' "$OUT" | awk '{print $1}')
chain=() good=0
for id in $IDS; do chain+=(exec "$id" /bin/sh -c "echo clone-\$E2B_SANDBOX_ID" +); done
[ -n "$IDS" ] && timeout 300 $RT "${chain[@]}" list >"$WORK/exec" 2>"$ERR"
for id in $IDS; do grep -qx "clone-$id" "$WORK/exec" && good=$((good + 1)); done
if [ "$good" = 5 ] && ! $RT template-delete snap 2>"$ERR" && grep -q 'in use\|busy\|still' "$ERR"; then
	ok "each clone has its own identity; delete refused while in use"
else
	nok "clones exec / delete refusal ($good/5)" "$(cat "$ERR")"
fi
$RT destroy $IDS >/dev/null 2>&1
if $RT template-delete snap 2>"$ERR" && [ -z "$(ls -A "$DATA/templates" 2>/dev/null)" ]; then
	check_clean "after snapshot template delete"
else
	nok "template delete" "$(cat "$ERR")"
fi

# kill -9 mid-create, then the next open sweeps.
$RT create -n 3 -t minimal >/dev/null 2>&1 &
DRV=$!
for _ in $(seq 1 200); do [ -n "$(qemu_pids)" ] && break; sleep 0.1; done
sleep 0.3
kill -9 $DRV 2>/dev/null
wait $DRV 2>/dev/null
if [ -n "$(qemu_pids)" ] || ip netns list | grep -q "^$NSP"; then ok "killed mid-create: VMMs/namespaces left behind"; else nok "killed mid-create left nothing to sweep (test did not catch the create)"; fi
timeout 120 $RT open 2>"$ERR"
if [ -z "$($RT list)" ]; then check_clean "sweep after kill -9"; else nok "sweep after kill -9" "$($RT list)"; fi

# 10-14: bad input -> clear error, nothing left.
bad() { # description, expected message regex, args...
	local d=$1 re=$2
	shift 2
	if timeout 300 "$@" >"$OUT" 2>"$ERR"; then nok "$d: succeeded"; return; fi
	if ! grep -Eq "$re" "$ERR"; then nok "$d: message" "$(cat "$ERR")"; return; fi
	local l
	l=$(leftovers)
	if [ -z "$l" ]; then ok "$d: $(grep -Eo "$re.{0,40}" "$ERR" | head -1)"; else nok "$d: leaked" "$l"; fi
}
bad "unknown template" 'template "nope" not found' $RT create -t nope
bad "too little memory" 'memory must be' $RT create -t minimal -m 64
bad "missing kernel" 'kernel .*No such file' $RT --kernel "$WORK/none" create -t minimal
bad "VMM binary absent" 'VMM binary .*not (found|executable)' $RT --vmm-bin "$WORK/no-qemu" create -t minimal
# slot exhaustion: one of two creates with room for one fails clearly; the winner is destroyed.
timeout 300 $RT --max 1 create -n 2 -t minimal >"$OUT" 2>"$ERR"
$RT destroy $($RT list | awk '{print $1}') >/dev/null 2>&1
if [ "$(wc -l <"$OUT")" = 1 ] && grep -Eq 'limit reached|network slot' "$ERR" && [ -z "$(leftovers)" ]; then
	ok "slot exhaustion: $(head -c 120 "$ERR")"
else
	nok "slot exhaustion" "$(cat "$OUT" "$ERR"; leftovers)"
fi

exit $fail
