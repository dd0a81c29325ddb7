#!/bin/sh
# Usage: metrics-openmetrics.sh P2P_SIM DETERMINISM.yaml
# p2p-sim run --metrics DIR --metrics-format openmetrics: DIR/metrics.om
# is OpenMetrics that promtool turns into TSDB blocks holding every
# sample; every sample has a node label and a timestamp from
# 2024-01-01T00:00:00Z; the file ends in "# EOF"; the same run writes the
# same file; the trace is the trace of a run without metrics; bad flags
# exit 2.
set -eu
sim=$1 scenario=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
command -v promtool >/dev/null || fail "promtool missing (Debian package prometheus)"

"$sim" run "$scenario" --quiet --events --trace "$tmp/plain.trace" >/dev/null
"$sim" run "$scenario" --quiet --events --trace "$tmp/om.trace" \
  --metrics "$tmp/a" --metrics-format openmetrics --metrics-every 500ms \
  >/dev/null 2>"$tmp/a.err" || fail "run: $(cat "$tmp/a.err")"
cmp "$tmp/plain.trace" "$tmp/om.trace" || fail "openmetrics output changed the trace"
grep -q "metrics.om: every sample" "$tmp/a.err" || fail "summary line: $(cat "$tmp/a.err")"
om=$tmp/a/metrics.om
[ "$(tail -n 1 "$om")" = "# EOF" ] || fail "metrics.om does not end in # EOF"
[ -f "$tmp/a/node-0.prom" ] && [ -f "$tmp/a/timeseries.csv" ] ||
  fail "the text files are missing"

# Every sample: node label first, a timestamp in [epoch, epoch + run].
awk '
  /^#/ { next }
  $1 !~ /^[a-z_0-9]+\{node="[0-9]+"[,}]/ { print "no node label: " $0; exit 1 }
  NF != 3 { print "not name value timestamp: " $0; exit 1 }
  $3 < 1704067200 || $3 > 1704067200 + 60 { print "timestamp: " $0; exit 1 }
  $3 == "1704067200.000" { first = 1 }
  END { if (!first) { print "no sample at virtual time 0"; exit 1 } }
' "$om" || fail "metrics.om samples"
# Counters are named without _total in TYPE lines, their samples with it.
grep -q '^# TYPE p2p_artifacts_delivered counter$' "$om" || fail "counter family name"
grep -q '^p2p_artifacts_delivered_total{node="0"} ' "$om" || fail "counter sample name"
# Each family's samples together: a family's TYPE line comes once.
dups=$(awk '/^# TYPE / { print $3 }' "$om" | sort | uniq -d)
[ -z "$dups" ] || fail "families repeated: $dups"

# Loadable, and every sample loaded.
promtool tsdb create-blocks-from openmetrics "$om" "$tmp/tsdb" >"$tmp/blocks.out" 2>&1 ||
  { cat "$tmp/blocks.out"; fail "promtool create-blocks-from refused metrics.om"; }
mkdir -p "$tmp/tsdb/wal"
loaded=$(promtool tsdb list "$tmp/tsdb" | awk 'NR > 1 { s += $5 } END { print s + 0 }')
lines=$(grep -vc '^#' "$om")
[ "$loaded" -eq "$lines" ] || fail "promtool loaded $loaded samples of $lines"
# A value read back: node 3's deliveries at the last sample.
last=$(awk '$1 == "p2p_artifacts_delivered_total{node=\"3\"}" { v = $2; t = $3 } END { print v, t }' "$om")
set -- $last
ms=$(echo "$2" | tr -d .)
got=$(promtool tsdb dump --match='p2p_artifacts_delivered_total{node="3"}' "$tmp/tsdb" 2>/dev/null |
  awk -v ms="$ms" '$NF == ms { print $(NF - 1) }')
[ "$got" = "$1" ] || fail "node 3's last deliveries: $1 in the file, '$got' in the TSDB"

# The same run, the same file.
"$sim" run "$scenario" --quiet --metrics "$tmp/b" --metrics-format openmetrics \
  --metrics-every 500ms >/dev/null 2>&1
cmp "$om" "$tmp/b/metrics.om" || fail "two runs wrote different metrics.om"

# Bad flags exit 2 and say why.
expect_exit2() {
  want=$1; shift
  set +e
  err=$("$@" 2>&1 >/dev/null); rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "'$*' exited $rc, want 2"
  case "$err" in *"$want"*) ;; *) fail "'$*' said: $err (want '$want')";; esac
}
expect_exit2 "not prometheus or openmetrics" "$sim" run "$scenario" --metrics "$tmp/x" --metrics-format xml
expect_exit2 "at least 1ms" "$sim" run "$scenario" --metrics "$tmp/x" --metrics-format openmetrics --metrics-every 500us
expect_exit2 "needs --metrics" "$sim" run "$scenario" --metrics-format openmetrics
echo "ok: metrics.om: $lines samples, $(grep -c '^# TYPE' "$om") families, loaded by promtool ($loaded samples)"
