#!/usr/bin/env bash
# Membership over the registry versions in use: members 1..3 on version 1,
# and every node's clients keep referencing version 1
# (POST /registry/earliest). Version 2 drops member 3, which stays
# connected and served: an artifact POSTed at node 1 reaches it, and one
# POSTed at node 3 reaches node 2. Once the clients move to version 2,
# node 3 is disconnected (and unhealthy: no version in use lists it); an
# earliest older than the one in use is refused with 409.
source "$(dirname "$0")/lib.sh"
make_net 3
for i in 1 2 3; do start_replica "$WORK/node$i" >/dev/null; done
for i in 1 2 3; do wait_until 20 "node $i healthy" healthy "${NET_ADMIN[$i]}"; done

# health_has ADMIN_URL TEXT: /health answers (200 or 503) with TEXT in it.
health_has() {
    [[ "$(curl -s --max-time 5 "$1/health" 2>/dev/null || true)" == *"$2"* ]]
}
# earliest ADMIN_URL VERSION: prints the answer to POST /registry/earliest.
earliest() {
    curl -s --max-time 5 -X POST --data-binary "$2" "$1/registry/earliest"
}

for i in 1 2 3; do
    wait_until 20 "node $i connected to both others" health_has "${NET_ADMIN[$i]}" '"peers_up": 2'
done
log "every node's clients reference version 1"
for i in 1 2 3; do
    out=$(earliest "${NET_ADMIN[$i]}" 1)
    [[ "$out" == *'"earliest_version": 1, "earliest_pinned": 1'* ]] ||
        fail "node $i: POST /registry/earliest 1 answered $out"
done

log "registry version 2 without member 3"
write_registry 2 1 2
for i in 1 2 3; do
    wait_until 20 "node $i on version 2" health_has "${NET_ADMIN[$i]}" '"registry_version": 2'
done
for i in 1 2; do
    health_has "${NET_ADMIN[$i]}" '"members": 2, "peers_up": 2' ||
        fail "node $i dropped member 3 while version 1 is in use: $(body "${NET_ADMIN[$i]}/health")"
    health_has "${NET_ADMIN[$i]}" '"earliest_version": 1, "members_in_use": 3' ||
        fail "node $i: $(body "${NET_ADMIN[$i]}/health")"
done
health_has "${NET_ADMIN[3]}" '"ok": true' || fail "node 3 unhealthy while version 1 is in use"
out=$(body "${NET_ADMIN[1]}/registry/earliest")
[[ "$out" == *'"versions": [1, 2], "members_in_use": [1, 2, 3]'* ]] ||
    fail "node 1's registry versions in use: $out"

log "member 3 is still served, and serves"
head -c 3000 /dev/urandom >"$WORK/a1"
id1=$(post "${NET_ADMIN[1]}" push "$WORK/a1")
[ ${#id1} -eq 64 ] || fail "POST at node 1 failed"
wait_until 30 "node 3 received node 1's artifact" curl -sf -o /dev/null "${NET_ADMIN[3]}/artifacts/$id1"
head -c 3000 /dev/urandom >"$WORK/a3"
id3=$(post "${NET_ADMIN[3]}" push "$WORK/a3")
[ ${#id3} -eq 64 ] || fail "POST at node 3 failed"
wait_until 30 "node 2 received node 3's artifact" curl -sf -o /dev/null "${NET_ADMIN[2]}/artifacts/$id3"
curl -sf "${NET_ADMIN[2]}/artifacts/$id3" -o "$WORK/a3.back"
cmp -s "$WORK/a3" "$WORK/a3.back" || fail "node 3's artifact differs at node 2"

log "the clients move to version 2: member 3 is dropped"
for i in 1 2 3; do
    out=$(earliest "${NET_ADMIN[$i]}" 2)
    [[ "$out" == *'"earliest_version": 2'* ]] || fail "node $i: POST 2 answered $out"
done
for i in 1 2; do
    wait_until 20 "node $i connected to one peer" health_has "${NET_ADMIN[$i]}" '"members": 2, "peers_up": 1'
    health_has "${NET_ADMIN[$i]}" '"earliest_version": 2, "members_in_use": 2' ||
        fail "node $i: $(body "${NET_ADMIN[$i]}/health")"
done
wait_until 20 "node 3 unhealthy" health_has "${NET_ADMIN[3]}" '"ok": false'
grep -q "the node's clients reference registry versions from 2 on" "$WORK/node1/replica.log" ||
    fail "node 1 did not log the move"

code=$(curl -s -o "$WORK/old.json" -w '%{http_code}' --max-time 5 -X POST \
    --data-binary 1 "${NET_ADMIN[1]}/registry/earliest")
[ "$code" = 409 ] || fail "an older earliest answered $code: $(cat "$WORK/old.json")"
log "PASS: member 3 connected and served until the earliest version in use moved past it"
