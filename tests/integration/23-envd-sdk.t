#!/usr/bin/env bash
# The unmodified npm e2b SDK (tests/e2b: latest + 2.49.1) in debug mode (E2B_DEBUG=true) against
# envd alone, run on this host: one TAP line per SDK test of tests/e2b/envd-debug/suite.mjs
# (node's todo -> `not ok N ... # TODO`, i.e. a known envd gap that does not fail the file).
# Debug mode hard-codes http://localhost:49983, so envd must get that port: when it is taken the
# file fails at once, saying so.  envd gets a scratch passwd/group (WRENN_ENVD_PASSWD/GROUP) with
# `user` (the E2B template's default user) whose home is a scratch dir; the suite makes it the
# default with POST /init, as the control plane does.  Budget: well under 3 minutes.
set -u
cd "$(dirname "$0")/../.." || exit 1
B=${WRENN_BUILD:-build/asan}
ENVD=$B/bin/envd
PORT=49983
# Each SDK version runs every it() of the suite: 1 (envd) + 2 x its + 3 lines.
its=$(grep -c "^    it(" tests/e2b/envd-debug/suite.mjs)
N=$((1 + 2 * its + 3))
echo "1..$N"
n=0 fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
# shellcheck source=tests/lib/e2b.sh
. tests/lib/e2b.sh
skip_rest() { while [ $n -lt "$N" ]; do n=$((n + 1)); echo "ok $n # skip $1"; done; exit 0; }
fail_rest() { while [ $n -lt "$N" ]; do nok "not run: $1"; done; exit 1; }

[ "$(id -u)" = 0 ] || skip_rest "needs root (envd switches to the scratch user)"
[ -x "$ENVD" ] || skip_rest "$ENVD not built (make $ENVD)"
e2b_need_tools node npm curl timeout

e2b_npm_ci 23sdk

TMP=$(mktemp -d /tmp/wrenn-23sdk.XXXXXX)
EPID='' SUITE=''
left_procs() { # processes still running in the scratch tree (cwd below it)
	local p d
	for p in /proc/[0-9]*; do
		d=$(readlink "$p/cwd" 2>/dev/null) || continue
		case "$d" in "$TMP" | "$TMP"/*) echo "${p#/proc/}" ;; esac
	done
}
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
	[ -n "$SUITE" ] && kill -TERM "$SUITE" 2>/dev/null
	[ -n "$EPID" ] && kill -KILL "$EPID" 2>/dev/null && wait "$EPID" 2>/dev/null
	local p
	for p in $(left_procs); do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

# Debug mode cannot be pointed elsewhere: a taken port is a clear failure, never a hang or a
# test against someone else's server.
busy=''
for a in 127.0.0.1 ::1; do
	if timeout 2 bash -c "exec 3<>/dev/tcp/$a/$PORT" 2>/dev/null; then busy="$busy $a"; fi
done
if [ -n "$busy" ]; then
	nok "port $PORT (fixed by the SDK's debug mode) is free" \
		"something already listens on$busy port $PORT: $(ss -Htlnp "sport = :$PORT" 2>/dev/null | head -3)"
	fail_rest "port $PORT is taken"
fi

# `user`: uid/gid 4242, home below the scratch dir (which its processes must be able to reach).
chmod 755 "$TMP"
UIDT=4242 HOMET=$TMP/home/user
mkdir -p "$HOMET" "$TMP/scratch"
chown $UIDT:$UIDT "$HOMET"
chmod 1777 "$TMP/scratch"
printf 'root:x:0:0:root:/root:/bin/bash\nuser:x:%d:%d:user:%s:/bin/bash\n' $UIDT $UIDT "$HOMET" >"$TMP/passwd"
printf 'root:x:0:\nuser:x:%d:\n' $UIDT >"$TMP/group"

WRENN_ENVD_PASSWD="$TMP/passwd" WRENN_ENVD_GROUP="$TMP/group" WRENN_ENVD_TOKEN_FILE="$TMP/run/envd-token" \
	"$ENVD" --listen 127.0.0.1:$PORT 2>"$TMP/envd.log" &
EPID=$!
up=''
for _ in $(seq 100); do
	kill -0 "$EPID" 2>/dev/null || break
	if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:$PORT/health)" = 204 ]; then
		up=1; break
	fi
	sleep 0.1
done
if [ -n "$up" ]; then
	ok "envd (pid $EPID) listens on 127.0.0.1:$PORT"
else
	nok "envd listens on 127.0.0.1:$PORT" "$(tail -5 "$TMP/envd.log")"
	fail_rest "envd did not start"
fi

# --- the suite: its flat lines become numbered TAP lines ---------------------------------------
t0=$(date +%s)
(
	cd tests/e2b &&
		exec env -i PATH="$PATH" HOME="${HOME:-/root}" E2B_DEBUG=true \
			WRENN_ENVD_SDK_DIR="$TMP/scratch" WRENN_ENVD_SDK_HOME="$HOMET" WRENN_ENVD_SDK_UID=$UIDT \
			timeout 150 node --test --test-concurrency=1 --test-reporter=./lib/tap-flat.mjs \
			envd-debug/latest.test.mjs envd-debug/v24.test.mjs
) >"$TMP/suite.out" 2>"$TMP/suite.err" &
SUITE=$!
wait $SUITE; src=$?
SUITE=''
e2b_tap "envd SDK" "$TMP/suite.out" "$TMP/suite.err" $src "$t0" $((2 * its))

# --- envd afterwards -----------------------------------------------------------------------------
left=$(left_procs | tr '\n' ' ')
if [ -z "$left" ]; then
	ok "no process started by the suite is left running"
else
	nok "no process started by the suite is left running" "$(for p in $left; do tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null; echo; done)"
fi
kill -TERM "$EPID"
for _ in $(seq 100); do kill -0 "$EPID" 2>/dev/null || break; sleep 0.1; done
rc=timeout
kill -0 "$EPID" 2>/dev/null || { wait "$EPID"; rc=$?; EPID=''; }
# ASan/UBSan findings.  At exit LeakSanitizer reports the process table (procs_new) and what hangs
# off it: envd leaves it on purpose to processes that may outlive it (src/envd/main.c); any other
# direct leak counts, and then ASan's exit code 1 is expected.
san=$(grep -E 'ERROR: AddressSanitizer|runtime error:' "$TMP/envd.log" | head -5)
leaks=$(awk '/^Direct leak/ { b = $0; inb = 1; next }
	inb && /^$/ { if (b !~ /procs_new/) print b; inb = 0; next }
	inb { b = b "\n" $0 }' "$TMP/envd.log" | head -c 1200)
[ "$rc" = 1 ] && grep -q 'ERROR: LeakSanitizer' "$TMP/envd.log" && [ -z "$leaks" ] && rc=0
if [ "$rc" = 0 ] && [ -z "$san" ] && [ -z "$leaks" ]; then
	ok "envd stops on SIGTERM with exit 0, no sanitizer error or leak"
else
	nok "envd stops on SIGTERM with exit 0, no sanitizer error or leak" "rc=$rc $san $leaks"
fi
exit $fail
