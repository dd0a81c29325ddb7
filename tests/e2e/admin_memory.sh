#!/usr/bin/env bash
# The admin API's memory stays bounded: request bodies count against
# limits.admin_buffer (here 64 MiB, bodies up to 16 MiB), so 16 uploads of
# 16 MiB that stall near their end hold 4 bodies (the other 12 are answered
# 503), and artifacts are sent from the pool, not copied, so 40 clients
# that never read a 16 MiB artifact cost no copy of it. The replica's RSS
# (/proc/PID/status) is checked against each bound.
source "$(dirname "$0")/lib.sh"
MIB=$((1 << 20))
make_net 1
printf 'limits:\n  admin_body: 16MiB\n  admin_buffer: 64MiB\n' >>"$WORK/node1/config.yaml"
start_replica "$WORK/node1" >/dev/null
PID=${PIDS[-1]}
URL=${NET_ADMIN[1]}
PORT=${URL##*:}
wait_until 20 "node 1 healthy" healthy "$URL"
kill -0 "$PID" || fail "the replica exited (its ports taken?)"

rss_kib() {
    awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"
}
rss_at_least() {
    [ "$(rss_kib)" -ge "$1" ]
}

# below_for_2s KIB WHAT: the RSS stays below KIB over 2 s of samples.
below_for_2s() {
    local i rss
    for i in $(seq 10); do
        rss=$(rss_kib)
        [ "$rss" -lt "$1" ] || fail "$2: RSS $((rss / 1024)) MiB, bound $(($1 / 1024)) MiB"
        sleep 0.2
    done
    log "$2: RSS $((rss / 1024)) MiB (bound $(($1 / 1024)) MiB)"
}

base=$(rss_kib)
log "16 uploads of 16 MiB, each stalling 1 MiB before its end (RSS at start $((base / 1024)) MiB)"
hold 60 slowpost 16 $((16 * MIB)) $((15 * MIB))
grep -q "statuses=503x12$" "$WORK/held" || fail "want 12 uploads refused with 503: $(cat "$WORK/held")"
# The 4 admitted bodies arrive (4 x 15 MiB), and no more is kept.
wait_until 30 "the admitted bodies in memory" rss_at_least $((base + 56 * 1024))
below_for_2s $((base + 96 * 1024)) "16 stalled uploads"
release
wait_until 20 "answering again" healthy "$URL"

log "40 clients that never read a 16 MiB artifact"
head -c $((16 * MIB)) /dev/urandom >"$WORK/art"
id=$(post "$URL" push "$WORK/art")
[ ${#id} -eq 64 ] || fail "POST of 16 MiB failed"
base=$(rss_kib)
hold 60 unreadget 40 "/artifacts/$id"
grep -q "answered=40 statuses=200x40$" "$WORK/held" || fail "want 40 answers under way: $(cat "$WORK/held")"
below_for_2s $((base + 32 * 1024)) "40 unread GETs of 16 MiB"
release
curl -sf --max-time 10 "$URL/artifacts/$id" -o "$WORK/art.back"
cmp -s "$WORK/art" "$WORK/art.back" || fail "the artifact read back differs"
log "PASS: admin memory bounded by its budget; artifacts sent without copies"
