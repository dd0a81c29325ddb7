#!/usr/bin/env bash
# SIGKILL a replica at once after it acknowledged an artifact, post more to
# another node while it is down, restart it: it still holds what it
# acknowledged and catches up with the rest.
source "$(dirname "$0")/lib.sh"
B=$(base_port)
DIR=$WORK/tn
TESTNET_DIRS+=("$DIR")
"$REPLICA" testnet --nodes 4 --dir "$DIR" --base-port "$B" --detach >"$WORK/testnet.log" 2>&1 ||
    { cat "$WORK/testnet.log" >&2; fail "testnet did not start"; }
ADMIN=()
for i in 0 1 2 3; do ADMIN+=("http://127.0.0.1:$((B + 1000 + i))"); done
pid3=$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "$DIR/testnet.json" | sed -n 4p)
[ -n "$pid3" ] || fail "no pid for node 3 in testnet.json"

log "posting to node 3, then SIGKILL at once"
head -c 5000 /dev/urandom >"$WORK/acked"
acked=$(post "${ADMIN[3]}" advert "$WORK/acked")
[ ${#acked} -eq 64 ] || fail "POST to node 3 failed"
kill -KILL "$pid3"
wait_until 10 "node 3 gone after SIGKILL" gone "$pid3"

log "posting 200 artifacts to node 0 while node 3 is down"
for i in $(seq 1 200); do
    head -c $((100 + i)) /dev/urandom >"$WORK/a$i"
    post "${ADMIN[0]}" push "$WORK/a$i" >/dev/null || fail "POST $i"
done

log "restarting node 3"
start_replica "$DIR/node3" >/dev/null
wait_until 20 "node 3 healthy again" healthy "${ADMIN[3]}"
curl -sf "${ADMIN[3]}/artifacts/$acked" -o "$WORK/acked.back" ||
    fail "node 3 lost the artifact it acknowledged before SIGKILL"
cmp -s "$WORK/acked" "$WORK/acked.back" || fail "node 3's acknowledged artifact differs"
wait_until 120 "node 3 caught up (201 artifacts)" has_count "${ADMIN[3]}" 201
for a in "${ADMIN[@]}"; do
    wait_until 30 "201 artifacts on $a" has_count "$a" 201
done
log "PASS: node 3 kept its acknowledged artifact and caught up"
