#!/usr/bin/env bash
# Usage: bad-input.sh P2P_SIM DATA_DIR
# A scenario with a typo'd key exits 2 naming file:line; so does a missing
# file; a bad flag exits 2.
set -euo pipefail
sim=$1 data=$2
expect_exit2() {
  local want=$1; shift
  set +e
  err=$("$@" 2>&1 >/dev/null); rc=$?
  set -e
  [ "$rc" -eq 2 ] || { echo "FAIL: '$*' exited $rc, want 2"; exit 1; }
  case "$err" in *"$want"*) ;; *) echo "FAIL: '$*' said: $err (want '$want')"; exit 1;; esac
  echo "ok: $* -> exit 2: $err"
}
line=$(grep -n '^ *latncy:' "$data/bad-typo.yaml" | head -1 | cut -d: -f1)
expect_exit2 "bad-typo.yaml:$line:" "$sim" run "$data/bad-typo.yaml"
expect_exit2 "nonexistent.yaml" "$sim" run "$data/nonexistent.yaml"
expect_exit2 "--seed" "$sim" run "$data/bad-typo.yaml" --seed -3
expect_exit2 "unknown command" "$sim" frobnicate

# Output paths (--report, --metrics, --trace) are checked before the run:
# a bad one exits 2 with nothing run (no scenario header, no summary) and
# no other output touched (an existing trace file keeps its content).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
good="$data/determinism.yaml"
echo keep >"$tmp/old.trace"
nothing_run() {
  local want=$1; shift
  set +e
  "$@" >"$tmp/out" 2>"$tmp/err"; rc=$?
  set -e
  [ "$rc" -eq 2 ] || { cat "$tmp/err"; echo "FAIL: '$*' exited $rc, want 2"; exit 1; }
  grep -q -- "$want" "$tmp/err" || { echo "FAIL: '$*' said: $(cat "$tmp/err") (want '$want')"; exit 1; }
  if [ -s "$tmp/out" ] || grep -q 'scenario\|progress' "$tmp/err"; then
    echo "FAIL: '$*' ran: $(cat "$tmp/out" "$tmp/err")"; exit 1
  fi
  [ "$(cat "$tmp/old.trace")" = keep ] || { echo "FAIL: '$*' truncated the trace"; exit 1; }
  echo "ok: $* -> exit 2, nothing run: $(head -1 "$tmp/err")"
}
nothing_run "--report: cannot write $tmp/no/r.html: no folder $tmp/no" \
  "$sim" run "$good" --trace "$tmp/old.trace" --report "$tmp/no/r.html"
nothing_run "--report: $tmp is a folder" \
  "$sim" run "$good" --trace "$tmp/old.trace" --report "$tmp"
nothing_run "--report: cannot write $tmp/old.trace/r.html" \
  "$sim" run "$good" --report "$tmp/old.trace/r.html"
nothing_run "--trace: cannot write $tmp/no/t: no folder $tmp/no" \
  "$sim" run "$good" --report "$tmp/r.html" --trace "$tmp/no/t"
nothing_run "--trace: $tmp is a folder" "$sim" run "$good" --trace "$tmp"
nothing_run "--metrics: '$tmp/old.trace' exists and is not a directory" \
  "$sim" run "$good" --trace "$tmp/r.trace" --metrics "$tmp/old.trace"
[ ! -e "$tmp/r.html" ] && [ ! -e "$tmp/r.trace" ] || { echo "FAIL: an output was created"; exit 1; }
nothing_run "gnuplot, which is not in PATH" \
  env PATH=/nonexistent "$sim" run "$good" --trace "$tmp/old.trace" --report "$tmp/r.html"
