#!/usr/bin/env bash
# Bulk transfer benchmark of the production replica (issue 5, item 9).
#
# Two replicas on loopback: node 1 holds 1 GiB of artifacts (8 x 128 MiB,
# POSTed before node 2 starts); node 2 starts, connects and fetches them
# all. Prints MB/s (10^6 B/s, first handshake to last artifact held) and the
# CPU seconds of both processes; then moves the same bytes with Debian's
# ngtcp2 example server and client (gtlsserver/gtlsclient, HTTP/3 over
# QUIC + GnuTLS) and prints the ratio ours/theirs.
#
# usage: bench/replica-bulk.sh [BUILD_DIR] [MIB]    (default build, 1024)
# Data directories live in /dev/shm so that the disk is not what is timed
# (the replica fsyncs every artifact it accepts).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
MIB=${2:-1024}
REPLICA=$PWD/$BUILD/bin/p2p-replica
[ -x "$REPLICA" ] || { echo "build first: ./ci/build $BUILD" >&2; exit 2; }
for p in ngtcp2-server ngtcp2-client; do
    dpkg -s "$p" >/dev/null 2>&1 || {
        echo "installing $p (reference QUIC example)" >&2
        apt-get install -y -qq "$p" >/dev/null
    }
done
ART_MIB=128
COUNT=$(( MIB / ART_MIB ))
[ "$COUNT" -ge 1 ] || { echo "MIB must be >= $ART_MIB" >&2; exit 2; }
BYTES=$(( COUNT * ART_MIB * 1048576 ))
W=$(mktemp -d /dev/shm/p2p-bench.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -TERM $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$W"' EXIT
cpu_s() {  # utime + stime of PID in seconds
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}
now() { date +%s.%N; }

B=$(( 30000 + ($$ % 50) * 10 ))
ids=()
for i in 1 2; do
    mkdir -p "$W/n$i"
    ids[$i]=$("$REPLICA" keygen --key "$W/n$i/key.pem" --cert "$W/n$i/cert.pem" | grep -o '[0-9a-f]\{64\}' | head -n1)
    cat >"$W/n$i/config.yaml" <<YAML
key: key.pem
cert: cert.pem
listen: 127.0.0.1:$((B + i))
registry: ../registry.yaml
registry_poll: 200ms
data_dir: data
admin: 127.0.0.1:$((B + 100 + i))
log: warn
YAML
done
{ echo "version: 1"; echo "members:"
  for i in 1 2; do echo "  - {index: $i, id: ${ids[$i]}, addr: 127.0.0.1:$((B + i))}"; done; } >"$W/registry.yaml"

"$REPLICA" run --config "$W/n1/config.yaml" 2>"$W/n1.log" &
PIDS+=($!); P1=$!
until curl -sf "http://127.0.0.1:$((B + 101))/health" >/dev/null; do sleep 0.1; done
echo "posting $COUNT x $ART_MIB MiB to node 1" >&2
for k in $(seq 1 "$COUNT"); do
    head -c $((ART_MIB << 20)) /dev/urandom >"$W/art"
    curl -sf -X POST -H "X-Artifact-Kind: advert" --data-binary "@$W/art" \
        "http://127.0.0.1:$((B + 101))/artifacts" >/dev/null
done
rm -f "$W/art"
c1=$(cpu_s "$P1")
t0=$(now)
"$REPLICA" run --config "$W/n2/config.yaml" 2>"$W/n2.log" &
PIDS+=($!); P2=$!
until [ "$(curl -sf "http://127.0.0.1:$((B + 102))/artifacts" 2>/dev/null | grep -o '"[0-9a-f]\{64\}"' | wc -l)" -ge "$COUNT" ]; do
    sleep 0.05
done
t1=$(now)
ours_s=$(echo "$t1 - $t0" | bc -l)
ours_mbs=$(echo "$BYTES / $ours_s / 1000000" | bc -l)
cpu1=$(echo "$(cpu_s "$P1") - $c1" | bc -l)
cpu2=$(cpu_s "$P2")
printf 'ours:   %d MiB in %.2f s = %.0f MB/s; CPU s: sender %.2f, receiver %.2f (start-up included)\n' \
    "$MIB" "$ours_s" "$ours_mbs" "$cpu1" "$cpu2"

# The reference: Debian's ngtcp2 HTTP/3 example, same bytes, same machine.
mkdir -p "$W/htdocs"
head -c "$BYTES" /dev/urandom >"$W/htdocs/blob"
/usr/sbin/gtlsserver -q -d "$W/htdocs" 127.0.0.1 $((B + 9)) "$W/n1/key.pem" "$W/n1/cert.pem" >/dev/null 2>&1 &
PIDS+=($!); PS=$!
sleep 0.5
t0=$(now)
/usr/bin/gtlsclient -q --exit-on-all-streams-close 127.0.0.1 $((B + 9)) "https://127.0.0.1:$((B + 9))/blob" >/dev/null 2>&1 || true
t1=$(now)
ref_s=$(echo "$t1 - $t0" | bc -l)
ref_mbs=$(echo "$BYTES / $ref_s / 1000000" | bc -l)
printf 'theirs: %d MiB in %.2f s = %.0f MB/s (gtlsserver/gtlsclient, CPU s server %.2f)\n' \
    "$MIB" "$ref_s" "$ref_mbs" "$(cpu_s "$PS")"
printf 'ratio ours/theirs: %.2f\n' "$(echo "$ours_mbs / $ref_mbs" | bc -l)"
