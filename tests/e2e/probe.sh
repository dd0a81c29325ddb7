#!/usr/bin/env bash
# p2p-replica probe says what the peer said. On a live net of 3:
#  - --anonymous (a key made for the probe) against every member: "said
#    not_member", exit 0, and no member's connections move (handshake
#    counts unchanged, every node still up with both peers);
#  - with member 1's identity against member 3 (1 dials 3 and is
#    connected): "said duplicate_identity", exit 3;
#  - with member 3's identity against member 1 (1 dials 3 itself): "said
#    ours_to_dial", exit 3, counted under that reason, not as banned;
#  - still no handshake anywhere.
source "$(dirname "$0")/lib.sh"
make_net 3
for i in 1 2 3; do start_replica "$WORK/node$i" >/dev/null; done
for i in 1 2 3; do wait_until 20 "node $i healthy" healthy "${NET_ADMIN[$i]}"; done
all_up() {
    for i in 1 2 3; do
        curl -sf "${NET_ADMIN[$i]}/health" | grep -q '"peers_up": 2' || return 1
    done
}
wait_until 30 "every node up with both peers" all_up

# metric NODE NAME_WITH_LABELS: one sample of node NODE (0 when absent).
metric() {
    local v
    v=$(body "${NET_ADMIN[$1]}/metrics" | awk -v n="$2" '$1 == n {print $2}')
    echo "${v:-0}"
}
# handshakes: every node's completed handshakes, all peers, one line.
handshakes() {
    for i in 1 2 3; do
        body "${NET_ADMIN[$i]}/metrics" |
            awk '$1 ~ /^p2p_replica_peer_handshakes_total/ {s += $2} END {printf "%d ", s}'
    done
}
before=$(handshakes)
log "handshakes per node before the probes: $before"

probe() {
    local out=$1
    shift
    set +e
    "$REPLICA" probe "$@" --timeout 10 >"$WORK/$out" 2>&1
    local rc=$?
    set -e
    cat "$WORK/$out"
    return $rc
}

for i in 1 2 3; do
    rc=0
    probe anon$i.out --config "$WORK/node1/config.yaml" --peer "$i" --anonymous || rc=$?
    [ "$rc" -eq 0 ] || fail "probe --anonymous of node $i exited $rc"
    grep -q "^refused: node $i at .* said not_member" "$WORK/anon$i.out" ||
        fail "probe --anonymous of node $i did not report not_member"
    [ "$(metric "$i" 'p2p_replica_handshake_refusals_total{reason="not_member"}')" -ge 1 ] ||
        fail "node $i did not count the anonymous probe as not_member"
done

rc=0
probe dup.out --config "$WORK/node1/config.yaml" --peer 3 || rc=$?
[ "$rc" -eq 3 ] || fail "probe with node 1's identity exited $rc, want 3"
grep -q "said duplicate_identity" "$WORK/dup.out" || fail "not reported as duplicate_identity"

rc=0
probe ours.out --config "$WORK/node3/config.yaml" --peer 1 || rc=$?
[ "$rc" -eq 3 ] || fail "probe with node 3's identity exited $rc, want 3"
grep -q "said ours_to_dial" "$WORK/ours.out" || fail "not reported as ours_to_dial"
[ "$(metric 1 'p2p_replica_handshake_refusals_total{reason="ours_to_dial"}')" -ge 1 ] ||
    fail "node 1 did not count the refusal as ours_to_dial"
[ "$(metric 1 'p2p_replica_handshake_refusals_total{reason="banned"}')" -eq 0 ] ||
    fail "node 1 counted the dial rule as a ban"

after=$(handshakes)
log "handshakes per node after the probes: $after"
[ "$after" = "$before" ] || fail "the probes moved the members' connections: $before -> $after"
all_up || fail "a member lost a peer"
log "PASS: probes reported not_member (anonymous), duplicate_identity and ours_to_dial; handshakes unchanged ($after)"
