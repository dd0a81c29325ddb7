#!/usr/bin/env bash
# Usage: sigint.sh P2P_SIM LONG_SCENARIO
# SIGINT stops a run: p2p-sim exits 130 after printing the summary so far
# (marked INCOMPLETE, expectations not judged, the planned end stated as
# duration + drain), writes the report marked incomplete and closes the
# trace on a whole line. The progress line shows percent, wall time, an
# ETA and the run's real end. Waits for each step with a deadline.
set -euo pipefail
sim=$1 scenario=$2
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/err" ] && tail -5 "$tmp/err"; exit 1; }
# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
  local end=$(( $(date +%s) + $1 )) what=$2
  shift 2
  while ! "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || fail "timed out after $1 s waiting for $what"
    sleep 0.2
  done
}

# The run in the background; its exit status lands in $tmp/rc.
(
  "$sim" run "$scenario" --report "$tmp/r.html" --trace "$tmp/t" \
    >"$tmp/out" 2>"$tmp/err" &
  echo $! >"$tmp/pid"
  set +e
  wait $!
  echo $? >"$tmp/rc"
) &
wait_for 30 "the run to start" test -s "$tmp/pid"
pid=$(cat "$tmp/pid")
wait_for 120 "the first progress line" grep -q '^progress:' "$tmp/err"
line=$(grep -m1 '^progress:' "$tmp/err")
echo "progress line: $line"
# percent, virtual time of the real end (600 s + 5 s drain), wall, ETA
[[ $line =~ ^progress:\ +[0-9]+%\ t=[0-9.]+s\ of\ 605.0s\ \(600\ s\ \+\ 5\ s\ drain\),\ wall\ [0-9.]+s,\ ETA\ [0-9]+s ]] ||
  fail "the progress line lacks percent, the end as duration + drain, wall time or ETA"
kill -INT "$pid"
wait_for 120 "p2p-sim to exit after SIGINT" test -s "$tmp/rc"
pid=
rc=$(cat "$tmp/rc")
[ "$rc" -eq 130 ] || fail "exited $rc after SIGINT, want 130"
grep -q '^scenario long-run, seed 1: INCOMPLETE (interrupted at [0-9.]* s of 605.0 s' "$tmp/out" ||
  { cat "$tmp/out"; fail "no INCOMPLETE summary"; }
grep -q 'simulated of 600 s + 5 s drain (interrupted)' "$tmp/out" || fail "the summary does not state 600 s + 5 s drain"
grep -q 'artifacts [1-9][0-9]*, deliveries [1-9]' "$tmp/out" || fail "the summary so far has no figures"
grep -q '^  \(ok  \|FAIL\) ' "$tmp/out" && fail "expectations were judged on a cut run"
grep -q 'id="incomplete"' "$tmp/r.html" || fail "the report is not marked incomplete"
grep -q 'INCOMPLETE' "$tmp/r.html" || fail "the report's title does not say INCOMPLETE"
# The trace ends on a whole line that p2p-sim trace accepts.
[ -s "$tmp/t" ] && [ "$(tail -c 1 "$tmp/t" | od -An -c | tr -d ' ')" = '\n' ] ||
  fail "the trace does not end with a newline"
"$sim" trace "$tmp/t" --kind deliver >/dev/null || fail "the trace is not well formed"
echo "ok: SIGINT -> exit 130, $(head -1 "$tmp/out")"
