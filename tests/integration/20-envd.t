#!/usr/bin/env bash
# envd on the host (127.0.0.1, random port): every route, good and bad input.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/envd.sh
TESTS=146
echo "1..$TESTS"
envd_tools_ok || tools_missing "envd binary ($ENVD), curl, jq, perl or python3 missing"
TMP=$(mktemp -d /tmp/envd-test.XXXXXX)
PID= SIDE_PIDS=
cleanup() {
	for p in $PID $SIDE_PIDS; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT

# /prepare drops caches: a scratch file stands in for /proc/sys/vm/drop_caches
# so the test does not empty the host's page cache.
envd_start WRENN_ENVD_DROP_CACHES="$TMP/drop_caches"

b64() { printf '%s' "$1" | base64 -w0; }

# --- health / version
is "$("${C[@]}" -o /dev/null -w '%{http_code}' $U/health)" 204 "GET /health is 204"
has "$("${C[@]}" -D - -o /dev/null $U/health)" "X-Envd-Version: 0.6.4" "health reports version"

# --- process.Start basics
out=$(stream process.Process/Start '{"process":{"cmd":"/bin/bash","args":["-l","-c","echo hi; echo err >&2; exit 3"]},"stdin":false}')
first=$(printf '%s\n' "$out" | head -1 | cut -d' ' -f2- | jq -r '.event.start.pid')
[ "$first" -gt 0 ] 2>/dev/null; ok $? "start event first with a pid"
is "$(printf '%s\n' "$out" | grep -c '"end"')" 1 "exactly one end event"
has "$out" '"exitCode":3,"exited":true,"status":"exit status 3"' "exit status 3"
has "$out" '"error":"exit status 3"' "end event carries error (Go's cmd.Wait error text, what the SDK reports)"
is "$(printf '%s\n' "$out" | tail -1)" "2 {}" "stream ends with end-stream frame {}"
is "$(printf '%s\n' "$out" | cut -d' ' -f2- | jq -rs 'map(select(.event.data.stderr)|.event.data.stderr)|.[0]' 2>/dev/null | base64 -d)" "err" "stderr separated"
is "$(run_out '{"process":{"cmd":"sh","args":["-c","printf %s \"$FOO\""],"envs":{"FOO":"bar"}}}')" "bar" "request env"
is "$(run_out '{"process":{"cmd":"sh","args":["-c","pwd"],"cwd":"'$TMP'"}}')" "$TMP" "cwd"
is "$(run_out '{"process":{"cmd":"sh","args":["-c","pwd"]}}')" "$(getent passwd "$(id -un)" | cut -d: -f6)" "default cwd is home"
is "$(run_out '{"process":{"cmd":"sh","args":["-c","echo $USER $HOME"]}}')" "$(id -un) $(getent passwd "$(id -un)" | cut -d: -f6)" "USER and HOME set"
has "$(stream process.Process/Start '{"process":{"cmd":"sh","args":["-c","kill -9 $$"]}}')" '"status":"signal: killed"' "killed status"
has "$(stream process.Process/Start '{"process":{"cmd":"true","cwd":"/nonexistent/dir"}}')" '"code":"invalid_argument"' "missing cwd is invalid_argument"
has "$(stream process.Process/Start '{"process":{"cmd":"no-such-cmd-xyz"}}')" 'invalid_argument' "unknown command"
has "$(stream process.Process/Start '{"process":{"cmd":"true"}}' -H "Authorization: Basic $(b64 'nosuchuser:')")" '"code":"unauthenticated"' "unknown user is unauthenticated"
is "$(run_out '{"process":{"cmd":"id","args":["-un"]}}' -H "Authorization: Basic $(b64 'root:')")" "root" "Basic auth user"

# --- background + connect + stdin + list + signal
(stream process.Process/Start '{"process":{"cmd":"cat"},"tag":"bg1","stdin":true}' >"$TMP/bg.out") &
SP=$!
for _ in $(seq 50); do grep -q start "$TMP/bg.out" 2>/dev/null && break; sleep 0.1; done
BGPID=$(head -1 "$TMP/bg.out" | cut -d' ' -f2- | jq -r .event.start.pid)
lst=$(unary process.Process/List '{}')
is "$(printf '%s' "$lst" | jq -r '.processes[] | select(.tag=="bg1") | .pid')" "$BGPID" "List shows the tagged process"
(stream process.Process/Connect '{"process":{"pid":'"$BGPID"'}}' >"$TMP/conn.out") &
CP=$!
sleep 0.5
is "$(unary process.Process/SendInput '{"process":{"pid":'"$BGPID"'},"input":{"stdin":"'"$(b64 'ping')"'"}}')" "{}" "SendInput stdin"
sleep 0.3
is "$(unary process.Process/CloseStdin '{"process":{"tag":"bg1"}}')" "{}" "CloseStdin"
wait $SP $CP
has "$(cat "$TMP/bg.out")" "$(b64 ping)" "stdin data echoed on the Start stream"
has "$(cat "$TMP/conn.out")" "$(b64 ping)" "Connect stream also sees the output"
has "$(head -1 "$TMP/conn.out")" '"start":{"pid":'"$BGPID" "Connect begins with start"
has "$(cat "$TMP/conn.out")" '"status":"exit status 0"' "Connect gets the end event"
has "$(stream process.Process/Connect '{"process":{"pid":'"$BGPID"'}}')" '"exit status 0"' "late Connect still gets end"
has "$(stream process.Process/Connect '{"process":{"pid":999999}}')" '"code":"not_found"' "Connect unknown pid: not_found"
is "$(ustatus process.Process/SendSignal '{"process":{"pid":999999},"signal":"SIGNAL_SIGKILL"}')" 404 "signal to unknown pid is 404"
is "$(ustatus process.Process/SendSignal '{"process":{"pid":'"$BGPID"'},"signal":"SIGNAL_SIGKILL"}')" 404 "signal to dead pid is 404"

# --- PTY: create, input, resize, kill
(stream process.Process/Start '{"process":{"cmd":"/bin/bash","args":["-i"],"envs":{"PS1":"$ "}},"pty":{"size":{"cols":80,"rows":24}},"tag":"pty1"}' >"$TMP/pty.out") &
PP=$!
for _ in $(seq 50); do grep -q start "$TMP/pty.out" 2>/dev/null && break; sleep 0.1; done
PTPID=$(head -1 "$TMP/pty.out" | cut -d' ' -f2- | jq -r .event.start.pid)
is "$(unary process.Process/Update '{"process":{"pid":'"$PTPID"'},"pty":{"size":{"cols":123,"rows":45}}}')" "{}" "pty resize"
unary process.Process/SendInput '{"process":{"pid":'"$PTPID"'},"input":{"pty":"'"$(b64 $'stty size\n')"'"}}' >/dev/null
pty_text() { jq -r 'select(.event.data.pty)|.event.data.pty' <(cut -d' ' -f2- "$TMP/pty.out") 2>/dev/null | base64 -d 2>/dev/null; }
# bash -i answers when it gets the CPU: wait for the answer (up to 10 s on a loaded machine), not a fixed time
for _ in $(seq 100); do pty_text | grep -q "45 123" && break; sleep 0.1; done
is "$(ustatus process.Process/SendInput '{"process":{"pid":'"$PTPID"'},"input":{"stdin":"eA=="}}')" 400 "stdin write to a pty process refused"
is "$(ustatus process.Process/SendSignal '{"process":{"pid":'"$PTPID"'},"signal":"SIGNAL_SIGKILL"}')" 200 "pty kill"
wait $PP
has "$(pty_text)" "45 123" "resize visible inside the pty"
has "$(cat "$TMP/pty.out")" 'signal: killed' "pty ends killed"

# --- bad input on RPCs
is "$(ustatus process.Process/List '{not json')" 400 "malformed JSON is 400"
is "$(unary process.Process/List '{"unknownField":1}' | jq -c 'has("processes")')" true "unknown fields ignored"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' -d '{}' $U/process.Process/List)" 415 "wrong content type is 415"
has "$(printf '\x00\x00\x00\x00\x50{"pro' | "${C[@]}" -H 'Content-Type: application/connect+json' --data-binary @- $U/process.Process/Start | dec)" 'invalid_argument' "truncated envelope is an error frame"
head -c 5000000 /dev/zero > "$TMP/huge"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$TMP/huge" $U/process.Process/List)" 413 "huge body is 413"
is "$(ustatus process.Process/Nope '{}')" 501 "unknown method is unimplemented"

# --- filesystem
mkdir -p "$TMP/d/sub"; echo abc >"$TMP/d/f.txt"; ln -s f.txt "$TMP/d/link"
st=$(unary filesystem.Filesystem/Stat '{"path":"'$TMP/d/f.txt'"}')
is "$(printf '%s' "$st" | jq -r '[.entry.type,.entry.size,.entry.permissions,.entry.name]|join(" ")')" "FILE_TYPE_FILE 4 -rw-r--r-- f.txt" "Stat entry fields"
is "$(unary filesystem.Filesystem/Stat '{"path":"'$TMP/d/link'"}' | jq -r .entry.symlinkTarget)" "$(realpath "$TMP/d/f.txt")" "symlinkTarget: the resolved absolute path (E2B's)"
is "$(ustatus filesystem.Filesystem/Stat '{"path":"'$TMP/none'"}')" 404 "Stat missing is 404"
is "$(unary filesystem.Filesystem/MakeDir '{"path":"'$TMP/a/b/c'"}' | jq -r .entry.type)" FILE_TYPE_DIRECTORY "MakeDir with parents"
is "$(unary filesystem.Filesystem/MakeDir '{"path":"'$TMP/a/b/c'"}' | jq -r .code)" already_exists "MakeDir existing: already_exists"
is "$(unary filesystem.Filesystem/ListDir '{"path":"'$TMP/d'"}' | jq -r '[.entries[].name]|join(",")')" "f.txt,link,sub" "ListDir depth 1 (lexical order)"
mkdir -p "$TMP/lex"; for f in a m B z; do mkdir "$TMP/lex/$f"; done; for f in y b; do : >"$TMP/lex/m/$f"; done
is "$(unary filesystem.Filesystem/ListDir '{"path":"'$TMP/lex'","depth":2}' | jq -r '[.entries[].path|ltrimstr("'$TMP/lex/'")]|join(",")')" "B,a,m,m/b,m/y,z" "ListDir depth 2: byte order, each directory followed by its entries (E2B's)"
is "$(unary filesystem.Filesystem/ListDir '{"path":"'$TMP'","depth":3}' | jq -r '.entries|length')" "$(find "$TMP" -mindepth 1 -maxdepth 3 | wc -l)" "ListDir depth 3"
is "$(ustatus filesystem.Filesystem/ListDir '{"path":"'$TMP/d/f.txt'"}')" 400 "ListDir on a file is 400"
is "$(unary filesystem.Filesystem/Move '{"source":"'$TMP/d/f.txt'","destination":"'$TMP/m/g.txt'"}' | jq -r .entry.path)" "$TMP/m/g.txt" "Move"
is "$(unary filesystem.Filesystem/Remove '{"path":"'$TMP/a'"}')$( [ -e "$TMP/a" ] && echo still)" "{}" "Remove recursive"
is "$(unary filesystem.Filesystem/Stat '{"path":"'$TMP/d/sub/../../m/./g.txt'"}' | jq -r .entry.path)" "$TMP/m/g.txt" "path with .. and . normalised"

# --- /files
F="$U/files"
is "$("${C[@]}" -F "file=@/etc/hostname;filename=$TMP/up/x/y.txt" "$F" | jq -r '.[0].path')" "$TMP/up/x/y.txt" "multipart upload: filename is the target path, parents created"
cmp -s /etc/hostname "$TMP/up/x/y.txt"; ok $? "multipart content intact"
is "$("${C[@]}" -F "file=@/etc/hostname;filename=a" -F "file=@/etc/passwd;filename=$TMP/up/two" "$F" | jq -r 'length')" 2 "multipart with two files"
head -c 3000000 /dev/urandom >"$TMP/big.bin"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/big.bin" "$F?path=$TMP/up/big.bin")" 200 "octet-stream upload (3 MB)"
cmp -s "$TMP/big.bin" "$TMP/up/big.bin"; ok $? "octet-stream content intact"
# curl holds a > 1 MiB body back behind "Expect: 100-continue" (~1 s stall
# unless the server answers 100 Continue).
head -c 3145728 /dev/urandom >"$TMP/e3m.bin"
"${C[@]}" -v -o /dev/null -w 'T=%{time_total} C=%{http_code}\n' -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/e3m.bin" "$F?path=$TMP/up/e3m.bin" >"$TMP/exp.out" 2>&1
exp=$(tr -d '\r' <"$TMP/exp.out")
has "$exp" "> Expect: 100-continue" "3 MiB upload: curl sends Expect: 100-continue"
has "$exp" "< HTTP/1.1 100 Continue" "3 MiB upload: envd answers 100 Continue"
t=$(sed -n 's/^T=\([0-9.]*\) C=200$/\1/p' <<<"$exp")
awk -v t="${t:-9}" 'BEGIN { exit !(t < 0.5) }'; ok $? "3 MiB Expect upload completes in < 500 ms (took ${t:-failed} s)"
cmp -s "$TMP/e3m.bin" "$TMP/up/e3m.bin"; ok $? "Expect upload content intact"
gzip -c "$TMP/big.bin" >"$TMP/big.gz"
"${C[@]}" -o /dev/null -H 'Content-Type: application/octet-stream' -H 'Content-Encoding: gzip' --data-binary @"$TMP/big.gz" "$F?path=$TMP/up/gz.bin"
cmp -s "$TMP/big.bin" "$TMP/up/gz.bin"; ok $? "gzip-encoded upload is inflated"
"${C[@]}" -o "$TMP/down.bin" "$F?path=$TMP/up/big.bin"
cmp -s "$TMP/big.bin" "$TMP/down.bin"; ok $? "download intact"
is "$("${C[@]}" -H 'Range: bytes=10-19' "$F?path=$TMP/up/big.bin" | wc -c)" 10 "Range request"
# gzip download: only when accepted; ranges and empty files stay identity, and so does a body
# that does not compress (big.bin: random) when the client also takes identity
"${C[@]}" --compressed -D "$TMP/gz.h" -o "$TMP/down.gz.bin" "$F?path=$TMP/up/big.bin"
cmp -s "$TMP/big.bin" "$TMP/down.gz.bin"; ok $? "gzip-accepted download of random bytes (curl --compressed) intact"
hasnt "$(tr -d '\r' <"$TMP/gz.h")" "Content-Encoding" "random bytes with gzip accepted: identity"
has "$(tr -d '\r' <"$TMP/gz.h")" "Content-Length: 3000000" "random bytes with gzip accepted: Content-Length"
"${C[@]}" -H 'Accept-Encoding: gzip, identity;q=0' -D "$TMP/gzonly.h" "$F?path=$TMP/up/big.bin" | gunzip >"$TMP/down.gzonly.bin"
cmp -s "$TMP/big.bin" "$TMP/down.gzonly.bin"; ok $? "random bytes, identity refused: gzip (stored), intact"
has "$(tr -d '\r' <"$TMP/gzonly.h")" "Content-Encoding: gzip" "random bytes, identity refused: Content-Encoding: gzip"
seq 1 300000 >"$TMP/text2.txt"
"${C[@]}" --compressed -D "$TMP/gz.h" -o "$TMP/down.gz.txt" "$F?path=$TMP/text2.txt"
cmp -s "$TMP/text2.txt" "$TMP/down.gz.txt"; ok $? "gzip download (curl --compressed) intact"
has "$(tr -d '\r' <"$TMP/gz.h")" "Content-Encoding: gzip" "gzip download has Content-Encoding: gzip"
has "$(tr -d '\r' <"$TMP/gz.h")" "Transfer-Encoding: chunked" "gzip download is chunked"
seq 1 20000 >"$TMP/text.txt"
is "$("${C[@]}" -H 'Accept-Encoding: gzip' "$F?path=$TMP/text.txt" | gunzip | cmp - "$TMP/text.txt" && echo same)" same "raw gzip body gunzips to the file"
[ "$("${C[@]}" -H 'Accept-Encoding: gzip' "$F?path=$TMP/text.txt" | wc -c)" -lt "$(wc -c <"$TMP/text.txt")" ]; ok $? "gzip body is smaller than the text file"
# past the 256 KiB probe: a compressible body stays deflated, an incompressible one (big.bin,
# random) goes on stored and still round-trips (checked above)
[ "$("${C[@]}" -H 'Accept-Encoding: gzip' "$F?path=$TMP/text2.txt" | wc -c)" -lt "$(($(wc -c <"$TMP/text2.txt") / 2))" ]; ok $? "a 2 MB text file is still deflated past the probe"
hasnt "$("${C[@]}" -D - -o /dev/null "$F?path=$TMP/text.txt" | tr -d '\r')" "Content-Encoding" "no Accept-Encoding: identity"
is "$("${C[@]}" -H 'Accept-Encoding: gzip' -H 'Range: bytes=0-4' "$F?path=$TMP/text.txt" | od -An -c | tr -d ' \n')" '1\n2\n3' "Range with gzip accepted is served identity"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -H 'Accept-Encoding: gzip;q=0, identity;q=0' "$F?path=$TMP/text.txt")" 406 "nothing acceptable is 406"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -H 'Range: bytes=99999999-' "$F?path=$TMP/up/big.bin")" 416 "unsatisfiable range"
: >"$TMP/empty"
has "$("${C[@]}" -D - -o /dev/null "$F?path=$TMP/empty")" "Content-Length: 0" "empty file has Content-Length: 0"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' "$F?path=$TMP/nope")" 404 "missing file is 404"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' "$F?path=$TMP")" 400 "directory is 400"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' -d x "$F?path=$TMP/t")" 400 "upload with wrong content type is 400"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/octet-stream' -d x "$F")" 400 "octet-stream without path is 400"
is "$(printf -- '--B\r\nContent-Disposition: form-data; name="file"; filename="%s"\r\n\r\nabc' "$TMP/trunc" | "${C[@]}" -o /dev/null -w '%{http_code}' -H 'Content-Type: multipart/form-data; boundary=B' --data-binary @- "$F")" 400 "truncated multipart is 400"
[ ! -e "$TMP/trunc" ]; ok $? "no partial file left behind"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' "$F?path=$TMP/up/../up/big.bin&username=nosuchuser")" 401 "unknown username on /files is 401"
is "$("${C[@]}" -H 'Content-Type: application/octet-stream' -d data "$F?path=../../../../../../$TMP/up/trav" | jq -r '.[0].path')" "$TMP/up/trav" "path traversal stays a normalised absolute path"
# file metadata (E2B envd >= 0.6.2): X-Metadata-<key> headers become user.e2b.<lowercased key>
# xattrs; each upload replaces the set; EntryInfo and the upload answer carry it.  $TMP is on
# the host's disk (ext4/xfs/btrfs all store user xattrs).
meta_up() { "${C[@]}" -H 'Content-Type: application/octet-stream' "$@" -d x "$F?path=$TMP/up/meta"; }
is "$(meta_up -H 'X-Metadata-Color: blue' -H 'X-Metadata-Size: L' | jq -c '.[0].metadata')" '{"color":"blue","size":"L"}' "upload answer carries the metadata, keys lowercased"
is "$(python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.e2b.color").decode())' "$TMP/up/meta" 2>&1)" blue "metadata stored as user.e2b.* xattrs"
is "$(unary filesystem.Filesystem/Stat '{"path":"'$TMP/up/meta'"}' | jq -c '.entry.metadata')" '{"color":"blue","size":"L"}' "Stat returns the metadata"
meta_up -H 'X-Metadata-Shape: round' -o /dev/null
is "$(unary filesystem.Filesystem/ListDir '{"path":"'$TMP/up'","depth":1}' | jq -c '.entries[]|select(.name=="meta")|.metadata')" '{"shape":"round"}' "a new upload replaces the metadata (ListDir)"
meta_up -o /dev/null
is "$(unary filesystem.Filesystem/Stat '{"path":"'$TMP/up/meta'"}' | jq -c '.entry.metadata')" null "an upload without X-Metadata-* clears it"
is "$(meta_up -H "X-Metadata-K: $(printf 'a\tb')" -o /dev/null -w '%{http_code}')" 400 "a non-printable metadata value is 400"
is "$(meta_up -H "X-Metadata-Big: $(head -c 4100 /dev/zero | tr '\0' v)" -o /dev/null -w '%{http_code}')" 400 "metadata over 4096 bytes is 400"

# --- /init, /envs, /metrics, auth
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -d '{bad' $U/init)" 400 "/init malformed JSON is 400"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -d '{"envVars":{"INITVAR":"iv"},"defaultWorkdir":"'$TMP'","sandboxId":"sbx1","timestamp":"'"$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)"'"}' $U/init)" 204 "/init is 204"
is "$("${C[@]}" $U/envs | jq -r '.INITVAR + " " + .E2B_SANDBOX_ID')" "iv sbx1" "/envs shows init vars"
is "$(run_out '{"process":{"cmd":"sh","args":["-c","echo $INITVAR $E2B_SANDBOX_ID; pwd"]}}' | tr '\n' ' ')" "iv sbx1 $TMP " "init env and workdir reach processes"
is "$("${C[@]}" $U/metrics | jq -r '(.cpu_count > 0) and (.mem_total > 0) and (.disk_total > 0)')" true "/metrics"
# entropy: hex, at most 512 digits, fed to the kernel (RNDADDENTROPY, RNDRESEEDCRNG)
HEX128=$(head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n')
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -d '{"entropy":"'$HEX128'"}' $U/init)" 204 "/init with 64 bytes of entropy is 204"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -d '{"entropy":"'$(printf 'aB%.0s' $(seq 256))'"}' $U/init)" 204 "/init with 512 hex digits is 204"
has "$("${C[@]}" -w ' %{http_code}' -d '{"entropy":"12zz"}' $U/init)" '"message":"entropy: not a hex digit at offset 2","code":400} 400' "/init entropy with a non-hex digit is 400 with the reason"
has "$("${C[@]}" -w ' %{http_code}' -d '{"entropy":"abc"}' $U/init)" 'odd number of hex digits' "/init entropy of odd length is 400"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -d '{"entropy":"'$(printf 'ab%.0s' $(seq 257))'"}' $U/init)" 400 "/init entropy over 512 hex digits is 400"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -d '{"entropy":42}' $U/init)" 400 "/init entropy that is not a string is 400"
hasnt "$(cat "$TMP/envd.log")" "entropy" "no entropy warning from a root envd"
# An upload cut off half-way leaves the old file as it was and no temporary file behind.
printf old >"$TMP/keep.txt"
before=$(ls -A "$TMP" | sort | tr '\n' ' ')
python3 - "$PORT" "$TMP/keep.txt" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(("POST /files?path=%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
           "Content-Length: 100000\r\n\r\n" % sys.argv[2]).encode() + b"new-partial")
s.close()
PY
sleep 0.5
is "$(cat "$TMP/keep.txt")" old "interrupted upload keeps the old content"
is "$(ls -A "$TMP" | sort | tr '\n' ' ')" "$before" "interrupted upload leaves no temporary file"
# Overwriting keeps the file's inode, mode and links (E2B's envd writes in place);
# a symlink is written through.
printf x >"$TMP/real.sh"; chmod 750 "$TMP/real.sh"; ln -sf real.sh "$TMP/link.sh"
ino=$(stat -c %i "$TMP/real.sh")
st=$("${C[@]}" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/octet-stream' --data-binary 'echo hi' "$U/files?path=$TMP/link.sh")
is "$(stat -c '%a %i' "$TMP/real.sh") $(cat "$TMP/real.sh") $(stat -c %F "$TMP/link.sh")" "750 $ino echo hi symbolic link" "overwrite ($st) through a symlink keeps inode and mode"
# /prepare: host-only quiesce before pause/snapshot (sync + drop caches)
: >"$TMP/drop_caches"
is "$("${C[@]}" -X POST -w ' %{http_code}' $U/prepare)" '{"synced":true,"droppedCaches":true} 200' "POST /prepare syncs and drops caches"
is "$(cat "$TMP/drop_caches")" 3 "/prepare wrote 3 to drop_caches"
rm -f "$TMP/drop_caches"; mkdir "$TMP/drop_caches"
is "$("${C[@]}" -X POST -w ' %{http_code}' $U/prepare)" '{"synced":true,"droppedCaches":false} 200' "/prepare when drop_caches cannot be written: 200, droppedCaches false"
rmdir "$TMP/drop_caches"; : >"$TMP/drop_caches"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' $U/prepare)" 405 "GET /prepare is 405"
# A side envd with debug logs: as root the ioctls run; as nobody they fail
# with EPERM and /init still succeeds.
side_init() { # $1: label, rest: command prefix; "<status> <log>" into $TMP/side-$1.out
	local port= sp st
	WRENN_LOG=debug WRENN_ENVD_TOKEN_FILE=/nonexistent/wrenn-test/envd-token "${@:2}" "$ENVD" --listen 127.0.0.1:0 2>"$TMP/side-$1.log" &
	sp=$!
	SIDE_PIDS="$SIDE_PIDS $sp"
	for _ in $(seq 50); do
		port=$(sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' "$TMP/side-$1.log" | head -1)
		[ -n "$port" ] && curl -s -o /dev/null "http://127.0.0.1:$port/health" && break
		sleep 0.1
	done
	st=$("${C[@]}" -o /dev/null -w '%{http_code}' -d '{"entropy":"'$HEX128'"}' "http://127.0.0.1:$port/init")
	kill "$sp" 2>/dev/null; wait "$sp" 2>/dev/null
	echo "$st $(tr '\n' ' ' <"$TMP/side-$1.log")" >"$TMP/side-$1.out"
}
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	side_init root env
	out=$(cat "$TMP/side-root.out")
	has "$out" "204 " "root envd: /init with entropy is 204"
	has "$out" "init: entropy: 64 bytes added to the kernel pool" "root envd: RNDADDENTROPY done"
	hasnt "$out" "RNDRESEEDCRNG: Operation not permitted" "root envd: RNDRESEEDCRNG permitted"
	side_init nobody setpriv --reuid=65534 --regid=65534 --clear-groups
	out=$(cat "$TMP/side-nobody.out")
	has "$out" "204 " "unprivileged envd: /init with entropy is still 204"
	has "$out" "RNDADDENTROPY: Operation not permitted (not root?), skipped" "unprivileged envd: EPERM logged at debug"
	hasnt "$out" " warn " "unprivileged envd: no warning for EPERM"
else
	for d in "root 204" "root RNDADDENTROPY" "root reseed" "nobody 204" "nobody EPERM" "nobody no warning"; do
		n=$((n + 1)); echo "ok $n # skip side envd ($d) needs root and setpriv"
	done
fi
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -d '{"accessToken":"s3cret"}' $U/init)" 204 "/init sets a token"
is "$(ustatus process.Process/List '{}')" 401 "RPC without token is 401"
is "$(ustatus process.Process/List '{}' -H 'X-Access-Token: s3cret')" 200 "RPC with token"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -X POST $U/prepare)" 401 "/prepare without token is 401"
is "$("${C[@]}" -X POST -H 'X-Access-Token: s3cret' $U/prepare | jq -c .)" '{"synced":true,"droppedCaches":true}' "/prepare with token"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' $U/health)" 204 "/health needs no token"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' "$F?path=$TMP/up/big.bin")" 401 "/files without token or signature is 401"
# Refused before the body is read: no 100, the client stops sending and the
# connection closes at once instead of waiting for the body.
"${C[@]}" -v -o /dev/null -w 'T=%{time_total} C=%{http_code}\n' -H 'Content-Type: application/octet-stream' --data-binary @"$TMP/e3m.bin" "$F?path=$TMP/up/e401.bin" >"$TMP/exp.out" 2>&1
exp=$(tr -d '\r' <"$TMP/exp.out")
hasnt "$exp" "< HTTP/1.1 100" "Expect upload refused by auth gets no 100 Continue"
t=$(sed -n 's/^T=\([0-9.]*\) C=401$/\1/p' <<<"$exp")
awk -v t="${t:-9}" 'BEGIN { exit !(t < 0.5) }'; ok $? "Expect upload refused with 401 in < 500 ms (took ${t:-no 401} s)"
USER0=$(id -un)
SIG=v1_$(printf '%s' "$TMP/up/big.bin:read:$USER0:s3cret" | openssl dgst -sha256 -binary | base64 -w0 | tr -d = | sed "s|+|%2B|g; s|/|%2F|g")
if command -v openssl >/dev/null; then
	is "$("${C[@]}" -o /dev/null -w '%{http_code}' "$F?path=$TMP/up/big.bin&username=$USER0&signature=$SIG")" 200 "/files with a valid v1 signature"
else
	n=$((n + 1)); echo "ok $n # skip openssl missing"
fi
is "$("${C[@]}" "$F?path=$TMP/up/big.bin&username=$USER0&signature=${SIG}x" | jq -r .message)" "invalid signature" "/files with a bad signature: 401, E2B's 'invalid signature'"
# a genuine signature whose expiration has passed: E2B's own message
EXP=$(($(date +%s) - 60))
XSIG=v1_$(printf '%s' "$TMP/up/big.bin:read:$USER0:s3cret:$EXP" | openssl dgst -sha256 -binary | base64 -w0 | tr -d = | sed "s|+|%2B|g; s|/|%2F|g")
is "$("${C[@]}" -w ' %{http_code}' "$F?path=$TMP/up/big.bin&username=$USER0&signature=$XSIG&signature_expiration=$EXP")" '{"message":"signature is already expired","code":401} 401' "expired signed URL: E2B's 'signature is already expired'"
is "$("${C[@]}" "$F?path=$TMP/up/big.bin" | jq -r .message)" "missing signature query parameter" "no token, no signature: E2B's message"
is "$("${C[@]}" -X POST $U/prepare | jq -r .message)" "unauthorized access, please provide a valid access token or method signing if supported" "other routes without the token: E2B's message"
# an error naming a path that is not UTF-8 cannot go into JSON: the status text stands in
is "$("${C[@]}" -w ' %{http_code}' -H 'X-Access-Token: s3cret' "$F?path=$TMP/nonexist%ff")" '{"message":"Not Found","code":404} 404' "error about a non-UTF-8 path is JSON with the status text"
kill -0 $PID; ok $? "envd survived everything"

# --- the access token survives an envd restart (issue 11: a restarted envd must not open up)
is "$(stat -c %a "$TMP/run" 2>&1)" 700 "token directory is 0700"
is "$(stat -c '%a %u' "$TMP/run/envd-token" 2>&1)" "600 $(id -u)" "token file is 0600 and ours"
kill $PID; wait $PID 2>/dev/null
envd_start WRENN_ENVD_DROP_CACHES="$TMP/drop_caches"
is "$(ustatus process.Process/List '{}')" 401 "restarted envd: RPC without token is still 401"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -X POST $U/prepare)" 401 "restarted envd: /prepare without token is 401"
is "$(ustatus process.Process/List '{}' -H 'X-Access-Token: s3cret')" 200 "restarted envd: RPC with the token"
has "$(cat "$TMP/envd.log")" "access token restored from $TMP/run/envd-token" "restarted envd logs where the token came from"
# a token file others could have written is refused: envd does not start rather than run open
kill $PID; wait $PID 2>/dev/null
chmod 0644 "$TMP/run/envd-token"
WRENN_ENVD_TOKEN_FILE="$TMP/run/envd-token" timeout 10 "$ENVD" --listen 127.0.0.1:0 >"$TMP/badtok.out" 2>&1
rc=$?
is "$rc" 1 "envd refuses to start with a token file of mode 0644"
has "$(cat "$TMP/badtok.out")" "with mode 0600 (mode 0644" "the refusal names the mode"
chmod 0600 "$TMP/run/envd-token"
envd_start WRENN_ENVD_DROP_CACHES="$TMP/drop_caches"
# an empty token turns auth off and removes the file: the next start is open too
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -H 'X-Access-Token: s3cret' -d '{"accessToken":""}' $U/init)" 204 "/init with an empty token"
[ ! -e "$TMP/run/envd-token" ]; ok $? "the empty token removed the token file"
kill $PID; wait $PID 2>/dev/null
envd_start WRENN_ENVD_DROP_CACHES="$TMP/drop_caches"
is "$(ustatus process.Process/List '{}')" 200 "restarted envd without a token file: no auth"

echo "# envd log:"; sed 's/^/# /' "$TMP/envd.log" | tail -5
[ $n -le $TESTS ] || echo "# planned $TESTS but ran $n"
exit 0
