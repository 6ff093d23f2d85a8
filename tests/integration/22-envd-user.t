#!/usr/bin/env bash
# envd switching to a non-root user that exists only in a scratch passwd
# (WRENN_ENVD_PASSWD / WRENN_ENVD_GROUP): processes run with its uid, gid and
# groups, `~` and relative paths resolve to its home, files it writes are
# its own, and /init defaultUser makes it the default.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/envd.sh
TESTS=14
echo "1..$TESTS"
envd_tools_ok || tools_missing "envd binary ($ENVD), curl, jq or perl missing"
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

envd_start WRENN_ENVD_PASSWD="$TMP/passwd" WRENN_ENVD_GROUP="$TMP/group"

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
