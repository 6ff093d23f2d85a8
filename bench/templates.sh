#!/usr/bin/env bash
# Template builds (issue 10) through E2B's build API on base (debian): a cold 3-step build
# (COPY + RUN + ENV, force), an identical rebuild (cache hit), a rebuild with only the last step
# changed (steps 1-2 restored from the step cache), and the first create from the new template
# (must take the snapshot path).  Uses the agent at WRENN_API_URL/WRENN_API_KEY when
# set, else starts a private one (bench/cli-lib.sh).
# Env: BENCH_N rounds (default 3), WRENN_BUILD (default build/release), WRENN_GUEST.
# Prints: BENCH template_build_cold_3step / template_build_cached /
# template_build_last_step_changed / template_first_create
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=bench/cli-lib.sh
. bench/cli-lib.sh
for c in curl jq tar sha256sum; do
	command -v $c >/dev/null || { echo "templates: needs $c" >&2; exit 1; }
done
# a private agent's build VMs need no egress here (everything is local)
export WRENN_BUILD_INTERNET=${WRENN_BUILD_INTERNET:-false}
bench_agent templates || exit 1
API=$WRENN_API_URL
H=(-H "X-API-Key: $WRENN_API_KEY")
work=$(mktemp -d /tmp/wrenn-bench-tpl.XXXXXX)
trap 'rm -rf "$work"; bench_agent_stop' EXIT
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
# build NAME FORCE [LAST]: request + start + wait; prints the status.  LAST: the ENV value
build() {
	local tid bid s
	read -r tid bid < <(curl -s "${H[@]}" -d "{\"name\":\"$1\",\"cpuCount\":1,\"memoryMB\":512}" "$API/v3/templates" |
		jq -r '"\(.templateID) \(.buildID)"')
	jq --argjson f "$2" --arg last "${3:-1}" '.force=$f | .steps[2].args[1]=$last' "$work/build.json" >"$work/b.json"
	curl -s "${H[@]}" -d @"$work/b.json" "$API/v2/templates/$tid/builds/$bid" >/dev/null
	for _ in $(seq 1 600); do
		s=$(curl -s "${H[@]}" "$API/templates/$tid/builds/$bid/status" | jq -r .status)
		case $s in ready | error) break ;; esac
		sleep 0.1
	done
	echo "$s"
}
mkdir -p "$work/ctx/app"
head -c 1048576 /dev/urandom >"$work/ctx/app/blob"
echo hello >"$work/ctx/app/hello.txt"
tar -czf "$work/app.tgz" -C "$work/ctx" app
hash=$(sha256sum "$work/app.tgz" | cut -d' ' -f1)
read -r tid _ < <(curl -s "${H[@]}" -d '{"name":"bench-upload"}' "$API/v3/templates" | jq -r '"\(.templateID) \(.buildID)"')
url=$(curl -s "${H[@]}" "$API/templates/$tid/files/$hash" | jq -r '.url // empty')
[ -n "$url" ] && curl -s -X PUT -H 'Expect:' --data-binary @"$work/app.tgz" "$url" >/dev/null
jq -n --arg h "$hash" '{fromTemplate:"base", steps:[
	{type:"COPY", args:["app","/home/user/app","",""], filesHash:$h},
	{type:"RUN", args:["sha256sum /home/user/app/blob > /home/user/app/sum"]},
	{type:"ENV", args:["BENCH","1"]}]}' >"$work/build.json"
: >"$work/cold"; : >"$work/cached"; : >"$work/last"; : >"$work/create"
for i in $(seq 1 "${BENCH_N:-3}"); do
	t=$(date +%s%N)
	s=$(build bench-tpl true)
	[ "$s" = ready ] || { echo "templates: cold build ended $s" >&2; exit 1; }
	ms "$t" >>"$work/cold"
	t=$(date +%s%N)
	s=$(build bench-tpl false)
	[ "$s" = ready ] || { echo "templates: cached build ended $s" >&2; exit 1; }
	ms "$t" >>"$work/cached"
	t=$(date +%s%N)
	s=$(build bench-tpl false "round-$i")
	[ "$s" = ready ] || { echo "templates: last-step-changed build ended $s" >&2; exit 1; }
	ms "$t" >>"$work/last"
	t=$(date +%s%N)
	id=$(curl -s "${H[@]}" -d '{"templateID":"bench-tpl"}' "$API/sandboxes" | jq -r .sandboxID)
	ms "$t" >>"$work/create"
	p=$(curl -s "${H[@]}" "$API/v1/sandboxes/$id" | jq -r .createPath)
	curl -s "${H[@]}" -X DELETE "$API/sandboxes/$id" >/dev/null
	[ "$p" = snapshot ] || { echo "templates: first create took the $p path" >&2; exit 1; }
	echo "# round $i: cold $(tail -1 "$work/cold") ms, cached $(tail -1 "$work/cached") ms, last step changed $(tail -1 "$work/last") ms, create $(tail -1 "$work/create") ms" >&2
done
bench_stats template_build_cold_3step "$work/cold"
bench_stats template_build_cached "$work/cached"
bench_stats template_build_last_step_changed "$work/last"
bench_stats template_first_create "$work/create"
