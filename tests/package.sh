#!/usr/bin/env bash
# The Debian package: `cpack -G DEB` in the build tree ($1) makes
# p2p-replica_VERSION_ARCH.deb ($3: CMake's project version) and its
# -dbgsym .ddeb; the .deb is unpacked into a scratch root (dpkg -x) and
# checked: control fields (Depends name the package of every library the
# binaries load), maintainer scripts, the unit's ExecStart naming the
# installed binary that runs --version, the unit's Documentation= file,
# the sysusers.d file creating the user in the scratch root, the unit's
# exposure (systemd-analyze security --offline) below 3.0 as installed,
# docs, examples and monitoring files; p2p-replica-tools beside
# p2p-replica, which runs it for `p2p-replica keygen`.
set -euo pipefail
build=$1 src=$2 version=$3
for t in cpack dpkg-deb dpkg-shlibdeps; do
    command -v "$t" >/dev/null || { echo "SKIP: $t missing (ci/install-deps)"; exit 0; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/p2p-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

(cd "$build" && cpack -G DEB -B "$work/out" >"$work/cpack.log" 2>&1) ||
    { cat "$work/cpack.log" >&2; fail "cpack"; }
arch=$(dpkg --print-architecture)
deb=$work/out/p2p-replica_${version}_$arch.deb
[ -f "$deb" ] || fail "no $deb: $(ls "$work/out")"
[ -f "$work/out/p2p-replica-dbgsym_${version}_$arch.ddeb" ] || fail "no -dbgsym package"

# ---- control fields ----
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = p2p-replica ] || fail "Package: $(field Package)"
[ "$(field Version)" = "$version" ] || fail "Version: $(field Version)"
[ "$(field Architecture)" = "$arch" ] || fail "Architecture: $(field Architecture)"
[[ $(field Maintainer) =~ ^.+\ \<.+@.+\>$ ]] || fail "Maintainer: $(field Maintainer)"
[ "$(field Section)" = net ] || fail "Section: $(field Section)"
[ -n "$(field Description)" ] || fail "no Description"
depends=$(field Depends)
echo "Depends: $depends"

# ---- the files ----
root=$work/root
dpkg -x "$deb" "$root"
for f in usr/bin/p2p-replica usr/bin/p2p-replica-tools usr/bin/p2p-sim \
         usr/lib/systemd/system/p2p-replica.service \
         usr/lib/sysusers.d/p2p-replica.conf \
         usr/share/doc/p2p-replica/README.md usr/share/doc/p2p-replica/LICENSE \
         usr/share/doc/p2p-replica/replica.md usr/share/doc/p2p-replica/metrics.md \
         usr/share/doc/p2p-replica/troubleshooting.md \
         usr/share/doc/p2p-replica/limitations.md \
         usr/share/p2p-replica/examples/config.yaml \
         usr/share/p2p-replica/examples/registry.yaml; do
    [ -s "$root/$f" ] || fail "missing or empty in the package: /$f"
done
for f in $(cd "$src/dist/monitoring" 2>/dev/null && find . -type f | sort); do
    cmp -s "$src/dist/monitoring/$f" "$root/usr/share/p2p-replica/monitoring/$f" ||
        fail "monitoring file not shipped as is: $f"
done
# Stripped binaries (symbols are in the -dbgsym package).
for bin in p2p-replica p2p-replica-tools; do
    file "$root/usr/bin/$bin" | grep -q ', stripped' || fail "$bin not stripped"
done
# The installed replica finds its tools beside it.
out=$("$root/usr/bin/p2p-replica" keygen --help) ||
    fail "the installed p2p-replica cannot run p2p-replica-tools"
[[ $out == "usage: p2p-replica keygen"* ]] || fail "p2p-replica keygen --help: $out"

# Every library the binaries link (their NEEDED entries) comes from a
# package Depends names.
for bin in p2p-replica p2p-replica-tools p2p-sim; do
    needed=$(readelf -d "$root/usr/bin/$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    [ -n "$needed" ] || fail "$bin: no NEEDED entries"
    for soname in $needed; do
        lib=$(ldd "$root/usr/bin/$bin" | awk -v s="$soname" '$1 == s && $3 ~ /^\// {print $3}')
        [ -n "$lib" ] || fail "$bin needs $soname, which ldd does not resolve"
        real=$(readlink -f "$lib")
        pkg=$( { dpkg -S "$lib" 2>/dev/null || dpkg -S "$real" 2>/dev/null ||
                 dpkg -S "${real#/usr}" 2>/dev/null || true; } | head -n1 | cut -d: -f1)
        [ -n "$pkg" ] || fail "$bin needs $lib, which no package owns"
        [[ ", $depends," == *", $pkg "* || ", $depends," == *", $pkg,"* ]] ||
            fail "$bin needs $lib of package $pkg, not in Depends"
    done
done

# ---- the unit ----
unit=$root/usr/lib/systemd/system/p2p-replica.service
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
bin=${exec_start%% *}
[ "$bin" = /usr/bin/p2p-replica ] || fail "ExecStart names $bin"
[ -x "$root$bin" ] || fail "ExecStart's $bin is not in the package"
out=$("$root$bin" --version | head -n1)
[[ $out == "p2p-replica $version (commit "* ]] || fail "$bin --version: $out"
echo "ExecStart: $exec_start -> $out"
grep -q '^Type=notify$' "$unit" || fail "unit is not Type=notify"
grep -q '^User=p2p-replica$' "$unit" || fail "unit's User="
doc=$(sed -n 's|^Documentation=file://||p' "$unit")
[ -s "$root$doc" ] || fail "Documentation= $doc is not in the package"
section="Running under systemd on real hosts"
grep -q "^## $section" "$root$doc" || fail "$doc has no section '$section'"
grep -q "\"$section\"" "$unit" || fail "the unit's comment does not name '$section'"
if command -v systemd-analyze >/dev/null; then
    exposure=$(systemd-analyze security --offline=yes --root="$root" p2p-replica.service 2>&1 |
               sed -n 's/.*Overall exposure level for p2p-replica.service: \([0-9.]*\).*/\1/p')
    [ -n "$exposure" ] || fail "systemd-analyze security gave no exposure"
    awk -v e="$exposure" 'BEGIN { exit !(e < 3.0) }' || fail "exposure $exposure >= 3.0"
    echo "installed unit's exposure: $exposure"
fi

# ---- the user ----
grep -q '^u p2p-replica ' "$root/usr/lib/sysusers.d/p2p-replica.conf" || fail "sysusers file"
if command -v systemd-sysusers >/dev/null; then
    mkdir -p "$root/etc"
    # What postinst runs, in the scratch root.
    systemd-sysusers --root="$root" p2p-replica.conf >/dev/null 2>&1 ||
        fail "systemd-sysusers --root=$root p2p-replica.conf"
    grep -q '^p2p-replica:x:[0-9]*:[0-9]*:.*:/var/lib/p2p-replica:/usr/sbin/nologin$' "$root/etc/passwd" ||
        fail "sysusers made no p2p-replica user: $(cat "$root/etc/passwd")"
    grep -q '^p2p-replica:' "$root/etc/group" || fail "no p2p-replica group"
fi

# ---- maintainer scripts ----
dpkg-deb -e "$deb" "$work/control"
for s in postinst prerm postrm; do
    [ -x "$work/control/$s" ] || fail "no executable $s"
    sh -n "$work/control/$s" || fail "$s: syntax"
done
grep -q 'systemd-sysusers p2p-replica.conf' "$work/control/postinst" || fail "postinst runs no systemd-sysusers"
! grep -n '@[A-Z_]*@' "$unit" || fail "unreplaced template variables in the installed unit"
echo "OK: $(basename "$deb") ($(stat -c %s "$deb") bytes)"
