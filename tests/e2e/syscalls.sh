#!/usr/bin/env bash
# The systemd unit's system call filter lets the replica work: two
# replicas run under `strace -f -c` (with the unit's GLIBC_TUNABLES)
# through a handshake, gossip of a 4 MiB artifact each way, a state sync,
# a registry reload, /health and /metrics and a clean stop (SIGTERM); every
# system call they made must be in what dist/p2p-replica.service.in's
# SystemCallFilter= lines allow (groups expanded by `systemd-analyze
# syscall-filter`). A replica killed by the filter (SIGSYS) under systemd
# is what this catches before a host does. Sanitizer builds are skipped:
# their runtime makes calls of its own and is never run under the unit.
source "$(dirname "$0")/lib.sh"
UNIT=${UNIT:-$(dirname "$0")/../../dist/p2p-replica.service.in}
command -v strace >/dev/null || fail "strace missing (ci/install-deps)"
command -v systemd-analyze >/dev/null || fail "systemd-analyze missing (ci/install-deps)"
if grep -q __asan_init "$REPLICA"; then
    log "SKIP: a sanitizer build"
    exit 0
fi

# expand @GROUP|NAME: the system calls it stands for, one a line.
expand() {
    case $1 in
    @*) systemd-analyze syscall-filter "$1" | awk 'NR > 1 && $1 !~ /^#/ && NF {print $1}' |
            while read -r n; do expand "$n"; done ;;
    *) echo "$1" ;;
    esac
}
: >"$WORK/allow"
: >"$WORK/deny"
while IFS= read -r line; do
    spec=${line#SystemCallFilter=}
    list=allow
    if [[ $spec == "~"* ]]; then list=deny; spec=${spec#\~}; fi
    for item in $spec; do expand "$item" >>"$WORK/$list"; done
done < <(grep '^SystemCallFilter=' "$UNIT")
sort -u "$WORK/allow" >"$WORK/allow.s"
sort -u "$WORK/deny" >"$WORK/deny.s"
comm -23 "$WORK/allow.s" "$WORK/deny.s" >"$WORK/allowed"
[ "$(wc -l <"$WORK/allowed")" -gt 100 ] || fail "the filter expanded to almost nothing"
grep -qx setrlimit "$WORK/deny.s" || fail "@resources not denied?"
log "the unit allows $(wc -l <"$WORK/allowed") system calls"

# start_traced DIR: the replica of DIR under strace, strace's pid in
# ${PIDS[-1]} (not called in $(...): a subshell's PIDS+= would not reach
# cleanup).
start_traced() {
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 strace -f -c -o "$1/strace.txt" \
        "$REPLICA" run --config "$1/config.yaml" >>"$1/replica.log" 2>&1 &
    PIDS+=($!)
}
child_of() { ps -o pid= --ppid "$1" | tr -d ' '; }

make_net 2
start_traced "$WORK/node1"
s1=${PIDS[-1]}
start_traced "$WORK/node2"
s2=${PIDS[-1]}
for i in 1 2; do wait_until 60 "node $i healthy" healthy "${NET_ADMIN[$i]}"; done
# The replicas too, for cleanup: strace's death need not end them.
for s in "$s1" "$s2"; do
    c=$(child_of "$s")
    [ -n "$c" ] || fail "no replica under strace $s"
    PIDS+=("$c")
done
wait_until 60 "connected" bash -c "curl -sf ${NET_ADMIN[1]}/health | grep -q '\"peers_up\": 1'"
head -c $((4 << 20)) /dev/urandom >"$WORK/a1"
head -c $((4 << 20)) /dev/urandom >"$WORK/a2"
[ -n "$(post "${NET_ADMIN[1]}" advert "$WORK/a1")" ] || fail "POST to node 1"
[ -n "$(post "${NET_ADMIN[2]}" push "$WORK/a2")" ] || fail "POST to node 2"
for i in 1 2; do wait_until 60 "node $i has both" has_count "${NET_ADMIN[$i]}" 2; done
head -c $((3 << 20)) /dev/urandom >"$WORK/state"
curl -sf -X POST --data-binary "@$WORK/state" "${NET_ADMIN[1]}/state" >/dev/null || fail "POST /state"
wait_until 60 "node 2 synced" bash -c "curl -sf ${NET_ADMIN[2]}/state | grep -q '\"height\": 1,'"
write_registry 2 1 2
wait_until 30 "registry version 2" bash -c "curl -sf ${NET_ADMIN[2]}/health | grep -q '\"registry_version\": 2'"
for i in 1 2; do body "${NET_ADMIN[$i]}/metrics" | grep -q '^process_open_fds ' || fail "/metrics of node $i"; done
for s in "$s1" "$s2"; do
    c=$(child_of "$s")
    [ -n "$c" ] || fail "no replica under strace $s"
    kill -TERM "$c"
done
for s in "$s1" "$s2"; do wait_until 30 "strace $s done" gone "$s"; done
for i in 1 2; do
    grep -q 'stopped' "$WORK/node$i/replica.log" || fail "node $i did not stop cleanly"
done

# The calls made: the last column of strace's table, "total" excluded.
cat "$WORK/node1/strace.txt" "$WORK/node2/strace.txt" |
    awk '/^-+ / {t++; next} t == 1 && NF {print $NF}' | sort -u >"$WORK/used"
[ "$(wc -l <"$WORK/used")" -gt 20 ] || fail "strace saw almost nothing: $(cat "$WORK/node1/strace.txt")"
bad=$(comm -23 "$WORK/used" "$WORK/allowed")
log "system calls made: $(tr '\n' ' ' <"$WORK/used")"
[ -z "$bad" ] || fail "made but not allowed by the unit's SystemCallFilter: $bad"
log "PASS: every one of $(wc -l <"$WORK/used") system calls is allowed by the unit's filter"
