#!/usr/bin/env bash
# p2p_replica_peer_streams_reset_total counts both directions: a stream
# this replica resets (a request past its route's limit) is "sent", one
# its peer resets is "received". Member 1 is in the registry but never
# runs: the probe dials node 2 with its identity.
source "$(dirname "$0")/lib.sh"
make_net 2
start_replica "$WORK/node2" >/dev/null
wait_until 20 "node 2 healthy" healthy "${NET_ADMIN[2]}"

# resets DIRECTION: node 2's count for peer 1 (0 when absent).
resets() {
    local v
    v=$(body "${NET_ADMIN[2]}/metrics" |
        awk -v n="p2p_replica_peer_streams_reset_total{peer=\"1\",direction=\"$1\"}" '$1 == n {print $2}')
    echo "${v:-0}"
}
[ "$(resets sent)" -eq 0 ] || fail "resets before the probe"
"$REPLICA" probe --config "$WORK/node1/config.yaml" --peer 2 --oversize --timeout 10 >"$WORK/probe.out" 2>&1 ||
    { cat "$WORK/probe.out"; fail "probe --oversize failed"; }
cat "$WORK/probe.out"
grep -q "reset by the peer" "$WORK/probe.out" || fail "node 2 did not reset the oversized request"
sent_at_least_1() { [ "$(resets sent)" -ge 1 ]; }
wait_until 10 "node 2 counts the reset it sent" sent_at_least_1
body "${NET_ADMIN[2]}/metrics" | grep '^p2p_replica_peer_streams_reset_total{peer="1"' || true
[ "$(resets received)" -eq 0 ] || fail "node 2 counted its own reset as received"
log "PASS: the reset node 2 sent counted as sent ($(resets sent)), none received"
