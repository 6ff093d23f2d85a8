#!/usr/bin/env bash
# `make bench`: run every executable bench/*.sh (or those named as arguments).
# Each prints lines  BENCH <name> <median> <unit> p95=<x> n=<runs>
# Benchmarks are separate from tests: they never gate CI on an absolute time.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -j"$(nproc)" all >/dev/null || exit 1
make --no-print-directory guest >/dev/null || exit 1
export WRENN_BUILD="$PWD/build/release" WRENN_GUEST="$PWD/build/guest" WRENN_GUEST_DIR="$PWD/build/guest"
rc=0
benches=("$@")
[ ${#benches[@]} -eq 0 ] && benches=(bench/*.sh)
for b in "${benches[@]}"; do
	[ -x "$b" ] || continue
	echo "# $b"
	"$b" || rc=1
done
exit $rc
