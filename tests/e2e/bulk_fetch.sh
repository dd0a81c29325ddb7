#!/usr/bin/env bash
# The bulk path (docs/replica.md, "Bulk path"): a fetched artifact of 1 MiB
# and more is written into a temporary file of the pool as it arrives and
# becomes its pool file by a rename; it survives a SIGKILL right after it is
# held, is served again from that file after the restart, and a fetch a
# SIGKILL interrupts leaves only a temporary file, deleted at the next start,
# after which the artifact is fetched whole.
source "$(dirname "$0")/lib.sh"
make_net 2
start_replica "$WORK/node1" >/dev/null
P1=${PIDS[-1]}
start_replica "$WORK/node2" >/dev/null
P2=${PIDS[-1]}
for i in 1 2; do wait_until 20 "node $i healthy" healthy "${NET_ADMIN[$i]}"; done
wait_until 20 "connected" bash -c "curl -sf ${NET_ADMIN[2]}/health | grep -q '\"peers_up\": 1'"
POOL2=$WORK/node2/data/pool

holds() {  # ADMIN ID
    body "$1/artifacts" | grep -q "\"$2\""
}
metric2() {  # NAME: node 2's sample
    body "${NET_ADMIN[2]}/metrics" | awk -v n="$1" '$1 == n {print $2}'
}
temporaries() {  # the temporary files in node 2's pool
    find "$POOL2" -maxdepth 1 -name '*.tmp' | wc -l
}

log "a 24 MiB artifact, fetched by node 2"
head -c $((24 << 20)) /dev/urandom >"$WORK/big"
id=$(post "${NET_ADMIN[1]}" advert "$WORK/big")
[ ${#id} -eq 64 ] || fail "POST to node 1 failed"
wait_until 60 "node 2 holds the artifact" holds "${NET_ADMIN[2]}" "$id"
[ "$(stat -c %s "$POOL2/$id.advert")" -eq $((24 << 20)) ] ||
    fail "node 2's pool file is not the artifact's size"
[ "$(temporaries)" -eq 0 ] || fail "a temporary file is left after the fetch"
[ "$(metric2 p2p_replica_bodies_fetched_into_files_total)" -ge 1 ] ||
    fail "node 2 did not write the artifact into its file as it arrived"
curl -sf "${NET_ADMIN[2]}/artifacts/$id" -o "$WORK/big.2" || fail "GET from node 2"
cmp -s "$WORK/big" "$WORK/big.2" || fail "node 2 serves other bytes"

log "SIGKILL node 2 at once, restart: the artifact is still there, served from its file"
kill -KILL "$P2"
wait_until 10 "node 2 gone" gone "$P2"
start_replica "$WORK/node2" >/dev/null
P2=${PIDS[-1]}
wait_until 20 "node 2 healthy again" healthy "${NET_ADMIN[2]}"
holds "${NET_ADMIN[2]}" "$id" || fail "node 2 lost the artifact it held"
curl -sf "${NET_ADMIN[2]}/artifacts/$id" -o "$WORK/big.3" || fail "GET after restart"
cmp -s "$WORK/big" "$WORK/big.3" || fail "node 2 serves other bytes after the restart"

# A fetch caught midway: node 1 is frozen once node 2's temporary file
# exists, then node 2 is killed. A fetch that finished first is retried
# with a new artifact (the race is the test's, not the replica's).
interrupted=""
for try in 1 2 3; do
    head -c $((120 << 20)) /dev/urandom >"$WORK/huge"
    hid=$(post "${NET_ADMIN[1]}" advert "$WORK/huge")
    [ ${#hid} -eq 64 ] || fail "POST of the 120 MiB artifact failed"
    wait_until 60 "node 2 starts fetching" bash -c \
        "[ \$(find '$POOL2' -maxdepth 1 -name '*.tmp' | wc -l) -gt 0 ] || [ -e '$POOL2/$hid.advert' ]"
    kill -STOP "$P1"
    if [ ! -e "$POOL2/$hid.advert" ]; then
        interrupted=$hid
        break
    fi
    kill -CONT "$P1"
    log "try $try: the fetch finished before node 1 was frozen; again"
done
[ -n "$interrupted" ] || fail "could not catch a fetch midway in 3 tries"
log "node 1 frozen with the fetch midway; SIGKILL node 2"
kill -KILL "$P2"
wait_until 10 "node 2 gone" gone "$P2"
[ "$(temporaries)" -ge 1 ] || fail "the interrupted fetch left no temporary file"
start_replica "$WORK/node2" >/dev/null
P2=${PIDS[-1]}
wait_until 20 "node 2 healthy after the crash" healthy "${NET_ADMIN[2]}"
[ "$(temporaries)" -eq 0 ] || fail "the temporary file survived the restart"
[ "$(metric2 'p2p_replica_pool_files_dropped_total{reason="leftover"}')" -ge 1 ] ||
    fail "the leftover was not counted"
kill -CONT "$P1"
wait_until 120 "node 2 fetches the artifact again" holds "${NET_ADMIN[2]}" "$interrupted"
curl -sf "${NET_ADMIN[2]}/artifacts/$interrupted" -o "$WORK/huge.2" || fail "GET of the refetched artifact"
cmp -s "$WORK/huge" "$WORK/huge.2" || fail "the refetched artifact differs"
[ "$(temporaries)" -eq 0 ] || fail "a temporary file is left after the refetch"
log "PASS: fetched bodies go to their files, survive a SIGKILL, and a torn fetch leaves nothing behind"
