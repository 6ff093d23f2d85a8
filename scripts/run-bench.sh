#!/usr/bin/env bash
# Run every benchmark in bench/ (executable bench/*.sh); each prints BENCH lines:
#   BENCH <name> <median> <unit> p95=<x> n=<runs>
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -j"$(nproc)" all >/dev/null
rc=0
for b in bench/*.sh; do
	[ -x "$b" ] || continue
	echo "# $b"
	"$b" || rc=1
done
exit $rc
