#!/usr/bin/env bash
# Static checks on the tree: clang-format (diff), cppcheck.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h')
clang-format --dry-run --Werror "${files[@]}"
# cppcheck cannot see through __attribute__((cleanup)): leak findings belong to ASan/LSan.
cppcheck --quiet --error-exitcode=1 --std=c11 --inline-suppr -D_GNU_SOURCE -Isrc \
	--enable=warning,portability --suppress=memleak --suppress=resourceLeak \
	--suppress=missingIncludeSystem --suppress=unknownMacro "${files[@]}"
echo "lint: clean (${#files[@]} files)"
