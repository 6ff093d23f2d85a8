#!/usr/bin/env bash
# The web dashboard (web/, served by wrenn-agent at /) against a real agent and real microVMs
# from the minimal template: the served files and their headers, then a real browser
# (playwright-core from tests/web/ driving Debian's chromium headless, tests/web/dashboard.mjs):
# sign in (a wrong key shows the error), create a sandbox, the terminal (echo, Ctrl-C, paste,
# resize seen by stty, reconnect after the connections are reset), upload/download, charts with
# points, the console log, pause/resume/kill from the list, an API error shown in place, every
# page at 1280x800, phone width and dark.  Screenshots: $WRENN_TEST_OUT/95-dashboard (default
# build/test-output/95-dashboard).  Under CI a missing chromium, node or bundle fails.
set -u
cd "$(dirname "$0")/../.."
NB=22 # steps of tests/web/dashboard.mjs
N=$((7 + NB))
echo "1..$N"
. tests/lib/agent.sh
dash_ci() { [ -n "${WRENN_CI:-}" ] || { [ -n "${CI:-}" ] && [ "${CI:-}" != false ]; }; }
need() { # a missing tool: fail under CI, else skip
	if dash_ci; then
		nok "$1"
		while [ $n -lt "$N" ]; do nok "not run: $1"; done
		exit 1
	fi
	skip_rest "$1"
}
[ "$(id -u)" -eq 0 ] || skip_rest "needs root"
[ -x "$AGENT" ] || skip_rest "$AGENT not built (make MODE=asan $AGENT)"
[ -r "$IMAGES/vmlinux" ] && [ -r "$IMAGES/minimal.ext4" ] ||
	skip_rest "no guest images in $IMAGES (make guest-minimal, or set WRENN_GUEST)"
CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
[ -n "$CHROMIUM" ] && [ -x "$CHROMIUM" ] || need "chromium is not installed (scripts/install-deps.sh)"
command -v node >/dev/null && command -v npm >/dev/null || need "node/npm are not installed"
command -v ss >/dev/null || need "ss (iproute2) is not installed"
WEB=$(cd "$(dirname "$AGENT")/../.." && pwd)/web # build/asan/bin -> build/web
[ -f "$WEB/app.js" ] || need "the dashboard is not built in $WEB (make web)"
if [ ! -d tests/web/node_modules/playwright-core ]; then
	make --no-print-directory web-test-deps >/dev/null 2>&1 || need "npm ci in tests/web failed"
fi
OUT=${WRENN_TEST_OUT:-$(dirname "$(dirname "$AGENT")")/../test-output}/95-dashboard
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
AGENT_TIMEOUT=600 agent_start wt95$$ --pool-size 1 --max-sandboxes 4 --web-dir "$WEB"
curl -sf "$API/health" >/dev/null || { nok "agent started"; skip_rest "agent did not start"; }

# --- the files and their headers ------------------------------------------------------------
h=$(curl -s -D - -o "$DATA/index.html" "$API/")
if grep -qi '^Content-Type: text/html; charset=utf-8' <<<"$h" &&
	grep -qi "^Content-Security-Policy: default-src 'self'" <<<"$h" &&
	grep -qi '^X-Content-Type-Options: nosniff' <<<"$h" && grep -qi '^ETag: ' <<<"$h" &&
	grep -q 'src="app.js"' "$DATA/index.html"; then
	ok "GET / without a key: index.html with CSP, nosniff and an ETag"
else
	nok "GET / without a key: index.html with CSP, nosniff and an ETag" "$h"
fi
is "GET /app.js is JavaScript" "$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "$API/app.js")" \
	"200 text/javascript; charset=utf-8"
is "GET /app.css is CSS" "$(curl -s -o /dev/null -w '%{http_code} %{content_type}' "$API/app.css")" \
	"200 text/css; charset=utf-8"
etag=$(curl -s -D - -o /dev/null "$API/app.js" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')
is "a matching If-None-Match is 304" \
	"$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$API/app.js")" 304
codes=""
for p in /../etc/passwd /%2e%2e/etc/passwd /app.js/../../../etc/passwd /web/index.html /build.mjs /package.json; do
	codes="$codes $(curl -s --path-as-is -o /dev/null -w '%{http_code}' "$API$p")"
done
is "no other path is served (traversal, source files)" "$codes" " 404 404 404 404 404 404"
is "the API still wants a key" "$(curl -s -o /dev/null -w '%{http_code}' "$API/v1/sandboxes")" 401

# --- the browser ----------------------------------------------------------------------------
TK=$(curl -s -H "X-API-Key: $K" -H 'Content-Type: application/json' -d '{"name":"dash","team":"t95"}' \
	"$API/v1/keys" | jq -r .key)
log=$DATA/browser.log
TEAMKEY=$TK API=$API KEY=$K OUT=$OUT CHROMIUM=$CHROMIUM TEMPLATE=minimal timeout 400 node tests/web/dashboard.mjs >"$log" 2>&1
rc=$?
# renumber the script's TAP lines after ours
while IFS= read -r line; do
	case $line in
	"ok "*) ok "${line#ok * - }" ;;
	"not ok "*) nok "${line#not ok * - }" "$(awk -v l="$line" '$0 == l {on = 1; next} on && /^#/ {print; next} {on = 0}' "$log" | head -8)" ;;
	esac
done < <(grep -E '^(not )?ok [0-9]+ - ' "$log")
if [ $n -lt $((6 + NB)) ] || [ $rc -ne 0 ]; then
	echo "# dashboard.mjs exited $rc after $((n - 6)) of $NB steps:"
	tail -20 "$log" | sed 's/^/# /'
	while [ $n -lt $((6 + NB)) ]; do nok "browser step not reached"; done
fi
# the agent behind all that (WebSocket bridge threads included): a clean stop, no sanitizer report
kill -TERM "$APID"
for _ in $(seq 1 150); do kill -0 "$APID" 2>/dev/null || break; sleep 0.1; done
wait "$APID" 2>/dev/null
arc=$?
san=$(grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$DATA/agent.err" | head -5)
if [ "$arc" = 0 ] && [ -z "$san" ]; then
	ok "the agent stops cleanly, no sanitizer report"
else
	nok "the agent stops cleanly, no sanitizer report" "exit $arc; $san"
fi
echo "# screenshots in $OUT: $(cd "$OUT" && ls *.png 2>/dev/null | tr '\n' ' ')"
exit $fail
