# Shared by the host-side envd tests (source it): TAP helpers, envd_start and the
# Connect/JSON request helpers.  Sets: B ENVD n fails; after envd_start also PORT PID U C.
B=${WRENN_BUILD:-build/asan}
ENVD=$B/bin/envd
n=0 fails=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi; }
is() { [ "$1" = "$2" ]; ok $? "$3 (got '$1', want '$2')"; }
has() { case "$1" in *"$2"*) ok 0 "$3" ;; *) ok 1 "$3 (got '$1')" ;; esac; }
hasnt() { case "$1" in *"$2"*) ok 1 "$3 (got '$1')" ;; *) ok 0 "$3" ;; esac; }
# every planned test skipped with a reason, then exit
skip_all() { for i in $(seq 1 "$TESTS"); do echo "ok $i # skip $1"; done; exit 0; }
# a needed tool is missing: skip every test, or under CI (WRENN_CI from scripts/run-tests.sh,
# or CI) fail every test
tools_missing() {
	if [ -n "${WRENN_CI:-}" ] || { [ -n "${CI:-}" ] && [ "${CI:-}" != false ]; }; then
		for i in $(seq 1 "$TESTS"); do echo "not ok $i - not run under CI: $1"; done
		exit 1
	fi
	skip_all "$1"
}
envd_tools_ok() { [ -x "$ENVD" ] && command -v curl >/dev/null && command -v jq >/dev/null && command -v perl >/dev/null && command -v python3 >/dev/null; }

# envd_start [VAR=value...]: envd on a random loopback port (environment from the arguments),
# its stderr in $TMP/envd.log (appended: a restart keeps the earlier lines); waits for /health.
# The access token is kept in $TMP/run/envd-token, not the host's /run/wrenn.  The caller's
# cleanup kills $PID.
envd_start() {
	# port 0: the kernel picks a free port and envd logs it (no collisions between runs)
	local from
	from=$(cat "$TMP/envd.log" 2>/dev/null | wc -l)
	env WRENN_ENVD_TOKEN_FILE="$TMP/run/envd-token" "$@" "$ENVD" --listen 127.0.0.1:0 2>>"$TMP/envd.log" &
	PID=$!
	PORT=
	for _ in $(seq 50); do
		PORT=$(tail -n +$((from + 1)) "$TMP/envd.log" | sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' | head -1)
		[ -n "$PORT" ] && break
		sleep 0.1
	done
	U=http://127.0.0.1:${PORT:-0}
	for _ in $(seq 50); do curl -s -o /dev/null "$U/health" && break; sleep 0.1; done
}

C=(curl -s -m 20)
enc() { perl -e 'print pack("CN", 0, length $ARGV[0]), $ARGV[0]' "$1"; }
# decode a Connect stream into "flag json" lines
dec() { perl -e '$|=1; while (read(STDIN,$h,5)==5) { ($f,$n)=unpack("CN",$h); if (read(STDIN,$p,$n) < $n) { print "TRAILING\n"; last } print "$f $p\n" }'; }
stream() { enc "$2" | "${C[@]}" -N -H 'Content-Type: application/connect+json' "${@:3}" --data-binary @- "$U/$1" | dec; }
unary() { "${C[@]}" -H 'Content-Type: application/json' "${@:3}" -d "$2" "$U/$1"; }
ustatus() { "${C[@]}" -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' "${@:3}" -d "$2" "$U/$1"; }
# stdout of a process started with request $1 (extra curl args after)
run_out() { stream process.Process/Start "$1" "${@:2}" | jq -r 'select(.event.data.stdout) | .event.data.stdout' 2>/dev/null | base64 -d; }
