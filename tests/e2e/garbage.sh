#!/usr/bin/env bash
# Datagrams no honest peer sends (random bytes, Initial-looking packets
# with random payloads, short packets for unknown connection ids) make no
# accepted connection: p2p_replica_connections_accepted_total counts
# completed handshakes only, and the flood is counted by reason in
# p2p_replica_initials_dropped_total (short packets are answered with
# stateless resets, within their rate limit). The node keeps its peer.
source "$(dirname "$0")/lib.sh"
FLOOD=3000
make_net 2
for i in 1 2; do start_replica "$WORK/node$i" >/dev/null; done
for i in 1 2; do wait_until 20 "node $i healthy" healthy "${NET_ADMIN[$i]}"; done
wait_until 20 "connected" bash -c "curl -sf ${NET_ADMIN[2]}/health | grep -q '\"peers_up\": 1'"

# metric NAME_WITH_LABELS: node 2's sample (0 when absent).
metric() {
    local v
    v=$(body "${NET_ADMIN[2]}/metrics" | awk -v n="$1" '$1 == n {print $2}')
    echo "${v:-0}"
}
dropped() {
    body "${NET_ADMIN[2]}/metrics" |
        awk '$1 ~ /^p2p_replica_initials_dropped_total/ {s += $2} END {print s + 0}'
}
# Node 1's handshakes: on a loaded machine a slow handshake can make node 1
# dial again, and node 2 then accepts it twice; every accepted connection
# must be node 1's.
handshakes() { metric 'p2p_replica_peer_handshakes_total{peer="1"}'; }
accepted_before=$(metric p2p_replica_connections_accepted_total)
hs_before=$(handshakes)
dropped_before=$(dropped)
log "accepted before the flood: $accepted_before (node 1's handshakes: $hs_before); dropped: $dropped_before"
[ "$accepted_before" -ge 1 ] || fail "node 2 should have accepted node 1"

b=$(base_port)
log "flooding node 2 with $FLOOD datagrams"
python3 "$(dirname "$0")/garbage_flood.py" 127.0.0.1 $((b + 2)) "$FLOOD"
bad_initials() {
    [ "$(metric 'p2p_replica_initials_dropped_total{reason="bad_initial"}')" -ge $((FLOOD / 3 / 2)) ]
}
wait_until 30 "the Initial-looking packets counted as bad_initial" bad_initials
resets_answered() {
    [ "$(metric p2p_replica_stateless_resets_sent_total)" -ge 1 ]
}
wait_until 10 "short packets answered with stateless resets" resets_answered

accepted_after=$(metric p2p_replica_connections_accepted_total)
body "${NET_ADMIN[2]}/metrics" | grep -E '^p2p_replica_(initials_dropped|stateless_resets|connections_accepted)' || true
log "accepted after the flood: $accepted_after; dropped: $(( $(dropped) - dropped_before ))"
hs_after=$(handshakes)
[ $((accepted_after - accepted_before)) -eq $((hs_after - hs_before)) ] ||
    fail "the flood raised connections_accepted_total from $accepted_before to $accepted_after (node 1's handshakes: $hs_before to $hs_after)"
[ "$(metric 'p2p_connections{state="up"}')" -eq 1 ] || fail "node 2 lost its peer"
healthy "${NET_ADMIN[2]}" || fail "node 2 stopped answering"
log "PASS: $FLOOD garbage datagrams, no connection accepted"
