#!/usr/bin/env bash
# Usage: replay-command.sh P2P_SIM SCENARIO
# The replay command p2p-sim prints runs as printed from where the user
# ran it: here a directory that is neither the repository nor the binary's,
# the binary called by a relative path and the scenario in a folder whose
# name needs shell quoting. Run through the shell as printed (plus a trace
# file), it replays the run: the same trace, byte for byte.
set -euo pipefail
sim=$1 scenario=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$tmp/user dir" "$tmp/it's here"
cp "$scenario" "$tmp/it's here/s.yaml"
cd "$tmp/user dir"
rel_sim=$(realpath --relative-to=. "$sim")
case $rel_sim in */*) ;; *) rel_sim=./$rel_sim ;; esac
"$rel_sim" run "../it's here/s.yaml" --seed 5 --quiet --trace ../first.trace \
  >/dev/null 2>../run.err || [ $? -eq 1 ] || { cat ../run.err; fail "the run failed"; }
line=$(grep -m1 -o 'replay: .*' ../run.err) || { cat ../run.err; fail "no replay command printed"; }
cmd=${line#replay: }
echo "printed: $cmd"
case $cmd in "$rel_sim run "*) ;; *) fail "the command does not start with the program as invoked ($rel_sim)";; esac
# As printed, from the same directory, in a fresh shell.
sh -c "$cmd --quiet --trace ../replay.trace" >/dev/null 2>../replay.err ||
  [ $? -eq 1 ] || { cat ../replay.err; fail "the printed command did not run: $cmd"; }
cmp -s ../first.trace ../replay.trace || fail "the replay's trace differs from the run's"
[ -s ../first.trace ] || fail "empty trace"
echo "ok: the printed replay command runs as printed from $PWD and replays the run ($(wc -l <../first.trace) trace lines)"
