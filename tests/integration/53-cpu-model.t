#!/usr/bin/env bash
# The guest CPU model under TCG (env WRENN_TCG_CPU, src/vm/vmm-qemu.c) for real (root, QEMU TCG)
# through wrenn-rtctl: the VMM runs with the chosen -cpu; the automatic snapshot template is keyed
# on the model (another model builds its own, recorded in its wrenn-vmm.json); a snapshot taken
# under one model is refused under another and restores under its own.  Nothing is left.
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

# 3-4: a snapshot of it is refused under the default model, restores under its own.
export WRENN_TCG_CPU=$ALT
timeout 120 $RT snapshot "$ID" cpusnap >"$OUT" 2>"$ERR"
unset WRENN_TCG_CPU
if ! timeout 300 $RT create -t cpusnap >"$OUT" 2>"$ERR" && grep -q "CPU model $ALT, this VMM uses $DEF" "$ERR"; then
	ok "a snapshot taken under $ALT is refused under $DEF: $(grep -o 'snapshot was taken with CPU model[^;]*' "$ERR" | head -1)"
else
	nok "snapshot refused under another model" "$(cat "$OUT" "$ERR")"
fi
if WRENN_TCG_CPU=$ALT timeout 300 $RT create -t cpusnap + exec @ /bin/echo again + destroy @ >"$OUT" 2>"$ERR" &&
	grep -qx again "$OUT"; then
	ok "and restores under $ALT"
else
	nok "snapshot under its own model" "$(cat "$OUT" "$ERR")"
fi
[ -n "$ID" ] && $RT destroy "$ID" >/dev/null 2>&1
$RT snapshot-delete cpusnap >/dev/null 2>&1

# 5
check_clean "after the CPU model tests"
exit $fail
