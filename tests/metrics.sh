#!/bin/sh
# Usage: metrics.sh P2P_SIM QUICKSTART.yaml DATA_DIR METRICS.md
# p2p-sim run --metrics DIR: every node file is Prometheus text with
# p2p_artifacts_delivered_total; the time series has one row per sample
# and running node, evenly spaced, with counters that never go down; a
# crashed node keeps its last values; --metrics changes no trace; bad
# flags exit 2; every family is documented. sh and awk only.
set -eu
sim=$1 quick=$2 data=$3 doc=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# Checks one .prom file: a TYPE for every family before its samples,
# integer values (a *_ratio gauge: three decimals), cumulative histogram
# buckets ending in +Inf == _count,
# and p2p_artifacts_delivered_total present.
check_prom() {
  awk '
    /^# TYPE / { type[$3] = $4; types++; next }
    /^#/ { next }
    NF != 2 { print FILENAME ": bad line: " $0; bad = 1; next }
    {
      name = $1; sub(/\{.*/, "", name); fam = name
      if (!(fam in type)) { fam = name; sub(/_(bucket|sum|count)$/, "", fam) }
      if (!(fam in type)) { print FILENAME ": no TYPE for " name; bad = 1 }
      if (type[fam] != "histogram" && $2 !~ /^[0-9]+$/ &&
          !(fam ~ /_ratio$/ && $2 ~ /^[0-9]+\.[0-9][0-9][0-9]$/)) {
        print FILENAME ": not an integer: " $0; bad = 1
      }
      if (type[fam] == "histogram" && name ~ /_bucket$/) {
        if (fam == last && $2 + 0 < prev + 0) {
          print FILENAME ": buckets not cumulative: " $0; bad = 1
        }
        last = fam; prev = $2
        if ($1 ~ /le="\+Inf"/) inf[fam] = $2
      }
      if (type[fam] == "histogram" && name ~ /_count$/ && inf[fam] != $2) {
        print FILENAME ": +Inf bucket differs from _count: " fam; bad = 1
      }
      if (name == "p2p_artifacts_delivered_total") delivered = $2
    }
    END {
      if (types < 10) { print FILENAME ": too few # TYPE lines"; bad = 1 }
      if (delivered == "") {
        print FILENAME ": no p2p_artifacts_delivered_total"; bad = 1
      }
      exit bad
    }' "$1"
}

# Checks the time series: a constant column count, samples evenly spaced
# by $2 seconds from 0, $3 rows per sample (when $3 > 0), counters per node
# non-decreasing (whole-run columns always, core columns within one
# incarnation). Prints "samples rows".
check_series() {
  awk -F, -v step="$2" -v per="$3" '
    NR == 1 {
      if ($1 != "time_s" || $2 != "node") { print "bad header"; failed = 1; exit 1 }
      cols = NF
      for (i = 1; i <= NF; i++) col[$i] = i
      next
    }
    NF != cols { print "line " NR ": " NF " columns, want " cols; failed = 1; exit 1 }
    {
      t = $1
      if (samples == 0 || t != cur) {
        if (samples > 0 && per > 0 && n != per) {
          print "t=" cur ": " n " rows, want " per; failed = 1; exit 1
        }
        if (samples > 0 && (t - cur < step - 1e-6 || t - cur > step + 1e-6)) {
          print "t=" t " follows t=" cur ", want a step of " step; failed = 1; exit 1
        }
        if (samples == 0 && t + 0 != 0) { print "first sample at " t; failed = 1; exit 1 }
        cur = t; n = 0; samples++
      }
      n++; rows++
      node = $2
      split("deliveries bytes_sent bytes_received messages_sent messages_received", run, " ")
      for (k in run) {
        c = col[run[k]]
        if ((node, c) in was && $c + 0 < was[node, c]) {
          print "node " node " " run[k] " went down at t=" t; failed = 1; exit 1
        }
        was[node, c] = $c + 0
      }
      split("artifacts_delivered artifacts_validated updates_sent updates_retried fetches_started fetches_failed", core, " ")
      if (inc[node] != $3) { inc[node] = $3; fresh[node] = 1 }
      for (k in core) {
        c = col[core[k]]
        if (!fresh[node] && (node, c) in was && $c + 0 < was[node, c]) {
          print "node " node " " core[k] " went down at t=" t; failed = 1; exit 1
        }
        was[node, c] = $c + 0
      }
      fresh[node] = 0
    }
    END {
      if (failed) exit 1
      if (per > 0 && n != per) { print "t=" cur ": " n " rows, want " per; failed = 1; exit 1 }
      print samples, rows
    }' "$1"
}

# 1. quickstart: 13 nodes, all running throughout, sampled every second.
"$sim" run "$quick" --quiet --metrics "$tmp/q/metrics" >"$tmp/q.out" 2>"$tmp/q.err" ||
  { cat "$tmp/q.out" "$tmp/q.err"; fail "quickstart with --metrics"; }
grep -q "timeseries.csv" "$tmp/q.err" || fail "no metrics line in: $(cat "$tmp/q.err")"
nodes=0
for f in "$tmp/q/metrics"/node-*.prom; do
  check_prom "$f" || fail "$f"
  nodes=$((nodes + 1))
done
[ "$nodes" -eq 13 ] || fail "$nodes node files, want 13"
delivered=$(awk '$1 == "p2p_artifacts_delivered_total" { s += $2 } END { print s + 0 }' \
  "$tmp/q/metrics"/node-*.prom)
[ "$delivered" -gt 0 ] || fail "no artifact delivered in the node files"
out=$(check_series "$tmp/q/metrics/timeseries.csv" 1 13) || fail "timeseries.csv: $out"
set -- $out
samples=$1 rows=$2
[ "$samples" -ge 61 ] || fail "$samples samples, want one a second over >= 60 s"
grep -q "$samples samples every 1s, $rows rows" "$tmp/q.err" ||
  fail "summary line disagrees with the file: $(cat "$tmp/q.err")"
for name in $(awk '/^# TYPE / { print $3 }' "$tmp/q/metrics/node-0.prom"); do
  grep -q "\`$name\`" "$doc" || fail "$name is not in $doc"
done
echo "ok: quickstart: $nodes node files, $delivered deliveries, $samples samples x 13 nodes"

# 2. The same trace with and without --metrics (and a fine period).
"$sim" run "$data/determinism.yaml" --quiet --events --trace "$tmp/a.trace" >/dev/null
"$sim" run "$data/determinism.yaml" --quiet --events --trace "$tmp/b.trace" \
  --metrics "$tmp/d" --metrics-every 100ms >/dev/null 2>&1
cmp "$tmp/a.trace" "$tmp/b.trace" || fail "--metrics changed the trace"
out=$(check_series "$tmp/d/timeseries.csv" 0.1 13) || fail "100ms series: $out"
out=$("$sim" run "$data/determinism.yaml" --quiet --check-determinism --metrics "$tmp/e" 2>/dev/null)
case "$out" in deterministic:*"with --metrics"*) ;; *) fail "--check-determinism: $out";; esac
echo "ok: identical traces with and without --metrics"

# 3. Crashes: node 2 crashes at 2 s and restarts at 4 s, node 4 crashes at
#    5 s for good: its file holds its last values, its rows stop.
"$sim" run "$data/metrics-crash.yaml" --quiet --metrics "$tmp/c" >/dev/null 2>"$tmp/c.err" ||
  fail "metrics-crash: $(cat "$tmp/c.err")"
for f in "$tmp/c"/node-*.prom; do check_prom "$f" || fail "$f"; done
head -1 "$tmp/c/node-4.prom" | grep -q "crashed" || fail "node-4.prom: $(head -1 "$tmp/c/node-4.prom")"
head -1 "$tmp/c/node-2.prom" | grep -q "incarnation 1 .*running" || fail "node-2.prom"
grep -q "1 crashed" "$tmp/c.err" || fail "crash not reported: $(cat "$tmp/c.err")"
out=$(check_series "$tmp/c/timeseries.csv" 1 0) || fail "crash series: $out"
rows=$(awk -F, '$1 == "3.000000000"' "$tmp/c/timeseries.csv" | wc -l)
[ "$rows" -eq 4 ] || fail "$rows rows at t=3 while node 2 is down, want 4"
late=$(awk -F, 'NR > 1 && $2 == 4 && $1 + 0 >= 5' "$tmp/c/timeseries.csv" | wc -l)
[ "$late" -eq 0 ] || fail "rows for node 4 after its crash"
echo "ok: crashed nodes keep their last values"

# 4. Bad flags exit 2 and say why.
expect_exit2() {
  want=$1; shift
  set +e
  err=$("$@" 2>&1 >/dev/null); rc=$?
  set -e
  [ "$rc" -eq 2 ] || fail "'$*' exited $rc, want 2"
  case "$err" in *"$want"*) ;; *) fail "'$*' said: $err (want '$want')";; esac
}
: >"$tmp/file"
expect_exit2 "cannot create directory" "$sim" run "$quick" --metrics "$tmp/file/sub"
expect_exit2 "not a directory" "$sim" run "$quick" --metrics "$tmp/file"
expect_exit2 "--metrics-every" "$sim" run "$quick" --metrics "$tmp/x" --metrics-every 0
expect_exit2 "--metrics-every" "$sim" run "$quick" --metrics "$tmp/x" --metrics-every 5parsecs
expect_exit2 "needs --metrics" "$sim" run "$quick" --metrics-every 1s
echo "ok: bad --metrics flags exit 2"
