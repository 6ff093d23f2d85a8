#!/usr/bin/env bash
# Snapshots for real (root, QEMU TCG) through wrenn-rtctl: the automatic
# snapshot template of a built-in template is the create path; pause/resume
# keeps a process and a file, also across a runtime restart; a running
# sandbox re-attached after a restart can be paused; 20 creates from one
# snapshot template at once each answer exec; fork gives independent
# sandboxes; createSnapshot -> create from it sees what was written before;
# deleting a snapshot in use is refused.  Everything is removed at the end.
set -u
cd "$(dirname "$0")/../.."
PLAN=14
# shellcheck source=tests/lib/rt.sh
. tests/lib/rt.sh
RT_VMM_DIR=
rt_init "wt51$$" 51snap data
echo "1..$PLAN"
rt_require
rt_images_link
rt_cmd --envd-timeout 120000 --no-reaper

# 1-2: the automatic snapshot of "minimal" is built once, then creates restore it.
if timeout 300 $RT prewarm minimal >"$OUT" 2>"$ERR" && ls "$DATA"/templates/auto-minimal-1c-512m-*/memory >/dev/null 2>&1; then
	ok "automatic snapshot template built ($(cat "$OUT"))"
else
	nok "automatic snapshot template" "$(cat "$OUT" "$ERR")"
fi
if timeout 300 $RT create -t minimal + exec @ /bin/echo hello + destroy @ >"$OUT" 2>"$ERR" &&
	grep -Eq '^cl-[a-z0-9]+ [0-9]+ snapshot$' "$OUT" && grep -qx hello "$OUT"; then
	ok "create from a built-in template restores its snapshot ($(head -1 "$OUT"))"
else
	nok "create path is snapshot" "$(cat "$OUT" "$ERR")"
fi

# 3: pause/resume (one process) keeps a background process and a file.
if timeout 300 $RT create -t minimal + exec @ /bin/sh -c 'sleep 1000 & echo kept > /home/user/f' \
	+ pause-resume @ + exec @ /bin/sh -c 'cat /home/user/f; ps | grep -c "sleep 100[0]"' + destroy @ \
	>"$OUT" 2>"$ERR" && grep -qx kept "$OUT" && grep -qx 1 "$OUT"; then
	ok "pause/resume keeps process and file ($(grep -E '^(paused|resumed)' "$OUT" | tr '\n' ' '))"
else
	nok "pause/resume" "$(cat "$OUT" "$ERR")"
fi

# 4-5: runtime restarts between steps (each rtctl run is one runtime).
ID=$(timeout 300 $RT create -t minimal + exec @ /bin/sh -c 'sleep 1000 & echo kept > /home/user/f' 2>"$ERR" | awk '/^cl-/ {print $1}')
if [ -n "$ID" ] && timeout 120 $RT pause "$ID" >"$OUT" 2>>"$ERR" && $RT list | grep -q "$ID .* paused" &&
	timeout 120 $RT resume "$ID" >>"$OUT" 2>>"$ERR" &&
	timeout 120 $RT exec "$ID" /bin/sh -c 'cat /home/user/f; ps | grep -c "sleep 100[0]"' >>"$OUT" 2>>"$ERR" &&
	grep -qx kept "$OUT" && grep -qx 1 "$OUT"; then
	ok "pause -> runtime restart -> resume keeps process and file"
else
	nok "pause, restart, resume" "$(cat "$OUT" "$ERR")"
fi
# $ID is running in a VMM a previous runtime started: re-attached, it can be paused.
if [ -n "$ID" ] && timeout 120 $RT pause "$ID" >"$OUT" 2>"$ERR" && timeout 120 $RT resume "$ID" >>"$OUT" 2>>"$ERR" &&
	timeout 60 $RT exec "$ID" /bin/cat /home/user/f >>"$OUT" 2>>"$ERR" && grep -qx kept "$OUT"; then
	ok "running -> runtime restart -> pause and resume work"
else
	nok "re-attached pause" "$(cat "$OUT" "$ERR")"
fi
[ -n "$ID" ] && $RT destroy "$ID" >/dev/null 2>&1

# 6: 20 creates from one snapshot template at once, each answers exec.
t0=$(date +%s%N)
timeout 600 $RT create -n 20 -t minimal >"$OUT" 2>"$ERR"
t1=$(date +%s%N)
IDS=$(awk '/^cl-/ {print $1}' "$OUT")
chain=() good=0
for id in $IDS; do chain+=(exec "$id" /bin/sh -c "echo clone-\$E2B_SANDBOX_ID" +); done
[ -n "$IDS" ] && timeout 300 $RT "${chain[@]}" list >"$WORK/exec" 2>>"$ERR"
for id in $IDS; do grep -qx "clone-$id" "$WORK/exec" && good=$((good + 1)); done
if [ "$good" = 20 ] && [ "$(grep -c ' snapshot$' "$OUT")" = 20 ]; then
	ok "20 concurrent creates from the snapshot each answer exec ($(((t1 - t0) / 1000000)) ms wall)"
else
	nok "20 concurrent snapshot creates ($good/20)" "$(cat "$OUT" "$ERR" | tail -5)"
fi
[ -n "$IDS" ] && $RT destroy $IDS >/dev/null 2>&1

# 7: fork gives independent sandboxes.
SRC=$(timeout 300 $RT create -t minimal + exec @ /bin/sh -c 'echo from-source > /home/user/src' 2>"$ERR" | awk '/^cl-/ {print $1}')
KIDS=$([ -n "$SRC" ] && timeout 300 $RT fork "$SRC" 3 2>>"$ERR" | awk '/^cl-/ {print $1}')
set -- $KIDS
if [ $# = 3 ] && timeout 120 $RT exec "$1" /bin/sh -c 'echo mine > /home/user/k' + exec "$2" /bin/sh -c 'cat /home/user/src; ls /home/user/k 2>&1; true' \
	+ exec "$3" /bin/sh -c 'cat /home/user/src; ls /home/user/k 2>&1; true' + exec "$1" /bin/cat /home/user/k >"$OUT" 2>>"$ERR" &&
	[ "$(grep -c from-source "$OUT")" = 2 ] && [ "$(grep -c 'No such file' "$OUT")" = 2 ] && grep -qx mine "$OUT"; then
	ok "fork: 3 children see the source's file; a file written in one is absent in the others"
else
	nok "fork independence" "$(cat "$OUT" "$ERR")"
fi
[ -n "$KIDS" ] && $RT destroy $KIDS >/dev/null 2>&1
if [ -z "$(ls -d "$DATA"/templates/fork-* 2>/dev/null)" ]; then ok "fork snapshot removed with its last child"; else nok "fork snapshot left" "$(ls "$DATA/templates")"; fi

# 9-11: createSnapshot -> create from it; sizes; delete refused while used.
$RT exec "$SRC" /bin/sh -c 'echo before > /home/user/b' >/dev/null 2>&1
timeout 120 $RT snapshot "$SRC" named1 >"$OUT" 2>"$ERR"
SNAP=$(awk '/^snap-/ {print $1}' "$OUT")
$RT exec "$SRC" /bin/sh -c 'echo after > /home/user/a' >/dev/null 2>&1
app=$(grep -o 'apparent=[0-9]*' "$OUT" | cut -d= -f2) alloc=$(grep -o 'allocated=[0-9]*' "$OUT" | cut -d= -f2)
if [ -n "$SNAP" ] && [ "${alloc:-0}" -gt 0 ] && [ "${alloc:-0}" -lt "${app:-0}" ] && $RT snapshots | grep -q "^$SNAP named1 $SRC"; then
	ok "snapshot $SNAP listed; sparse: $alloc of $app bytes allocated"
else
	nok "snapshot taken and listed" "$(cat "$OUT" "$ERR")"
fi
if timeout 300 $RT create -t named1 + exec @ /bin/sh -c 'cat /home/user/b; ls /home/user/a 2>&1; true' >"$OUT" 2>"$ERR" &&
	grep -qx before "$OUT" && grep -q 'No such file' "$OUT"; then
	ok "create from the snapshot has the file written before it, not the one after"
else
	nok "create from snapshot" "$(cat "$OUT" "$ERR")"
fi
USR=$(awk '/^cl-/ {print $1}' "$OUT")
if ! $RT snapshot-delete "$SNAP" 2>"$ERR" && grep -q 'in use' "$ERR" && [ -n "$USR" ] &&
	$RT destroy "$USR" 2>/dev/null && $RT snapshot-delete named1 2>>"$ERR" && [ ! -e "$DATA/templates/$SNAP" ]; then
	ok "delete refused while a sandbox uses the snapshot, then deleted"
else
	nok "snapshot delete" "$(cat "$ERR")"
fi
[ -n "$SRC" ] && $RT destroy "$SRC" >/dev/null 2>&1

# 12: an automatic template whose clone still runs cannot be deleted (the clone's qcow2 disk is
# backed by its rootfs.img and its RAM maps the template's memory file); once it is gone it can.
AUTO=$(basename "$(ls -d "$DATA"/templates/auto-minimal-1c-512m-* | head -1)")
CL=$(timeout 300 $RT create -t minimal 2>"$ERR" | awk '/^cl-/ {print $1}')
if [ -n "$CL" ] && ! $RT template-delete "$AUTO" 2>"$ERR" && grep -q 'in use' "$ERR" &&
	timeout 120 $RT exec "$CL" /bin/echo alive 2>>"$ERR" | grep -qx alive &&
	$RT destroy "$CL" 2>>"$ERR" && $RT template-delete "$AUTO" 2>>"$ERR" && [ ! -e "$DATA/templates/$AUTO" ]; then
	ok "auto template $AUTO: delete refused while its clone runs, then deleted"
else
	nok "auto template delete while a clone runs" "$(cat "$ERR")"
fi

# 13: what a crash during an automatic template build leaves (a directory without its row) is
# swept at the next start, and the template is built again and used.
mkdir -p "$DATA/templates/$AUTO" && echo junk >"$DATA/templates/$AUTO/memory"
if timeout 300 $RT prewarm minimal >"$OUT" 2>"$ERR" && [ -e "$DATA/templates/$AUTO/wrenn-vmm.json" ] &&
	timeout 300 $RT create -t minimal + destroy @ >"$OUT" 2>>"$ERR" && grep -Eq '^cl-[a-z0-9]+ [0-9]+ snapshot$' "$OUT"; then
	ok "a half-built automatic template is swept and rebuilt"
else
	nok "half-built automatic template" "$(ls "$DATA/templates/$AUTO" 2>&1; cat "$OUT" "$ERR")"
fi

l=$(leftovers)
if [ -z "$l" ] && [ -z "$($RT list)" ]; then ok "nothing left"; else nok "nothing left" "left: $l"; fi
exit $fail
