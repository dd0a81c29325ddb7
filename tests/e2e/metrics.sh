#!/usr/bin/env bash
# /metrics of a running replica is valid Prometheus text (promtool).
source "$(dirname "$0")/lib.sh"
command -v promtool >/dev/null || fail "promtool missing (Debian package prometheus)"
make_net 2
for i in 1 2; do start_replica "$WORK/node$i" >/dev/null; done
for i in 1 2; do wait_until 20 "node $i healthy" healthy "${NET_ADMIN[$i]}"; done
wait_until 20 "connected" bash -c "curl -sf ${NET_ADMIN[1]}/health | grep -q '\"peers_up\": 1'"
head -c 2000 /dev/urandom >"$WORK/art"
post "${NET_ADMIN[1]}" push "$WORK/art" >/dev/null
wait_until 20 "replicated" has_count "${NET_ADMIN[2]}" 1
curl -sf "${NET_ADMIN[2]}/metrics" >"$WORK/metrics.txt"
promtool check metrics <"$WORK/metrics.txt" || fail "promtool rejected /metrics"
grep -q '^p2p_replica_peer_bytes_received_total{peer="1"} [1-9]' "$WORK/metrics.txt" ||
    fail "no per-peer bytes for peer 1"
log "PASS: /metrics accepted by promtool ($(wc -l <"$WORK/metrics.txt") lines)"
