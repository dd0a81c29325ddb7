#!/usr/bin/env bash
# core/ follows the root .clang-format: clang-format would change nothing.
# Skipped (77) where clang-format is not installed (ci/install-deps
# installs it).
#   tests/core-format.sh [SOURCE_DIR]
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
if ! command -v clang-format >/dev/null; then
  echo "core-format: no clang-format, skipped"
  exit 77
fi
if ! clang-format --dry-run -Werror core/*.c core/*.h; then
  echo "core-format: FAIL (run clang-format -i core/*.c core/*.h)" >&2
  exit 1
fi
echo "core-format: ok"
