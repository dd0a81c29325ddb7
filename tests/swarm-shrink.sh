#!/bin/sh
# Usage: swarm-shrink.sh P2P_SIM SCENARIO
# p2p-sim shrink on a scenario that fails ('delivered' within an impossible
# bound): the file it writes must fail with the same expectation and have
# fewer faults. Also: bad shrink flags exit 2, a passing scenario exits 1,
# and swarm --print gives the same text for the same seed.
set -eu
sim=$1 scenario=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cp "$scenario" "$tmp/in.yaml"
"$sim" shrink "$tmp/in.yaml" >"$tmp/shrink.out" 2>&1 ||
  { cat "$tmp/shrink.out"; fail "shrink exited $?"; }
cat "$tmp/shrink.out"
[ -s "$tmp/in.shrunk.yaml" ] || fail "no $tmp/in.shrunk.yaml"
rc=0
"$sim" run "$tmp/in.shrunk.yaml" --quiet --invariants >"$tmp/run.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || { cat "$tmp/run.out"; fail "the shrunk scenario exits $rc, not 1"; }
grep -q 'FAIL delivered all within 0.001s' "$tmp/run.out" ||
  { cat "$tmp/run.out"; fail "the shrunk scenario fails another way"; }
before=$(grep -c '^ *- {at:' "$tmp/in.yaml")
after=$(grep -c '^ *- {at:' "$tmp/in.shrunk.yaml" || true)
[ "$after" -lt "$before" ] || fail "$after faults after shrinking, $before before"
echo "ok: shrunk from $before faults to $after, same failure"

# --out, and a scenario that passes has nothing to shrink (exit 1).
"$sim" shrink "$tmp/in.yaml" --out "$tmp/other.yaml" --quiet >/dev/null
[ -s "$tmp/other.yaml" ] || fail "--out was not written"
sed 's/within: 1ms/within: 60s/' "$tmp/in.yaml" >"$tmp/pass.yaml"
rc=0
"$sim" shrink "$tmp/pass.yaml" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "shrink of a passing scenario exits $rc, not 1"

# Bad input exits 2.
for args in "" "$tmp/missing.yaml" "$tmp/in.yaml --runs-max 0" "$tmp/in.yaml --bogus"; do
  rc=0
  # shellcheck disable=SC2086
  "$sim" shrink $args >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "shrink $args exits $rc, not 2"
done
for args in "" "--seeds 0" "--seeds 2 --jobs 0" "--seeds x" "--seeds 2 extra"; do
  rc=0
  # shellcheck disable=SC2086
  "$sim" swarm $args >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "swarm $args exits $rc, not 2"
done

# Generation is a function of the seed.
"$sim" swarm --print --seeds 3 --from 11 >"$tmp/a.yaml"
"$sim" swarm --print --seeds 3 --from 11 >"$tmp/b.yaml"
cmp -s "$tmp/a.yaml" "$tmp/b.yaml" || fail "swarm --print differs for the same seeds"
echo "ok: bad flags exit 2, a passing scenario exits 1, --print is deterministic"
