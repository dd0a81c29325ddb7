#!/usr/bin/env bash
# Usage: cross-build-determinism.sh SIM_A SIM_B SCENARIO...
# The same scenario and seed give a byte-identical trace whatever compiler
# and optimisation level built the simulator: runs each scenario (seed 1,
# events included) with both binaries (./ci/test passes the gcc -O2 build
# and the clang -O0 sanitizer build) and compares the traces' hashes.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 SIM_A SIM_B SCENARIO..." >&2; exit 2; }
a=$1 b=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
for s in "$@"; do
    name=$(basename "$s" .yaml)
    # The exit code is the scenario's verdict, judged by the scenario
    # tests; here only the traces count. Errors are shown on failure.
    rm -f "$tmp/a.trace" "$tmp/b.trace"
    "$a" run "$s" --quiet --seed 1 --events --trace "$tmp/a.trace" >/dev/null 2>"$tmp/a.err" || true
    "$b" run "$s" --quiet --seed 1 --events --trace "$tmp/b.trace" >/dev/null 2>"$tmp/b.err" || true
    if [ ! -s "$tmp/a.trace" ]; then
        echo "FAIL: $name: empty trace"
        cat "$tmp/a.err"
        fail=1
        continue
    fi
    touch "$tmp/b.trace"
    ha=$(sha256sum <"$tmp/a.trace" | cut -c1-16)
    hb=$(sha256sum <"$tmp/b.trace" | cut -c1-16)
    if [ "$ha" = "$hb" ]; then
        echo "ok: $name: $(wc -l <"$tmp/a.trace") trace lines, sha256 $ha in both builds"
    else
        echo "FAIL: $name: traces differ ($ha vs $hb); first difference:"
        cmp "$tmp/a.trace" "$tmp/b.trace" | head -n 1 || true
        fail=1
    fi
done
exit "$fail"
