#!/usr/bin/env bash
# Files through the E2B SDK (npm e2b, tests/e2b): sbx.files.write of 50 MiB (random bytes, one
# Blob) and sbx.files.read of it back (format 'bytes'), BENCH_N (5) times each in one sandbox,
# checked byte for byte; MiB/s medians.  Uses the agent at WRENN_API_URL/WRENN_API_KEY when set,
# else a private one (bench/cli-lib.sh; template minimal unless WRENN_TEMPLATE).
#   BENCH sdk_upload_50m_mibs <p50> MiB/s min=<x> n=<N>
#   BENCH sdk_download_50m_mibs <p50> MiB/s min=<x> n=<N>
# Env: BENCH_N (5), BENCH_MIB (50), WRENN_BUILD (build/release), WRENN_GUEST, WRENN_TEMPLATE.
# BENCH_PARTS=1: each round also sends the same body (one multipart part, 50 MiB, overwriting the
# SDK's file) with curl through the agent's proxy, straight to envd from the sandbox's network
# namespace (root, private agent only) and straight to envd into /dev/null, interleaved with the
# SDK's writes; "# parts" lines give their medians: SDK vs proxy is the client's share, proxy vs
# direct the proxy's, direct vs null the guest's disk and commit.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=bench/cli-lib.sh
. bench/cli-lib.sh
for c in node npm curl; do
	command -v $c >/dev/null || { echo "sdk-files: needs $c" >&2; exit 1; }
done
(cd tests/e2b && want=$(sha256sum package-lock.json | cut -d' ' -f1) &&
	{ [ "$(cat node_modules/.wrenn-lock.sha256 2>/dev/null)" = "$want" ] ||
		{ npm ci --no-audit --no-fund --prefer-offline --loglevel=error >/dev/null &&
			echo "$want" >node_modules/.wrenn-lock.sha256; }; }) ||
	{ echo "sdk-files: npm ci in tests/e2b failed" >&2; exit 1; }
bench_agent sdk-files || exit 1
if [ -z "${WRENN_API_KEY:-}" ]; then
	echo "sdk-files: set WRENN_API_KEY for the agent at $WRENN_API_URL" >&2
	exit 1
fi
work=$(mktemp -d /tmp/wrenn-bench-sdkf.XXXXXX)
trap 'rm -rf "$work"; bench_agent_stop' EXIT
# One line per transfer: "up <MiB/s>" or "down <MiB/s>".
JS='
import { Sandbox } from "e2b"
import { randomBytes } from "node:crypto"
import { execFileSync } from "node:child_process"
import { writeFileSync } from "node:fs"
const n = Number(process.env.BENCH_N || 5), mib = Number(process.env.BENCH_MIB || 50)
const t = process.env.WRENN_E2B_TEMPLATE || undefined
const data = randomBytes(mib << 20)
const sbx = t ? await Sandbox.create(t) : await Sandbox.create()
// BENCH_PARTS: the same part sent by curl (see the header); prints "<name> <MiB/s>"
const parts = process.env.BENCH_PARTS === "1"
const bd = "wrennbenchboundary7MA4YWxk", body = `${process.env.WORK}/body`
let ns = ""
if (parts) {
  writeFileSync(body, Buffer.concat([Buffer.from(`--${bd}\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n`), data, Buffer.from(`\r\n--${bd}--\r\n`)]))
  try {
    const pid = execFileSync("pgrep", ["-f", "--", `-name wrenn-${sbx.sandboxId} `]).toString().trim().split("\n")[0]
    ns = execFileSync("ip", ["netns", "identify", pid]).toString().trim()
  } catch { ns = "" }
}
function curl(name, base, path, inNs) {
  const h = ["-H", "Content-Type: multipart/form-data; boundary=" + bd, "-H", "Expect:", "-H", "E2b-Sandbox-Id: " + sbx.sandboxId, "-H", "E2b-Sandbox-Port: 49983"]
  if (sbx.envdAccessToken) h.push("-H", "X-Access-Token: " + sbx.envdAccessToken)
  const args = ["--max-time", "120", "-s", "-f", "-o", "/dev/null", "-w", "%{time_total}", ...h, "--data-binary", "@" + body, `${base}/files?path=${encodeURIComponent(path)}`]
  const out = inNs ? execFileSync("ip", ["netns", "exec", ns, "curl", ...args]) : execFileSync("curl", args)
  console.log(`${name} ${(mib / Number(out.toString())).toFixed(1)}`)
}
try {
  for (let i = 0; i < n; i++) {
    let t0 = performance.now()
    await sbx.files.write("/tmp/sdk-files.bin", new Blob([data]))
    console.log(`up ${(mib / ((performance.now() - t0) / 1000)).toFixed(1)}`)
    if (parts) {
      curl("proxy", process.env.E2B_SANDBOX_URL, "/tmp/sdk-files.bin", false)
      if (ns) curl("direct", "http://169.254.0.21:49983", "/tmp/sdk-files.bin", true)
      if (ns) curl("null", "http://169.254.0.21:49983", "/dev/null", true)
    }
    t0 = performance.now()
    const back = await sbx.files.read("/tmp/sdk-files.bin", { format: "bytes" })
    console.log(`down ${(mib / ((performance.now() - t0) / 1000)).toFixed(1)}`)
    if (Buffer.compare(Buffer.from(back), data) !== 0) throw new Error(`run ${i}: read back differs`)
  }
} finally {
  await sbx.kill()
}
'
if ! (cd tests/e2b && env -i PATH="$PATH" HOME="${HOME:-/root}" BENCH_N="${BENCH_N:-5}" BENCH_MIB="${BENCH_MIB:-50}" \
	E2B_API_URL="$WRENN_API_URL" E2B_SANDBOX_URL="$BENCH_SANDBOX_URL" E2B_API_KEY="$WRENN_API_KEY" \
	BENCH_PARTS="${BENCH_PARTS:-0}" WORK="$work" \
	WRENN_E2B_TEMPLATE="$BENCH_TEMPLATE" timeout 600 node --input-type=module -e "$JS") >"$work/t" 2>"$work/err"; then
	echo "sdk-files: $(tail -5 "$work/err")" >&2
	exit 1
fi
echo "# command: node (tests/e2b) sbx.files.write / files.read of ${BENCH_MIB:-50} MiB x${BENCH_N:-5} (load $(cut -d' ' -f1-3 /proc/loadavg))"
# every run in order (the first write makes the file, later ones overwrite it): on a shared
# 2-core host the spread says as much as the median
echo "# runs MiB/s: up $(awk '$1 == "up" {printf " %s", $2}' "$work/t"); down $(awk '$1 == "down" {printf " %s", $2}' "$work/t")"
if [ "${BENCH_PARTS:-0}" = 1 ]; then
	for p in proxy direct null; do
		awk -v p=$p '$1 == p {print $2}' "$work/t" | sort -n | awk -v p=$p '{v[NR]=$1} END {
			if (NR) printf "# parts %s (curl, %s): %.1f MiB/s median, n=%d, min %s max %s\n", p,
				p == "proxy" ? "through the agent proxy" : p == "direct" ? "straight to envd in the netns" : "straight to envd, /dev/null",
				(NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2, NR, v[1], v[NR] }'
	done
fi
for d in up down; do
	name=sdk_upload_50m_mibs
	[ $d = down ] && name=sdk_download_50m_mibs
	awk -v d=$d '$1 == d {print $2}' "$work/t" | sort -n | awk -v n="$name" '{v[NR]=$1} END {
		if (!NR) { print "BENCH " n " NaN MiB/s min=NaN n=0"; exit }
		printf "BENCH %s %.1f MiB/s min=%.1f n=%d\n", n, (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2, v[1], NR }'
done
