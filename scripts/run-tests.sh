#!/usr/bin/env bash
# Everything CI runs: deps, build (release + ASan), unit tests, format-check and lint, fuzz
# corpora, guest image, integration tests (TAP under prove).  Ends with one line
# "wrenn-tests: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
# Under CI a test whose tools are missing fails instead of skipping (tests/lib/*.sh read this).
export WRENN_CI=1

scripts/install-deps.sh || exit 1
jobs=$(nproc)
make -j"$jobs" MODE=release all >build-release.log 2>&1 || { cat build-release.log; echo "wrenn-tests: 0 passed, 1 failed"; exit 1; }
make -j"$jobs" MODE=asan host >build-asan.log 2>&1 || { cat build-asan.log; echo "wrenn-tests: 0 passed, 1 failed"; exit 1; }

pass=0 fail=0 skip=0

# 1. unit tests (ASan+UBSan)
unit_out=$(make -j"$jobs" --no-print-directory unit 2>&1); unit_rc=$?
printf '%s\n' "$unit_out"
line=$(printf '%s\n' "$unit_out" | grep -E '^unit: [0-9]+ passed, [0-9]+ failed' | tail -1)
p=$(sed -n 's/^unit: \([0-9]*\) passed.*/\1/p' <<<"$line"); f=$(sed -n 's/.* \([0-9]*\) failed.*/\1/p' <<<"$line")
pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0}))
[ $unit_rc -ne 0 ] && [ "${f:-0}" -eq 0 ] && fail=$((fail + 1))

# 2. static checks: formatting and cppcheck, one pass/fail line each
for check in format-check lint; do
	out=$(make --no-print-directory "$check" 2>&1); rc=$?
	printf '%s\n' "$out" | tail -20
	if [ $rc -eq 0 ]; then pass=$((pass + 1)); echo "$check: ok"; else fail=$((fail + 1)); echo "$check: FAILED"; fi
done

# 3. fuzz corpora replayed under ASan+UBSan (gcc; no clang needed)
fuzz_out=$(make --no-print-directory fuzz-replay 2>&1); fuzz_rc=$?
printf '%s\n' "$fuzz_out" | grep -v '^gcc \|^ar ' | tail -20
if [ $fuzz_rc -eq 0 ]; then pass=$((pass + 1)); echo "fuzz-replay: ok"; else fail=$((fail + 1)); echo "fuzz-replay: FAILED"; fi

# 4. guest image and integration tests (need root: namespaces, TAP, loop devices)
if [ -d tests/integration ] && ls tests/integration/*.t >/dev/null 2>&1; then
	if [ -f mk/guest.mk ]; then
		make --no-print-directory guest || { echo "guest image build failed"; fail=$((fail + 1)); }
	fi
	tap_log=$(mktemp)
	WRENN_BUILD="$PWD/build/asan" WRENN_GUEST="$PWD/build/guest" prove -v --timer tests/integration/*.t 2>&1 | tee "$tap_log"
	p=$(grep -cE '^(\[[0-9:]+\] )?ok [0-9]+' "$tap_log" || true)
	s=$(grep -ciE '^(\[[0-9:]+\] )?ok [0-9]+.*# skip' "$tap_log" || true)
	f=$(grep -cE '^(\[[0-9:]+\] )?not ok [0-9]+' "$tap_log" || true)
	# a script that died without "not ok" lines still fails the run
	if grep -qE '^Result: FAIL' "$tap_log" && [ "$f" -eq 0 ]; then f=1; fi
	pass=$((pass + p - s)); skip=$((skip + s)); fail=$((fail + f))
	rm -f "$tap_log"
fi

echo "wrenn-tests: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
