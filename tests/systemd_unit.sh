#!/usr/bin/env bash
# The systemd unit (dist/p2p-replica.service.in), configured as the
# install does but naming the build's binary ($2): `systemd-analyze
# verify` finds nothing to say (unknown keys, bad values, a missing
# ExecStart binary), `systemd-analyze security --offline=yes` rates its
# exposure below 3.0, and the directives the replica relies on are there.
# Skipped when systemd-analyze is missing (Debian package systemd).
set -euo pipefail
src=$1 bindir=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze"; exit 0; }
work=$(mktemp -d "${TMPDIR:-/tmp}/p2p-unit.XXXXXX")
trap 'rm -rf "$work"' EXIT
unit=$work/p2p-replica.service
sed -e "s|@CMAKE_INSTALL_FULL_BINDIR@|$bindir|g" \
    -e "s|@P2P_FULL_DOCDIR@|/usr/share/doc/p2p-replica|g" \
    "$src/dist/p2p-replica.service.in" >"$unit"
! grep -n '@[A-Z_]*@' "$unit" || fail "unreplaced template variables"

out=$(systemd-analyze verify "$unit" 2>&1) || fail "verify: $out"
[ -z "$out" ] || fail "verify complains: $out"

report=$(systemd-analyze security --offline=yes "$unit" 2>&1) || true
exposure=$(printf '%s\n' "$report" |
           sed -n 's/.*Overall exposure level for p2p-replica.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "no exposure in: $report"
echo "exposure: $exposure"
awk -v e="$exposure" 'BEGIN { exit !(e < 3.0) }' ||
    { printf '%s\n' "$report" | grep '✗' >&2; fail "exposure $exposure >= 3.0"; }

# What the replica and the docs rely on.
for d in 'Type=notify' 'User=p2p-replica' 'StateDirectory=p2p-replica' \
         'WorkingDirectory=/var/lib/p2p-replica' 'CapabilityBoundingSet=' \
         'SystemCallFilter=@system-service' \
         'SystemCallFilter=~@privileged @resources' \
         'SystemCallArchitectures=native' 'RestrictRealtime=yes' \
         'ProtectProc=invisible' 'ProcSubset=pid' 'UMask=0077' \
         'Environment=GLIBC_TUNABLES=glibc.malloc.hugetlb=1' \
         'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'; do
    grep -qxF "$d" "$unit" || fail "unit lacks '$d'"
done
# ExecStart names the binary, which runs.
bin=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
[ "$bin" = "$bindir/p2p-replica" ] || fail "ExecStart: $bin"
"$bin" --version >/dev/null || fail "$bin --version"
# The comment points at a section that exists.
section="Running under systemd on real hosts"
grep -q "\"$section\"" "$unit" || fail "the unit's comment does not name '$section'"
grep -q "^## $section\$" "$src/docs/replica.md" || fail "docs/replica.md lacks '## $section'"
echo "OK: verify clean, exposure $exposure"
