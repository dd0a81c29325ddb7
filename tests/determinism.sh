#!/usr/bin/env bash
# Usage: determinism.sh P2P_SIM SCENARIO
# Same scenario and seed twice: byte-identical traces. A different seed: a
# different trace. --check-determinism: no divergence inside one process.
set -euo pipefail
sim=$1 scenario=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$sim" run "$scenario" --quiet --seed 7 --events --trace "$tmp/a" >/dev/null
"$sim" run "$scenario" --quiet --seed 7 --events --trace "$tmp/b" >/dev/null
cmp "$tmp/a" "$tmp/b" || { echo "FAIL: traces differ for the same seed"; exit 1; }
[ -s "$tmp/a" ] || { echo "FAIL: empty trace"; exit 1; }
"$sim" run "$scenario" --quiet --seed 8 --events --trace "$tmp/c" >/dev/null
if cmp -s "$tmp/a" "$tmp/c"; then echo "FAIL: seeds 7 and 8 gave the same trace"; exit 1; fi
out=$("$sim" run "$scenario" --quiet --seed 7 --check-determinism)
echo "$out"
case "$out" in deterministic:*) ;; *) echo "FAIL: --check-determinism"; exit 1;; esac
echo "ok: $(wc -l <"$tmp/a") trace lines identical for seed 7; seed 8 differs"
