#!/usr/bin/env bash
# A node whose key is not in the registry is refused in the handshake (and
# counted in /metrics); a registry version that adds it lets it in, and it
# catches up.
source "$(dirname "$0")/lib.sh"
make_net 3
for i in 1 2 3; do start_replica "$WORK/node$i" >/dev/null; done
for i in 1 2 3; do wait_until 20 "node $i healthy" healthy "${NET_ADMIN[$i]}"; done
head -c 3000 /dev/urandom >"$WORK/art"
id=$(post "${NET_ADMIN[1]}" push "$WORK/art")
[ ${#id} -eq 64 ] || fail "POST failed"

log "an outsider's handshake with node 1"
set +e
"$REPLICA" probe --config "$WORK/node0/config.yaml" --peer 1 --timeout 5 >"$WORK/probe.out" 2>&1
rc=$?
set -e
cat "$WORK/probe.out"
[ "$rc" -eq 3 ] || fail "the outsider was not refused (probe exit $rc)"
body "${NET_ADMIN[1]}/metrics" >"$WORK/metrics.txt"
grep -q '^p2p_replica_handshake_refusals_total{reason="not_member"} [1-9]' "$WORK/metrics.txt" ||
    fail "node 1 did not count the refusal"

log "the outsider runs, waiting for a registry that lists it"
start_replica "$WORK/node0" >/dev/null
wait_until 20 "the outsider's admin API answering" answers "${NET_ADMIN[0]}/health"
[[ "$(curl -s --max-time 5 "${NET_ADMIN[0]}/health")" == *'"ok": false'* ]] ||
    fail "outsider healthy before it is a member"

log "registry version 2 adds it as member 4"
NET_IDS[4]=${NET_IDS[0]}
b=$(base_port)
# Member 4 listens where node0's config says (port b+0).
{ echo "version: 2"; echo "members:"
  for i in 1 2 3; do echo "  - {index: $i, id: ${NET_IDS[$i]}, addr: 127.0.0.1:$((b + i))}"; done
  echo "  - {index: 4, id: ${NET_IDS[0]}, addr: 127.0.0.1:$b}"; } >"$NET_REG.tmp"
mv "$NET_REG.tmp" "$NET_REG"
wait_until 20 "the new member healthy" healthy "${NET_ADMIN[0]}"
wait_until 30 "the new member caught up" has_count "${NET_ADMIN[0]}" 1
curl -sf "${NET_ADMIN[0]}/artifacts/$id" -o "$WORK/art.back"
cmp -s "$WORK/art" "$WORK/art.back" || fail "artifact differs on the new member"
log "registry version 3 removes member 3"
{ echo "version: 3"; echo "members:"
  for i in 1 2; do echo "  - {index: $i, id: ${NET_IDS[$i]}, addr: 127.0.0.1:$((b + i))}"; done
  echo "  - {index: 4, id: ${NET_IDS[0]}, addr: 127.0.0.1:$b}"; } >"$NET_REG.tmp"
mv "$NET_REG.tmp" "$NET_REG"
wait_until 20 "node 1 connected to exactly members 2 and 4" bash -c \
    "curl -sf ${NET_ADMIN[1]}/health | grep -q '\"members\": 3, \"peers_up\": 2'"
# The probe asks member 4, which reads the registry file on its own
# schedule: wait until it too uses version 3 alone (until then it still
# accepts member 3, as version 2 is in use).
wait_until 20 "member 4 on registry version 3 alone" bash -c \
    "curl -sf ${NET_ADMIN[0]}/health | grep '\"registry_version\": 3,' | grep -q '\"earliest_version\": 3,'"
set +e
"$REPLICA" probe --config "$WORK/node3/config.yaml" --peer 4 --timeout 5 >"$WORK/probe3.out" 2>&1
rc=$?
set -e
cat "$WORK/probe3.out"
[ "$rc" -eq 3 ] || fail "the removed member was not refused (probe exit $rc)"
log "PASS: refused while outside the registry, let in by version 2, removed by version 3"
