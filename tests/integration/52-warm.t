#!/usr/bin/env bash
# Warm pool (root, QEMU TCG) through wrenn-rtctl --warm: restored, warmed-up,
# paused VMs per automatic snapshot template.  A create claims one (its env,
# token and ids come from its own /init), entries are not listed as
# sandboxes, a pool smaller than a burst falls back to restoring, and the
# pool leaves nothing behind: not at close, not after kill -9 + the next
# runtime's sweep.  The pool adapts: a burst of creates raises the template's
# target above the floor and refills it, idle time (--warm-idle-s) lowers it
# back and releases the extra VMs.  A built template gets a pool at the end of its build (kept
# across restarts by its "warm-pool" mark); a create right after the build waits for the entry
# being built instead of restoring a VM of its own.
set -u
cd "$(dirname "$0")/../.."
PLAN=14
# shellcheck source=tests/lib/rt.sh
. tests/lib/rt.sh
rt_init "wt52$$" 52warm data
echo "1..$PLAN"
rt_require
rt_images_link
rt_cmd --envd-timeout 120000 --no-reaper
RT_LEFT="slots"

# 1: the pool fills (2 paused VMs) and its entries are not sandboxes.
if timeout 300 $RT --warm 2 prewarm minimal + warm-wait 2 120 + list >"$OUT" 2>"$ERR" &&
	grep -q '^warm 2 ' "$OUT" && ! grep -q '^cl-' "$OUT"; then
	ok "warm pool fills, entries not listed ($(grep '^warm' "$OUT"))"
else
	nok "warm pool fills" "$(cat "$OUT" "$ERR")"
fi
# 2: nothing left after a clean close.
l=$(leftovers)
if [ -z "$l" ]; then ok "close releases the pool"; else nok "close releases the pool" "left: $l"; fi

# 3-4: claims: env, secure token and ids come from the create's own /init.
if WRENN_LOG=debug timeout 300 $RT --warm 2 prewarm minimal + warm-wait 2 120 + create -t minimal --env WARMV=one \
	+ exec @ /bin/sh -c 'echo "v=$WARMV"' + create -t minimal --secure --env WARMV=two \
	+ exec @ /bin/sh -c 'echo "v=$WARMV"' + list >"$OUT" 2>"$ERR" &&
	[ "$(grep -c '(warm pool)' "$ERR")" = 2 ] && grep -qx 'v=one' "$OUT" && grep -qx 'v=two' "$OUT" &&
	[ "$(grep -c '^cl-.* running' "$OUT")" = 2 ]; then
	ok "two creates claim warm VMs; env and token are their own"
else
	nok "warm claims" "$(cat "$OUT"; grep -v debug "$ERR" | tail -5)"
fi
ids=$(awk '/^cl-.* running/ {print $1}' "$OUT")
if [ -n "$ids" ] && timeout 120 $RT destroy $ids >"$OUT" 2>"$ERR"; then
	ok "claimed sandboxes destroy like any other"
else
	nok "destroy claimed" "$(cat "$OUT" "$ERR")"
fi

# 5: a claimed sandbox pauses and resumes, keeping a process.
if timeout 300 $RT --warm 1 prewarm minimal + warm-wait 1 120 + create -t minimal \
	+ exec @ /bin/sh -c 'sleep 1000 & echo kept > /home/user/f' + pause-resume @ \
	+ exec @ /bin/sh -c 'cat /home/user/f; ps | grep -c "sleep 100[0]"' + destroy @ >"$OUT" 2>"$ERR" &&
	grep -qx kept "$OUT" && grep -qx 1 "$OUT"; then
	ok "claimed sandbox pause/resume keeps process and file"
else
	nok "claimed pause/resume" "$(cat "$OUT" "$ERR")"
fi

# 6: a burst larger than the pool: the rest restore as before.
if timeout 300 $RT --warm 1 prewarm minimal + warm-wait 1 120 + create -n 3 -t minimal >"$OUT" 2>"$ERR" &&
	[ "$(grep -c '^cl-.* snapshot$' "$OUT")" = 3 ]; then
	ok "3 creates with a pool of 1 all start"
	$RT destroy $(awk '/^cl-/ {print $1}' "$OUT") >/dev/null 2>&1
else
	nok "burst past the pool" "$(cat "$OUT" "$ERR")"
fi

# 7: the pool never takes the last slot, and gives its slots up to creates it cannot serve.
if timeout 300 $RT --max 3 --warm 2 prewarm minimal + warm-wait 2 120 + create --id cl-warmx1 -t minimal \
	+ create --id cl-warmx2 -t minimal + list + destroy cl-warmx1 cl-warmx2 >"$OUT" 2>"$ERR" &&
	[ "$(grep -c '^cl-warmx[12] .* running' "$OUT")" = 2 ]; then
	ok "--max 3: two creates with fixed ids take slots from a full pool of 2"
else
	nok "pool yields slots" "$(cat "$OUT" "$ERR")"
fi

# 8-9: kill -9 with a full pool: the VMs outlive the process; the next open sweeps them.
$RT --warm 2 prewarm minimal + warm-wait 2 120 + wait 300 >"$OUT" 2>"$ERR" &
BG=$!
for _ in $(seq 1 600); do grep -q "^warm 2" "$OUT" && break; sleep 0.2; done
before=$(qemu_pids | wc -l)
kill -9 "$BG"
wait "$BG" 2>/dev/null
BG=
if [ "$before" = 2 ] && [ "$(qemu_pids | wc -l)" = 2 ]; then
	ok "kill -9 leaves 2 warm VMMs behind (to be swept)"
else
	nok "warm VMMs before sweep" "before=$before after=$(qemu_pids | wc -l) $(cat "$OUT" "$ERR")"
fi
timeout 120 $RT --warm -1 open >"$OUT" 2>"$ERR"
l=$(leftovers)
if [ -z "$l" ]; then ok "the next runtime's sweep removes them"; else nok "sweep after kill -9" "left: $l $(cat "$ERR")"; fi
# 10-11: adaptive size: a burst of 4 raises the target from the floor of 1 to 4 and the pool refills
# to it; after 10 s without creates (--warm-idle-s 10) it is back to 1 entry.
if timeout 300 $RT --warm 1 --warm-idle-s 10 prewarm minimal + warm-wait 1 120 + create -n 4 -t minimal \
	+ warm-wait target 120 + warm-stat + wait 11 + warm-stat >"$OUT" 2>"$ERR" &&
	[ "$(grep -c '^cl-.* snapshot$' "$OUT")" = 4 ] &&
	grep -q '^warm-pool minimal .* target=4 ready=4 ' "$OUT" &&
	grep -q 'warm pool minimal .*target [0-9]* -> 4 (burst' "$ERR"; then
	ok "a burst of 4 raises the target to 4 and the pool refills ($(grep -m1 '^warm 4' "$OUT"))"
else
	nok "burst raises the pool" "$(cat "$OUT"; grep -v debug "$ERR" | tail -5)"
fi
ids=$(awk '/^cl-/ {print $1}' "$OUT")
[ -n "$ids" ] && timeout 120 $RT destroy $ids >/dev/null 2>&1
l=$(leftovers)
if grep -q 'warm pool minimal .*target 4 -> 1 (idle' "$ERR" && [ -z "$l" ] &&
	[ "$(grep '^warm-pool minimal' "$OUT" | tail -1 | grep -o 'target=[0-9]* ready=[0-9]*')" = "target=1 ready=1" ]; then
	ok "idle lowers the target back to the floor and releases the extra VMs"
else
	nok "idle shrinks the pool" "left: $l; $(cat "$OUT"; grep -v debug "$ERR" | tail -5)"
fi
# 12: slots held by entries still being built go to creates too: --max 3 leaves room for one build
# right after open; two creates at once need it (the build is cancelled, or taken if already ready).
if timeout 300 $RT --max 3 --warm 2 prewarm minimal + create -n 2 -t minimal >"$OUT" 2>"$ERR" &&
	[ "$(grep -c '^cl-.* snapshot$' "$OUT")" = 2 ]; then
	how="ready entry released"
	grep -q 'cancelled the builds' "$ERR" && how="build cancelled"
	ok "--max 3: two creates take the slot of the entry being built ($how)"
else
	nok "creates take a building entry's slot" "$(cat "$OUT"; grep -v debug "$ERR" | tail -5)"
fi
ids=$(awk '/^cl-/ {print $1}' "$OUT")
[ -n "$ids" ] && timeout 120 $RT destroy $ids >/dev/null 2>&1
# 13: a built template: its pool starts filling when the build ends, and the create that follows at
# once takes the entry being built (a pool hit, no second restore).
if WRENN_LOG=debug timeout 300 $RT --warm 1 template-build wtpl minimal + create -t wtpl \
	+ exec @ /bin/echo built-ok + warm-stat + destroy @ >"$OUT" 2>"$ERR" &&
	grep -qx built-ok "$OUT" && grep -q 'created cl-.* from wtpl (.*snapshot path, warm pool)' "$ERR" &&
	grep -q 'waited [0-9]* ms for an entry being built (took it)' "$ERR" &&
	grep -q '^warm-pool wtpl 1c ' "$OUT" && [ -e "$DATA/templates/wtpl/warm-pool" ]; then
	ok "the create right after a template build takes the warm entry being built"
else
	nok "build fills the pool" "$(cat "$OUT"; grep -v debug "$ERR" | tail -5)"
fi
# 14: after a restart the mark registers the pool at the first create; deleting the template
# releases it and leaves nothing behind.
if timeout 300 $RT --warm 1 create -t wtpl + destroy @ + warm-wait 1 120 + create -t wtpl + destroy @ \
	+ template-delete wtpl >"$OUT" 2>"$ERR" && [ "$(grep -c '^cl-.* snapshot$' "$OUT")" = 2 ] &&
	grep -q '^warm 1 ' "$OUT" && [ ! -e "$DATA/templates/wtpl" ] && [ -z "$(leftovers)" ]; then
	ok "a built template's pool after a restart; template-delete releases it"
else
	nok "built template pool after restart" "left: $(leftovers); $(cat "$OUT"; grep -v debug "$ERR" | tail -5)"
fi
exit $fail
