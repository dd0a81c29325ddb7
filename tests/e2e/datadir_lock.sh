#!/usr/bin/env bash
# One replica per data directory: a second `run` with the same config, while
# the first is up and idle, exits 2 naming the directory and the holder's
# pid and changes nothing in the directory (not even the leftovers a replica
# removes when it opens one: a checkpoint folder without a manifest, which
# is what a running replica's checkpoint looks like while it is written).
# The first stays healthy; the lock goes with its process (SIGKILL too), so
# a restart takes it at once. A testnet started over live replicas' folders
# cannot start replicas there either.
source "$(dirname "$0")/lib.sh"
make_net 1
NODE=$WORK/node1
DATA=$NODE/data
ADMIN=${NET_ADMIN[1]}

# A listing of every entry with its type, size, mtime and (files) checksum.
snapshot() {
    (cd "$1" && find . -printf '%p %y %s %T@\n' | sort &&
        find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

# second_run CONFIG OUT: runs `run` in the foreground (bounded); prints
# its exit code.
second_run() {
    local rc=0
    timeout 30 "$REPLICA" run --config "$1" >"$2" 2>&1 || rc=$?
    echo "$rc"
}

start_replica "$NODE" >/dev/null
pid=${PIDS[-1]} # not $(start_replica): PIDS must grow in this shell
wait_until 20 "node 1 healthy" healthy "$ADMIN"
head -c 300000 /dev/urandom >"$WORK/state"
curl -sf --max-time 60 -X POST --data-binary "@$WORK/state" "$ADMIN/state" \
    >/dev/null || fail "POST /state"
head -c 5000 /dev/urandom >"$WORK/art"
id=$(post "$ADMIN" advert "$WORK/art")
[ ${#id} -eq 64 ] || fail "POST /artifacts"
state_before=$(body "$ADMIN/state")
grep -q '"height": 1' <<<"$state_before" || fail "no checkpoint 1: $state_before"
[ "$(cat "$DATA/lock")" = "$pid" ] || fail "lock file does not hold pid $pid"

# What an opening replica removes; the running one never looks at them.
writing=$DATA/state/2-$(printf 'a%.0s' $(seq 64))
mkdir "$writing"
head -c 1000 /dev/urandom >"$writing/chunk-0"
head -c 100 /dev/urandom >"$DATA/pool/$id.push.tmp"
snapshot "$DATA" >"$WORK/before"

log "a second run on the live data directory"
rc=$(second_run "$NODE/config.yaml" "$WORK/second.log")
cat "$WORK/second.log"
[ "$rc" -eq 2 ] || fail "second run exited $rc, want 2"
grep -q "data directory $DATA is in use" "$WORK/second.log" ||
    fail "the message does not name the data directory"
grep -q "pid $pid" "$WORK/second.log" || fail "the message does not name pid $pid"
snapshot "$DATA" >"$WORK/after"
diff "$WORK/before" "$WORK/after" || fail "the second run changed the data directory"
healthy "$ADMIN" || fail "the first replica is no longer healthy"
[ "$(body "$ADMIN/state")" = "$state_before" ] || fail "/state changed"
curl -sf "$ADMIN/artifacts/$id" -o "$WORK/art.back" || fail "artifact gone"
cmp -s "$WORK/art" "$WORK/art.back" || fail "artifact differs"

log "SIGKILL: the lock goes with the process"
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
start_replica "$NODE" >/dev/null
pid=${PIDS[-1]} # not $(start_replica): PIDS must grow in this shell
wait_until 20 "node 1 healthy after the restart" healthy "$ADMIN"
[ "$(cat "$DATA/lock")" = "$pid" ] || fail "lock file does not hold the new pid"
grep -q '"height": 1' <<<"$(body "$ADMIN/state")" || fail "checkpoint 1 lost"
[ ! -e "$writing" ] || fail "the lock holder did not clean its own leftover"

log "a testnet whose replicas' folders are live"
B=$(( $(base_port) + 10 ))
TN=$WORK/tn
TESTNET_DIRS+=("$TN")
"$REPLICA" testnet --nodes 1 --dir "$TN" --base-port "$B" --detach \
    >"$WORK/tn1.log" 2>&1 || { cat "$WORK/tn1.log" >&2; fail "testnet did not start"; }
TN_ADMIN="http://127.0.0.1:$((B + 1000))"
snapshot "$TN/node0/data" >"$WORK/tn.before"
rc=$(second_run "$TN/node0/config.yaml" "$WORK/tn-run.log")
[ "$rc" -eq 2 ] || fail "run on a testnet's node exited $rc, want 2"
grep -q "data directory $TN/node0/data is in use" "$WORK/tn-run.log" ||
    fail "no clear message: $(cat "$WORK/tn-run.log")"
# A testnet that lost its testnet.json starts replicas on the same folders
# (other ports): they must refuse to run there.
mv "$TN/testnet.json" "$WORK/testnet.json"
rc=0
"$REPLICA" testnet --nodes 1 --dir "$TN" --base-port $((B + 2)) --detach \
    --timeout 20 >"$WORK/tn2.log" 2>&1 || rc=$?
mv "$WORK/testnet.json" "$TN/testnet.json"
cat "$WORK/tn2.log"
[ "$rc" -ne 0 ] || fail "a second testnet on live folders started"
grep -q "is in use" "$WORK/tn2.log" || fail "the second testnet does not say why"
snapshot "$TN/node0/data" >"$WORK/tn.after"
diff "$WORK/tn.before" "$WORK/tn.after" || fail "the testnet's data directory changed"
healthy "$TN_ADMIN" || fail "the testnet's replica is no longer healthy"
log "PASS: one replica per data directory"
