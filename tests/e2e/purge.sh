#!/usr/bin/env bash
# Purge by height: artifacts POSTed to node 1 with heights 1..6 (and one
# without) replicate to node 2 with their heights; POST /purge 4 on node 1
# drops heights 1..3 from its pool and its data directory, and they stay
# gone after a restart, as does the purge height (409 for a lower one, and
# for a POST below it), though node 2 still offers them: they arrive with
# their heights and are not kept. Node 2, purged in turn, drops its
# received copies below the height too.
source "$(dirname "$0")/lib.sh"
make_net 2
declare -A PID
for i in 1 2; do
    start_replica "$WORK/node$i" >/dev/null
    PID[$i]=${PIDS[-1]}
done
for i in 1 2; do wait_until 20 "node $i healthy" healthy "${NET_ADMIN[$i]}"; done
A=${NET_ADMIN[1]}
POOL=$WORK/node1/data/pool

# status METHOD URL [CURL ARGS...]: the HTTP status only.
status() {
    curl -s --max-time 10 -o "$WORK/answer" -w '%{http_code}' -X "$1" "${@:3}" "$2" || true
}
# post_at HEIGHT FILE: posts FILE with that height; prints its id.
post_at() {
    curl -sf --max-time 10 -X POST -H "X-Artifact-Kind: push" \
        -H "X-Artifact-Height: $1" --data-binary "@$2" "$A/artifacts" |
        sed -n 's/.*"id": *"\([0-9a-f]*\)".*/\1/p'
}
listed() {
    body "$A/artifacts" | grep -q "\"$1\""
}

log "posting 6 artifacts at heights 1..6 and one without a height to node 1"
declare -A ID
for h in 1 2 3 4 5 6; do
    head -c $((100 + h)) /dev/urandom >"$WORK/a$h"
    ID[$h]=$(post_at "$h" "$WORK/a$h")
    [ ${#ID[$h]} -eq 64 ] || fail "the POST at height $h returned no id"
done
head -c 200 /dev/urandom >"$WORK/none"
NONE=$(post "$A" push "$WORK/none")
[ ${#NONE} -eq 64 ] || fail "the POST without a height returned no id"
[ "$(status POST "$A/artifacts" -H 'X-Artifact-Height: 1x' --data-binary x)" = 400 ] ||
    fail "a bad X-Artifact-Height was not 400"
wait_until 30 "7 artifacts on node 2" has_count "${NET_ADMIN[2]}" 7

log "purging node 1 below height 4"
[ "$(status POST "$A/purge" --data-binary 4)" = 200 ] || fail "POST /purge 4: $(cat "$WORK/answer")"
grep -q '"purge_height": 4, "purged": 3' "$WORK/answer" || fail "purge answer: $(cat "$WORK/answer")"
# check_purged: heights 1..3 gone from node 1's list and data directory,
# 4..6 and the one without a height still there.
check_purged() {
    [ "$(count_artifacts "$A")" -eq 4 ] || fail "node 1 lists $(count_artifacts "$A") artifacts, not 4"
    for h in 1 2 3; do
        ! listed "${ID[$h]}" || fail "height $h still listed"
        ! ls "$POOL/${ID[$h]}".* >/dev/null 2>&1 || fail "height $h still on disk"
        [ "$(status GET "$A/artifacts/${ID[$h]}")" = 404 ] || fail "height $h still served"
    done
    for h in 4 5 6; do
        listed "${ID[$h]}" || fail "height $h not listed"
        [ -f "$POOL/${ID[$h]}.push" ] || fail "height $h not on disk"
    done
    listed "$NONE" || fail "the artifact without a height is not listed"
    [ -f "$POOL/$NONE.push" ] || fail "the artifact without a height is not on disk"
    [ "$(status POST "$A/purge" --data-binary 3)" = 409 ] || fail "moving the purge height back was not 409"
    [ "$(status POST "$A/artifacts" -H 'X-Artifact-Height: 2' --data-binary below)" = 409 ] ||
        fail "a POST below the purge height was not 409"
}
check_purged
[ "$(count_artifacts "${NET_ADMIN[2]}")" -eq 7 ] || fail "node 2, not purged, does not list 7 artifacts"

log "restarting node 1"
kill -TERM "${PID[1]}"
wait "${PID[1]}" 2>/dev/null || true
start_replica "$WORK/node1" >/dev/null
PID[1]=${PIDS[-1]}
wait_until 20 "node 1 healthy again" healthy "$A"
check_purged
grep -q "purge height 4" "$WORK/node1/replica.log" || fail "the restart did not log the purge height"
# Node 2 re-offered all 7 to the restarted node 1 (every slot goes to a
# new connection): wait until node 1 refused the three below its height.
purged_on_arrival() {
    [ "$(body "$A/metrics" | sed -n 's/^p2p_artifacts_purged_total \([0-9]*\)$/\1/p')" -ge 3 ]
}
wait_until 20 "node 1 refused the 3 re-offered below its purge height" purged_on_arrival
check_purged

log "purging node 2 below height 4: its received copies carry their heights"
[ "$(status POST "${NET_ADMIN[2]}/purge" --data-binary 4)" = 200 ] || fail "POST /purge 4 on node 2"
grep -q '"purged": 3' "$WORK/answer" || fail "node 2 purge answer: $(cat "$WORK/answer")"
[ "$(count_artifacts "${NET_ADMIN[2]}")" -eq 4 ] || fail "node 2 lists $(count_artifacts "${NET_ADMIN[2]}"), not 4"
for h in 1 2 3; do
    ! ls "$WORK/node2/data/pool/${ID[$h]}".* >/dev/null 2>&1 || fail "height $h still on node 2's disk"
done
log "PASS: purged below height 4 on both nodes, gone from the pools and the disks, across a restart"
