#!/usr/bin/env bash
# The C sources of every layer (core/, quic/, sim/, prod/, conf/) follow the root
# .clang-format: clang-format would change nothing.
# Skipped (77) where clang-format is not installed (ci/install-deps
# installs it).
#   tests/code-format.sh [SOURCE_DIR]
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
if ! command -v clang-format >/dev/null; then
  echo "code-format: no clang-format, skipped"
  exit 77
fi
files=(core/*.[ch] quic/*.[ch] sim/*.[ch] prod/*.[ch] conf/*.[ch])
if ! clang-format --dry-run -Werror "${files[@]}"; then
  echo "code-format: FAIL (run clang-format -i core/*.[ch] quic/*.[ch] sim/*.[ch] prod/*.[ch] conf/*.[ch])" >&2
  exit 1
fi
echo "code-format: ok (${#files[@]} files)"
