#!/usr/bin/env bash
# Usage: REPLICA=p2p-replica metrics-vocabulary.sh P2P_SIM SCENARIO.yaml METRICS.md
# One metrics vocabulary for the simulator and the replica: a short
# simulation with --metrics and a 2-node replica net on loopback (scraped
# on /metrics) write the shared families of docs/metrics.md ("Shared
# vocabulary") with the same type and the same series (names, label names
# and label values), and the labels the table says; every other family is
# the simulator's own (p2p_sim_) or the replica's (p2p_replica_, process_,
# p2p_build_info), so no concept has two names.
SIM=$1 SCENARIO=$2 DOC=$3
source "$(dirname "$0")/e2e/lib.sh"

# series FILE: "family type series" per sample line of a text exposition
# (histogram lines under their family), sorted.
series() {
    awk '
        /^# TYPE / { type[$3] = $4; next }
        /^#/ || NF == 0 { next }
        {
            key = $1; name = key; sub(/\{.*/, "", name); fam = name
            if (!(fam in type)) sub(/_(bucket|sum|count)$/, "", fam)
            print fam, (fam in type ? type[fam] : "untyped"), key
        }' "$1" | sort -u
}
# labels FILE FAMILY: the family's label names, comma-separated, sorted
# (le apart: a histogram's buckets).
labels() {
    awk -v f="$2" '$1 == f { print $3 }' "$1" |
        sed -n 's/^[^{]*{\(.*\)}$/\1/p' | tr ',' '\n' | sed 's/=.*//' |
        { grep -vx le || true; } | sort -u | paste -sd, -
}

log "simulating $SCENARIO with --metrics"
"$SIM" run "$SCENARIO" --quiet --metrics "$WORK/sim" >/dev/null 2>"$WORK/sim.err" ||
    fail "p2p-sim: $(cat "$WORK/sim.err")"
series "$WORK/sim/node-0.prom" >"$WORK/sim.series"

log "a 2-node replica net"
make_net 2
for i in 1 2; do start_replica "$WORK/node$i" >/dev/null; done
for i in 1 2; do wait_until 20 "node $i healthy" healthy "${NET_ADMIN[$i]}"; done
wait_until 20 "connected" bash -c "curl -sf ${NET_ADMIN[1]}/health | grep -q '\"peers_up\": 1'"
head -c 3000 /dev/urandom >"$WORK/art"
post "${NET_ADMIN[1]}" push "$WORK/art" >/dev/null
wait_until 20 "replicated" has_count "${NET_ADMIN[2]}" 1
curl -sf "${NET_ADMIN[2]}/metrics" >"$WORK/replica.prom" || fail "no /metrics"
series "$WORK/replica.prom" >"$WORK/replica.series"

# The shared list: the table between the markers of docs/metrics.md.
sed -n '/<!-- shared-vocabulary:begin -->/,/<!-- shared-vocabulary:end -->/p' "$DOC" |
    awk -F'|' '$2 ~ /`p2p_/ {
        f = $2; gsub(/[ `]/, "", f); t = $3; gsub(/ /, "", t)
        l = $4; gsub(/[ `]/, "", l); print f, t, l }' | sort >"$WORK/shared"
shared=$(wc -l <"$WORK/shared")
[ "$shared" -ge 60 ] || fail "only $shared shared families listed in $DOC"

bad=0
while read -r fam type want_labels; do
    for side in sim replica; do
        t=$(awk -v f="$fam" '$1 == f { print $2; exit }' "$WORK/$side.series")
        if [ "$t" != "$type" ]; then
            echo "$fam: type '$t' in the $side's output, '$type' in $DOC"; bad=1
        fi
        got=$(labels "$WORK/$side.series" "$fam")
        if [ "$got" != "$want_labels" ]; then
            echo "$fam: labels '$got' in the $side's output, '$want_labels' in $DOC"; bad=1
        fi
    done
    a=$(awk -v f="$fam" '$1 == f { print $3 }' "$WORK/sim.series")
    b=$(awk -v f="$fam" '$1 == f { print $3 }' "$WORK/replica.series")
    if [ "$a" != "$b" ]; then
        echo "$fam: different series:"; diff <(echo "$a") <(echo "$b") || true; bad=1
    fi
done <"$WORK/shared"

# Nothing else unprefixed: a family either side writes is shared or its own.
awk '{ print $1 }' "$WORK/shared" >"$WORK/shared.names"
own() {
    awk '{ print $1 }' "$1" | sort -u | grep -Ev "$2" | grep -vxF -f "$WORK/shared.names" || true
}
extra=$(own "$WORK/sim.series" '^p2p_sim_')
[ -z "$extra" ] || { echo "the simulator's families outside the shared list: $extra"; bad=1; }
extra=$(own "$WORK/replica.series" '^(p2p_replica_|process_|p2p_build_info$)')
[ -z "$extra" ] || { echo "the replica's families outside the shared list: $extra"; bad=1; }
[ "$bad" -eq 0 ] || fail "the simulator and the replica do not share one vocabulary"
grep -Eq '^p2p_transport_bytes_received_total\{traffic="push"\} [1-9]' "$WORK/replica.prom" ||
    fail "the replica counted no push bytes received"
log "PASS: $shared shared families, same series in the simulator and the replica"
