#!/usr/bin/env bash
# Usage: report-uplink.sh P2P_SIM SCENARIO...
# The report's bytes-sent plot counts each message while its sender's
# uplink serialises it, so the busiest interval of any node (the caption's
# "Busiest: nN at T s, P% of its uplink") is at most its capacity. Counting
# bytes when they were queued showed several times the capacity.
set -euo pipefail
sim=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
for s in "$@"; do
  "$sim" run "$s" --quiet --report "$tmp/r.html" >/dev/null 2>"$tmp/err" ||
    { cat "$tmp/err"; fail "p2p-sim run $s --report failed"; }
  line=$(grep -o 'Busiest: n[0-9]* at [0-9.]* s, [0-9.]*% of its uplink' "$tmp/r.html") ||
    fail "$s: no 'Busiest: ... of its uplink' in the report"
  pct=${line%\% of its uplink}
  pct=${pct##* }
  # 100.5: the per-interval sums are floating point.
  awk -v p="$pct" 'BEGIN { exit !(p > 20 && p <= 100.5) }' ||
    fail "$s: $line (want at most 100.5%, and a busy link)"
  echo "ok: $(basename "$s"): $line"
done
