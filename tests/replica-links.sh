#!/usr/bin/env bash
# The daemon alone: p2p-replica ($1) does not link libcurl and holds none
# of the tools' code (testnet, probe, keygen); p2p-replica-tools ($2), the
# binary installed beside it, holds them and links libcurl.
set -euo pipefail
replica=$1 tools=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
# Listings in files: `ldd | grep -q` would fail under pipefail when grep
# stops reading early.
work=$(mktemp -d "${TMPDIR:-/tmp}/p2p-links.XXXXXX")
trap 'rm -rf "$work"' EXIT
ldd "$replica" >"$work/replica.ldd" || fail "ldd $replica"
ldd "$tools" >"$work/tools.ldd" || fail "ldd $tools"
n=$(grep -c curl "$work/replica.ldd" || true)
echo "libcurl in ldd $replica: $n"
[ "$n" -eq 0 ] || fail "p2p-replica links libcurl: $(grep curl "$work/replica.ldd")"
grep -q libcurl "$work/tools.ldd" || fail "p2p-replica-tools does not link libcurl"
command -v nm >/dev/null || { echo "SKIP: no nm (binutils) for the symbol check"; exit 0; }
nm "$replica" >"$work/replica.syms" || fail "nm cannot read $replica"
nm "$tools" >"$work/tools.syms" || fail "nm cannot read $tools"
for sym in prod_testnet_cmd prod_testnet_generate prod_probe_cmd prod_keygen_cmd \
           prod_keygen_generate; do
    ! grep -qw "$sym" "$work/replica.syms" || fail "p2p-replica holds $sym"
    grep -qw "$sym" "$work/tools.syms" || fail "p2p-replica-tools lacks $sym"
done
echo "OK: p2p-replica links no libcurl and holds no testnet, probe or keygen code"
