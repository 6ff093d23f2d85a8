#!/usr/bin/env bash
# envd filesystem watching on the host: WatchDir streams and the polling
# watchers (CreateWatcher / GetWatcherEvents / RemoveWatcher), inotify fds
# released when streams end, clients leave or watchers are removed.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/envd.sh
TESTS=36
echo "1..$TESTS"
envd_tools_ok || tools_missing "envd binary ($ENVD), curl, jq or perl missing"
TMP=$(mktemp -d /tmp/envd-watch.XXXXXX)
PID=
BG=()
cleanup() {
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

envd_start

inotify_fds() { find /proc/$PID/fd -lname 'anon_inode:inotify' 2>/dev/null | wc -l; }
# "TYPE name" lines of the filesystem events in a decoded stream file
events() { cut -d' ' -f2- "$1" | jq -r 'select(.filesystem) | "\(.filesystem.type|sub("EVENT_TYPE_";"")) \(.filesystem.name)"' 2>/dev/null; }
# start a WatchDir stream into file $1 (request $2, extra curl args after), wait for its start event
watch_bg() {
	local out=$1 req=$2
	shift 2
	(stream filesystem.Filesystem/WatchDir "$req" "$@" >"$out") &
	BG+=($!)
	for _ in $(seq 100); do grep -q '"start"' "$out" 2>/dev/null && return 0; sleep 0.05; done
	return 1
}
settle() { sleep 0.4; }

# --- errors before the stream starts
has "$(stream filesystem.Filesystem/WatchDir '{"path":"'$TMP/nope'"}')" '"code":"not_found"' "WatchDir on a missing path: not_found"
echo x >"$TMP/file"
has "$(stream filesystem.Filesystem/WatchDir '{"path":"'$TMP/file'"}')" '"code":"invalid_argument"' "WatchDir on a file: invalid_argument"
has "$(printf '\x00\x00\x00\x00\x30{"pa' | "${C[@]}" -H 'Content-Type: application/connect+json' --data-binary @- $U/filesystem.Filesystem/WatchDir | dec)" invalid_argument "WatchDir with a truncated envelope: invalid_argument"

# --- non-recursive stream: create, write, chmod, rename, remove
mkdir -p "$TMP/w/sub"
watch_bg "$TMP/s1" '{"path":"'$TMP/w'"}' -H 'Connect-Timeout-Ms: 5000'
ok $? "WatchDir stream starts"
has "$(head -1 "$TMP/s1")" '0 {"start":{}}' "first message is the start event"
echo one >"$TMP/w/a.txt"; settle
echo two >>"$TMP/w/a.txt"; settle
chmod 600 "$TMP/w/a.txt"; settle
mv "$TMP/w/a.txt" "$TMP/w/b.txt"; settle
rm "$TMP/w/b.txt"; settle
echo deep >"$TMP/w/sub/inner.txt"; settle
wait "${BG[-1]}"
ev=$(events "$TMP/s1")
has "$ev" "CREATE a.txt" "create event"
has "$ev" "WRITE a.txt" "write event"
has "$ev" "CHMOD a.txt" "chmod event"
has "$ev" "RENAME a.txt" "rename event (old name)"
has "$ev" "CREATE b.txt" "rename target reported as create"
has "$ev" "REMOVE b.txt" "remove event"
hasnt "$ev" "sub/inner.txt" "non-recursive watch ignores subdirectories"
has "$(tail -1 "$TMP/s1")" '"code":"deadline_exceeded"' "Connect-Timeout-Ms ends the stream with deadline_exceeded"

# --- recursive stream, new subdirectories, includeEntry, keepalive
watch_bg "$TMP/s2" '{"path":"'$TMP/w'","recursive":true,"includeEntry":true}' -H 'Connect-Timeout-Ms: 4500' -H 'Keepalive-Ping-Interval: 1'
echo deeper >"$TMP/w/sub/inner.txt"; settle
mkdir "$TMP/w/new"; settle
echo fresh >"$TMP/w/new/f.txt"; settle
mkdir -p "$TMP/w/p/q/r"; echo z >"$TMP/w/p/q/r/z.txt"; settle
sleep 1.3
wait "${BG[-1]}"
ev=$(events "$TMP/s2")
has "$ev" "WRITE sub/inner.txt" "recursive: event in an existing subdirectory"
has "$ev" "CREATE new" "recursive: new subdirectory reported"
has "$ev" "CREATE new/f.txt" "recursive: file in a new subdirectory"
has "$ev" "CREATE p/q/r/z.txt" "recursive: mkdir -p tree reported down to the file"
is "$(cut -d' ' -f2- "$TMP/s2" | jq -r 'select(.filesystem.name=="new/f.txt" and .filesystem.type=="EVENT_TYPE_CREATE") | .filesystem.entry.path' 2>/dev/null | head -1)" "$TMP/w/new/f.txt" "includeEntry gives the entry path"
[ "$(grep -c '"keepalive"' "$TMP/s2")" -ge 2 ]; ok $? "keepalive events per Keepalive-Ping-Interval"
# the end frame goes out just before the tree is freed
for _ in $(seq 40); do [ "$(inotify_fds)" = 0 ] && break; sleep 0.05; done
is "$(inotify_fds)" 0 "inotify fds released after streams ended"

# --- a client that goes away
enc '{"path":"'$TMP/w'"}' >"$TMP/req"
curl -s -N -H 'Content-Type: application/connect+json' --data-binary @"$TMP/req" "$U/filesystem.Filesystem/WatchDir" >/dev/null &
CURL=$!
BG+=($CURL)
for _ in $(seq 50); do [ "$(inotify_fds)" = 1 ] && break; sleep 0.05; done
is "$(inotify_fds)" 1 "a stream holds one inotify fd"
kill $CURL 2>/dev/null; wait $CURL 2>/dev/null
for _ in $(seq 40); do [ "$(inotify_fds)" = 0 ] && break; sleep 0.05; done
is "$(inotify_fds)" 0 "client disconnect releases the inotify fd"

# --- a client that half-closes after its request still gets the stream
enc '{"path":"'$TMP/w'"}' >"$TMP/half.req"
perl -MIO::Socket::INET -e '
	my ($port, $file) = @ARGV;
	open(my $f, "<", $file) or die; binmode $f; my $body = do { local $/; <$f> };
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") or die;
	print $s "POST /filesystem.Filesystem/WatchDir HTTP/1.1\r\nHost: x\r\nContent-Type: application/connect+json\r\nConnect-Timeout-Ms: 2500\r\nContent-Length: " . length($body) . "\r\n\r\n$body";
	shutdown($s, 1);
	local $/; my $all = <$s>; print $all;' $PORT "$TMP/half.req" >"$TMP/half" &
BG+=($!)
sleep 0.6; echo half >"$TMP/w/half.txt"
wait "${BG[-1]}"
has "$(tr -d '\0' <"$TMP/half")" '"name":"half.txt","type":"EVENT_TYPE_CREATE"' "half-closed client keeps receiving events"
has "$(tr -d '\0' <"$TMP/half")" 'deadline_exceeded' "and the end of the stream"

# --- polling watchers
rm -rf "$TMP/p"; mkdir -p "$TMP/p/d"
WID=$(unary filesystem.Filesystem/CreateWatcher '{"path":"'$TMP/p'","recursive":true}' | jq -r .watcherId)
[ -n "$WID" ] && [ "$WID" != null ]; ok $? "CreateWatcher returns a watcherId ($WID)"
echo a >"$TMP/p/x"; echo b >"$TMP/p/d/y"; settle
ev=$(unary filesystem.Filesystem/GetWatcherEvents '{"watcherId":"'$WID'"}' | jq -r '.events[] | "\(.type) \(.name)"')
has "$ev" "CREATE x" "polled events: create"
has "$ev" "WRITE d/y" "polled events: recursive write"
is "$(unary filesystem.Filesystem/GetWatcherEvents '{"watcher_id":"'$WID'"}' | jq -c '.events | length')" 0 "events are drained by a poll"
seq 1 2500 | (cd "$TMP/p/d" && xargs touch); sleep 1
is "$(unary filesystem.Filesystem/GetWatcherEvents '{"watcherId":"'$WID'"}' | jq -r .code)" resource_exhausted "queue overflow reported once"
is "$(unary filesystem.Filesystem/GetWatcherEvents '{"watcherId":"'$WID'"}' | jq -r '.events | length')" 4096 "then the kept (capped) events"
is "$(unary filesystem.Filesystem/RemoveWatcher '{"watcherId":"'$WID'"}')" "{}" "RemoveWatcher"
is "$(ustatus filesystem.Filesystem/GetWatcherEvents '{"watcherId":"'$WID'"}')" 404 "removed watcher: not_found"
is "$(unary filesystem.Filesystem/RemoveWatcher '{"watcherId":"wnope"}' | jq -r .code)" not_found "removing an unknown watcher: not_found"
is "$(unary filesystem.Filesystem/CreateWatcher '{"path":"'$TMP/nope'"}' | jq -r .code)" not_found "CreateWatcher on a missing path: not_found"
is "$(inotify_fds)" 0 "no inotify fd left after RemoveWatcher"
kill -0 $PID; ok $? "envd survived"

echo "# envd log:"; sed 's/^/# /' "$TMP/envd.log" | tail -5
[ $n -eq $TESTS ] || echo "# planned $TESTS but ran $n"
exit 0
