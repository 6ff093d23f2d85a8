#!/usr/bin/env bash
# envd switching to a non-root user that exists only in a scratch passwd
# (WRENN_ENVD_PASSWD / WRENN_ENVD_GROUP): processes run with its uid, gid and
# groups, `~` and relative paths resolve to its home, files it writes are
# its own, and /init defaultUser makes it the default.
set -u
cd "$(dirname "$0")/../.."
B=${WRENN_BUILD:-build/asan}
ENVD=$B/bin/envd
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
is() { [ "$1" = "$2" ]; ok $? "$3 (got '$1', want '$2')"; }
has() { case "$1" in *"$2"*) ok 0 "$3" ;; *) ok 1 "$3 (got '$1')" ;; esac; }
TESTS=14
echo "1..$TESTS"
skip_all() { for i in $(seq 1 $TESTS); do echo "ok $i # skip $1"; done; exit 0; }
[ -x "$ENVD" ] && command -v curl >/dev/null && command -v jq >/dev/null && command -v perl >/dev/null ||
	skip_all "envd binary ($ENVD), curl, jq or perl missing"
[ "$(id -u)" = 0 ] || skip_all "switching users needs root"

TMP=$(mktemp -d /tmp/envd-user.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
# The user's processes must be able to reach their home below $TMP.
chmod 755 "$TMP"
UID_T=4242 GID_T=4242 GRP_X=4343
H="$TMP/home/wrtest"
mkdir -p "$H"
chown $UID_T:$GID_T "$H"
printf 'root:x:0:0:root:/root:/bin/bash\nwrtest:x:%d:%d:test:%s:/bin/sh\n' $UID_T $GID_T "$H" >"$TMP/passwd"
printf 'root:x:0:\nwrtest:x:%d:\nwrextra:x:%d:wrtest\n' $GID_T $GRP_X >"$TMP/group"

PORT=$((20000 + RANDOM % 20000))
WRENN_ENVD_PASSWD="$TMP/passwd" WRENN_ENVD_GROUP="$TMP/group" "$ENVD" --listen 127.0.0.1:$PORT 2>"$TMP/envd.log" &
PID=$!
U=http://127.0.0.1:$PORT
for _ in $(seq 50); do curl -s -o /dev/null "$U/health" && break; sleep 0.1; done

C=(curl -s -m 20)
enc() { perl -e 'print pack("CN", 0, length $ARGV[0]), $ARGV[0]' "$1"; }
dec() { perl -e '$|=1; while (read(STDIN,$h,5)==5) { ($f,$n)=unpack("CN",$h); if (read(STDIN,$p,$n) < $n) { print "TRAILING\n"; last } print "$f $p\n" }'; }
stream() { enc "$2" | "${C[@]}" -N -H 'Content-Type: application/connect+json' "${@:3}" --data-binary @- "$U/$1" | dec; }
unary() { "${C[@]}" -H 'Content-Type: application/json' "${@:3}" -d "$2" "$U/$1"; }
run_out() { stream process.Process/Start "$1" "${@:2}" | jq -r 'select(.event.data.stdout) | .event.data.stdout' 2>/dev/null | base64 -d; }
AUTH=(-H "Authorization: Basic $(printf 'wrtest:' | base64 -w0)")

is "$(run_out '{"process":{"cmd":"id","args":["-u"]}}' "${AUTH[@]}")" $UID_T "process runs with the user's uid"
is "$(run_out '{"process":{"cmd":"id","args":["-g"]}}' "${AUTH[@]}")" $GID_T "and its primary gid"
has " $(run_out '{"process":{"cmd":"id","args":["-G"]}}' "${AUTH[@]}") " " $GRP_X " "and its supplementary group from the scratch group file"
is "$(run_out '{"process":{"cmd":"sh","args":["-c","echo $HOME $USER; pwd"]}}' "${AUTH[@]}" | tr '\n' ' ')" "$H wrtest $H " "HOME, USER and default cwd are the user's"
is "$(run_out '{"process":{"cmd":"sh","args":["-c","pwd"],"cwd":"~"}}' "${AUTH[@]}")" "$H" "cwd ~ is the user's home"
is "$(unary filesystem.Filesystem/Stat '{"path":"~"}' "${AUTH[@]}" | jq -r .entry.path)" "$H" "Stat ~ resolves to the home"
is "$(unary filesystem.Filesystem/MakeDir '{"path":"proj/src"}' "${AUTH[@]}" | jq -r .entry.path)" "$H/proj/src" "relative MakeDir lands in the home"
is "$(stat -c %u:%g "$H/proj" "$H/proj/src" | tr '\n' ' ')" "$UID_T:$GID_T $UID_T:$GID_T " "created directories (parents too) belong to the user"
is "$("${C[@]}" -H 'Content-Type: application/octet-stream' -d hello "$U/files?path=notes/a.txt&username=wrtest" | jq -r '.[0].path')" "$H/notes/a.txt" "upload with a relative path as the user"
is "$(stat -c %u "$H/notes/a.txt" "$H/notes" | tr '\n' ' ')" "$UID_T $UID_T " "uploaded file and its parent belong to the user"
is "$(run_out '{"process":{"cmd":"sh","args":["-c","touch /root/x 2>/dev/null && echo wrote || echo denied"]}}' "${AUTH[@]}")" denied "the user cannot write where root can"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -d '{"defaultUser":"wrtest"}' $U/init)" 204 "/init defaultUser from the scratch passwd"
is "$(run_out '{"process":{"cmd":"sh","args":["-c","echo $USER $(id -u)"]}}')" "wrtest $UID_T" "without Basic auth the default user applies"
is "$("${C[@]}" -o /dev/null -w '%{http_code}' -d '{"defaultUser":"nosuchuser"}' $U/init)" 400 "/init rejects a user missing from the passwd file"

echo "# envd log:"; sed 's/^/# /' "$TMP/envd.log" | tail -5
[ $n -eq $TESTS ] || echo "# planned $TESTS but ran $n"
exit 0
