#!/usr/bin/env bash
# What the shipped monitoring (dist/monitoring/) asks of a replica is what
# a running one serves: a 2-node net connects and gossips an artifact,
# then every metric name and exact label value the Prometheus rules and
# the Grafana dashboard use must be among /metrics' families and samples
# of both nodes (tests/monitoring_check.py served; names are read from
# the files and the live text, so a renamed family fails here). Also the
# process's own families: p2p_build_info's version and commit are what
# `--version` prints, and the process_* values are plausible (resident
# memory, descriptors under their limit, a start time between the test's
# start and now, CPU time within what the cores could give).
source "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
command -v python3 >/dev/null || fail "python3 missing"
t0=$(date +%s)
make_net 2
# Not in $(...): a subshell's PIDS+= would not reach cleanup.
start_replica "$WORK/node1" >/dev/null
pid=${PIDS[-1]}
start_replica "$WORK/node2" >/dev/null
for i in 1 2; do wait_until 20 "node $i healthy" healthy "${NET_ADMIN[$i]}"; done
wait_until 20 "connected" bash -c "curl -sf ${NET_ADMIN[1]}/health | grep -q '\"peers_up\": 1'"
head -c 100000 /dev/urandom >"$WORK/art"
[ -n "$(post "${NET_ADMIN[1]}" advert "$WORK/art")" ] || fail "POST"
wait_until 20 "replicated" has_count "${NET_ADMIN[2]}" 1
for i in 1 2; do
    body "${NET_ADMIN[$i]}/metrics" >"$WORK/metrics$i.txt"
    [ -s "$WORK/metrics$i.txt" ] || fail "no /metrics from node $i"
    python3 "$SRC/tests/monitoring_check.py" served "$WORK/metrics$i.txt" \
        "$SRC/dist/monitoring/p2p-replica.rules.yml" \
        "$SRC/dist/monitoring/grafana-p2p-replica.json" ||
        fail "node $i does not serve what the rules and dashboard use"
done
now=$(date +%s)

# p2p_build_info against --version ("p2p-replica V (commit C)").
read -r _ version _ commit < <("$REPLICA" --version | head -n1)
commit=${commit%)}
want="p2p_build_info{version=\"$version\",commit=\"$commit\",ngtcp2=\""
grep -qF "$want" "$WORK/metrics1.txt" ||
    fail "build info is not --version's ($version, $commit): $(grep '^p2p_build_info' "$WORK/metrics1.txt")"

value() { awk -v n="$2" '$1 == n {print $2}' "$1"; }
m=$WORK/metrics1.txt
rss=$(value "$m" process_resident_memory_bytes)
vsz=$(value "$m" process_virtual_memory_bytes)
fds=$(value "$m" process_open_fds)
max=$(value "$m" process_max_fds)
start=$(value "$m" process_start_time_seconds)
cpu=$(value "$m" process_cpu_seconds_total)
log "node 1: rss $rss, vsz $vsz, fds $fds/$max, start $start, cpu $cpu s"
awk -v r="$rss" -v v="$vsz" 'BEGIN { exit !(r > 1000000 && v >= r) }' || fail "memory: rss $rss, virtual $vsz"
awk -v f="$fds" -v m="$max" 'BEGIN { exit !(f >= 5 && f < m) }' || fail "descriptors: $fds of $max"
awk -v s="$start" -v a="$t0" -v b="$now" 'BEGIN { exit !(s >= a - 1 && s <= b + 1) }' ||
    fail "start time $start not within [$t0, $now]"
# CPU: a number, at most what the cores could give since the start.
awk -v c="$cpu" -v w=$((now - t0 + 1)) -v n="$(nproc)" 'BEGIN { exit !(c >= 0 && c <= w * n) }' ||
    fail "cpu seconds $cpu"
# The replica's own limit of descriptors, as the kernel reports it.
soft=$(awk '/^Max open files/ {print $4}' "/proc/$pid/limits")
[ "$soft" = "$max" ] || fail "process_max_fds $max, /proc/$pid/limits says $soft"
log "PASS: every name and label value of the rules and the dashboard is served; build info and process values check out"
