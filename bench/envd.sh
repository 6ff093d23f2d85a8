#!/usr/bin/env bash
# envd on the host (no VM): exec round trip of `true` and a 100 MB upload + download via /files.
#   exec: one node process (tests/e2b/envd-debug/bench-exec.mjs) runs BENCH_N sequential
#         process.Process/Start calls of `true` over one keep-alive connection, each timed from
#         the request to the end-stream frame; then the same through the npm e2b SDK's
#         commands.run('true') (which runs `bash -l -c true`).
#   files: curl POST /files (application/octet-stream) and GET /files of a 100 MB random file,
#          BENCH_FILE_N times each (to /dev/null); the bytes are checked (sha256) both ways once.
# Env: WRENN_BUILD (default build/release) for bin/envd, BENCH_N (default 50), BENCH_FILE_N
# (default 5), BENCH_DIR (where the files go, default a scratch dir in /var/tmp: disk, not tmpfs).
# Prints: BENCH envd-exec-true <median> ms p95=<p95> n=<N>
#         BENCH envd-exec-true-sdk ...   BENCH envd-upload-100m ...   BENCH envd-download-100m ...
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
envd=${WRENN_BUILD:-build/release}/bin/envd
n=${BENCH_N:-50}
nf=${BENCH_FILE_N:-5}
die() { echo "envd-bench: $*" >&2; exit 1; }
[ -x "$envd" ] || die "$envd is not built (make $envd)"
for c in node npm curl sha256sum; do command -v $c >/dev/null || die "needs $c"; done
(cd tests/e2b && want=$(sha256sum package-lock.json | cut -d' ' -f1) &&
	{ [ "$(cat node_modules/.wrenn-lock.sha256 2>/dev/null)" = "$want" ] ||
		{ npm ci --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null &&
			echo "$want" >node_modules/.wrenn-lock.sha256; }; }) ||
	die "npm ci in tests/e2b failed"

work=$(mktemp -d "${BENCH_DIR:-/var/tmp}/wrenn-bench-envd.XXXXXX") || die "cannot create a scratch dir"
EPID=''
cleanup() {
	[ -n "$EPID" ] && kill -TERM "$EPID" 2>/dev/null && wait "$EPID" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

# stats NAME FILE DECIMALS: "BENCH NAME <median> ms p95=<p95> n=<N>"
stats() {
	sort -n "$2" | awk -v name="$1" -v d="$3" '{v[NR]=$1} END {
		if (NR == 0) { print "BENCH " name " NaN ms p95=NaN n=0"; exit }
		m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
		i = int(NR * 0.95 + 0.999); if (i > NR) i = NR
		printf "BENCH %s %.*f ms p95=%.*f n=%d\n", name, d, m, d, v[i], NR }'
}

# port 0: the kernel picks a free one, envd logs it
"$envd" --listen 127.0.0.1:0 2>"$work/envd.log" &
EPID=$!
port=''
for _ in $(seq 100); do
	port=$(sed -n 's/.*listening on .*(port \([0-9]*\)).*/\1/p' "$work/envd.log" | head -1)
	[ -n "$port" ] && break
	kill -0 "$EPID" 2>/dev/null || break
	sleep 0.1
done
[ -n "$port" ] || die "envd did not start: $(tail -3 "$work/envd.log")"
U=http://127.0.0.1:$port
for _ in $(seq 50); do curl -s -o /dev/null "$U/health" && break; sleep 0.1; done

# --- exec ----------------------------------------------------------------------------------------
(cd tests/e2b && ENVD_URL=$U node envd-debug/bench-exec.mjs raw "$n") >"$work/exec" ||
	die "exec client failed"
stats envd-exec-true "$work/exec" 2
(cd tests/e2b && ENVD_URL=$U node envd-debug/bench-exec.mjs sdk "$n") >"$work/exec-sdk" ||
	die "SDK exec client failed"
stats envd-exec-true-sdk "$work/exec-sdk" 2

# --- files ---------------------------------------------------------------------------------------
head -c $((100 * 1024 * 1024)) /dev/urandom >"$work/src"
want=$(sha256sum <"$work/src" | cut -d' ' -f1)
dst=$work/up/dst.bin
for ((i = 0; i < nf; i++)); do
	t=$(curl -s -f -o /dev/null -w '%{time_total}' -H 'Content-Type: application/octet-stream' \
		--data-binary @"$work/src" "$U/files?path=$dst") || die "upload $i failed"
	echo "$t" | awk '{printf "%.1f\n", $1 * 1000}' >>"$work/up.t"
	if [ "$i" = 0 ]; then
		[ "$(sha256sum <"$dst" | cut -d' ' -f1)" = "$want" ] || die "uploaded file differs from the source"
	fi
done
# one untimed download checks the bytes; the timed ones go to /dev/null
curl -s -f -o "$work/down" "$U/files?path=$dst" || die "download failed"
[ "$(sha256sum <"$work/down" | cut -d' ' -f1)" = "$want" ] || die "downloaded bytes differ"
rm -f "$work/down"
for ((i = 0; i < nf; i++)); do
	t=$(curl -s -f -o /dev/null -w '%{time_total} %{size_download}' "$U/files?path=$dst") ||
		die "download $i failed"
	[ "${t#* }" = $((100 * 1024 * 1024)) ] || die "download $i: ${t#* } bytes"
	echo "${t% *}" | awk '{printf "%.1f\n", $1 * 1000}' >>"$work/down.t"
done
stats envd-upload-100m "$work/up.t" 0
stats envd-download-100m "$work/down.t" 0
