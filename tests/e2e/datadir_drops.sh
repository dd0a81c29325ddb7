#!/usr/bin/env bash
# What the loaders drop at start is logged (path and reason) and counted in
# /metrics (promtool accepts the text): a damaged newest checkpoint (the
# replica falls back one height and says so), pool entries that are a
# symbolic link, a folder, or a file above a lowered artifact_bytes, all
# moved to DATA/quarantine/pool, once: a second restart drops nothing.
source "$(dirname "$0")/lib.sh"
command -v promtool >/dev/null || fail "promtool missing (Debian package prometheus)"
make_net 1
NODE=$WORK/node1
DATA=$NODE/data
ADMIN=${NET_ADMIN[1]}

# metric NAME: its value in a fresh /metrics (the whole sample name, with
# labels, as written).
metric() {
    curl -sf --max-time 5 "$ADMIN/metrics" | awk -v n="$1" '$1 == n {print $2}'
}

start_replica "$NODE" >/dev/null
pid=${PIDS[-1]} # not $(start_replica): PIDS must grow in this shell
wait_until 20 "node 1 healthy" healthy "$ADMIN"
for i in 1 2; do
    head -c 200000 /dev/urandom >"$WORK/state$i"
    curl -sf --max-time 60 -X POST --data-binary "@$WORK/state$i" \
        "$ADMIN/state" >/dev/null || fail "POST /state $i"
done
head -c 5000 /dev/urandom >"$WORK/big"
big=$(post "$ADMIN" advert "$WORK/big")
head -c 500 /dev/urandom >"$WORK/small"
small=$(post "$ADMIN" push "$WORK/small")
[ ${#big} -eq 64 ] && [ ${#small} -eq 64 ] || fail "POST /artifacts"
[ "$(metric p2p_replica_artifacts_persisted_total)" = 2 ] ||
    fail "artifacts_persisted_total is not 2"
[ "$(metric p2p_replica_state_checkpoints_made_total)" = 2 ] ||
    fail "state_checkpoints_made_total is not 2"
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true

log "damaging the data directory"
newest=$(ls -d "$DATA"/state/2-*)
printf 'X' | dd of="$newest/manifest" bs=1 seek=10 conv=notrunc 2>/dev/null
link_name=$(printf '%064d' 7).push
ln -s /etc/passwd "$DATA/pool/$link_name"
dir_name=$(printf '%064d' 8).advert
mkdir "$DATA/pool/$dir_name"
printf 'limits:\n  artifact_bytes: 4KiB\n' >>"$NODE/config.yaml"
: >"$NODE/replica.log"

start_replica "$NODE" >/dev/null
pid=${PIDS[-1]} # not $(start_replica): PIDS must grow in this shell
wait_until 20 "node 1 healthy after the restart" healthy "$ADMIN"
grep -q "state: $newest: checkpoint 2 dropped: .*not the folder's root" \
    "$NODE/replica.log" || fail "no log line for the damaged checkpoint"
grep -q "newest checkpoint at height 1 (1 entries dropped at open)" \
    "$NODE/replica.log" || fail "no log line for the fallback"
grep -q "pool: dropped $DATA/pool/$link_name (not_regular): a symbolic link" \
    "$NODE/replica.log" || fail "no log line for the link"
grep -q "pool: dropped $DATA/pool/$dir_name (not_regular): a folder" \
    "$NODE/replica.log" || fail "no log line for the folder"
grep -q "pool: dropped $DATA/pool/$big.advert (oversize): 5000 bytes.*moved to $DATA/quarantine/pool/$big.advert" \
    "$NODE/replica.log" || fail "no log line for the oversize file"
grep -q '"height": 1' <<<"$(body "$ADMIN/state")" || fail "not at height 1"
curl -sf "$ADMIN/artifacts/$small" -o /dev/null || fail "the small artifact is gone"
[ -L "$DATA/quarantine/pool/$link_name" ] || fail "the link is not in the quarantine"
[ -d "$DATA/quarantine/pool/$dir_name" ] || fail "the folder is not in the quarantine"
cmp -s "$WORK/big" "$DATA/quarantine/pool/$big.advert" ||
    fail "the oversize artifact is not whole in the quarantine"

curl -sf "$ADMIN/metrics" >"$WORK/metrics.txt"
promtool check metrics <"$WORK/metrics.txt" || fail "promtool rejected /metrics"
for want in \
    'p2p_replica_state_dropped_at_open_total 1' \
    'p2p_replica_state_checkpoint_height 1' \
    'p2p_replica_pool_files_dropped_total{reason="not_regular"} 2' \
    'p2p_replica_pool_files_dropped_total{reason="oversize"} 1' \
    'p2p_replica_pool_files_dropped_total{reason="corrupt"} 0' \
    'p2p_replica_pool_files_quarantined_total 3' \
    'p2p_replica_pool_files_left_total 0' \
    'p2p_replica_artifact_persist_failures_total 0' \
    'p2p_replica_state_chunks_corrupt_total 0'; do
    grep -qxF "$want" "$WORK/metrics.txt" || fail "/metrics lacks: $want"
done
for f in artifacts_persisted_total state_checkpoints_made_total \
    state_syncs_completed_total state_complete_errors_total \
    state_chunks_linked_total state_checkpoints_pruned_total; do
    grep -q "^# TYPE p2p_replica_$f " "$WORK/metrics.txt" ||
        fail "/metrics lacks the family p2p_replica_$f"
done

log "a second restart drops nothing"
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true
: >"$NODE/replica.log"
start_replica "$NODE" >/dev/null
pid=${PIDS[-1]} # not $(start_replica): PIDS must grow in this shell
wait_until 20 "node 1 healthy after the second restart" healthy "$ADMIN"
[ "$(metric p2p_replica_state_dropped_at_open_total)" = 0 ] ||
    fail "the second start dropped checkpoints"
[ "$(metric p2p_replica_pool_files_quarantined_total)" = 0 ] ||
    fail "the second start quarantined again"
grep -q "pool: dropped" "$NODE/replica.log" && fail "the second start dropped pool files"
log "PASS: drops logged, counted in /metrics, quarantined once"
