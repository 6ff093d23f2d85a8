# Shared by the tests that run the npm e2b SDK suites of tests/e2b (source it after the TAP
# helpers ok/skip_rest and the counters n/fail/N exist).  Functions: nok (multi-line details),
# e2b_ci, e2b_missing, e2b_need_tools, e2b_npm_ci, e2b_suite_run, e2b_tap.
nok() { # multi-line details, each line a TAP comment
	n=$((n + 1)); fail=1; echo "not ok $n - $1"
	[ -n "${2:-}" ] && printf '%s\n' "$2" | head -c 1500 | sed 's/^/# /'
	return 0
}

# e2b_ci: running under CI (scripts/run-tests.sh exports WRENN_CI=1; CI systems set CI).
e2b_ci() { [ -n "${WRENN_CI:-}" ] || { [ -n "${CI:-}" ] && [ "${CI:-}" != false ]; }; }

# e2b_missing REASON: something the SDK suite needs (node, npm, the npm packages) is missing.
# Outside CI the rest of the file is skipped; under CI every remaining test fails: the E2B
# compatibility claim must not go untested because a tool was absent.
e2b_missing() {
	if e2b_ci; then
		while [ $n -lt "$N" ]; do nok "not run under CI: $1"; done
		exit 1
	fi
	skip_rest "$1"
}

# e2b_need_tools CMD...: each command on PATH and node >= 20, else e2b_missing.
e2b_need_tools() {
	local c
	for c in "$@"; do command -v "$c" >/dev/null || e2b_missing "needs $c"; done
	[ "$(node -p 'process.versions.node.split(".")[0] >= 20')" = true ] ||
		e2b_missing "needs node >= 20"
}

# e2b_npm_ci TAG [DIR]: npm ci in DIR (default tests/e2b) only when node_modules is stale (as
# tests/e2b/run.sh does), from the npm cache if possible; when it fails, e2b_missing (skip, or
# fail under CI).
e2b_npm_ci() {
	local npmlog msg dir=${2:-tests/e2b}
	npmlog=$(mktemp "/tmp/wrenn-$1-npm.XXXXXX")
	if ! (cd "$dir" && want=$(sha256sum package-lock.json | cut -d' ' -f1) &&
		{ [ "$(cat node_modules/.wrenn-lock.sha256 2>/dev/null)" = "$want" ] ||
			{ timeout 120 npm ci --no-audit --no-fund --prefer-offline --loglevel=error >"$npmlog" 2>&1 &&
				echo "$want" >node_modules/.wrenn-lock.sha256; }; }); then
		msg=$(tail -1 "$npmlog"); rm -f "$npmlog"
		e2b_missing "npm ci in $dir failed (registry unreachable?): $msg"
	fi
	rm -f "$npmlog"
}

# e2b_suite_run OUT ERR API_URL SANDBOX_URL KEY TEST_FILE...: the SDK suite's files (node --test,
# one after another, tap-flat lines in OUT) from tests/e2b in the background, with only the E2B_*
# variables and WRENN_E2B_TEMPLATE (default minimal) set; killed after E2B_SUITE_TIMEOUT seconds
# (default 360).  Sets E2B_SUITE_PID.
e2b_suite_run() {
	local out=$1 err=$2 api=$3 px=$4 key=$5
	shift 5
	(
		cd tests/e2b &&
			exec env -i PATH="$PATH" HOME="${HOME:-/root}" \
				E2B_API_URL="$api" E2B_SANDBOX_URL="$px" E2B_API_KEY="$key" \
				WRENN_E2B_TEMPLATE="${WRENN_E2B_TEMPLATE:-minimal}" \
				timeout "${E2B_SUITE_TIMEOUT:-360}" node --test --test-concurrency=1 \
				--test-reporter=./lib/tap-flat.mjs "$@"
	) >"$out" 2>"$err" &
	E2B_SUITE_PID=$!
}

# e2b_tap NAME OUT ERR SRC T0 WANT: the suite's flat lines in OUT become numbered TAP lines
# (node's TODO does not fail the file), then one line checks that all WANT SDK tests ran
# (SRC: node's exit status, T0: its start in epoch seconds, ERR: its stderr).
e2b_tap() {
	local l i sdk_tests=0
	while IFS= read -r l; do
		case "$l" in
		"ok - "*) n=$((n + 1)); sdk_tests=$((sdk_tests + 1)); echo "ok $n - ${l#ok - }" ;;
		"not ok - "*)
			n=$((n + 1)); sdk_tests=$((sdk_tests + 1))
			case "$l" in *" # TODO"*) ;; *) fail=1 ;; esac
			echo "not ok $n - ${l#not ok - }"
			;;
		*) echo "# $l" ;;
		esac
	done <"$2"
	echo "# $1 suite: $(($(date +%s) - $5)) s, node exit $4"
	# fewer lines: the suite did not finish
	for ((i = sdk_tests; i < $6; i++)); do nok "SDK test missing from the suite's output"; done
	if [ $sdk_tests -eq "$6" ] && { [ "$4" -eq 0 ] || [ $fail -ne 0 ]; }; then
		ok "the suite ran all $6 SDK tests"
	else
		nok "the suite ran all SDK tests ($sdk_tests of $6, node exit $4)" "$(tail -20 "$3")"
	fi
}
