#!/usr/bin/env bash
# The two network models side by side (docs/performance.md, "Fidelity of
# the message model"): each reference scenario runs on the message model
# and on the quic model (the replica's own QUIC endpoint over the packet
# network), same seed, and the table compares delivery latency (p50, p99),
# bytes on the wire relative to bytes_ideal, and state-sync time (the mean
# of the completed syncs). Differences above 10 % are marked with '!'.
# Both runs of a scenario go back to back, so the machine's noise touches
# only the wall-clock column.
#
#   bench/fidelity.sh [--out DIR] [BUILD_DIR] [SCENARIO.yaml ...]
#
# BUILD_DIR defaults to build-rel if it has bin/p2p-sim, else build. The
# JSON summaries go to DIR (default out/fidelity).
set -euo pipefail

PROG=bench/fidelity.sh
out=out/fidelity
usage() {
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
}
while [ $# -gt 0 ]; do
    case "$1" in
    -h | --help)
        usage
        exit 0
        ;;
    --out)
        [ $# -ge 2 ] || { echo "$PROG: --out needs a folder" >&2; exit 2; }
        out=$2
        shift 2
        ;;
    -*)
        echo "$PROG: unknown flag $1 (see --help)" >&2
        exit 2
        ;;
    *) break ;;
    esac
done
cd "$(dirname "$0")/.."
build=
if [ $# -gt 0 ] && [ -d "$1" ]; then
    build=$1
    shift
elif [ -x build-rel/bin/p2p-sim ]; then
    build=build-rel
else
    build=build
fi
sim=$build/bin/p2p-sim
[ -x "$sim" ] || { echo "$PROG: no $sim (build first: ./ci/build $build)" >&2; exit 2; }
if [ $# -gt 0 ]; then
    scenarios=("$@")
else
    scenarios=(scenarios/quickstart.yaml scenarios/consensus-wan.yaml
        scenarios/lossy.yaml scenarios/large-artifacts.yaml
        scenarios/thin-links.yaml scenarios/state-sync-thin-downlink.yaml
        bench/wan-13.yaml)
fi
for f in "${scenarios[@]}"; do
    [ -r "$f" ] || { echo "$PROG: cannot read $f" >&2; exit 2; }
done
mkdir -p "$out"
echo "fidelity: $sim, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) at start"
for f in "${scenarios[@]}"; do
    name=$(basename "$f" .yaml)
    for model in message quic; do
        echo "fidelity: $name on the $model model ..." >&2
        # A failed expectation still gives its figures: the table says so.
        "$sim" run "$f" --model "$model" --json --quiet >"$out/$name.$model.json" || true
    done
done
python3 - "$out" "${scenarios[@]}" <<'EOF'
import json, os, sys
out, files = sys.argv[1], sys.argv[2:]

def load(name, model):
    with open(os.path.join(out, f"{name}.{model}.json")) as fh:
        return json.load(fh)

def sync_s(j):
    done = [s["duration_s"] for s in j.get("state_syncs", [])
            if s.get("completed") and s.get("duration_s") is not None]
    return sum(done) / len(done) if done else None

def cell(v, fmt):
    return "-" if v is None else fmt % v

def ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    r = a / b
    return ("%.2f" % r) + (" !" if abs(r - 1) > 0.10 else "")

print()
print("| scenario | model | ok | p50 ms | p99 ms | bytes / ideal | state sync s | wall s |")
print("|---|---|---|---|---|---|---|---|")
for f in files:
    name = os.path.basename(f)[:-5]
    rows = {}
    for model in ("message", "quic"):
        j = load(name, model)
        lat = j["latency_ms"]
        ideal = j["bytes_ideal"] or 1
        rows[model] = (lat["p50"], lat["p99"], j["bytes_sent"] / ideal,
                       sync_s(j), j["wall_s"], j["ok"])
        p50, p99, bi, ss, wall, ok = rows[model]
        print(f"| {name} | {model} | {'yes' if ok else 'NO'} | {p50:.1f} | "
              f"{p99:.1f} | {bi:.2f} | {cell(ss, '%.2f')} | {wall:.1f} |")
    m, q = rows["message"], rows["quic"]
    print(f"| {name} | quic / message | | {ratio(q[0], m[0])} | "
          f"{ratio(q[1], m[1])} | {ratio(q[2], m[2])} | {ratio(q[3], m[3])} | "
          f"{ratio(q[4], m[4])} |")
EOF
