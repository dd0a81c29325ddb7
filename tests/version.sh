#!/usr/bin/env bash
# --version of both binaries: the same "VERSION (commit C)" after each
# program's name, VERSION the project's (CMake's project(VERSION), passed
# as $3), C a git commit of the source tree $4 (12 hex digits, "-dirty"
# when tracked files differed) or "unknown" outside a work tree.
set -euo pipefail
replica=$1 sim=$2 version=$3 tree=$4
r=$("$replica" --version)
s=$("$sim" --version)
r1=$(printf '%s\n' "$r" | head -n1)
echo "$r"
echo "$s"
[[ $r1 == "p2p-replica "* ]] || { echo "FAIL: replica's first line: $r1" >&2; exit 1; }
[[ $s == "p2p-sim "* ]] || { echo "FAIL: sim's line: $s" >&2; exit 1; }
[ "${r1#p2p-replica }" = "${s#p2p-sim }" ] ||
    { echo "FAIL: the binaries disagree: '$r1' vs '$s'" >&2; exit 1; }
rest=${s#p2p-sim }
[[ $rest =~ ^([0-9]+\.[0-9]+\.[0-9]+)\ \(commit\ ([0-9a-f]{12}(-dirty)?|unknown)\)$ ]] ||
    { echo "FAIL: not 'VERSION (commit C)': $rest" >&2; exit 1; }
[ "${BASH_REMATCH[1]}" = "$version" ] ||
    { echo "FAIL: version ${BASH_REMATCH[1]}, CMake says $version" >&2; exit 1; }
commit=${BASH_REMATCH[2]}
# The commit is one of the tree's history (HEAD when just built; an
# older one when commits came after the build).
if [ -e "$tree/.git" ] && command -v git >/dev/null; then
    [ "$commit" != unknown ] || { echo "FAIL: commit unknown in a work tree" >&2; exit 1; }
    git -C "$tree" merge-base --is-ancestor "${commit%-dirty}" HEAD ||
        { echo "FAIL: commit $commit is not in the tree's history" >&2; exit 1; }
fi
# The second line of the replica's: the libraries it runs with.
printf '%s\n' "$r" | sed -n 2p | grep -Eq '^ngtcp2 [0-9.]+, GnuTLS [0-9.]+, libmicrohttpd [0-9.]+, libev [0-9.]+$' ||
    { echo "FAIL: no libraries line" >&2; exit 1; }
# `version` is the same as `--version`; the usage mentions it.
[ "$("$replica" version)" = "$r" ] || { echo "FAIL: 'version' differs" >&2; exit 1; }
"$replica" --help | grep -q -- '--version' || { echo "FAIL: replica's usage" >&2; exit 1; }
"$sim" --help | grep -q -- '--version' || { echo "FAIL: sim's usage" >&2; exit 1; }
echo "OK: $s"
