#!/usr/bin/env bash
# A member sending garbage on a stream, or a request past its route's size
# limit, has that stream (or its connection) closed; the replica keeps
# serving its other peers.
source "$(dirname "$0")/lib.sh"
make_net 3
# Member 0 exists in the registry (the probe's identity) but never runs.
b=$(base_port)
{ echo "version: 1"; echo "members:"
  for i in 0 1 2 3; do echo "  - {index: $i, id: ${NET_IDS[$i]}, addr: 127.0.0.1:$((b + i))}"; done; } >"$NET_REG.tmp"
mv "$NET_REG.tmp" "$NET_REG"
for i in 1 2 3; do start_replica "$WORK/node$i" >/dev/null; done
for i in 1 2 3; do wait_until 20 "node $i healthy" healthy "${NET_ADMIN[$i]}"; done

for mode in "--garbage 100000" "--garbage 3" "--oversize"; do
    log "member 0 sends node 3 a bad stream: $mode"
    "$REPLICA" probe --config "$WORK/node0/config.yaml" --peer 3 $mode --timeout 10 >"$WORK/probe.out" 2>&1 ||
        { cat "$WORK/probe.out"; fail "probe $mode failed"; }
    cat "$WORK/probe.out"
    grep -Eq "reset by the peer|connection closed by the peer" "$WORK/probe.out" ||
        fail "node 3 did not close the bad stream ($mode)"
done
healthy "${NET_ADMIN[3]}" || fail "node 3 stopped serving"
head -c 2000 /dev/urandom >"$WORK/art"
id=$(post "${NET_ADMIN[3]}" push "$WORK/art")
for i in 1 2; do wait_until 20 "node $i got node 3's artifact" has_count "${NET_ADMIN[$i]}" 1; done
body "${NET_ADMIN[3]}/metrics" >"$WORK/metrics.txt"
grep -q '^p2p_' "$WORK/metrics.txt" || fail "no metrics"
log "PASS: bad streams closed, node 3 still serving"
