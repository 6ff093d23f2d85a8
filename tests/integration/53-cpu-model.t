#!/usr/bin/env bash
# The guest CPU model under TCG (env WRENN_TCG_CPU, src/vm/vmm-qemu.c) for real (root, QEMU TCG)
# through wrenn-rtctl: the VMM runs with the chosen -cpu; the automatic snapshot template is keyed
# on the model (another model builds its own, recorded in its wrenn-vmm.json); a snapshot restores
# under the model it was taken with (one without a recorded model under the old fixed "max"),
# whatever the setting is now.  Nothing is left.
set -u
cd "$(dirname "$0")/../.."
PLAN=5
# shellcheck source=tests/lib/rt.sh
. tests/lib/rt.sh
RT_VMM_DIR=
rt_init "wt53$$" 53cpu data
echo "1..$PLAN"
rt_require
rt_images_link
rt_cmd --envd-timeout 120000 --no-reaper --warm -1
unset WRENN_TCG_CPU
# 1: two models, two automatic snapshot templates, each recording its model.
timeout 300 $RT prewarm minimal >"$OUT" 2>"$ERR"
DEF=$(jq -r .cpu "$DATA"/templates/auto-minimal-1c-512m-*/wrenn-vmm.json 2>/dev/null)
ALT=qemu64
[ "$DEF" = qemu64 ] && ALT=max
WRENN_TCG_CPU=$ALT timeout 300 $RT prewarm minimal >>"$OUT" 2>>"$ERR"
cpus=$(cat "$DATA"/templates/auto-minimal-1c-512m-*/wrenn-vmm.json 2>/dev/null | jq -r .cpu | sort | tr '\n' ' ')
if [ -n "$DEF" ] && [ "$(ls -d "$DATA"/templates/auto-minimal-1c-512m-* 2>/dev/null | wc -l)" = 2 ] &&
	[ "$cpus" = "$(printf '%s\n' "$DEF" "$ALT" | sort | tr '\n' ' ')" ]; then
	ok "one automatic snapshot template per CPU model (default $DEF; cpu: $cpus)"
else
	nok "automatic template per model" "cpus: $cpus; $(ls "$DATA/templates"; cat "$OUT" "$ERR")"
fi

# 2: a create under the other model restores its template and runs with -cpu $ALT.
ID=$(WRENN_TCG_CPU=$ALT timeout 300 $RT create -t minimal 2>"$ERR" | awk '/^cl-/ && $3 == "snapshot" {print $1}')
pid=$(pgrep -f -- "$DATA/sandboxes/$ID/" | head -1)
if [ -n "$ID" ] && [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "-cpu $ALT " &&
	WRENN_TCG_CPU=$ALT timeout 120 $RT exec "$ID" /bin/echo hello 2>>"$ERR" | grep -qx hello; then
	ok "WRENN_TCG_CPU=$ALT: snapshot path, VMM runs -cpu $ALT, exec works"
else
	nok "create under $ALT" "id=$ID pid=$pid $(cat "$ERR")"
fi

# 3: a snapshot of it restores under its own model whatever the setting says now.
cpu_of() { # ID: the -cpu argument of its VMM
	local pid
	pid=$(pgrep -f -- "$DATA/sandboxes/$1/" | head -1)
	[ -n "$pid" ] && tr '\0' '\n' <"/proc/$pid/cmdline" | grep -A1 -x -- -cpu | tail -1
}
WRENN_TCG_CPU=$ALT timeout 120 $RT snapshot "$ID" cpusnap >"$OUT" 2>"$ERR"
C=$(timeout 300 $RT create -t cpusnap 2>>"$ERR" | awk '/^cl-/ {print $1}')
if [ -n "$C" ] && [ "$(cpu_of "$C")" = "$ALT" ] && timeout 120 $RT exec "$C" /bin/echo again 2>>"$ERR" | grep -qx again &&
	jq -e --arg c "$ALT" '.cpu == $c' "$DATA"/templates/snap-*/wrenn-vmm.json >/dev/null; then
	ok "a snapshot taken under $ALT restores under $ALT with the default $DEF set, and runs"
else
	nok "snapshot under its own model" "id=$C cpu=$(cpu_of "$C") $(cat "$OUT" "$ERR")"
fi
[ -n "$C" ] && $RT destroy "$C" >/dev/null 2>&1
[ -n "$ID" ] && $RT destroy "$ID" >/dev/null 2>&1
$RT snapshot-delete cpusnap >/dev/null 2>&1

# 4: a snapshot from before the model was recorded (no "cpu") ran TCG's old fixed "max": restored so.
ID=$(WRENN_TCG_CPU=max timeout 300 $RT --no-auto-snapshot create -t minimal 2>"$ERR" | awk '/^cl-/ {print $1}')
WRENN_TCG_CPU=max timeout 120 $RT snapshot "$ID" oldsnap >"$OUT" 2>>"$ERR"
m=$(ls "$DATA"/templates/snap-*/wrenn-vmm.json 2>/dev/null | head -1)
[ -n "$m" ] && jq 'del(.cpu)' "$m" >"$m.new" && mv "$m.new" "$m"
C=$(timeout 300 $RT create -t oldsnap 2>>"$ERR" | awk '/^cl-/ {print $1}')
if [ -n "$m" ] && [ -n "$C" ] && [ "$(cpu_of "$C")" = max ] && timeout 120 $RT exec "$C" /bin/echo old 2>>"$ERR" | grep -qx old; then
	ok "a snapshot without a recorded model restores under max (default $DEF)"
else
	nok "legacy snapshot" "meta=$m id=$C cpu=$(cpu_of "$C") $(cat "$OUT" "$ERR")"
fi
[ -n "$C" ] && $RT destroy "$C" >/dev/null 2>&1
[ -n "$ID" ] && $RT destroy "$ID" >/dev/null 2>&1
$RT snapshot-delete oldsnap >/dev/null 2>&1

# 5
check_clean "after the CPU model tests"
exit $fail
