#!/usr/bin/env bash
# Usage: acks-taken-lazily.sh P2P_SIM SCENARIO...
# The simulator hands an acknowledgement to its node just before the node
# next acts instead of making its arrival an event (sim/inbox.c). That must
# change nothing but the missing 'recv ... ack' lines and the event count:
# for each scenario, the trace with --acks-as-events, its ack arrival lines
# removed, equals the default trace, and the summaries are equal but for
# the events line.
set -euo pipefail
sim=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for scenario in "$@"; do
  name=$(basename "$scenario" .yaml)
  "$sim" run "$scenario" --quiet --events --trace "$tmp/lazy" >"$tmp/lazy.out" 2>&1 || true
  "$sim" run "$scenario" --quiet --events --acks-as-events --trace "$tmp/eager" >"$tmp/eager.out" 2>&1 || true
  acks=$(grep -c ' recv .* ack bytes=' "$tmp/eager" || true)
  [ "$acks" -gt 0 ] || { echo "FAIL: $name: no acknowledgement arrived with --acks-as-events"; exit 1; }
  if grep -q ' recv .* ack bytes=' "$tmp/lazy"; then
    echo "FAIL: $name: the default trace has ack arrival lines"; exit 1
  fi
  grep -v ' recv .* ack bytes=' "$tmp/eager" >"$tmp/eager.f"
  if ! cmp -s "$tmp/eager.f" "$tmp/lazy"; then
    echo "FAIL: $name: traces differ beyond the ack arrival lines:"
    diff "$tmp/eager.f" "$tmp/lazy" | head -20
    exit 1
  fi
  if ! diff <(grep -v 'events, \|replay:' "$tmp/eager.out") <(grep -v 'events, \|replay:' "$tmp/lazy.out"); then
    echo "FAIL: $name: summaries differ"; exit 1
  fi
  e_eager=$(grep -o '^  [0-9]* events' "$tmp/eager.out" | tr -dc 0-9)
  e_lazy=$(grep -o '^  [0-9]* events' "$tmp/lazy.out" | tr -dc 0-9)
  # Each ack arrival is one event fewer (more when acks were lost with
  # their connection: those were events too, with no line).
  [ $((e_eager - e_lazy)) -ge "$acks" ] || {
    echo "FAIL: $name: $e_eager events with --acks-as-events, $e_lazy without, but $acks acks"; exit 1; }
  echo "ok: $name: same trace but $acks ack arrival lines; events $e_eager -> $e_lazy"
done
