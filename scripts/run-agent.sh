#!/usr/bin/env bash
# README command 1: install, build (host + guest image), start wrenn-agent on its defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
make -j"$(nproc)" all
[ -f mk/guest.mk ] && make guest
if [ ! -x build/release/bin/wrenn-agent ]; then
	echo "run-agent: wrenn-agent is not built yet (see README status)" >&2
	exit 1
fi
exec build/release/bin/wrenn-agent "$@"
