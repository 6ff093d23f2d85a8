#!/usr/bin/env bash
# envd fd hygiene (issue 12): processes started concurrently (half with a pty, half with a
# stdin pipe, while stdin writes to another process go on) each hold only their own terminal
# or pipes; none inherits another's pty slave or stdin write end, so closing one process's stdin
# gives it EOF at once.  Three rounds of 20.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/envd.sh
ROUNDS=3 PER=20
TESTS=$((ROUNDS * 6))
echo "1..$TESTS"
envd_tools_ok || tools_missing "envd binary ($ENVD), curl, jq or perl missing"
TMP=$(mktemp -d /tmp/envd-fds.XXXXXX)
PID=
BG=() KIDS=()
cleanup() {
	for p in "${KIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in "${BG[@]}" ${PUMPER:-} ${PUMPER2:-} ${PUMP_STREAM:-}; do kill "$p" 2>/dev/null; done
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
envd_start

# fds KID: "fd=target" lines of a process, sorted
fds() { for f in /proc/"$1"/fd/*; do printf '%s=%s\n' "${f##*/}" "$(readlink "$f")"; done | sort; }

# A pump: SendInput to a long-running cat all the time, so that starts race with the stdin
# writes (each write used a plain dup of the stdin pipe, which a concurrent fork inherited).
(stream process.Process/Start '{"process":{"cmd":"cat"},"stdin":true,"tag":"pump"}' -m 120 >"$TMP/pump.out") &
PUMP_STREAM=$!
for _ in $(seq 50); do grep -q start "$TMP/pump.out" 2>/dev/null && break; sleep 0.1; done
PUMP=$(head -1 "$TMP/pump.out" | cut -d' ' -f2- | jq -r .event.start.pid)
KIDS+=("$PUMP")
pump() {
	local body='{"process":{"pid":'"$PUMP"'},"input":{"stdin":"'"$(printf 'x%.0s' $(seq 512) | base64 -w0)"'"}}'
	while :; do "${C[@]}" -o /dev/null -H 'Content-Type: application/json' -d "$body" "$U/process.Process/SendInput" || break; done
}

for round in $(seq "$ROUNDS"); do
	D=$TMP/r$round
	mkdir -p "$D"
	BG=()
	pump &
	PUMPER=$!
	pump &
	PUMPER2=$!
	# all 20 requests at once: even ones with a pty, odd ones with a stdin pipe (cat)
	for i in $(seq "$PER"); do
		if [ $((i % 2)) = 0 ]; then
			req='{"process":{"cmd":"sleep","args":["30"]},"pty":{"size":{"cols":80,"rows":24}},"tag":"p'$round-$i'"}'
		else
			req='{"process":{"cmd":"cat"},"stdin":true,"tag":"c'$round-$i'"}'
		fi
		(stream process.Process/Start "$req" -m 40 >"$D/$i.out") &
		BG+=($!)
	done
	pids=() all=1
	for i in $(seq "$PER"); do
		p=
		for _ in $(seq 100); do
			p=$(head -1 "$D/$i.out" 2>/dev/null | cut -d' ' -f2- | jq -r '.event.start.pid // empty' 2>/dev/null)
			[ -n "$p" ] && break
			sleep 0.1
		done
		[ -n "$p" ] || all=0
		pids[i]=${p:-0}
		[ -n "$p" ] && KIDS+=("$p")
	done
	ok $((1 - all)) "round $round: all $PER processes started"
	kill $PUMPER $PUMPER2 2>/dev/null
	wait $PUMPER $PUMPER2 2>/dev/null

	# each child holds exactly fds 0, 1 and 2: its own pts (pty) or three pipes
	bad= ptys= pipes=
	for i in $(seq "$PER"); do
		p=${pids[i]}
		f=$(fds "$p")
		names=$(printf '%s\n' "$f" | cut -d= -f1 | tr '\n' ' ')
		[ "$names" = "0 1 2 " ] || bad="$bad [$i pid $p: $(printf '%s' "$f" | tr '\n' ' ')]"
		if [ $((i % 2)) = 0 ]; then
			t=$(printf '%s\n' "$f" | cut -d= -f2 | sort -u)
			case "$t" in /dev/pts/[0-9]*) ptys="$ptys $t" ;; *) bad="$bad [$i pty: $t]" ;; esac
		else
			for t in $(printf '%s\n' "$f" | cut -d= -f2); do
				case "$t" in pipe:*) pipes="$pipes $t" ;; *) bad="$bad [$i pipe: $t]" ;; esac
			done
		fi
	done
	[ -z "$bad" ]; ok $? "round $round: every child holds only fds 0-2 ($PER children)${bad:+:$bad}"
	np=$(printf '%s\n' $ptys | sort -u | wc -l)
	is "$np" $((PER / 2)) "round $round: each pty child has its own terminal"
	npipe=$(printf '%s\n' $pipes | sort -u | wc -l)
	is "$npipe" $((PER / 2 * 3)) "round $round: no pipe is shared between children"
	# envd itself keeps only the pty masters (/dev/ptmx), never a slave
	slaves=$(fds "$PID" | grep -c '=/dev/pts/')
	is "$slaves" 0 "round $round: envd holds no pty slave"

	# EOF reaches each cat at once: nobody else holds its stdin write end
	for i in $(seq "$PER"); do
		[ $((i % 2)) = 1 ] && unary process.Process/CloseStdin '{"process":{"pid":'"${pids[i]}"'}}' >/dev/null
	done
	ended=0
	for _ in $(seq 50); do
		ended=0
		for i in $(seq "$PER"); do
			[ $((i % 2)) = 1 ] && grep -q '"end"' "$D/$i.out" 2>/dev/null && ended=$((ended + 1))
		done
		[ $ended = $((PER / 2)) ] && break
		sleep 0.1
	done
	is "$ended" $((PER / 2)) "round $round: every cat ended within 5 s of CloseStdin"
	for i in $(seq "$PER"); do
		[ $((i % 2)) = 0 ] && unary process.Process/SendSignal '{"process":{"pid":'"${pids[i]}"'},"signal":"SIGNAL_SIGKILL"}' >/dev/null
	done
	wait "${BG[@]}" 2>/dev/null
done

echo "# envd log:"; sed 's/^/# /' "$TMP/envd.log" | tail -5
[ $n -eq "$TESTS" ] || echo "# planned $TESTS but ran $n"
exit 0
