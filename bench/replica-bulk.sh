#!/usr/bin/env bash
# Bulk transfer and state sync benchmark of the production replica
# (docs/replica.md, "Benchmark" and "Measured").
#
# Bulk: two replicas on loopback. Node 1 holds MIB of artifacts (MIB / 128
# artifacts of 128 MiB less 64 KiB, POSTed once). Each round, node 2 starts
# with an empty data directory, node 1 restarts (it loads its pool from
# disk and dials node 2 at once) and node 2 fetches everything: timed from
# node 2's first connection (/health peers_up) to the last artifact held
# (/artifacts). Then, in the same round, Debian's ngtcp2 HTTP/3 example
# (gtlsserver/gtlsclient, QUIC + GnuTLS) moves the same bytes, discarding
# them and keeping them (--download), so that the machine's noise hits all
# three alike. Prints one line per round, then medians and ratios.
#
# State sync: four replicas; a state of MIB is POSTed to nodes 2, 3 and 4
# while node 1 is stopped; each round node 1 starts with an empty data
# directory and is timed from its first connection until its GET /state
# reports the same height and root.
#
# Every data directory lives in one folder in /dev/shm (the replica fsyncs
# what it accepts: the disk is not what is timed), removed on exit.
set -euo pipefail

PROG=bench/replica-bulk.sh
usage() {
    cat <<EOF
usage: $PROG [--rounds N] [--perf] [--no-state] [--mib M] [BUILD_DIR]

  --rounds N   rounds of each measurement (default 3); medians over them
  --mib M      MiB moved (default 1024, at least 128): M / 128 artifacts of
               128 MiB less 64 KiB for the bulk part, a state of M MiB
  --perf       record the receiver (node 2) with perf in the last bulk round
               and print its top 5 (perf report --no-children --sort dso,sym)
  --no-state   skip the state sync part
  BUILD_DIR    the build with bin/p2p-replica (default build; a relative path
               is taken from the current folder, else from the repository)

Needs about 3 x M MiB free in /dev/shm (4 x M with state sync), curl, ss,
and Debian's ngtcp2-server and ngtcp2-client (installed when missing).
EOF
}
bad_usage() {
    echo "$PROG: $*" >&2
    usage >&2
    exit 2
}

ROUNDS=3 MIB=1024 PERF=0 STATE=1 BUILD=""
while [ $# -gt 0 ]; do
    case $1 in
    -h | --help) usage; exit 0 ;;
    --rounds | --mib)
        [ $# -ge 2 ] || bad_usage "$1 needs a value"
        if [ "$1" = --rounds ]; then ROUNDS=$2; else MIB=$2; fi
        shift 2 ;;
    --rounds=*) ROUNDS=${1#*=}; shift ;;
    --mib=*) MIB=${1#*=}; shift ;;
    --perf) PERF=1; shift ;;
    --no-state) STATE=0; shift ;;
    --perf=* | --no-state=* | --help=*) bad_usage "${1%%=*} takes no value" ;;
    --)
        shift
        if [ $# -gt 1 ] || { [ $# = 1 ] && [ -n "$BUILD" ]; }; then
            bad_usage "${!#}: unexpected argument"
        fi
        BUILD=${1:-$BUILD}
        break ;;
    -*) bad_usage "$1: unknown option" ;;
    *)
        [ -z "$BUILD" ] || bad_usage "$1: unexpected argument (the build folder is $BUILD)"
        BUILD=$1; shift ;;
    esac
done
in_range() {  # VALUE MIN MAX: a decimal integer in MIN..MAX
    [[ "$1" =~ ^[0-9]{1,9}$ ]] && [ $(( 10#$1 )) -ge "$2" ] && [ $(( 10#$1 )) -le "$3" ]
}
in_range "$ROUNDS" 1 100 || bad_usage "--rounds $ROUNDS: expected 1..100"
in_range "$MIB" 128 65536 || bad_usage "--mib $MIB: expected 128..65536"
MIB=$(( 10#$MIB )) ROUNDS=$(( 10#$ROUNDS ))

REPO=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in
/*) ;;
*) if [ -x "$PWD/$BUILD/bin/p2p-replica" ]; then BUILD=$PWD/$BUILD; else BUILD=$REPO/$BUILD; fi ;;
esac
REPLICA=$BUILD/bin/p2p-replica
if ! [ -x "$REPLICA" ] || ! [ -x "$BUILD/bin/p2p-replica-tools" ]; then
    echo "$PROG: no $REPLICA (and p2p-replica-tools beside it): build first," \
        "e.g. BUILD_TYPE=Release ./ci/build $BUILD" >&2
    exit 2
fi
for c in curl ss ps awk cmp timeout; do
    command -v "$c" >/dev/null || { echo "$PROG: $c is needed and not installed" >&2; exit 2; }
done
if [ "$PERF" = 1 ]; then
    command -v perf >/dev/null || { echo "$PROG: --perf needs perf (apt-get install linux-perf)" >&2; exit 2; }
    command -v pgrep >/dev/null || { echo "$PROG: --perf needs pgrep (apt-get install procps)" >&2; exit 2; }
fi
for p in ngtcp2-server ngtcp2-client; do
    dpkg -s "$p" >/dev/null 2>&1 || {
        echo "installing $p (the reference QUIC example)" >&2
        apt-get install -y -qq "$p" >/dev/null
    }
done
SERVER=/usr/sbin/gtlsserver CLIENT=/usr/bin/gtlsclient

# Sizes. Artifacts of 128 MiB less 64 KiB: the largest message is 128 MiB
# with its envelope.
ART_BYTES=$(( (128 << 20) - 65536 ))
COUNT=$(( MIB / 128 ))
BYTES=$(( COUNT * ART_BYTES ))
STATE_BYTES=$(( MIB << 20 ))
POOL_MIB=$(( MIB > 1024 ? MIB : 1024 ))  # limits.pool_bytes, in MiB
BUFFER_MIB=$(( MIB > 256 ? MIB : 256 ))  # limits.admin_buffer, in MiB
# Deadlines (s): starting, connecting, and moving MIB at 2.5 MB/s at worst.
T_START=60 T_MOVE=$(( 120 + MIB * 2 / 5 ))

# /dev/shm holds node 1's pool, node 2's copy and the example's file (3 x
# MIB at once); state sync four copies of the state.
need_mib=$(( 3 * MIB + 256 ))
[ "$STATE" = 0 ] || need_mib=$(( 4 * MIB + 256 ))
free_mib=$(( $(df -Pk /dev/shm | awk 'NR == 2 { print $4 }') / 1024 ))
mem_mib=$(( $(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo) / 1024 ))
if [ "$free_mib" -lt "$need_mib" ] || [ "$mem_mib" -lt $(( need_mib + 2 * MIB )) ]; then
    echo "$PROG: not enough room: /dev/shm has $free_mib MiB free and the machine $mem_mib MiB" \
        "available; --mib $MIB needs $need_mib MiB in /dev/shm (3 x $MIB for the bulk part," \
        "4 x $MIB for state sync, plus 256) and $(( 2 * MIB )) MiB more for the replicas." \
        "Use a smaller --mib, or --no-state." >&2
    exit 1
fi

W=$(mktemp -d /dev/shm/p2p-bench.XXXXXX)
PIDS=()  # every process started and not yet stopped

gone() {  # PID: no such process, or a zombie
    ! kill -0 "$1" 2>/dev/null || [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ]
}
forget() {  # PID: drop from PIDS
    local p keep=()
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}
stop() {  # PID...: SIGTERM, 30 s to go, then SIGKILL; reaped
    local p end
    for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
    end=$(( SECONDS + 30 ))
    for p in "$@"; do
        while ! gone "$p" && [ "$SECONDS" -lt "$end" ]; do sleep 0.05; done
        gone "$p" || { echo "$PROG: pid $p ignored SIGTERM for 30 s: SIGKILL" >&2; kill -KILL "$p" 2>/dev/null || true; }
        wait "$p" 2>/dev/null || true
        forget "$p"
    done
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ ${#PIDS[@]} -eq 0 ] || stop "${PIDS[@]}"
    rm -rf "$W"
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "$PROG: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

fail() {  # MESSAGE: the message and the tail of every log, exit 1
    local f
    echo "$PROG: FAILED: $*" >&2
    for f in "$W"/*.log; do
        [ -s "$f" ] || continue
        echo "--- last lines of ${f##*/}" >&2
        tail -n 15 "$f" >&2
    done
    exit 1
}
# wait_for SECONDS INTERVAL WHAT COMMAND...: polls COMMAND until it
# succeeds; fails naming WHAT after SECONDS.
wait_for() {
    local limit=$1 every=$2 what=$3 end=$(( SECONDS + $1 ))
    shift 3
    until "$@" >/dev/null 2>&1; do
        [ "$SECONDS" -lt "$end" ] || fail "timed out after ${limit}s: $what"
        sleep "$every"
    done
}
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
median() {  # VALUE...: their median
    printf '%s\n' "$@" | sort -g |
        awk '{ v[NR] = $1 } END { printf "%.6f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
list() { printf '%s ' "$@" | sed 's/ $//'; }
cpu_s() {  # PID: its utime + stime in seconds
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
}
hwm_mib() {  # PID: its peak resident set (VmHWM) in MiB
    awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"
}
rcvbuf_errors() {  # the kernel's count of UDP datagrams dropped for a full receive buffer
    awk '/^Udp:/ { if (!n) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; n = 1 }
                   else { print $c; exit } }' /proc/net/snmp
}
load1() { cut -d' ' -f1 /proc/loadavg; }
json_num() {  # KEY: the number after "KEY": in stdin
    sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p"
}
admin() { echo "http://127.0.0.1:$(( B + 100 + $1 ))"; }
healthy() { curl -sf --max-time 2 "$(admin "$1")/health" >/dev/null; }
peers_at_least() {  # NODE N
    local up
    up=$(curl -sf --max-time 2 "$(admin "$1")/health" | json_num peers_up)
    [ "${up:-0}" -ge "$2" ]
}
holds_all() {  # NODE: holds COUNT artifacts
    [ "$(curl -sf --max-time 5 "$(admin "$1")/artifacts" | grep -o '"[0-9a-f]\{64\}"' | wc -l)" -ge "$COUNT" ]
}
state_is() {  # NODE HEIGHT ROOT
    [[ "$(curl -sf --max-time 5 "$(admin "$1")/state")" == *"\"height\": $2, \"root\": \"$3\""* ]]
}
udp_bound() { [ -n "$(ss -Hlun "( sport = :$1 )")" ]; }

# Ports: QUIC at B+i, admin at B+100+i (bulk nodes 1-2, state nodes 11-14),
# the example at B+9. A block of 200 from the pid, the first free one.
pick_ports() {
    local -A used=()
    local p b k free
    for p in $(ss -Htuan | awk '{ n = split($5, a, ":"); print a[n] }'); do used[$p]=1; done
    for k in $(seq 0 59); do
        b=$(( 20050 + (($$ + k) % 60) * 200 ))
        free=1
        for p in 1 2 9 11 12 13 14 101 102 111 112 113 114; do
            [ -z "${used[$(( b + p ))]:-}" ] || free=0
        done
        [ "$free" = 0 ] || { echo "$b"; return; }
    done
    return 1
}
B=$(pick_ports) || { echo "$PROG: no free block of ports in 20050-31999" >&2; exit 1; }

# write_node NODE REGISTRY: identity and config of node NODE in $W/nNODE;
# prints its registry line.
write_node() {
    local d=$W/n$1 id
    mkdir -p "$d"
    id=$("$REPLICA" keygen --key "$d/key.pem" --cert "$d/cert.pem" | grep -o '[0-9a-f]\{64\}' | sed -n 1p)
    [ ${#id} = 64 ] || fail "keygen printed no node id"
    cat >"$d/config.yaml" <<YAML
key: key.pem
cert: cert.pem
listen: 127.0.0.1:$(( B + $1 ))
registry: ../$2
registry_poll: 200ms
data_dir: data
admin: 127.0.0.1:$(( B + 100 + $1 ))
log: warn
limits:
  pool_bytes: ${POOL_MIB}MiB
  state_bytes: ${MIB}MiB
  admin_body: ${MIB}MiB
  admin_buffer: ${BUFFER_MIB}MiB
YAML
    echo "  - {index: $1, id: $id, addr: 127.0.0.1:$(( B + $1 ))}"
}
# start NODE [WRAPPER...]: runs node NODE in the background (log nNODE.log);
# sets STARTED to its pid (the wrapper's, if any).
start() {
    local n=$1
    shift
    "$@" "$REPLICA" run --config "$W/n$n/config.yaml" 2>>"$W/n$n.log" &
    STARTED=$!
    PIDS+=("$STARTED")
}

# As a testnet or the systemd unit runs them: huge pages for the heap.
export GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1}
LOAD0=$(load1)
echo "$("$REPLICA" --version | sed -n 1p), $BUILD"
echo "$(date -u +%FT%TZ) $(nproc) CPUs; load average $LOAD0 at start$(
    awk -v l="$LOAD0" 'BEGIN { if (l > 1.5) printf " (busy machine: expect noise)" }')"
echo "bulk: artifacts: $COUNT x $ART_BYTES bytes = $BYTES bytes; rounds: $ROUNDS; pool_bytes: ${POOL_MIB} MiB"

# --- bulk: setup ---
{ echo "version: 1"; echo "members:"; write_node 1 bulk.yaml; write_node 2 bulk.yaml; } >"$W/bulk.yaml"
start 1
P1=$STARTED
wait_for "$T_START" 0.1 "node 1 answering /health" healthy 1
mkdir -p "$W/htdocs"
echo "posting $COUNT artifacts to node 1 (the example serves the same bytes)" >&2
for k in $(seq 1 "$COUNT"); do
    head -c "$ART_BYTES" /dev/urandom >"$W/art"
    code=$(curl -s --max-time "$T_MOVE" -o "$W/post.out" -w '%{http_code}' -X POST -H 'Expect:' \
        -H 'X-Artifact-Kind: advert' -T "$W/art" "$(admin 1)/artifacts") || true
    [ "$code" = 201 ] || fail "POST of artifact $k to node 1: HTTP $code: $(cat "$W/post.out" 2>/dev/null)"
    cat "$W/art" >>"$W/htdocs/blob"
    rm -f "$W/art"
done
stop "$P1"
"$SERVER" -q -d "$W/htdocs" 127.0.0.1 $(( B + 9 )) "$W/n1/key.pem" "$W/n1/cert.pem" >"$W/example-server.log" 2>&1 &
PS=$!
PIDS+=("$PS")
wait_for "$T_START" 0.05 "gtlsserver bound to UDP port $(( B + 9 ))" udp_bound $(( B + 9 ))
URL="https://127.0.0.1:$(( B + 9 ))/blob"

# example_run NAME CLIENT_ARGS...: one gtlsclient fetch of the blob; sets
# EX_S (wall seconds), EX_CLIENT (client CPU s), EX_SERVER (server CPU s).
example_run() {
    local name=$1 s0 rc=0 u s
    shift
    s0=$(cpu_s "$PS")
    TIMEFORMAT='%R %U %S'
    { time timeout "$T_MOVE" "$CLIENT" -q --exit-on-all-streams-close "$@" 127.0.0.1 $(( B + 9 )) "$URL" \
        >/dev/null 2>"$W/example-client.log"; } 2>"$W/time" || rc=$?
    [ "$rc" = 0 ] || fail "gtlsclient ($name) exited $rc (124: not done within ${T_MOVE}s)"
    read -r EX_S u s <"$W/time"
    EX_CLIENT=$(calc "$u + $s")
    EX_SERVER=$(calc "$(cpu_s "$PS") - $s0")
}

# --- bulk: rounds ---
declare -a R_OURS R_DISC R_KEEP R_CPU1 R_CPU2 R_RSS1 R_RSS2 R_DROPS R_SRV_D R_CLI_D R_SRV_K R_CLI_K
GIB=$(calc "$BYTES / 1073741824")
for r in $(seq 1 "$ROUNDS"); do
    rm -rf "$W/n2/data"
    perf_round=0
    if [ "$PERF" = 1 ] && [ "$r" = "$ROUNDS" ]; then
        perf_round=1
        start 2 perf record -F 999 -g -o "$W/perf.data" --
        PERF_PID=$STARTED
        wait_for "$T_START" 0.02 "perf starting the replica" pgrep -P "$PERF_PID"
        P2=$(pgrep -P "$PERF_PID" | sed -n 1p)
        PIDS+=("$P2")
    else
        start 2
        P2=$STARTED
    fi
    wait_for "$T_START" 0.05 "node 2 answering /health (round $r)" healthy 2
    [ "$(cat "/proc/$P2/comm")" = p2p-replica ] || fail "pid $P2 is $(cat "/proc/$P2/comm"), not node 2"
    start 1
    P1=$STARTED
    wait_for "$T_START" 0.01 "node 2 connected to node 1 (round $r)" peers_at_least 2 1
    t0=$EPOCHREALTIME c1=$(cpu_s "$P1") c2=$(cpu_s "$P2") d0=$(rcvbuf_errors)
    wait_for "$T_MOVE" 0.02 "node 2 holding all $COUNT artifacts (round $r)" holds_all 2
    t1=$EPOCHREALTIME
    c1=$(calc "$(cpu_s "$P1") - $c1") c2=$(calc "$(cpu_s "$P2") - $c2") d1=$(rcvbuf_errors)
    R_RSS1+=("$(hwm_mib "$P1")") R_RSS2+=("$(hwm_mib "$P2")")
    stop "$P1" "$P2"
    if [ "$perf_round" = 1 ]; then
        wait_for 120 0.1 "perf writing $W/perf.data once the replica stopped" gone "$PERF_PID"
        stop "$PERF_PID"
    fi
    rm -rf "$W/n2/data"
    ours_s=$(calc "$t1 - $t0")
    R_OURS+=("$(calc "$BYTES / $ours_s / 1e6")") R_CPU1+=("$c1") R_CPU2+=("$c2") R_DROPS+=("$(( d1 - d0 ))")

    example_run discarding
    R_DISC+=("$(calc "$BYTES / $EX_S / 1e6")") R_SRV_D+=("$EX_SERVER") R_CLI_D+=("$EX_CLIENT")
    disc_s=$EX_S
    rm -rf "$W/dl"
    mkdir -p "$W/dl"
    example_run keeping --download="$W/dl"
    cmp -s "$W/htdocs/blob" "$W/dl/blob" || fail "the example's download (round $r) differs from the file served"
    rm -rf "$W/dl"
    R_KEEP+=("$(calc "$BYTES / $EX_S / 1e6")") R_SRV_K+=("$EX_SERVER") R_CLI_K+=("$EX_CLIENT")
    printf 'round %d%s: ours %.0f MB/s (%.2f s; CPU s sender %.2f, receiver %.2f; peak RSS sender %d, receiver %d MiB; UDP rcvbuf drops %d) | example discarding %.0f MB/s (%.2f s), keeping %.0f MB/s (%.2f s)\n' \
        "$r" "$([ "$perf_round" = 0 ] || echo ' (receiver under perf)')" "${R_OURS[-1]}" "$ours_s" "$c1" "$c2" \
        "${R_RSS1[-1]}" "${R_RSS2[-1]}" "${R_DROPS[-1]}" "${R_DISC[-1]}" "$disc_s" "${R_KEEP[-1]}" "$EX_S"
done
stop "$PS"
rm -rf "$W/htdocs" "$W/n1/data"

# --- state sync ---
declare -a S_MBS S_CPU S_CPU_ADV S_RSS S_DROPS
if [ "$STATE" = 1 ]; then
    echo "state sync: a state of $STATE_BYTES bytes POSTed to nodes 12-14, synced by node 11; rounds: $ROUNDS"
    { echo "version: 1"; echo "members:"; for n in 11 12 13 14; do write_node "$n" state.yaml; done; } >"$W/state.yaml"
    ADV=()
    for n in 12 13 14; do start "$n"; ADV+=("$STARTED"); done
    for n in 12 13 14; do wait_for "$T_START" 0.1 "node $n answering /health" healthy "$n"; done
    head -c "$STATE_BYTES" /dev/urandom >"$W/state"
    root=""
    for n in 12 13 14; do
        out=$(curl -s --max-time "$T_MOVE" -X POST -H 'Expect:' -T "$W/state" "$(admin "$n")/state") || true
        h=$(echo "$out" | json_num height)
        rt=$(echo "$out" | sed -n 's/.*"root": *"\([0-9a-f]*\)".*/\1/p')
        if [ "$h" != 1 ] || [ -z "$rt" ]; then fail "POST /state to node $n answered: $out"; fi
        [ -z "$root" ] || [ "$rt" = "$root" ] || fail "nodes 12 and $n made different roots ($root, $rt)"
        root=$rt
    done
    rm -f "$W/state"
    SGIB=$(calc "$STATE_BYTES / 1073741824")
    for r in $(seq 1 "$ROUNDS"); do
        rm -rf "$W/n11/data"
        start 11
        P=$STARTED
        wait_for "$T_START" 0.01 "node 11 connected to an advertiser (round $r)" peers_at_least 11 1
        t0=$EPOCHREALTIME c0=$(cpu_s "$P") d0=$(rcvbuf_errors) a0=0
        for p in "${ADV[@]}"; do a0=$(calc "$a0 + $(cpu_s "$p")"); done
        wait_for "$T_MOVE" 0.02 "node 11 holding height 1, root ${root:0:16}... (round $r)" state_is 11 1 "$root"
        t1=$EPOCHREALTIME
        c=$(calc "$(cpu_s "$P") - $c0") d1=$(rcvbuf_errors)
        a=0
        for p in "${ADV[@]}"; do a=$(calc "$a + $(cpu_s "$p")"); done
        S_RSS+=("$(hwm_mib "$P")")
        stop "$P"
        rm -rf "$W/n11/data"
        s=$(calc "$t1 - $t0")
        S_MBS+=("$(calc "$STATE_BYTES / $s / 1e6")") S_CPU+=("$c") S_CPU_ADV+=("$(calc "$a - $a0")") S_DROPS+=("$(( d1 - d0 ))")
        printf 'state round %d: %.0f MB/s (%.2f s; CPU s syncer %.2f, advertisers %.2f (3 together); peak RSS syncer %d MiB; UDP rcvbuf drops %d)\n' \
            "$r" "${S_MBS[-1]}" "$s" "$c" "${S_CPU_ADV[-1]}" "${S_RSS[-1]}" "${S_DROPS[-1]}"
    done
    stop "${ADV[@]}"
fi

# --- summary ---
m_ours=$(median "${R_OURS[@]}") m_disc=$(median "${R_DISC[@]}") m_keep=$(median "${R_KEEP[@]}")
per_gib() { calc "$(median "$@") / $GIB"; }
goal=$(( POOL_MIB * 3 / 2 + 256 ))
m_rss2=$(median "${R_RSS2[@]}")
echo
echo "summary: medians of $ROUNDS round(s), $BYTES bytes each"
printf '  ours                  %6.0f MB/s\n' "$m_ours"
printf '  example, discarding   %6.0f MB/s   ours / example %.2f\n' "$m_disc" "$(calc "$m_ours / $m_disc")"
printf '  example, keeping      %6.0f MB/s   ours / example %.2f\n' "$m_keep" "$(calc "$m_ours / $m_keep")"
printf '  CPU s per GiB: ours sender %.2f, receiver %.2f; example server %.2f, client %.2f (discarding), server %.2f, client %.2f (keeping)\n' \
    "$(per_gib "${R_CPU1[@]}")" "$(per_gib "${R_CPU2[@]}")" "$(per_gib "${R_SRV_D[@]}")" \
    "$(per_gib "${R_CLI_D[@]}")" "$(per_gib "${R_SRV_K[@]}")" "$(per_gib "${R_CLI_K[@]}")"
printf '  peak RSS: sender %.0f MiB, receiver %.0f MiB; receiver goal 1.5 x pool_bytes (%d MiB) + 256 MiB = %d MiB: %s\n' \
    "$(median "${R_RSS1[@]}")" "$m_rss2" "$POOL_MIB" "$goal" \
    "$(awk -v m="$m_rss2" -v g="$goal" 'BEGIN { print m <= g ? "met" : "NOT met" }')"
echo "  UDP receive-buffer drops during our transfers (all of this machine's UDP): $(list "${R_DROPS[@]}")"
if [ "$STATE" = 1 ]; then
    m_state=$(median "${S_MBS[@]}")
    printf '  state sync            %6.0f MB/s   state / bulk (ours) %.2f; CPU s per GiB syncer %.2f, advertisers %.2f; peak RSS syncer %.0f MiB; drops %s\n' \
        "$m_state" "$(calc "$m_state / $m_ours")" "$(calc "$(median "${S_CPU[@]}") / $SGIB")" \
        "$(calc "$(median "${S_CPU_ADV[@]}") / $SGIB")" "$(median "${S_RSS[@]}")" "$(list "${S_DROPS[@]}")"
fi
LOAD1=$(load1)
printf '  load average: %s at start, %s at end%s\n' "$LOAD0" "$LOAD1" \
    "$(awk -v l="$LOAD0" 'BEGIN { if (l > 1.5) printf " (busy at start: the numbers are noisy)" }')"
if [ "$PERF" = 1 ]; then
    echo
    echo "perf: receiver (node 2), round $ROUNDS, top 5 (--no-children --sort dso,sym)"
    perf report -i "$W/perf.data" --stdio --no-children --sort dso,sym -g none 2>/dev/null |
        grep -v '^#' | grep -v '^[[:space:]]*$' | head -n 5 || true
fi
