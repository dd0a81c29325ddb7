#!/usr/bin/env bash
# Bulk transfer benchmark of the production replica (docs/replica.md, "Measured").
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
case "$BUILD" in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
REPLICA=$BUILD/bin/p2p-replica
[ -x "$REPLICA" ] || { echo "build first: ./ci/build $BUILD" >&2; exit 2; }
for p in ngtcp2-server ngtcp2-client; do
    dpkg -s "$p" >/dev/null 2>&1 || {
        echo "installing $p (reference QUIC example)" >&2
        apt-get install -y -qq "$p" >/dev/null
    }
done
# Artifacts of 128 MiB less 64 KiB: the largest message is 128 MiB with its
# envelope.
ART_MIB=128
ART_BYTES=$(( (ART_MIB << 20) - 65536 ))
COUNT=$(( MIB / ART_MIB ))
[ "$COUNT" -ge 1 ] || { echo "MIB must be >= $ART_MIB" >&2; exit 2; }
BYTES=$(( COUNT * ART_BYTES ))
W=$(mktemp -d /dev/shm/p2p-bench.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -TERM $p 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$W"' EXIT
cpu_s() {  # utime + stime of PID in seconds
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}
now() { date +%s.%N; }

# As a testnet or the systemd unit runs them: huge pages for the heap.
export GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}
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
echo "posting $COUNT x $ART_BYTES bytes to node 1" >&2
for k in $(seq 1 "$COUNT"); do
    head -c "$ART_BYTES" /dev/urandom >"$W/art"
    code=$(curl -s -o "$W/post.out" -w '%{http_code}' -X POST -H "X-Artifact-Kind: advert" \
        --data-binary "@$W/art" "http://127.0.0.1:$((B + 101))/artifacts")
    [ "$code" = 201 ] || { echo "POST $k: HTTP $code: $(cat "$W/post.out")" >&2; exit 1; }
done
rm -f "$W/art"
# Node 1 stops and starts again once node 2 runs: it loads its pool from
# disk and dials node 2 at once (a node that kept running would still be
# in its redial backoff). Timed: from the connection to the last artifact.
kill -TERM "$P1"
wait "$P1" 2>/dev/null || true
${BENCH_WRAP:-} "$REPLICA" run --config "$W/n2/config.yaml" 2>"$W/n2.log" &
PIDS+=($!); P2=$!
until curl -sf "http://127.0.0.1:$((B + 102))/health" >/dev/null; do sleep 0.05; done
"$REPLICA" run --config "$W/n1/config.yaml" 2>>"$W/n1.log" &
PIDS+=($!); P1=$!
until curl -sf "http://127.0.0.1:$((B + 102))/health" 2>/dev/null | grep -q '"peers_up": 1'; do
    sleep 0.01
done
t0=$(now)
c1=$(cpu_s "$P1")
c2=$(cpu_s "$P2")
until [ "$(curl -sf "http://127.0.0.1:$((B + 102))/artifacts" 2>/dev/null | grep -o '"[0-9a-f]\{64\}"' | wc -l)" -ge "$COUNT" ]; do
    sleep 0.02
done
t1=$(now)
ours_s=$(echo "$t1 - $t0" | bc -l)
ours_mbs=$(echo "$BYTES / $ours_s / 1000000" | bc -l)
cpu1=$(echo "$(cpu_s "$P1") - $c1" | bc -l)
cpu2=$(echo "$(cpu_s "$P2") - $c2" | bc -l)
printf 'ours:   %d MiB (%d artifacts) in %.2f s = %.0f MB/s; CPU s: sender %.2f, receiver %.2f\n' \
    "$((BYTES >> 20))" "$COUNT" "$ours_s" "$ours_mbs" "$cpu1" "$cpu2"

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
    "$((BYTES >> 20))" "$ref_s" "$ref_mbs" "$(cpu_s "$PS")"
# The same, keeping what it receives (as a replica does: it stores every
# artifact; here in /dev/shm, like the replicas' data directories).
mkdir -p "$W/dl"
t0=$(now)
/usr/bin/gtlsclient -q --exit-on-all-streams-close --download="$W/dl" 127.0.0.1 $((B + 9)) "https://127.0.0.1:$((B + 9))/blob" >/dev/null 2>&1 || true
t1=$(now)
cmp -s "$W/htdocs/blob" "$W/dl/blob" || echo "warning: the reference client's download differs" >&2
keep_s=$(echo "$t1 - $t0" | bc -l)
keep_mbs=$(echo "$BYTES / $keep_s / 1000000" | bc -l)
printf 'theirs, keeping the body: %d MiB in %.2f s = %.0f MB/s\n' "$((BYTES >> 20))" "$keep_s" "$keep_mbs"
printf 'ratio ours/theirs: %.2f (body discarded), %.2f (body kept)\n' \
    "$(echo "$ours_mbs / $ref_mbs" | bc -l)" "$(echo "$ours_mbs / $keep_mbs" | bc -l)"
