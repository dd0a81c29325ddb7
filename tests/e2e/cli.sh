#!/usr/bin/env bash
# The command lines of p2p-replica and p2p-replica-tools (docs/replica.md,
# "Commands"): --version and --help on both; -h/--help on every command;
# a bad flag (unknown, missing its value, given a value it does not take,
# a stray argument, a short one) exits 2 with one line naming it; every
# command takes `--flag=VALUE` (keygen, testnet, probe, run on a live
# testnet, testnet --stop); `p2p-replica testnet` in the foreground is the
# tools' process itself (same pid: Ctrl-C stops it and its replicas); a
# p2p-replica without p2p-replica-tools beside it says so (exit 1) and still
# runs, and one reached through a symbolic link finds them.
source "$(dirname "$0")/lib.sh"
TOOLS=$(dirname "$REPLICA")/p2p-replica-tools
[ -x "$TOOLS" ] || fail "no $TOOLS beside $REPLICA"

# expect CODE NAME CMD...: runs CMD (bounded) with its stdout in
# $WORK/NAME.out and its stderr in $WORK/NAME.err; fails unless it exits
# with CODE and without a sanitizer report (ASan builds).
expect() {
    local want=$1 name=$2 rc=0
    shift 2
    timeout 60 "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || rc=$?
    [ "$rc" -eq "$want" ] ||
        fail "$* exited $rc, want $want: $(cat "$WORK/$name.out" "$WORK/$name.err")"
    ! grep -Eq "ERROR: (Address|Leak)Sanitizer|runtime error:" "$WORK/$name.err" ||
        fail "$*: sanitizer report: $(cat "$WORK/$name.err")"
}

# says NAME out|err TEXT: that output of NAME holds TEXT (a fixed string).
says() {
    grep -qF -- "$3" "$WORK/$1.$2" ||
        fail "$1: no '$3' on std$2: $(cat "$WORK/$1.$2")"
}

log "--version"
expect 0 rv "$REPLICA" --version
expect 0 tv "$TOOLS" --version
r1=$(head -n1 "$WORK/rv.out")
t1=$(head -n1 "$WORK/tv.out")
[[ $r1 == "p2p-replica "*" (commit "* ]] || fail "replica --version: $r1"
[ "${t1#p2p-replica-tools }" = "${r1#p2p-replica }" ] ||
    fail "the binaries disagree: '$r1' vs '$t1'"
sed -n 2p "$WORK/tv.out" | grep -Eq '^ngtcp2 [0-9.]+, GnuTLS [0-9.]+, libcurl [0-9.]+$' ||
    fail "tools' libraries line: $(cat "$WORK/tv.out")"
expect 0 rv2 "$REPLICA" version
cmp -s "$WORK/rv.out" "$WORK/rv2.out" || fail "'version' differs from '--version'"

log "--help and -h"
for h in --help -h; do
    expect 0 "top$h" "$REPLICA" "$h"
    says "top$h" out "usage: p2p-replica COMMAND"
    says "top$h" out "--version"
    expect 0 "ttop$h" "$TOOLS" "$h"
    says "ttop$h" out "usage: p2p-replica-tools COMMAND"
    for cmd in run testnet probe keygen; do
        expect 0 "$cmd$h" "$REPLICA" "$cmd" "$h"
        says "$cmd$h" out "usage: p2p-replica $cmd"
        [ ! -s "$WORK/$cmd$h.err" ] || fail "$cmd $h wrote on stderr"
    done
    for cmd in testnet probe keygen; do
        expect 0 "t$cmd$h" "$TOOLS" "$cmd" "$h"
        cmp -s "$WORK/$cmd$h.out" "$WORK/t$cmd$h.out" ||
            fail "$cmd $h differs between the binaries"
    done
done

log "bad flags: exit 2, one line naming the flag"
# bad CMD... -- LINE: exit 2, LINE on stderr, nothing on stdout.
BAD=0
bad() {
    local args=()
    BAD=$((BAD + 1))
    while [ "$1" != -- ]; do
        args+=("$1")
        shift
    done
    expect 2 "bad$BAD" "${args[@]}"
    says "bad$BAD" err "$2"
    [ ! -s "$WORK/bad$BAD.out" ] || fail "${args[*]}: wrote on stdout"
}
K=$WORK/k.pem C=$WORK/c.pem X=$WORK/x
bad "$REPLICA" --bogus -- "p2p-replica: --bogus: unknown option"
bad "$REPLICA" --version=1 -- "p2p-replica: --version takes no value"
bad "$REPLICA" -x -- "p2p-replica: -x: unknown option"
bad "$REPLICA" nosuch -- 'p2p-replica: unknown command "nosuch"'
bad "$REPLICA" -- "usage: p2p-replica COMMAND"
bad "$TOOLS" --bogus=2 -- "p2p-replica-tools: --bogus: unknown option"
bad "$TOOLS" run -- 'p2p-replica-tools: unknown command "run"'
bad "$REPLICA" run --bogus -- "p2p-replica run: --bogus: unknown option"
bad "$REPLICA" run --config -- "p2p-replica run: --config needs a value"
bad "$REPLICA" run --config=a extra -- "p2p-replica run: extra: unexpected argument"
bad "$REPLICA" run --config=a --config b -- "p2p-replica run: --config given twice"
bad "$REPLICA" run --help=1 -- "p2p-replica run: --help takes no value"
bad "$REPLICA" run -- "p2p-replica run: --config FILE is required"
bad "$REPLICA" testnet --dir="$X" --bogus=1 -- "p2p-replica testnet: --bogus: unknown option"
bad "$REPLICA" testnet --dir -- "p2p-replica testnet: --dir needs a value"
bad "$REPLICA" testnet --dir="$X" --detach=yes -- "p2p-replica testnet: --detach takes no value"
bad "$REPLICA" testnet --dir="$X" extra -- "p2p-replica testnet: extra: unexpected argument"
bad "$REPLICA" testnet --dir="$X" --nodes=0 -- "p2p-replica testnet: --nodes 0: expected 1..64"
bad "$REPLICA" testnet --d=x -- "p2p-replica testnet: --d: ambiguous option"
bad "$REPLICA" probe --config=x --peer=0 --bogus -- "p2p-replica probe: --bogus: unknown option"
bad "$REPLICA" probe --config -- "p2p-replica probe: --config needs a value"
bad "$REPLICA" probe --config=x --peer=0 --anonymous=1 -- "p2p-replica probe: --anonymous takes no value"
bad "$REPLICA" probe --config=x --peer=zero -- "p2p-replica probe: --peer zero: not a number"
bad "$REPLICA" probe --config=x --peer=0 extra -- "p2p-replica probe: extra: unexpected argument"
bad "$REPLICA" keygen --key="$K" --cert="$C" --bogus -- "p2p-replica keygen: --bogus: unknown option"
bad "$REPLICA" keygen --key="$K" --cert -- "p2p-replica keygen: --cert needs a value"
bad "$REPLICA" keygen --key="$K" --cert="$C" extra -- "p2p-replica keygen: extra: unexpected argument"
bad "$REPLICA" keygen -k "$K" -- "p2p-replica keygen: -k: unknown option"
bad "$TOOLS" keygen --key="$K" -- "p2p-replica keygen: --key and --cert are required"
[ ! -e "$K" ] && [ ! -e "$X" ] || fail "a refused command made a file"

log "--flag=VALUE on every command"
expect 0 keygen "$REPLICA" keygen --key="$K" --cert="$C"
grep -Eqx '[0-9a-f]{64}' "$WORK/keygen.out" || fail "keygen: $(cat "$WORK/keygen.out")"
expect 0 keygen2 "$TOOLS" keygen --key "$WORK/k2.pem" --cert "$WORK/c2.pem"
grep -Eqx '[0-9a-f]{64}' "$WORK/keygen2.out" || fail "tools keygen: $(cat "$WORK/keygen2.out")"
B=$(base_port)
TN=$WORK/tn
TESTNET_DIRS+=("$TN")
expect 0 testnet "$REPLICA" testnet --dir="$TN" --nodes=1 --base-port="$B" \
    --timeout=60 --detach
ADMIN="http://127.0.0.1:$((B + 1000))"
healthy "$ADMIN" || fail "the testnet's replica is not healthy"
expect 0 probe "$REPLICA" probe --config="$TN/node0/config.yaml" --peer=0 \
    --anonymous --timeout=10
says probe out "said not_member"
# run parses --config=FILE: the config loads, and the data directory it
# names is the live replica's.
expect 2 run "$REPLICA" run --config="$TN/node0/config.yaml"
says run err "data directory $TN/node0/data is in use"
expect 0 stop "$REPLICA" testnet --stop --dir="$TN"
says stop out "stopped"

log "a foreground testnet is the tools' process: Ctrl-C stops it"
TN2=$WORK/tn2
TESTNET_DIRS+=("$TN2")
"$REPLICA" testnet --dir "$TN2" --nodes 1 --base-port $((B + 1)) --timeout 60 \
    >"$WORK/fg.log" 2>&1 &
fg=$!
PIDS+=("$fg")
ADMIN2="http://127.0.0.1:$((B + 1001))"
wait_until 90 "the foreground testnet's replica healthy" healthy "$ADMIN2"
exe=$(readlink "/proc/$fg/exe")
[ "$(basename "$exe")" = p2p-replica-tools ] || fail "pid $fg runs $exe"
rpid=$(sed -n 's/.*"pid": *\([0-9]*\).*/\1/p' "$TN2/testnet.json")
[ -n "$rpid" ] || fail "no pid in $TN2/testnet.json"
kill -INT "$fg"
rc=0
wait "$fg" || rc=$?
[ "$rc" -eq 0 ] || fail "the foreground testnet exited $rc after SIGINT: $(cat "$WORK/fg.log")"
wait_until 20 "its replica gone" gone "$rpid"
[ ! -e "$TN2/testnet.json" ] || fail "testnet.json left behind"

log "p2p-replica without p2p-replica-tools beside it"
mkdir "$WORK/alone" "$WORK/link"
cp "$REPLICA" "$WORK/alone/p2p-replica"
expect 0 alone-version "$WORK/alone/p2p-replica" --version
expect 1 alone "$WORK/alone/p2p-replica" keygen --help
says alone err "p2p-replica keygen: cannot run $WORK/alone/p2p-replica-tools"
says alone err "installed beside p2p-replica"
ln -s "$(readlink -f "$REPLICA")" "$WORK/link/p2p-replica"
expect 0 link "$WORK/link/p2p-replica" keygen --help
says link out "usage: p2p-replica keygen"
log "PASS: command lines"
