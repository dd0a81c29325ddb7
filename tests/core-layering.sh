#!/usr/bin/env bash
# core/ is the bottom layer (docs/architecture.md, "Layers"): its files
# include only core/ headers, the generated protobuf header, protobuf-c,
# nettle, zstd and the C library; its modules form no circle of includes or
# calls (ci/core-graph); its cross-file internal names carry their file's
# prefix (ci/names core).
#   tests/core-layering.sh [SOURCE_DIR]
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
fail=0
allowed='^#[[:space:]]*include[[:space:]]*("core/[a-z0-9_]+\.h"|"p2p\.pb-c\.h"|<protobuf-c/protobuf-c\.h>|<nettle/[a-z0-9_]+\.h>|<zstd(_errors)?\.h>|<(assert|errno|inttypes|limits|stdarg|stdbool|stddef|stdint|stdio|stdlib|string)\.h>)'
while IFS= read -r line; do
  file=${line%%:*}
  rest=${line#*:}
  rest=${rest#*:}
  if ! [[ $rest =~ $allowed ]]; then
    echo "core-layering: $file includes outside core: $rest" >&2
    fail=1
  fi
done < <(grep -Hn '^#[[:space:]]*include' core/*.c core/*.h)
./ci/core-graph --check || fail=1
./ci/names core || fail=1
if [ "$fail" -ne 0 ]; then
  echo "core-layering: FAIL" >&2
  exit 1
fi
echo "core-layering: ok"
