#!/usr/bin/env bash
# A replica SIGKILLed and restarted at once is seen again by its peers
# within RESTART_SEEN_MS_MAX of its /health answering: the peer that must
# redial it learns of the restart from a stateless reset (the restarted
# process answers the old connection's packets with one), not from its
# idle timeout. The idle timeout is set to 10 s so that the two differ.
source "$(dirname "$0")/lib.sh"
RESTART_SEEN_MS_MAX=4000
make_net 3
for i in 1 2 3; do
    printf 'timeouts:\n  keepalive: 1s\n  idle: 10s\n' >>"$WORK/node$i/config.yaml"
done
declare -A PID
for i in 1 2 3; do
    start_replica "$WORK/node$i" >/dev/null
    PID[$i]=${PIDS[-1]}
done
for i in 1 2 3; do wait_until 20 "node $i healthy" healthy "${NET_ADMIN[$i]}"; done
peers_up() {
    body "$1/health" | grep -q "\"peers_up\": $2"
}
for i in 1 2 3; do wait_until 20 "node $i connected to both others" peers_up "${NET_ADMIN[$i]}" 2; done

# handshakes NODE PEER: node's completed handshakes with peer.
handshakes() {
    body "${NET_ADMIN[$1]}/metrics" |
        sed -n "s/^p2p_replica_peer_handshakes_total{peer=\"$2\"} \([0-9]*\)$/\1/p"
}
# seen_again: nodes 1 and 3 completed a handshake with node 2 since the
# kill, and node 2 is connected to both.
seen_again() {
    local h1 h3
    h1=$(handshakes 1 2)
    h3=$(handshakes 3 2)
    [ -n "$h1" ] && [ -n "$h3" ] && [ "$h1" -gt "$before1" ] &&
        [ "$h3" -gt "$before3" ] && peers_up "${NET_ADMIN[2]}" 2
}
ms() { echo $(( $(date +%s%N) / 1000000 )); }

before1=$(handshakes 1 2)
before3=$(handshakes 3 2)
[ -n "$before1" ] && [ -n "$before3" ] || fail "no handshake counters for node 2"
log "SIGKILL node 2, restart it at once"
kill -KILL "${PID[2]}"
wait "${PID[2]}" 2>/dev/null || true
start_replica "$WORK/node2" >/dev/null
end=$(( $(ms) + 20000 ))
until healthy "${NET_ADMIN[2]}"; do
    [ "$(ms)" -lt "$end" ] || fail "node 2 not healthy again within 20 s"
    sleep 0.05
done
t_health=$(ms)
end=$(( t_health + 20000 ))
until seen_again; do
    [ "$(ms)" -lt "$end" ] || fail "node 2 not seen again within 20 s of /health"
    sleep 0.05
done
seen_ms=$(( $(ms) - t_health ))
log "node 2 seen again by both peers ${seen_ms} ms after its /health answered"
body "${NET_ADMIN[1]}/metrics" | grep '^p2p_replica_stateless_resets' || true
[ "$seen_ms" -le "$RESTART_SEEN_MS_MAX" ] ||
    fail "node 2 seen again only after ${seen_ms} ms (limit ${RESTART_SEEN_MS_MAX} ms)"
log "PASS: a restarted replica is seen again ${seen_ms} ms after /health"
