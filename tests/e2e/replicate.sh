#!/usr/bin/env bash
# A 4-node testnet replicates 1,000 small artifacts POSTed to one node and
# one 64 MiB artifact; every node holds every artifact, byte for byte.
source "$(dirname "$0")/lib.sh"
B=$(base_port)
DIR=$WORK/tn
TESTNET_DIRS+=("$DIR")
log "starting a 4-node testnet in $DIR (ports $B..)"
"$REPLICA" testnet --nodes 4 --dir "$DIR" --base-port "$B" --detach >"$WORK/testnet.log" 2>&1 ||
    { cat "$WORK/testnet.log" >&2; fail "testnet did not start"; }
ADMIN=()
for i in 0 1 2 3; do ADMIN+=("http://127.0.0.1:$((B + 1000 + i))"); done
for a in "${ADMIN[@]}"; do healthy "$a" || fail "$a is not healthy"; done
wait_until 20 "every node connected to 3 peers" bash -c \
    "for a in ${ADMIN[*]}; do curl -sf \$a/health | grep -q '\"peers_up\": 3' || exit 1; done"

log "posting 1000 small artifacts (push and advert) to node 0"
mkdir -p "$WORK/small"
CURLCFG=$WORK/post.curl
: >"$CURLCFG"
for i in $(seq 1 1000); do
    f=$WORK/small/$i
    head -c $(( 64 + (i * 37) % 3000 )) /dev/urandom >"$f"
    kind=push; [ $((i % 2)) -eq 0 ] && kind=advert
    printf 'url = "%s/artifacts"\nrequest = "POST"\nheader = "X-Artifact-Kind: %s"\ndata-binary = "@%s"\nwrite-out = "\\n"\n' \
        "${ADMIN[0]}" "$kind" "$f" >>"$CURLCFG"
    [ "$i" -lt 1000 ] && echo next >>"$CURLCFG"
done
curl -sf -K "$CURLCFG" >"$WORK/post.out" || fail "a POST failed"
posted=$(grep -c '"id"' "$WORK/post.out")
[ "$posted" -eq 1000 ] || fail "posted $posted of 1000"

log "posting a 64 MiB artifact to node 0"
head -c $((64 << 20)) /dev/urandom >"$WORK/big"
big=$(post "${ADMIN[0]}" advert "$WORK/big")
[ ${#big} -eq 64 ] || fail "the 64 MiB POST returned no id"

for a in "${ADMIN[@]}"; do
    wait_until 150 "1001 artifacts on $a" has_count "$a" 1001
done
log "all 4 nodes list 1001 artifacts; checking bytes"

# Every small artifact on every node, byte for byte (one curl per node).
ids=($(sed -n 's/.*"id": *"\([0-9a-f]*\)".*/\1/p' "$WORK/post.out"))
for n in 0 1 2 3; do
    GETCFG=$WORK/get$n.curl
    : >"$GETCFG"
    mkdir -p "$WORK/got$n"
    for i in $(seq 1 1000); do
        printf 'url = "%s/artifacts/%s"\noutput = "%s/got%s/%s"\n' \
            "${ADMIN[$n]}" "${ids[$((i - 1))]}" "$WORK" "$n" "$i" >>"$GETCFG"
    done
    curl -sf -K "$GETCFG" || fail "a GET on node $n failed"
    for i in $(seq 1 1000); do
        cmp -s "$WORK/small/$i" "$WORK/got$n/$i" || fail "artifact $i differs on node $n"
    done
    curl -sf "${ADMIN[$n]}/artifacts/$big" -o "$WORK/big.$n" || fail "GET big on node $n"
    cmp -s "$WORK/big" "$WORK/big.$n" || fail "the 64 MiB artifact differs on node $n"
done
log "PASS: 1001 artifacts, byte for byte, on 4 nodes"
