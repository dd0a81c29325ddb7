#!/usr/bin/env bash
# Usage: readme-json.sh P2P_SIM README.md SCENARIO...
# The key list README.md gives for `p2p-sim run --json` is the output's:
# the same keys in the same order, objects as key{a,b} and arrays of
# objects as key[{a,b}], read from real runs of the scenarios (together
# they must fill every array).
set -euo pipefail
sim=$1 readme=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

for s in "$@"; do
  "$sim" run "$s" --quiet --json >"$tmp/$(basename "$s").json" 2>/dev/null ||
    [ $? -eq 1 ] || fail "p2p-sim run $s --json failed"
done
# README: the text between "`--json` prints one object: `" and the next
# backtick, joined across lines.
tr '\n' ' ' <"$readme" | sed -n 's/.*`--json` prints one object: `\([^`]*\)`.*/\1/p' |
  tr -s ' ' >"$tmp/readme-keys"
[ -s "$tmp/readme-keys" ] || fail "README has no '--json prints one object: \`...\`' list"

python3 - "$tmp/readme-keys" "$tmp"/*.json <<'PY'
import json, sys

def shape(key, v, seen):
    if isinstance(v, dict):
        return key + "{" + ",".join(v) + "}"
    if isinstance(v, list):
        objs = [x for x in v if isinstance(x, dict)]
        if objs:
            return key + "[{" + ",".join(objs[0]) + "}]"
        return seen.get(key, key + "[]")
    return key

runs = []
for path in sys.argv[2:]:
    with open(path) as f:
        runs.append(json.load(f))
# An array's element keys come from whichever run has an element.
seen = {}
for d in runs:
    for k, v in d.items():
        s = shape(k, v, {})
        if not s.endswith("[]"):
            seen[k] = s
want = [shape(k, v, seen) for k, v in runs[0].items()]
for d in runs[1:]:
    if list(d) != list(runs[0]):
        sys.exit(f"FAIL: runs disagree on the keys: {list(d)} vs {list(runs[0])}")
empty = [s for s in want if s.endswith("[]")]
if empty:
    sys.exit(f"FAIL: no run filled {empty}; add a scenario that does")
text = open(sys.argv[1]).read().strip()
got, depth, cur = [], 0, ""
for c in text:
    if c == "," and depth == 0:
        got.append(cur.strip()); cur = ""; continue
    depth += c in "{["
    depth -= c in "}]"
    cur += c
got.append(cur.strip())
got = [g.replace(" ", "") for g in got]
if got != want:
    missing = [w for w in want if w not in got]
    extra = [g for g in got if g not in want]
    print("README: " + ", ".join(got))
    print("output: " + ", ".join(want))
    sys.exit(f"FAIL: README's --json keys differ: missing {missing}, not in the output {extra}"
             + ("" if missing or extra else " (order)"))
print(f"ok: README lists the {len(want)} keys of --json in output order")
PY
