#!/usr/bin/env bash
# Readiness under systemd (Type=notify): with NOTIFY_SOCKET set, the
# replica sends READY=1 once its sockets listen and its pool is loaded
# (the admin API answers /health at that moment, and STATUS= counts the
# artifacts loaded from disk), STOPPING=1 when SIGTERM stops it, and a
# replica whose key the registry does not list is ready too, its STATUS=
# saying it waits. A NOTIFY_SOCKET nobody listens on changes nothing.
source "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || fail "python3 missing"

# listen.py SOCKET LOG URL: one line per datagram received on SOCKET
# (newlines as |); at READY=1, GETs URL/health and logs its status.
cat >"$WORK/listen.py" <<'PY'
import os, socket, sys, time, urllib.request, urllib.error
path, log, url = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(1.0)
end = time.time() + 120
with open(log, "a", buffering=1) as f:
    while time.time() < end:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            continue
        f.write(msg.replace("\n", "|") + "\n")
        if "READY=1" in msg.split("\n"):
            try:
                code = urllib.request.urlopen(url + "/health", timeout=5).status
            except urllib.error.HTTPError as e:
                code = e.code
            except Exception as e:
                code = "error " + str(e)
            f.write("health-at-ready %s\n" % code)
PY

# notify_listen NAME URL: a listener on $WORK/NAME.sock logging to
# $WORK/NAME.notify.
notify_listen() {
    rm -f "$WORK/$1.sock"
    python3 "$WORK/listen.py" "$WORK/$1.sock" "$WORK/$1.notify" "$2" &
    PIDS+=($!)
    wait_until 10 "listener $1" test -S "$WORK/$1.sock"
}
# start_notified DIR NAME: DIR's replica with NOTIFY_SOCKET=$WORK/NAME.sock;
# its pid is ${PIDS[-1]} (never called in $(...): a subshell's PIDS+=
# would not reach cleanup).
start_notified() {
    NOTIFY_SOCKET=$WORK/$2.sock "$REPLICA" run --config "$1/config.yaml" >>"$1/replica.log" 2>&1 &
    PIDS+=($!)
}
notified() { grep -q "$2" "$WORK/$1.notify" 2>/dev/null; }

make_net 1
# A member: ready with /health answering 200.
notify_listen a "${NET_ADMIN[1]}"
start_notified "$WORK/node1" a
pid=${PIDS[-1]}
wait_until 20 "READY=1" notified a '^READY=1'
wait_until 10 "health at ready" notified a '^health-at-ready'
grep -q '^health-at-ready 200$' "$WORK/a.notify" || fail "at READY=1 /health said: $(grep health-at "$WORK/a.notify")"
grep -q '^READY=1|STATUS=node 1 of registry version 1 (0 artifacts)$' "$WORK/a.notify" ||
    fail "READY line: $(cat "$WORK/a.notify")"
head -c 3000 /dev/urandom >"$WORK/art"
[ -n "$(post "${NET_ADMIN[1]}" push "$WORK/art")" ] || fail "POST"
kill -TERM "$pid"
wait_until 20 "STOPPING=1" notified a '^STOPPING=1$'
wait_until 20 "stopped" gone "$pid"

# Restarted on its data directory: READY=1 comes after the pool is loaded.
notify_listen b "${NET_ADMIN[1]}"
start_notified "$WORK/node1" b
pid=${PIDS[-1]}
wait_until 20 "READY=1 after restart" notified b '^READY=1'
grep -q '^READY=1|STATUS=node 1 of registry version 1 (1 artifacts)$' "$WORK/b.notify" ||
    fail "READY line after restart: $(cat "$WORK/b.notify")"
[ "$(count_artifacts "${NET_ADMIN[1]}")" -eq 1 ] || fail "artifact not served after restart"

# Not in the registry: ready (its sockets listen), STATUS says it waits;
# /health answers 503.
notify_listen c "${NET_ADMIN[0]}"
start_notified "$WORK/node0" c
wait_until 20 "READY=1 of a non-member" notified c '^READY=1'
grep -q '^READY=1|STATUS=waiting for a registry version that lists this node.s key$' "$WORK/c.notify" ||
    fail "non-member's READY line: $(cat "$WORK/c.notify")"
wait_until 10 "non-member health" notified c '^health-at-ready'
grep -q '^health-at-ready 503$' "$WORK/c.notify" || fail "non-member /health: $(grep health-at "$WORK/c.notify")"

# Nobody listening on NOTIFY_SOCKET: the replica runs as usual.
kill -TERM "$pid"
wait_until 20 "stopped" gone "$pid"
NOTIFY_SOCKET=$WORK/nobody.sock start_replica "$WORK/node1" >/dev/null
wait_until 20 "healthy without a listener" healthy "${NET_ADMIN[1]}"
log "PASS: READY=1 with /health answering and the pool loaded, STOPPING=1 at SIGTERM, waiting status for a non-member"
