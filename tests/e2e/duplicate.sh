#!/usr/bin/env bash
# Two replicas with the same identity (key and certificate) and different
# data directories and ports, both dialling a third: the third refuses the
# newcomer's handshakes as a duplicate identity (counted per peer in
# p2p_replica_duplicate_identity_total, logged) and keeps the first
# connection, instead of letting each replace the other in a loop.
source "$(dirname "$0")/lib.sh"
make_net 2
b=$(base_port)
twin=$WORK/node1b
mkdir -p "$twin"
cp "$WORK/node1/key.pem" "$WORK/node1/cert.pem" "$twin/"
write_config "$twin" $((b + 5)) $((b + 1005)) "$NET_REG"
TWIN_ADMIN="http://127.0.0.1:$((b + 1005))"
for i in 1 2; do start_replica "$WORK/node$i" >/dev/null; done
for i in 1 2; do wait_until 20 "node $i healthy" healthy "${NET_ADMIN[$i]}"; done
wait_until 20 "nodes 1 and 2 connected" bash -c "curl -sf ${NET_ADMIN[2]}/health | grep -q '\"peers_up\": 1'"

# metric NAME_WITH_LABELS: node 2's sample (0 when absent).
metric() {
    local v
    v=$(body "${NET_ADMIN[2]}/metrics" | awk -v n="$1" '$1 == n {print $2}')
    echo "${v:-0}"
}
handshakes() { metric 'p2p_replica_peer_handshakes_total{peer="1"}'; }
duplicates() { metric 'p2p_replica_duplicate_identity_total{peer="1"}'; }
duplicates_at_least() { [ "$(duplicates)" -ge "$1" ]; }

log "starting a second process with node 1's identity"
start_replica "$twin" >/dev/null
wait_until 20 "the twin healthy" healthy "$TWIN_ADMIN"
wait_until 30 "node 2 reports the duplicate" duplicates_at_least 1
h0=$(handshakes)
# The refused twin retries after its redial backoff (5-10 s): a second
# refusal shows the loop is bounded and the first connection kept.
wait_until 40 "the twin refused a second time" duplicates_at_least 2
h1=$(handshakes)
body "${NET_ADMIN[2]}/metrics" |
    grep -E '^p2p_replica_(duplicate_identity_total|peer_handshakes_total|handshake_refusals_total\{reason="duplicate)' || true
log "handshakes of node 2 with node 1's key: $h0 when the duplicate was seen, $h1 after the next refusal"
[ "$h1" -eq "$h0" ] || fail "handshakes went on while the twin was refused ($h0 -> $h1)"
[ "$h0" -le 2 ] || fail "$h0 handshakes before the duplicate was caught"
[ "$(metric 'p2p_replica_peer_state{peer="1",state="up"}')" -eq 1 ] || fail "node 2 lost node 1"
grep -q "duplicate identity: node 1" "$WORK/node2/replica.log" ||
    fail "node 2 did not log the duplicate"
[ "$(metric 'p2p_replica_handshake_refusals_total{reason="duplicate_identity"}')" -ge 2 ] ||
    fail "refusals not counted as duplicate_identity"
grep -h "duplicate identity" "$WORK/node2/replica.log" | head -n 2 || true
log "PASS: the duplicate identity was reported and refused, $h1 handshakes"
