#!/usr/bin/env bash
# Usage: sim-cli.sh P2P_SIM SCENARIO
# p2p-sim parses flags as the replica's commands do (conf/cli.h): a bad
# flag is one line naming it, then the usage, exit 2, nothing run;
# --flag=VALUE equals --flag VALUE; --version and `version` agree; --model
# is listed, refuses the quic model's faults on the message model and goes
# into the replay command.
set -euo pipefail
sim=$1 scenario=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# expect_bad WANT_LINE ARGS...: exit 2, first stderr line WANT_LINE,
# nothing on stdout.
expect_bad() {
    local want=$1 rc=0
    shift
    "$sim" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    [ "$rc" -eq 2 ] || fail "p2p-sim $*: exit $rc, not 2"
    [ ! -s "$tmp/out" ] || fail "p2p-sim $*: wrote to stdout"
    [ "$(head -n 1 "$tmp/err")" = "$want" ] ||
        fail "p2p-sim $*: said '$(head -n 1 "$tmp/err")', not '$want'"
}
expect_bad "p2p-sim run: --bogus: unknown option" run --bogus "$scenario"
expect_bad "p2p-sim run: --seed needs a value" run "$scenario" --seed
expect_bad "p2p-sim run: --quiet takes no value" run "$scenario" --quiet=1
expect_bad "p2p-sim run: --m: ambiguous option" run "$scenario" --m x
expect_bad "p2p-sim swarm: --seeds needs a value" swarm --seeds
expect_bad "p2p-sim swarm: --bogus: unknown option" swarm --seeds 1 --bogus
expect_bad "p2p-sim shrink: --x: unknown option" shrink --x=1 "$scenario"
expect_bad "p2p-sim: unknown command 'bogus'" bogus
expect_bad "p2p-sim run: --model: 'udp' is not message or quic" run "$scenario" --model udp
expect_bad "p2p-sim swarm: --model: 'udp' is not message or quic" swarm --seeds 1 --model udp

# --model: listed by --help; the quic model's own faults are refused on the
# message model (the file's default) with their line, and taken with
# --model quic, which the replay command then carries.
"$sim" run --help | grep -q -- '--model M' || fail "run --help lacks --model"
"$sim" swarm --help | grep -q -- '--model M' || fail "swarm --help lacks --model"
cat >"$tmp/quic.yaml" <<'YAML'
duration: 2s
subnet: {nodes: 3}
faults:
  - {at: 1s, blackhole: {nodes: [2], for: 100ms}}
YAML
expect_bad "$tmp/quic.yaml: line 4: fault 'blackhole' needs network.model: quic (or --model quic)" \
    run "$tmp/quic.yaml"
expect_bad "$tmp/quic.yaml: line 4: fault 'blackhole' needs network.model: quic (or --model quic)" \
    run "$tmp/quic.yaml" --model message
"$sim" run "$tmp/quic.yaml" --quiet --model quic --trace "$tmp/quic.trace" \
    >/dev/null 2>"$tmp/err" || fail "run --model quic: exit $?: $(cat "$tmp/err")"
# The quic model's fault lines are kinds `p2p-sim trace` knows.
for kind in blackhole blackhole_end; do
    [ "$("$sim" trace "$tmp/quic.trace" --kind "$kind" | wc -l)" -eq 1 ] ||
        fail "trace --kind $kind: not the one line the fault made"
done
grep -q -- "replay: .* --seed 1 --model quic" "$tmp/err" ||
    fail "the replay command lacks --model quic: $(cat "$tmp/err")"
"$sim" run "$scenario" --quiet --seed 3 >/dev/null 2>"$tmp/err" || true
! grep -q -- "--model" "$tmp/err" || fail "--model in the replay command unasked"
"$sim" swarm --print --seeds 1 --model quic | grep -q '^  model: quic$' ||
    fail "swarm --print --model quic lacks network.model"

"$sim" run "$scenario" --quiet --seed 3 --trace "$tmp/a" >/dev/null
"$sim" run "$scenario" --quiet --seed=3 --trace="$tmp/b" >/dev/null
cmp -s "$tmp/a" "$tmp/b" || fail "--seed=3 --trace=F differs from --seed 3 --trace F"
v1=$("$sim" --version)
v2=$("$sim" version)
[ "$v1" = "$v2" ] && [ -n "$v1" ] || fail "--version '$v1' and version '$v2' differ"
echo "ok: bad flags named (exit 2), --flag=VALUE, $v1"
