#!/usr/bin/env bash
# The wrenn CLI against a real wrenn-agent (real microVMs, TCG is fine): run (exit codes, Ctrl-C
# cleanup), create, ls/info (--json, filters), exec (streaming, stdin, env, cwd), cp both ways,
# shell through a pty (script(1) for input + exit code, a python pty harness for the raw terminal,
# Ctrl-C and SIGWINCH resize; -w/-e), logs (--tail N/--tail=N, -f until Ctrl-C or the sandbox
# ends), timeout, pause/resume, keys, templates (list; build -f Dockerfile -t NAME with a context
# and .dockerignore, a failing RUN, a bad line), kill, and bad input (unknown id, wrong key, no
# agent, bad arguments) -> clear message + exit code.  Options stop at the first operand (docker's
# rule: `exec ID df -h` runs df -h); exit 127/126 for a missing/non-executable command; --version;
# bash completion of sandbox ids.
# The agent runs on free ports with a scratch data dir and its own namespace prefix.
set -u
cd "$(dirname "$0")/../.." || exit 1
N=70
# shellcheck source=tests/lib/agent.sh
. tests/lib/agent.sh
W=$B/bin/wrenn
TPL=${WRENN_TEMPLATE:-minimal}
TO=120 # seconds any single CLI call may take (TCG boots)
echo "1..$N"
nok() { # multi-line details, each line a TAP comment
	n=$((n + 1)); fail=1; echo "not ok $n - $1"
	[ -n "${2:-}" ] && printf '%s\n' "$2" | head -c 800 | sed 's/^/# /'
	return 0
}
check() { # check DESC CMD... (passes when CMD exits 0)
	local d=$1; shift
	if "$@"; then ok "$d"; else nok "$d" "failed: $*"; fi
}

[ -x "$W" ] || skip_rest "$W not built (make MODE=asan $W)"
for c in jq curl python3 script; do command -v $c >/dev/null || skip_rest "needs $c"; done
[ -r "$IMAGES/vmlinux" ] && [ -r "$IMAGES/minimal.ext4" ] ||
	skip_rest "no guest images in $IMAGES (make guest-minimal, or set WRENN_GUEST)"
SOCK=/tmp/wrenn-60cli-$$.sock
agent_start "wt60$$" --pool-size 0 --max-sandboxes 6 --unix-socket "$SOCK"
trap 'agent_cleanup; rm -f "$SOCK"' EXIT
export WRENN_API_URL=$API
KEY=$K
if [[ "$KEY" =~ ^e2b_[0-9a-f]{40}$ ]]; then
	ok "agent started, admin key read from <data>/admin-key"
else
	nok "agent started, admin key read from <data>/admin-key" "$(tail -5 "$DATA/agent.err")"
	skip_rest "no agent"
fi
export WRENN_API_KEY=$KEY
unset WRENN_TEMPLATE

# --- bad input that needs no sandbox ---------------------------------------------------
"$W" frob 2>"$DATA/err"; rc=$?
c=1; [ $rc -eq 2 ] && grep -q "unknown command 'frob'" "$DATA/err" && c=0
check "unknown command: exit 2 + message" [ $c -eq 0 ]
"$W" create --vcpus x 2>"$DATA/err"; rc=$?
c=1; [ $rc -eq 2 ] && grep -q -- '--vcpus must be an integer' "$DATA/err" && c=0
check "bad option value: exit 2 + message" [ $c -eq 0 ]
"$W" exec 2>"$DATA/err"; rc=$?
c=1; [ $rc -eq 2 ] && grep -q 'missing sandbox ID' "$DATA/err" && c=0
check "exec without an id: exit 2 + usage" [ $c -eq 0 ]
"$W" cp a b 2>"$DATA/err"; rc=$?
c=1; [ $rc -eq 2 ] && grep -q 'exactly one of SRC and DST' "$DATA/err" && c=0
check "cp between two local paths: exit 2" [ $c -eq 0 ]
WRENN_API_KEY= HOME=/nonexistent XDG_CONFIG_HOME= "$W" ls 2>"$DATA/err"; rc=$?
c=1; [ $rc -eq 1 ] && grep -q 'no API key' "$DATA/err" && c=0
check "no key anywhere: exit 1, 'no API key'" [ $c -eq 0 ]
WRENN_API_KEY=e2b_0000000000000000000000000000000000000000 "$W" ls 2>"$DATA/err"; rc=$?
c=1; [ $rc -eq 1 ] && grep -q '401' "$DATA/err" && c=0
check "wrong key: exit 1, 401 message" [ $c -eq 0 ]
WRENN_API_URL=http://127.0.0.1:9 timeout $TO "$W" ls 2>"$DATA/err"; rc=$?
c=1; [ $rc -eq 1 ] && grep -q 'cannot reach' "$DATA/err" && c=0
check "no agent: exit 1, 'cannot reach'" [ $c -eq 0 ]
timeout $TO "$W" info cl-doesnotexist 2>"$DATA/err"; rc=$?
c=1; [ $rc -eq 1 ] && grep -q 'not found (HTTP 404)' "$DATA/err" && c=0
check "info of an unknown id: exit 1, 404 message" [ $c -eq 0 ]
timeout $TO "$W" exec cl-doesnotexist -- true 2>"$DATA/err"; rc=$?
c=1; [ $rc -eq 125 ] && grep -q '404' "$DATA/err" && c=0
check "exec in an unknown id: exit 125 (wrenn failed, not the command)" [ $c -eq 0 ]
is "--version and version print the version" "$("$W" --version)/$("$W" version)" "wrenn 0.1.0/wrenn 0.1.0"
out=$(WRENN_API_KEY= HOME=/nonexistent XDG_CONFIG_HOME= "$W" exec -u root --help); rc=$?
c=1; [ $rc -eq 0 ] && grep -q '^usage: wrenn exec' <<<"$out" && c=0
check "exec --help: usage on stdout, exit 0, no API key needed" [ $c -eq 0 ]
timeout $TO "$W" run -t no-such-template -- true 2>"$DATA/err"; rc=$?
c=1; [ $rc -eq 125 ] && grep -q 'template' "$DATA/err" && c=0
check "run with an unknown template: exit 125 + message" [ $c -eq 0 ]

# --- run ---------------------------------------------------------------------------------
out=$(timeout $TO "$W" ls); rc=$?
is "ls on an empty agent prints only the header" "$rc/$(echo "$out" | awk '{print $1}' | tr '\n' ' ')" "0/ID "
check "templates lists $TPL and the base alias" \
	bash -c "timeout $TO '$W' templates | grep -q '^$TPL ' && timeout $TO '$W' templates --json | jq -e 'map(.name) | index(\"base\") != null' >/dev/null"
out=$(timeout $TO "$W" run -t "$TPL" -- echo hi); rc=$?
is "run -- echo hi prints hi, exit 0" "$rc/$out" "0/hi"
timeout $TO "$W" run -t "$TPL" -- sh -c 'echo oops >&2; exit 7' 2>"$DATA/err"; rc=$?
is "run exits with the command's code (7), stderr passed" "$rc/$(cat "$DATA/err")" "7/oops"
timeout $TO "$W" run -t "$TPL" no-such-command-xyz 2>/dev/null; rc=$?
is "run of a missing command: 127, sandbox destroyed" "$rc/$(timeout $TO "$W" ls --json | jq length)" "127/0"
"$W" run -t "$TPL" -- sleep 100 >/dev/null 2>&1 &
rp=$!
for _ in $(seq 1 600); do
	[ "$(timeout 10 "$W" ls --json 2>/dev/null | jq 'map(select(.state=="running")) | length')" = 1 ] && break
	sleep 0.2
done
sleep 1
kill -INT $rp
wait $rp; rc=$?
is "run interrupted (SIGINT): exit 130, sandbox destroyed" "$rc/$(timeout $TO "$W" ls --json | jq length)" "130/0"

# --- create, ls, info ----------------------------------------------------------------------
id=$(timeout $TO "$W" -q create -t "$TPL" -m suite=60cli -e GREETING=hello --timeout 600); rc=$?
c=1; [ $rc -eq 0 ] && [[ "$id" =~ ^[a-z0-9-]+$ ]] && c=0
check "create prints an id ($id)" [ $c -eq 0 ]
[ $rc -eq 0 ] && [ -n "$id" ] || skip_rest "no sandbox"
out=$(timeout $TO "$W" ls)
check "ls shows the sandbox as running" grep -qE "^$id +$TPL +running +1 +512M" <<<"$out"
is "ls --json is an array with it" "$(timeout $TO "$W" ls --json | jq -r --arg id "$id" 'map(select(.id==$id)) | length')" 1
is "ls -m filters on metadata" \
	"$(timeout $TO "$W" ls --json -m suite=60cli | jq length)/$(timeout $TO "$W" ls --json -m suite=other | jq length)" "1/0"
is "info --json: state, template, metadata" \
	"$(timeout $TO "$W" info --json "$id" | jq -c '[.state, .template, .metadata.suite]')" "[\"running\",\"$TPL\",\"60cli\"]"
out=$(timeout $TO "$W" info "$id")
check "info (human) shows state and hides the access token" \
	bash -c "grep -qE '^state +running' <<<'$out' && ! grep -q envdAccessToken <<<'$out'"

# --- exec ----------------------------------------------------------------------------------
out=$(timeout $TO "$W" exec "$id" -- sh -c 'echo out; echo err >&2; echo $GREETING' 2>"$DATA/err"); rc=$?
is "exec separates stdout/stderr; create's env applies" "$rc/$out/$(cat "$DATA/err")" "0/out
hello/err"
timeout $TO "$W" exec "$id" -- false; rc=$?
is "exec exit code of false" "$rc" 1
timeout $TO "$W" exec "$id" -- sh -c 'kill -9 $$'; rc=$?
is "exec of a command killed by SIGKILL: 137" "$rc" 137
out=$(printf 'line1\nline2\n' | timeout $TO "$W" exec -i "$id" -- wc -l)
is "exec -i feeds stdin" "$(echo $out)" 2
out=$(timeout $TO "$W" exec -w /tmp -e X=y "$id" -- sh -c 'pwd; echo $X')
is "exec -w and -e" "$out" "/tmp
y"
# streaming: the first line must arrive while the command still runs
timeout $TO "$W" exec "$id" -- sh -c 'echo first; sleep 3; echo second' |
	while IFS= read -r l; do echo "$(date +%s%N) $l"; done >"$DATA/stream"
d=$(awk 'NR==1{a=$1} NR==2{b=$1} END{print int((b-a)/1000000)}' "$DATA/stream")
c=1; [ "$(cut -d' ' -f2 "$DATA/stream" | tr '\n' ' ')" = "first second " ] && [ "$d" -ge 2500 ] && c=0
check "exec streams output as it comes (gap ${d} ms >= 2500)" [ $c -eq 0 ]
is "exec over the agent's unix socket (WRENN_API_URL=unix:...)" \
	"$(WRENN_API_URL=unix:$SOCK timeout $TO "$W" exec "$id" -- echo via-unix)" via-unix
out=$(timeout $TO "$W" exec "$id" df -h); rc=$?
c=1; [ $rc -eq 0 ] && grep -q '^Filesystem' <<<"$out" && c=0
check "exec ID df -h runs df -h (options stop at the id)" [ $c -eq 0 ]
is "options after the command belong to it" \
	"$(timeout $TO "$W" exec -e X=1 "$id" sh -c 'echo "$X $*"' sh -h --help -e)" "1 -h --help -e"
timeout $TO "$W" exec "$id" no-such-command-xyz 2>"$DATA/err"; rc=$?
c=1; [ $rc -eq 127 ] && grep -q 'not found' "$DATA/err" && c=0
check "exec of a command not in PATH: 127 like docker" [ $c -eq 0 ]
timeout $TO "$W" exec "$id" /no/such/file 2>/dev/null; rc1=$?
timeout $TO "$W" exec "$id" /etc/passwd 2>"$DATA/err"; rc2=$?
is "exec of a missing path: 127; of a non-executable file: 126" "$rc1/$rc2" "127/126"
is "exec of 5 MB of output" "$(timeout $TO "$W" exec "$id" -- sh -c 'yes | head -c 5000000' | wc -c)" 5000000
# completion generated from the command table: after `wrenn exec ` it offers the live sandboxes
out=$(PATH="$(dirname "$W"):$PATH" timeout $TO bash -c 'source <(wrenn completion bash) &&
	COMP_WORDS=(wrenn exec "") COMP_CWORD=2 && _wrenn && echo "${COMPREPLY[*]}"' 2>&1)
c=1; grep -qw -- "$id" <<<"$out" && c=0
check "bash completion (wrenn completion bash) offers the sandbox ids after 'wrenn exec '" [ $c -eq 0 ]

# --- cp --------------------------------------------------------------------------------------
head -c 1048577 /dev/urandom >"$DATA/up.bin"
timeout $TO "$W" cp "$DATA/up.bin" "$id:/tmp/up.bin" && timeout $TO "$W" cp "$id:/tmp/up.bin" "$DATA/down.bin"
check "cp host->sandbox->host round-trips 1 MiB + 1 byte" cmp -s "$DATA/up.bin" "$DATA/down.bin"
is "the uploaded file is what the sandbox sees" \
	"$(timeout $TO "$W" exec "$id" -- sha256sum /tmp/up.bin | cut -d' ' -f1)" "$(sha256sum <"$DATA/up.bin" | cut -d' ' -f1)"
out=$(echo piped | timeout $TO "$W" cp - "$id:/tmp/piped.txt" && timeout $TO "$W" cp "$id:/tmp/piped.txt" -)
is "cp with - for stdin (pipe) and stdout" "$out" piped
mkdir "$DATA/dir"
timeout $TO "$W" cp "$id:/tmp/piped.txt" "$DATA/dir/" && timeout $TO "$W" cp "$DATA/up.bin" "$id:/tmp/new/dir/"
is "cp into directories keeps the basename (both ways)" \
	"$(cat "$DATA/dir/piped.txt")/$(timeout $TO "$W" exec "$id" -- stat -c %s /tmp/new/dir/up.bin)" "piped/1048577"
timeout $TO "$W" cp "$id:/nonexistent" "$DATA/nothing" 2>"$DATA/err"; rc=$?
c=1; [ $rc -eq 1 ] && grep -q '404' "$DATA/err" && [ ! -e "$DATA/nothing" ] && c=0
check "cp of a missing file: exit 1, 404, no file left" [ $c -eq 0 ]
ls "$DATA"/nothing.wrenn-* >/dev/null 2>&1 && nok "cp leaves no temp file" || ok "cp leaves no temp file"

# --- shell -------------------------------------------------------------------------------------
# script(1) gives wrenn a pty; input is typed ahead, so it must survive the switch to raw mode.
out=$(printf 'echo shell-$((6*7))\nexit 3\n' | timeout $TO script -qefc "$W shell $id" /dev/null); rc=$?
c=1; [ $rc -eq 3 ] && grep -q '^shell-42' <<<"$out" && c=0
check "shell through script(1): output and exit code 3" [ $c -eq 0 ]
# A pty harness that waits for output: initial size, Ctrl-C reaching the remote process (raw
# terminal), resize by SIGWINCH, exit code.
cat >"$DATA/ptyh.py" <<'EOF'
import fcntl, os, select, struct, subprocess, sys, termios, time
def winsz(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
m, s = os.openpty()
winsz(s, 30, 100)
p = subprocess.Popen(sys.argv[1:], stdin=s, stdout=s, stderr=s, start_new_session=True,
                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
os.close(s)
buf = b""
def expect(what, secs=60):
    global buf
    end = time.time() + secs
    while what.encode() not in buf:
        if time.time() > end or p.poll() is not None and not select.select([m], [], [], 0)[0]:
            print("TIMEOUT waiting for %r; got %r" % (what, buf[-300:])); sys.exit(1)
        if select.select([m], [], [], 0.2)[0]:
            try: buf += os.read(m, 4096)
            except OSError: pass
    i = buf.index(what.encode()) + len(what); buf = buf[i:]
def send(t): os.write(m, t.encode())
send("stty size | tr ' ' x; echo R1-$((1+1))\r"); expect("30x100"); expect("R1-2"); print("size1")
send("sleep 60; echo after-$((2+2))\r"); time.sleep(1.5); t0 = time.time(); send("\x03")
send("echo int-$((3+3))\r"); expect("int-6", 20); print("ctrlc %.1f" % (time.time() - t0))
winsz(m, 40, 120); time.sleep(0.5)
send("stty size | tr ' ' x; echo R2-$((2+1))\r"); expect("40x120"); expect("R2-3"); print("resized")
send("exit 5\r"); print("rc", p.wait(timeout=30))
EOF
out=$(timeout $TO python3 "$DATA/ptyh.py" "$W" shell "$id" 2>&1)
echo "$out" | sed 's/^/#   /'
c=1; grep -q '^size1$' <<<"$out" && grep -q '^resized$' <<<"$out" && grep -q '^rc 5$' <<<"$out" && c=0
check "shell in a pty harness: initial size, SIGWINCH resize, exit 5" [ $c -eq 0 ]
ct=$(awk '/^ctrlc/{print int($2)}' <<<"$out")
c=1; [ -n "$ct" ] && [ "$ct" -lt 10 ] && c=0
check "shell: Ctrl-C interrupts the remote command (raw terminal), not wrenn" [ $c -eq 0 ]
out=$(printf 'echo "$(pwd) $SHELL_X"; exit 4\n' | timeout $TO "$W" shell -w /tmp -e SHELL_X=from-e "$id" 2>&1); rc=$?
c=1; [ $rc -eq 4 ] && grep -q '^/tmp from-e' <<<"$out" && c=0
check "shell -w DIR -e K=V: working directory and environment" [ $c -eq 0 ]
out=$(printf 'echo piped-$((3*3))\n' | timeout $TO "$W" shell "$id" 2>&1); rc=$?
c=1; [ $rc -eq 0 ] && grep -q '^piped-9' <<<"$out" && c=0
check "shell with piped stdin (no terminal): runs the input, ends at EOF" [ $c -eq 0 ]
timeout $TO "$W" shell cl-doesnotexist </dev/null 2>"$DATA/err"; rc=$?
c=1; [ $rc -eq 1 ] && grep -q '404' "$DATA/err" && c=0
check "shell into an unknown id: exit 1, 404" [ $c -eq 0 ]

# --- logs, timeout, pause/resume -----------------------------------------------------------
# The sandbox may have booted or been restored from a snapshot (then the boot lines belong to
# the template's log): write to its serial console and look for that.
timeout $TO "$W" exec -u root "$id" -- sh -c 'for i in 1 2 3; do echo "wrenn-cli-log-marker-$i"; done >/dev/console' >/dev/null
check "logs prints the VMM/serial log" bash -c "timeout $TO '$W' logs '$id' | grep -q 'wrenn-cli-log-marker-3'"
is "logs --tail 50 and --tail=50 print 50 bytes" \
	"$(timeout $TO "$W" logs --tail 50 "$id" | wc -c)/$(timeout $TO "$W" logs --tail=50 "$id" | wc -c)" 50/50
# -f: follows what is written after it started, until Ctrl-C (130).  Not under timeout(1): it
# follows a forwarded signal with SIGCONT, which can cancel the SIGSTOP of LeakSanitizer's exit
# check in an ASan build and hang it; waits are bounded here instead.
wait_gone() { # PID SECONDS: wait for it to end (rc in $?), or kill it (rc 124)
	local i
	for ((i = 0; i < $2 * 5; i++)); do kill -0 "$1" 2>/dev/null || { wait "$1"; return; }; sleep 0.2; done
	kill -KILL "$1" 2>/dev/null; wait "$1" 2>/dev/null; return 124
}
"$W" logs -f --tail 10 "$id" >"$DATA/follow" 2>&1 &
fp=$!
sleep 2
timeout $TO "$W" exec -u root "$id" -- sh -c 'echo wrenn-follow-marker-1 >/dev/console; sleep 1; echo wrenn-follow-marker-2 >/dev/console' >/dev/null
for _ in $(seq 1 100); do grep -q wrenn-follow-marker-2 "$DATA/follow" && break; sleep 0.2; done
kill -INT $fp; wait_gone $fp 30; rc=$?
c=1; [ $rc -eq 130 ] && grep -q wrenn-follow-marker-1 "$DATA/follow" && grep -q wrenn-follow-marker-2 "$DATA/follow" && c=0
check "logs -f prints new console output as it comes; Ctrl-C ends it (130)" [ $c -eq 0 ]
timeout $TO "$W" timeout "$id" 900 >/dev/null
left=$(timeout $TO "$W" info --json "$id" | jq -r '.endAt | sub("\\.[0-9]+";"") | fromdateiso8601 - now | floor')
c=1; [ "${left:-0}" -gt 800 ] && [ "${left:-0}" -le 900 ] && c=0
check "timeout sets endAt ~900 s ahead (got ${left:-?})" [ $c -eq 0 ]
timeout $TO "$W" -q pause "$id" >/dev/null
is "pause -> state paused" "$(timeout $TO "$W" info --json "$id" | jq -r .state)" paused
timeout $TO "$W" exec "$id" -- true 2>"$DATA/err"; rc=$?
c=1; [ $rc -eq 125 ] && grep -q '409' "$DATA/err" && c=0
check "exec in a paused sandbox: exit 125, 409 message" [ $c -eq 0 ]
timeout $TO "$W" pause "$id" 2>"$DATA/err" >/dev/null; rc=$?
c=1; [ $rc -eq 1 ] && grep -q 'paused' "$DATA/err" && grep -q 409 "$DATA/err" && c=0
check "pausing twice: exit 1 with the server's message (409)" [ $c -eq 0 ]
timeout $TO "$W" -q resume "$id" >/dev/null
is "resume -> exec works, files survived" "$(timeout $TO "$W" exec "$id" -- cat /tmp/piped.txt)" piped

# --- keys ------------------------------------------------------------------------------------
newkey=$(timeout $TO "$W" -q keys create ci)
check "keys create prints only a new e2b_ key" grep -qE '^e2b_[0-9a-f]{40}$' <<<"$newkey"
kid=$(timeout $TO "$W" keys ls --json | jq -r '.[] | select(.name=="ci") | .id')
c=1
WRENN_API_KEY=$newkey timeout $TO "$W" ls >/dev/null && timeout $TO "$W" keys rm "$kid" &&
	! WRENN_API_KEY=$newkey timeout $TO "$W" ls 2>"$DATA/err" >/dev/null && grep -q 401 "$DATA/err" && c=0
check "keys ls/rm: the new key works, after rm it is refused (401)" [ $c -eq 0 ]
teamkey=$(timeout $TO "$W" -q keys create --team t60 tk 2>"$DATA/err")
c=1
[[ "$teamkey" =~ ^e2b_[0-9a-f]{40}$ ]] && [ "$(WRENN_API_KEY=$teamkey timeout $TO "$W" ls --json | jq length)" = 0 ] &&
	timeout $TO "$W" keys ls | grep -q ' t60 ' && c=0
check "keys create --team prints only the key; the team key sees none of the operator's sandboxes" [ $c -eq 0 ]
is "teams ls" "$(timeout $TO "$W" teams ls --json | jq -c '[.[]|select(.name=="t60")|[.name,.keys,.sandboxes]]')" '[["t60",1,0]]'

# --- templates build from a Dockerfile -------------------------------------------------------
mkdir -p "$DATA/bctx/sub"
echo from-context >"$DATA/bctx/sub/file.txt"
echo ignored >"$DATA/bctx/skip.log"
echo '*.log' >"$DATA/bctx/.dockerignore"
printf 'FROM %s\nCOPY sub/file.txt /opt/file.txt\nCOPY . /ctx\nRUN echo built-$((6*7)) >/opt/built.txt\nENV BUILT_ENV=yes\n' "$TPL" >"$DATA/bctx/Dockerfile"
out=$(timeout 600 "$W" templates build -f "$DATA/bctx/Dockerfile" -t cli-built "$DATA/bctx" 2>"$DATA/err"); rc=$?
c=1; [ $rc -eq 0 ] && grep -Eq '^\[ *[0-9]+\.[0-9]s\] \[[0-9]+/[0-9]+\] RUN echo built' <<<"$out" && grep -q 'ready' "$DATA/err" && c=0
check "templates build -f -t: build logs with elapsed time and step counter, exit 0" [ $c -eq 0 ]
[ $c -eq 0 ] || echo "$out" "$(cat "$DATA/err")" | head -20 | sed 's/^/#   /'
is "a sandbox from the built template sees COPY, RUN and ENV; .dockerignore kept skip.log out" \
	"$(timeout $TO "$W" run -u root -t cli-built -- sh -c 'cat /opt/file.txt /opt/built.txt; echo $BUILT_ENV; ls -A /ctx | tr "\n" " "')" "from-context
built-42
yes
.dockerignore Dockerfile sub "
printf 'FROM %s\nRUN false\n' "$TPL" >"$DATA/Dockerfile.fail"
timeout 600 "$W" templates build --json -f "$DATA/Dockerfile.fail" -t cli-fail "$DATA/bctx" >"$DATA/out" 2>"$DATA/err"; rc=$?
c=1; [ $rc -eq 1 ] && [ "$(jq -r .status "$DATA/out")" = error ] && grep -q 'failed' "$DATA/err" && c=0
check "a failing RUN: exit 1, reason on stderr, --json prints the final status (Dockerfile outside the context)" [ $c -eq 0 ]
printf 'FROM %s\nFROBNICATE x\n' "$TPL" >"$DATA/Dockerfile.bad"
timeout $TO "$W" templates build -f "$DATA/Dockerfile.bad" -t cli-bad "$DATA/bctx" 2>"$DATA/err"; rc=$?
c=1; [ $rc -eq 1 ] && grep -q 'line 2' "$DATA/err" && grep -q 400 "$DATA/err" && c=0
check "a bad Dockerfile line: exit 1, 400 naming the line" [ $c -eq 0 ]

# --- kill ------------------------------------------------------------------------------------
"$W" logs -f "$id" >/dev/null 2>&1 &
fp=$!
sleep 1
is "kill prints the id" "$(timeout $TO "$W" kill "$id")" "$id"
wait_gone $fp 30
is "logs -f ends when the sandbox is gone (exit 0)" "$?" 0
is "killed: gone from ls, info is 404" \
	"$(timeout $TO "$W" ls --json | jq length)/$(timeout $TO "$W" info "$id" 2>&1 | grep -c 404)" "0/1"

# --- agent stop: nothing left --------------------------------------------------------------
# (90 s, not less: an exec stream whose sandbox was killed under it -- the interrupted `run`
# above -- holds the agent's shutdown until its 60 s envd read timeout; see the daemon.)
kill -TERM "$APID"
for _ in $(seq 1 900); do kill -0 "$APID" 2>/dev/null || break; sleep 0.1; done
rc=timeout
kill -0 "$APID" 2>/dev/null || { wait "$APID"; rc=$?; APID=; }
is "agent stops cleanly: exit 0, no VMM, no namespace" \
	"$rc/$(pgrep -f "$DATA/" | wc -l)/$(ip netns list | grep -c "^$T-")" "0/0/0"
[ $n -eq $N ] || nok "plan: ran $n of $N checks"
exit $fail
