# Shared helpers of the replica's end-to-end tests (sourced, not run).
# Each test makes its own folder under $E2E_TMP, starts replicas on
# loopback, and stops every process it started when it exits, pass or fail.
set -euo pipefail

REPLICA=${REPLICA:?set REPLICA to the p2p-replica binary}
E2E_TMP=${E2E_TMP:-/tmp}
WORK=$(mktemp -d "$E2E_TMP/p2p-e2e.XXXXXX")
PIDS=()
TESTNET_DIRS=()

cleanup() {
    local rc=$?
    for d in "${TESTNET_DIRS[@]}"; do
        "$REPLICA" testnet --stop --dir "$d" >/dev/null 2>&1 || true
    done
    for p in "${PIDS[@]}"; do
        # A test may have frozen it (SIGSTOP): thawed first. Never after
        # the TERM: a SIGCONT discards a pending stop, and the stop that
        # LeakSanitizer's exit check sends (sanitizer builds) would be lost
        # and the check would wait forever.
        kill -CONT "$p" 2>/dev/null || true
        kill -TERM "$p" 2>/dev/null || true
    done
    for p in "${PIDS[@]}"; do
        wait "$p" 2>/dev/null || true
    done
    # A sanitizer report in any replica's log (ASan builds) fails the test,
    # leaks found at a clean stop included.
    local reports
    reports=$(grep -l -E "ERROR: (Address|Leak)Sanitizer|runtime error:" \
        $(find "$WORK" -name '*.log') 2>/dev/null || true)
    if [ -n "$reports" ]; then
        echo "FAIL: sanitizer reports in: $reports" >&2
        [ "$rc" -ne 0 ] || rc=1
    fi
    if [ "$rc" -ne 0 ]; then
        echo "--- logs (test failed, rc=$rc) ---" >&2
        for f in $(find "$WORK" -name '*.log' | sort); do
            echo "== $f" >&2
            tail -n 25 "$f" >&2
        done
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

log() {
    echo "[$(date +%H:%M:%S)] $*"
}

# A free base port: each test uses a block of 2000 (QUIC at B.., admin at
# B+1000..), picked at random once per test among blocks with nothing
# bound (listening or in TIME_WAIT) on their first ports. Every block lies
# below the kernel's ephemeral range (32768 and up), so no outgoing
# connection of a client on this machine can take one of its ports.
pick_base() {
    local b tries=0
    while :; do
        b=$(( 12000 + (RANDOM % 10) * 2000 ))
        if ! ss -Htuan 2>/dev/null | awk '{print $5}' |
            grep -Eq ":($b|$((b + 1))|$((b + 2))|$((b + 3))|$((b + 4))|$((b + 1000))|$((b + 1001))|$((b + 1002))|$((b + 1003))|$((b + 1004)))\$"; then
            echo "$b"
            return
        fi
        tries=$((tries + 1))
        [ "$tries" -lt 50 ] || fail "no free port block"
    done
}
E2E_BASE=$(pick_base)
base_port() {
    echo "$E2E_BASE"
}

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s.
wait_until() {
    local limit=$1 what=$2
    shift 2
    local end=$(( $(date +%s) + limit ))
    while ! "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$end" ]; then
            fail "timed out after ${limit}s waiting for: $what"
        fi
        sleep 0.2
    done
}

# body URL: prints the answer (a failed request prints nothing). Tests
# grep this, never `curl | grep -q` directly: with pipefail, grep -q
# closing the pipe early makes curl fail with SIGPIPE.
body() {
    curl -sf --max-time 5 "$1" 2>/dev/null || true
}

healthy() {
    curl -sf --max-time 1 "$1/health" >/dev/null
}

# answers URL: the server sent an HTTP answer, whatever its status (a
# replica outside the registry answers /health with 503).
answers() {
    local code
    code=$(curl -s --max-time 1 -o /dev/null -w '%{http_code}' "$1" 2>/dev/null) || true
    [ -n "$code" ] && [ "$code" != 000 ]
}

# gone PID: no process PID exists any more (a killed replica was reaped
# by init, or is a zombie of ours).
gone() {
    ! kill -0 "$1" 2>/dev/null || [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" = Z ]
}

# count_artifacts ADMIN_URL: how many ids GET /artifacts lists.
count_artifacts() {
    curl -sf --max-time 5 "$1/artifacts" | grep -o '"[0-9a-f]\{64\}"' | wc -l
}

has_count() {
    [ "$(count_artifacts "$1")" -ge "$2" ]
}

# post ADMIN_URL KIND FILE: prints the artifact's id.
post() {
    curl -sf --max-time 60 -X POST -H "X-Artifact-Kind: $2" \
        --data-binary "@$3" "$1/artifacts" | sed -n 's/.*"id": *"\([0-9a-f]*\)".*/\1/p'
}

# make_identity DIR: key.pem and cert.pem in DIR; prints the node id.
make_identity() {
    mkdir -p "$1"
    "$REPLICA" keygen --key "$1/key.pem" --cert "$1/cert.pem" | grep -o '[0-9a-f]\{64\}' | head -n1
}

# write_config DIR INDEX_PORT ADMIN_PORT REGISTRY: DIR/config.yaml.
write_config() {
    cat >"$1/config.yaml" <<YAML
key: key.pem
cert: cert.pem
listen: 127.0.0.1:$2
registry: $4
registry_poll: 200ms
data_dir: data
admin: 127.0.0.1:$3
YAML
}

# start_replica DIR: runs DIR/config.yaml in the background (log in DIR).
start_replica() {
    "$REPLICA" run --config "$1/config.yaml" >>"$1/replica.log" 2>&1 &
    PIDS+=($!)
    echo $!
}

# make_net N: identities for members 1..N in $WORK/node<i> and one more,
# $WORK/node0, that is NOT in the registry; a registry (version 1) of
# members 1..N; a config per node. Sets NET_ADMIN[i] and NET_IDS[i].
make_net() {
    local n=$1 b
    b=$(base_port)
    NET_REG=$WORK/registry.yaml
    NET_ADMIN=()
    NET_IDS=()
    for i in $(seq 0 "$n"); do
        NET_IDS[$i]=$(make_identity "$WORK/node$i")
        [ ${#NET_IDS[$i]} -eq 64 ] || fail "keygen gave no node id"
        write_config "$WORK/node$i" $((b + i)) $((b + 1000 + i)) "$NET_REG"
        NET_ADMIN[$i]="http://127.0.0.1:$((b + 1000 + i))"
    done
    write_registry 1 1 "$n"
}

# write_registry VERSION FIRST LAST: members FIRST..LAST, atomically.
write_registry() {
    local b tmp
    b=$(base_port)
    tmp=$NET_REG.tmp
    { echo "version: $1"; echo "members:"
      for i in $(seq "$2" "$3"); do
          echo "  - {index: $i, id: ${NET_IDS[$i]}, addr: 127.0.0.1:$((b + i))}"
      done; } >"$tmp"
    mv "$tmp" "$NET_REG"
}

# hold SECONDS MODE COUNT ARGS...: runs tests/e2e/admin_clients.py against
# the admin port $PORT in the background (MODE, COUNT and ARGS as that
# script takes them) and waits at most SECONDS until it holds its
# clients; sets HOLDER (its pid). release stops it.
hold() {
    local limit=$1
    shift
    rm -f "$WORK/held"
    python3 "$(dirname "${BASH_SOURCE[0]}")/admin_clients.py" "$PORT" "$1" "$2" \
        "$WORK/held" "${@:3}" &
    HOLDER=$!
    PIDS+=("$HOLDER")
    wait_until "$limit" "$2 $1 clients held" test -s "$WORK/held"
    log "holding $1: $(cat "$WORK/held")"
}

release() {
    kill -TERM "$HOLDER"
    wait "$HOLDER" || fail "the client holder failed"
}
